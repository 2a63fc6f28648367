"""The ``random`` baseline: uniform actions, no learning (the floor every method must beat).

``python -m leaderboards.run --agent random`` and ``python -m baselines.random.train``. The agent is defined with
the agent interface, in ``meld_envs.interface``, so that every agent's own evaluation can compare against it.
"""
from meld_envs.interface import RandomAgent, RandomConfig

__all__ = ["RandomAgent", "RandomConfig"]
