"""The ``random`` baseline: uniform actions, no learning (the floor every method must beat).

``python -m leaderboards.run --agent random`` and ``python -m baselines.random.train``.
"""
from baselines.random.agent import RandomAgent, RandomConfig

__all__ = ["RandomAgent", "RandomConfig"]
