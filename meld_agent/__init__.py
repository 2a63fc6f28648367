"""The reference MELD agent (Zhao et al., CoRL 2020): a latent state model whose posterior takes
rewards as evidence (SLAC's two-layer latents), and SAC on its belief.

    from meld_agent import MELD, make_config
    agent = MELD(make_config("meld/Nav2D-v0", obs_mode="state"))
    agent.meta_train(steps=20_000)
    agent.reset(); action = agent.act(obs, reward)

Command line: ``python -m meld_agent.train`` and ``python -m meld_agent.evaluate``. The SLAC
baseline is the same agent with ``model__reward_input="none"`` (no reward evidence).
"""
from meld_agent.agent import MELD
from meld_agent.config import PRESETS, MELDConfig, ModelConfig, ReplayConfig, SACConfig, TrainConfig, make_config
from meld_agent.replay import TrialBatch, TrialReplay
from meld_envs.interface import EnvInfo, TrainContext, env_info

__all__ = ["MELD", "MELDConfig", "ModelConfig", "SACConfig", "ReplayConfig", "TrainConfig", "PRESETS", "make_config",
           "EnvInfo", "TrainContext", "env_info", "TrialReplay", "TrialBatch"]
