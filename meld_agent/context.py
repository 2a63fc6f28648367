"""What the agent is told about its environment, and a local stand-in for the leaderboard's
``TrainContext`` (same duck type as ``leaderboards.interface``, which this package does not import).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import meld_envs
from meld_envs.tasks import Task


@dataclass(frozen=True)
class EnvSpec:
    """Duck type of ``leaderboards.interface.EnvInfo``: what an agent knows before it starts."""

    env_id: str
    observation_space: gym.Space  # uint8 (H, W, 3) pixels, or float32 (S,) states in obs_mode "state"
    action_space: gym.spaces.Box  # in [-1, 1]
    max_episode_steps: int
    episodes_per_trial: int  # 1 for dense tasks, 2 for sparse ones
    sparse_at_test: bool  # at meta-test the agent sees the sparse reward only


def env_spec(env_id: str, obs_mode: str = "pixels") -> EnvSpec:
    """The ``EnvSpec`` of a registered meld-bench environment in ``obs_mode``."""
    entry = meld_envs.entry(env_id)
    env = gym.make(env_id, obs_mode=obs_mode)
    try:
        return EnvSpec(env_id, env.observation_space, env.action_space, entry.max_episode_steps,
                       entry.episodes_per_trial, sparse_at_test=entry.episodes_per_trial > 1)
    finally:
        env.close()


def obs_mode_of(space: gym.Space) -> str:
    """``"pixels"`` for uint8 (H, W, 3) images, ``"state"`` for flat vectors; a ``ValueError`` otherwise."""
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8:
        return "pixels"
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return "state"
    raise ValueError(f"observation space {space}: the agents take uint8 (H, W, 3) images or a flat float state")


def device_of(name: str) -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; otherwise the named device."""
    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)


def agent_config(spec: Any, seed: int | None, overrides: dict[str, Any], config_type: type,
                 make_config: Callable[..., Any], apply: Callable[[Any, dict[str, Any]], Any]) -> tuple[Any, Any]:
    """``(config, env info)`` of an agent built the two ways every agent here is: from its own
    config object (``spec`` a ``config_type``; ``apply(config, overrides)`` returns the checked
    copy, the env info comes from the registry) or as the leaderboard builds it (``spec`` an
    ``EnvInfo``: ``make_config(env_id, **overrides)`` with the observation mode its space implies).
    ``seed``, when given, overrides the config's."""
    seeded = {**overrides, **({"seed": seed} if seed is not None else {})}
    if isinstance(spec, config_type):
        config = apply(spec, seeded)
        return config, env_spec(config.env_id, config.obs_mode)
    return make_config(spec.env_id, **{"obs_mode": obs_mode_of(spec.observation_space), **seeded}), spec


class BudgetExhausted(RuntimeError):
    """An env of a ``LocalContext`` was stepped beyond the allowance."""


class _Counted(gym.Wrapper):
    def __init__(self, env: gym.Env, ctx: LocalContext) -> None:
        super().__init__(env)
        self._ctx = ctx

    def step(self, action: Any):
        if self._ctx.steps_remaining <= 0:
            raise BudgetExhausted(f"env step beyond the allowance of this meta_train call ({self._ctx.allowance} steps)")
        self._ctx.steps_remaining -= 1
        self._ctx.steps_taken += 1
        return self.env.step(action)


class LocalContext:
    """Train tasks of ``spec.env_id`` and envs on them that count steps (the train CLI's context).

    ``allow(n)`` sets the allowance of the next ``meta_train`` call; ``steps_taken`` counts all steps.
    """

    def __init__(self, spec: EnvSpec, obs_mode: str = "pixels", num_train_tasks: int | None = None) -> None:
        self.env_info = spec
        self.obs_mode = obs_mode
        self.train_tasks: list[Task] = meld_envs.tasks(spec.env_id, "train", num_train_tasks)
        self.allowance = 0
        self.steps_remaining = 0
        self.steps_taken = 0

    def allow(self, steps: int) -> None:
        self.allowance = self.steps_remaining = int(steps)

    def make_env(self, task: Task | int, reward_mode: str = "shaped") -> gym.Env:
        spec = self.env_info
        env = gym.make(spec.env_id, task=task, split="train", reward_mode=reward_mode, obs_mode=self.obs_mode)
        if spec.episodes_per_trial > 1:
            env = meld_envs.Trial(env, episodes=spec.episodes_per_trial)
        return _Counted(env, self)
