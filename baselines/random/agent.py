"""The ``random`` agent: uniform actions, no learning. The floor every method must beat.

It imports nothing from ``leaderboards``: an agent is anything with the protocol's methods.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RandomConfig:
    """Settings of the random agent."""

    action_scale: float = 1.0  # actions ~ U[-scale, scale] per dimension (the action space is [-1, 1])
    train_steps_per_call: int | None = None  # env steps to take in each meta_train call; None = all allowed


class RandomAgent:
    """Acts uniformly at random; "meta-trains" by stepping train tasks at random (so the protocol's
    step counting and timing are exercised like a real agent's)."""

    def __init__(self, env_info: Any, seed: int = 0, **overrides: Any) -> None:
        self.env_info = env_info
        self.config = RandomConfig(**overrides)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._envs: dict[int, Any] = {}
        self._ctx: Any = None
        self.counters: dict[str, float] = defaultdict(float)
        self.logger: Any = None  # callable (metrics, env_step) -> None, set by a train run

    def meta_train(self, ctx: Any, steps: int) -> None:
        if ctx is not self._ctx:
            self._envs, self._ctx = {}, ctx
        todo = steps if self.config.train_steps_per_call is None else min(steps, self.config.train_steps_per_call)
        while todo > 0:
            task = int(self._rng.integers(len(ctx.train_tasks)))
            if task not in self._envs:
                self._envs[task] = ctx.make_env(task)
            env = self._envs[task]
            env.reset(seed=int(self._rng.integers(2**31)))
            done = False
            while not done and todo > 0:
                _, _, terminated, truncated, _ = env.step(self._action())
                done = terminated or truncated
                todo -= 1
                self.counters["env_steps"] += 1

    def reset(self) -> None:
        pass

    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        return self._action()

    def _action(self) -> np.ndarray:
        shape = self.env_info.action_space.shape
        s = self.config.action_scale
        return self._rng.uniform(-s, s, size=shape).astype(np.float32)

    def save(self, path: str, extra: dict[str, Any] | None = None) -> None:
        os.makedirs(path, exist_ok=True)
        state = {"config": asdict(self.config), "seed": self.seed, "rng": self._rng.bit_generator.state,
                 "counters": dict(self.counters), "extra": extra or {}}
        tmp = os.path.join(path, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, os.path.join(path, "state.json"))

    def load(self, path: str) -> dict[str, Any]:
        try:
            with open(os.path.join(path, "state.json")) as f:
                state = json.load(f)
            self._rng.bit_generator.state = state["rng"]
            self.counters = defaultdict(float, state.get("counters", {}))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"corrupt or missing random-agent checkpoint in {path}: {e}") from e
        self._envs.clear()  # envs belong to the context of the run that made them
        return dict(state.get("extra", {}))
