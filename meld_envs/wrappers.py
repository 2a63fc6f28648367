"""Trials of several episodes and tasks that change inside an episode, as Gymnasium wrappers.

Both are parts of the suite rather than of any agent: an agent sees a trial as one
long episode and must notice the task change from its observations and rewards alone.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from meld_envs.tasks import Task, resolve


class Trial(gym.Wrapper):
    """Runs ``episodes`` episodes of one task as one Gymnasium episode (paper 5.2, D.1).

    When an inner episode ends and more remain, the env is reset on the same task and the step
    returns the new episode's first observation; ``info`` then carries ``episode_end=True``,
    ``final_observation`` and ``final_info`` of the episode that ended. Every ``info`` carries
    ``episode_in_trial`` (0-based) of the returned observation. The trial ends with the last
    episode (``terminated``/``truncated`` as that episode ended), or at once on a physics error.
    A seed passed to ``reset`` seeds the first episode; later ones continue its generator.
    """

    def __init__(self, env: gym.Env, episodes: int = 2) -> None:
        if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
            raise ValueError(f"episodes={episodes!r}: must be a positive integer")
        super().__init__(env)
        self.episodes = int(episodes)
        self._episode = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._episode = 0
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, "episode_in_trial": 0}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "episode_in_trial": self._episode}
        episode_over = terminated or truncated
        if not episode_over or info.get("physics_error") or self._episode + 1 >= self.episodes:
            return obs, reward, terminated, truncated, info
        self._episode += 1
        next_obs, next_info = self.env.reset()
        boundary = {**next_info, "episode_in_trial": self._episode, "episode_end": True,
                    "final_observation": obs, "final_info": info}
        return next_obs, reward, False, False, boundary


class TaskSchedule(gym.Wrapper):
    """Changes the task at given steps of an episode (paper D.2: three target velocities in one
    Cheetah episode).

    ``schedule`` maps a step count (0 = at reset) to a ``Task`` or task index. The change takes
    effect before that step's action is applied; ``info["task_changed"]`` is True on the step
    that first shows the new task. Example: ``TaskSchedule(env, {0: 3, 17: 8, 34: 21})``.
    """

    def __init__(self, env: gym.Env, schedule: Mapping[int, Task | int]) -> None:
        if not schedule:
            raise ValueError("schedule is empty; give at least one {step: task}")
        bad = [s for s in schedule if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0]
        if bad:
            raise ValueError(f"schedule steps {bad} are not non-negative integers")
        super().__init__(env)
        u = env.unwrapped
        for task in schedule.values():  # a bad task fails here, not mid-episode
            resolve(u.env_id, task, u.split, u.num_tasks)
        self.schedule = dict(sorted((int(s), t) for s, t in schedule.items()))
        self._step = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if options and "task" in options:
            raise ValueError("TaskSchedule chooses the task; do not pass options={'task': ...} to reset")
        self._step = 0
        if 0 in self.schedule:
            self.env.unwrapped.set_task(self.schedule[0])
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, "task_changed": False}

    def step(self, action):
        changed = self._step in self.schedule and self._step > 0
        if changed:
            self.env.unwrapped.set_task(self.schedule[self._step])
        self._step += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "task_changed": changed}
