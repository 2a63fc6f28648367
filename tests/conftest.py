import gymnasium as gym
import numpy as np
import pytest

import meld_envs

ENV_IDS = [e.id for e in meld_envs.registry.SIMULATED]  # the real robot's env is tested on simulated devices
# the task parameter that is the hidden goal: two tasks differing only in it must give the agent
# identical frames under the same seed and actions (the goal is never drawn in observations)
HIDDEN_GOAL = {
    "meld/CheetahVel-v0": "target_velocity",
    "meld/Reacher-v0": "goal",
    "meld/PegInsert-v0": "correct_box",
    "meld/ShelfPlace-v0": "target",
    "meld/ButtonPress-v0": "correct_button",
    "meld/Nav2D-v0": "goal_angle",
    "meld/WidowXCableSim-v0": "port",
}


@pytest.fixture(params=ENV_IDS)
def env_id(request) -> str:
    return request.param


@pytest.fixture
def make():
    """gym.make that closes every env it made at the end of the test."""
    made = []

    def _make(*args, **kwargs):
        env = gym.make(*args, **kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()


def random_actions(env: gym.Env, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    space = env.action_space
    return [rng.uniform(space.low, space.high).astype(space.dtype) for _ in range(n)]


def rollout(env: gym.Env, actions, seed: int = 0):
    obs, info = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], [info]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, rewards, infos
