import gymnasium as gym
import numpy as np
import pytest

import meld_envs

ENV_IDS = [e.id for e in meld_envs.ENVIRONMENTS]
# environments whose tasks change only the reward (not what the agent sees or how things move):
# for these the agent's frames must be identical across tasks under the same seed and actions
REWARD_ONLY_TASKS = {"meld/CheetahVel-v0", "meld/Nav2D-v0", "meld/Reacher-v0"}


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
