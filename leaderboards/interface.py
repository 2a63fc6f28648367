"""The agent interface the meld-bench protocol drives, as ``leaderboards`` names it.

It is defined once, in ``meld_envs.interface``, which agent packages import without importing ``leaderboards``;
these names are the same objects.
"""
from meld_envs.interface import (ACTION_MODES, Agent, BudgetExhausted, EnvInfo, RandomAgent, StepBudget, TrainContext,
                                  TrialResult, exploration_episodes_of, exploration_seed, meta_test_actions_of)

__all__ = ["ACTION_MODES", "Agent", "BudgetExhausted", "EnvInfo", "RandomAgent", "StepBudget", "TrainContext",
           "TrialResult", "exploration_episodes_of", "exploration_seed", "meta_test_actions_of"]
