"""The agent interface the meld-bench protocol drives, as ``leaderboards`` names it.

It is defined once, in ``meld_envs.interface``, which agent packages import without importing ``leaderboards``;
these names are the same objects.
"""
from meld_envs.interface import Agent, BudgetExhausted, EnvInfo, RandomAgent, StepBudget, TrainContext, TrialResult

__all__ = ["Agent", "BudgetExhausted", "EnvInfo", "RandomAgent", "StepBudget", "TrainContext", "TrialResult"]
