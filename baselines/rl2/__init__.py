"""RL² (Duan et al. 2016) on MELD's conv encoder with sb3-contrib's RecurrentPPO: a recurrent
policy over (image features, previous action, reward, episode-done flag), its hidden state carried
across the episodes of a trial and reset between trials, trained on-policy with PPO.

    python -m leaderboards.run --agent rl2 --env meld/Nav2D-v0
    python -m baselines.rl2.train --env meld/Nav2D-v0 --steps 100000 --out runs/rl2_nav
"""
from baselines.rl2.agent import RL2
from baselines.rl2.config import PRESETS, EncoderConfig, PPOConfig, RL2Config, make_config
from baselines.rl2.policy import TrialFeatures
from baselines.rl2.wrappers import TrialTaskEnv

__all__ = ["RL2", "RL2Config", "PPOConfig", "EncoderConfig", "PRESETS", "make_config", "TrialFeatures", "TrialTaskEnv"]
