"""The RL² trial: a whole trial of a random train task is one Gymnasium episode whose observations
carry (image, previous action, reward, done flag) (Duan et al. 2016, Figure 1), so a recurrent
policy keeps its hidden state across the episodes of a trial and starts afresh with each trial.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from meld_envs.interface import TrainContext


def trial_observation_space(obs_space: gym.Space, action_space: gym.spaces.Box) -> gym.spaces.Dict:
    """``Dict(image, prev_action [A], reward [1], done [1])``; ``image`` is the env's own observation."""
    return gym.spaces.Dict({
        "image": obs_space,
        "prev_action": gym.spaces.Box(-1.0, 1.0, action_space.shape, np.float32),
        "reward": gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
        "done": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
    })


def trial_observation(obs: Any, prev_action: np.ndarray, reward: float, done: bool) -> dict[str, np.ndarray]:
    return {"image": np.asarray(obs), "prev_action": np.asarray(prev_action, np.float32),
            "reward": np.array([reward], np.float32), "done": np.array([float(done)], np.float32)}


class TrialTaskEnv(gym.Env):
    """Each ``reset`` picks a train task (from an owned generator) and starts a trial on it in the
    context's env (already a ``meld_envs.Trial`` when trials have several episodes).

    The observation's ``reward`` is the one the agent sees at meta-test (``input_reward``); the
    step's reward, what PPO maximises, is ``train_reward`` (shaped during meta-training, MELD
    appendix C). ``done`` is 1 on the first observation of a later episode of the trial.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, ctx: TrainContext, input_reward: str, train_reward: str, seed: int, num_train_tasks: int | None = None) -> None:
        info = ctx.env_info
        self.action_space = gym.spaces.Box(-1.0, 1.0, info.action_space.shape, np.float32)
        self.observation_space = trial_observation_space(info.observation_space, info.action_space)
        self.input_reward, self.train_reward = input_reward, train_reward
        self.num_train_tasks = num_train_tasks
        self.rng = np.random.default_rng(seed)
        self._envs: dict[int, gym.Env] = {}
        self.set_context(ctx)
        self._env: gym.Env | None = None

    def set_context(self, ctx: TrainContext) -> None:
        """Act on ``ctx``'s train tasks from now on (the envs of an older context are dropped)."""
        self.ctx = ctx
        self.tasks = list(ctx.train_tasks)[: self.num_train_tasks]
        self._envs = {}
        self._env = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        task = int(self.rng.integers(len(self.tasks)))
        if task not in self._envs:
            self._envs[task] = self.ctx.make_env(self.tasks[task], reward_mode="shaped")
        self._env = self._envs[task]
        obs, info = self._env.reset(seed=int(self.rng.integers(2**31)))
        return trial_observation(obs, np.zeros(self.action_space.shape, np.float32), 0.0, False), {"task": task}

    def step(self, action: np.ndarray):
        assert self._env is not None, "reset() first"
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        obs, reward, terminated, truncated, info = self._env.step(action)
        ended = info["final_info"] if info.get("episode_end") else info  # the step belongs to the episode that ended
        seen = float(ended.get(f"{self.input_reward}_reward", reward))
        trained = float(ended.get(f"{self.train_reward}_reward", reward))
        out = trial_observation(obs, action, seen, bool(info.get("episode_end", False)))
        return out, trained, terminated, truncated, {"success": bool(ended.get("success", False))}
