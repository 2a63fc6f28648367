"""The ``random`` agent lives in ``baselines.random``; this name keeps ``leaderboards.random_agent:RandomAgent``
(the built-in table, labs' imports) working."""
from baselines.random.agent import RandomAgent, RandomConfig

__all__ = ["RandomAgent", "RandomConfig"]
