"""Configuration of RL² (Duan et al. 2016) on meld-bench, trained with sb3-contrib's RecurrentPPO.

Sources: "RL2" is Duan et al. 2016 (a recurrent policy over (observation, previous action, reward,
done flag), hidden state kept across the episodes of a trial; trained there with TRPO, here with
PPO, the recurrent on-policy method sb3-contrib implements); "sb3" the defaults of ``sb3_contrib.RecurrentPPO``;
"MELD" the shared conv encoder (MELD paper appendix A).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meld_agent.config import override


@dataclass(frozen=True)
class EncoderConfig:
    """Image encoder of the policy's inputs (MELD paper A), shared by actor and critic."""

    conv_filters: tuple[int, ...] = (32, 64, 128, 256, 256)  # MELD paper A
    conv_kernels: tuple[int, ...] = (5, 3, 3, 3, 4)  # MELD paper A
    feature_size: int = 256  # MLP encoder width in obs_mode="state" (images: last conv filters)
    state_hidden_size: int = 256  # MLP encoder hidden width in obs_mode="state"


@dataclass(frozen=True)
class PPOConfig:
    """RecurrentPPO's settings (sb3 defaults unless noted)."""

    lstm_hidden_size: int = 256  # RL2: 256 recurrent units; sb3 default too
    net_arch: tuple[int, ...] = (64, 64)  # actor and critic heads after the LSTM; sb3 default
    learning_rate: float = 3e-4  # sb3
    n_steps: int = 128  # env steps per rollout (one env); sb3
    batch_size: int = 128  # sb3
    n_epochs: int = 10  # sb3
    gamma: float = 0.99  # RL2 and sb3
    gae_lambda: float = 0.95  # sb3
    clip_range: float = 0.2  # sb3
    ent_coef: float = 0.0  # sb3
    vf_coef: float = 0.5  # sb3
    max_grad_norm: float = 0.5  # sb3
    log_std_init: float = 0.0  # initial log std of the Gaussian actions; sb3 (rl-zoo's MuJoCo PPO: -2)
    ortho_init: bool = True  # orthogonal init of the policy's layers; sb3 (rl-zoo's MuJoCo PPO: False)
    train_reward: str = "shaped"  # the reward PPO maximises during meta-training (MELD appendix C: shaped)
    normalize_reward: bool = True  # scale PPO's rewards by a running std of the discounted return (sb3 VecNormalize,
    # rl-zoo's MuJoCo setting); without it returns of ~-50 swamp the clipped gradient with the value loss


@dataclass(frozen=True)
class RL2Config:
    """One RL² run."""

    env_id: str = "meld/Nav2D-v0"
    seed: int = 0
    obs_mode: str = "pixels"  # pixels (conv encoder) | state (MLP encoder)
    device: str = "auto"
    input_reward: str | None = None  # reward fed to the policy: None = sparse where the env is sparse at test, else shaped
    deterministic_test: bool = False  # RL2 samples its actions at meta-test (exploration is part of the policy)
    num_train_tasks: int | None = None  # None: the environment's whole train split
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)


PRESETS: dict[str, dict[str, Any]] = {
    "meld/Nav2D-v0": {"ppo.n_steps": 160, "ppo.batch_size": 160},  # a rollout = 4 whole 40-step trials
    "meld/CheetahVel-v0": {
        # measured (BENCHMARKS.md, Baselines): with sb3's initial action std 1 the clipped actions are nearly uniform, and
        # with 3-trial rollouts the advantages too noisy, for 30,000 steps to lift RL² above random on every seed
        "ppo.n_steps": 600, "ppo.batch_size": 150,  # a rollout = 12 whole 50-step trials, 4 minibatches of 3 trials
        "ppo.log_std_init": -1.0,  # initial action std e^-1 = 0.37 (rl-zoo's PPO on HalfCheetah starts at e^-2)
    },
}


def check(config: RL2Config) -> RL2Config:
    if config.obs_mode not in ("pixels", "state"):
        raise ValueError(f"obs_mode={config.obs_mode!r}; allowed: 'pixels', 'state'")
    for name, value in (("input_reward", config.input_reward), ("ppo.train_reward", config.ppo.train_reward)):
        if value not in (None, "shaped", "sparse") or (name == "ppo.train_reward" and value is None):
            raise ValueError(f"{name}={value!r}; allowed: 'shaped', 'sparse'" + (" or None" if name == "input_reward" else ""))
    for name, value in (("ppo.n_steps", config.ppo.n_steps), ("ppo.batch_size", config.ppo.batch_size),
                        ("ppo.n_epochs", config.ppo.n_epochs), ("ppo.lstm_hidden_size", config.ppo.lstm_hidden_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: must be a positive integer")
    return config


def make_config(env_id: str = "meld/Nav2D-v0", **overrides: Any) -> RL2Config:
    """The defaults, then ``PRESETS[env_id]``, then ``overrides`` (``section__field`` or ``section.field``)."""
    return check(override(RL2Config(env_id=env_id), {**PRESETS.get(env_id, {}), **overrides}))
