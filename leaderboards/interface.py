"""The agent interface the meld-bench protocol drives (DESIGN.md, "The agent contract").

Any object with these methods is an agent; nothing needs to be imported or subclassed, so agent
packages (``meld_agent``, ``baselines``, a lab's own) do not depend on ``leaderboards``.

The protocol, not the agent, owns the environments: it hands the agent a ``TrainContext`` whose
``make_env`` gives Gymnasium environments on train tasks that count every step against the
budget, and at meta-test it steps the test environments itself, passing the agent only what it
may see (on sparse-reward tasks the sparse reward; never the shaped one, never the task).

Life of an agent in one protocol run::

    agent = AgentClass(env_info, seed=seed, **config_overrides)
    for chunk in chunks_between_evaluation_points:
        agent.meta_train(ctx, steps=chunk)            # may take at most `chunk` env steps
        for test trial:
            agent.reset()                              # a new, unknown task
            reward, info = 0.0, reset_info_visible_to_agent
            while trial not over:
                action = agent.act(obs, reward, info)
                obs, reward, ..., info = env.step(action)
    agent.save(path); AgentClass(env_info, seed=seed, **config_overrides).load(path)  # resume after a kill
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from meld_envs.tasks import Task


@dataclass(frozen=True)
class EnvInfo:
    """What an agent is told about its environment before it starts."""

    env_id: str
    observation_space: gym.Space  # uint8 (H, W, 3) pixels unless the protocol says otherwise
    action_space: gym.spaces.Box  # in [-1, 1]
    max_episode_steps: int
    episodes_per_trial: int  # 1 for dense tasks, 2 for sparse ones (ButtonPress, Nav2D, WidowX)
    sparse_at_test: bool  # at meta-test the agent sees the sparse reward only


class BudgetExhausted(RuntimeError):
    """Raised by a ``TrainContext`` env when the agent tries to step beyond its allowance."""


class TrainContext(Protocol):
    """Handed to ``Agent.meta_train``: the train tasks and a way to act on them.

    Every env made here is a ``gym.Env`` whose reset ``info`` and step ``info`` carry
    ``shaped_reward`` and ``sparse_reward`` (meta-training may use both, paper appendix C) and,
    with ``episodes_per_trial > 1``, is wrapped in ``meld_envs.Trial``.
    """

    env_info: EnvInfo
    train_tasks: list[Task]
    steps_remaining: int  # env steps left in this ``meta_train`` call

    def make_env(self, task: Task | int, reward_mode: str = "shaped") -> gym.Env: ...


@runtime_checkable
class Agent(Protocol):
    """A meta-RL agent, as the protocol sees it."""

    def meta_train(self, ctx: TrainContext, steps: int) -> None:
        """Meta-train further for at most ``steps`` environment steps on ``ctx``'s train tasks.

        Called once per evaluation interval; the agent keeps its state (replay, networks,
        optimizers) between calls. Stepping past the allowance raises ``BudgetExhausted``.
        """

    def reset(self) -> None:
        """A test trial on a new, unknown task begins: forget the task, keep what was learned."""

    def act(self, obs: Any, reward: float, info: dict[str, Any]) -> np.ndarray:
        """The action for ``obs``, given the reward of the previous step (0.0 at trial start).

        ``info`` holds only what the agent may see: ``episode_in_trial`` and, on the first step
        of a later episode of the trial, ``episode_end=True``.
        """

    def save(self, path: str) -> None:
        """Write everything needed to continue exactly into the folder ``path``.

        The protocol passes a fresh folder each time and commits the checkpoint atomically only
        after ``save`` returns, so an agent need not make its own writes atomic."""

    def load(self, path: str) -> None:
        """Restore what ``save`` wrote; a clear ``ValueError`` when the checkpoint is corrupt.

        Called on a freshly constructed agent; the ``TrainContext`` after a resume is a new one
        (environments made through the old one are gone)."""
