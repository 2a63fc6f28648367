"""Configuration of PEARL (Rakelly et al., ICML 2019) on meld-bench: frozen dataclasses, paper
defaults with their source, per-environment presets from the authors' env configs.

Sources: "paper" is Rakelly et al. 2019 (sections 4-5, appendix); "rlkit" the authors' code
(github.com/katerakelly/oyster, ``configs/default.py``); "MELD" the shared pieces (MELD paper
appendix A: conv encoder, SAC networks), so all agents differ only in how they infer the task.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meld_agent.config import SACConfig, override

REWARD_CHOICES = ("shaped", "sparse")


@dataclass(frozen=True)
class ContextConfig:
    """The probabilistic context encoder q(z | c) (paper 4.1, Eq. 2-3)."""

    latent_size: int = 5  # paper / rlkit latent_size
    hidden_sizes: tuple[int, ...] = (200, 200, 200)  # rlkit: context encoder MLP of 3 x 200
    kl_weight: float = 0.1  # paper: KL(q(z|c) || N(0, I)) weight beta; rlkit kl_lambda
    learning_rate: float = 3e-4  # rlkit context_lr
    context_size: int = 64  # transitions per task in a training context; rlkit embedding_batch_size
    context_reward: str | None = None  # reward in the context: None = sparse where the env is sparse at test (rlkit sparse_rewards), else shaped
    posterior_update_every: int | None = None  # also re-infer z every N steps inside a meta-test episode after exploration; None: at episode boundaries only (rlkit)


@dataclass(frozen=True)
class EncoderConfig:
    """Observation encoder shared by the critic and the context (MELD paper A's five conv layers)."""

    conv_filters: tuple[int, ...] = (32, 64, 128, 256, 256)  # MELD paper A
    conv_kernels: tuple[int, ...] = (5, 3, 3, 3, 4)  # MELD paper A
    feature_size: int = 256  # image features (= last conv filters); MLP width in obs_mode="state"
    state_hidden_size: int = 256  # MLP encoder width in obs_mode="state"
    learning_rate: float = 3e-4  # trained with the critic's loss (as the context encoder is), rlkit qf_lr


@dataclass(frozen=True)
class PEARLTrainConfig:
    """Meta-training schedule (paper Algorithm 1; rlkit default.py)."""

    num_train_tasks: int | None = None  # None: the environment's whole train split
    # Data collection in env steps, as oyster counts it; the agent collects whole trials, ceil(steps / trial length)
    initial_steps_per_task: int = 2000  # prior-policy data per train task before training; rlkit num_initial_steps
    collect_tasks: int = 5  # tasks collected from per iteration; rlkit num_tasks_sample
    prior_steps: int = 400  # per collected task and iteration, z ~ prior, into the replay and the encoder buffer; rlkit num_steps_prior
    posterior_steps: int = 0  # then z ~ q(z | encoder-buffer context), into the replay and the encoder buffer; rlkit num_steps_posterior
    extra_posterior_steps: int = 400  # then z ~ q(z | encoder-buffer context), into the replay only; rlkit num_extra_rl_steps_posterior
    meta_batch: int = 16  # tasks per gradient step; rlkit meta_batch
    batch_size: int = 256  # RL transitions per task per step; rlkit batch_size
    train_ratio: float = 0.5  # gradient steps per env step; rlkit num_train_steps_per_itr 2000 per 5 tasks x 800 steps
    capacity_frames_per_task: int = 10_000  # per-task replay (MELD's size for these envs; rlkit's 1e6 holds no pixels in RAM)
    deterministic_test: bool = True  # mean action at meta-test (rlkit eval_deterministic=True)
    exploration_episodes: int = 1  # unscored episodes before each meta-test trial; rlkit num_exp_traj_eval (configs/default.py)


def _pearl_sac() -> SACConfig:
    # rlkit: net_size=300, 3 layers; reward_scale=5 with unit temperature, i.e. a fixed temperature of 0.2
    return SACConfig(hidden_sizes=(300, 300, 300), batch_size=256, initial_alpha=0.2, alpha_learning_rate=0.0)


@dataclass(frozen=True)
class PEARLConfig:
    """One PEARL run. ``sac`` is MELD's SAC config (learning rates, gamma, tau, temperature)."""

    env_id: str = "meld/Nav2D-v0"
    seed: int = 0
    obs_mode: str = "pixels"  # pixels (conv encoder) | state (MLP encoder)
    device: str = "auto"
    context: ContextConfig = field(default_factory=ContextConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    sac: SACConfig = field(default_factory=_pearl_sac)
    train: PEARLTrainConfig = field(default_factory=PEARLTrainConfig)


# Per-environment overrides: the authors' configuration of the env in PEARL's code that MELD's env reproduces (oyster
# configs/*.json on top of configs/default.py). reward_scale is a fixed temperature 1 / reward_scale here. Envs without
# one (Reacher, PegInsert, ShelfPlace, ButtonPress, the WidowX) run default.py's values.
PRESETS: dict[str, dict[str, Any]] = {
    "meld/Nav2D-v0": {  # oyster configs/sparse-point-robot.json (Nav2D is MELD's sparse point robot)
        "train.initial_steps_per_task": 200,
        "train.collect_tasks": 10,  # num_tasks_sample
        "train.prior_steps": 100,
        "train.posterior_steps": 900,
        "train.extra_posterior_steps": 0,
        "train.train_ratio": 0.1,  # num_train_steps_per_itr 1000 per 10 tasks x 1,000 steps
        "context.context_size": 1024,  # embedding_batch_size
        "context.kl_weight": 1.0,  # kl_lambda
        "sac.gamma": 0.9,  # discount
        "sac.initial_alpha": 0.01,  # reward_scale 100
        "train.exploration_episodes": 5,  # num_exp_traj_eval
    },
    "meld/CheetahVel-v0": {  # oyster configs/cheetah-vel.json
        "train.initial_steps_per_task": 2000,
        "train.prior_steps": 400,
        "train.posterior_steps": 0,
        "train.extra_posterior_steps": 600,
        "train.train_ratio": 0.4,  # num_train_steps_per_itr 2000 per 5 tasks x 1,000 steps
        "context.context_size": 100,  # embedding_batch_size
        "train.exploration_episodes": 2,  # num_exp_traj_eval
    },
}

# A CPU-sized variant for short runs (the learning checks, quick experiments), not PEARL's configuration: 4 tasks x 64
# transitions per gradient step, 0.1 gradient steps per env step, about 2 initial trials per task, contexts of 32, one
# prior and one extra-posterior trial per collected task (trials of up to 40 steps). ``make_config(env, **SMALL)``.
SMALL: dict[str, Any] = {
    "train.initial_steps_per_task": 80, "train.collect_tasks": 5, "train.prior_steps": 40, "train.posterior_steps": 0,
    "train.extra_posterior_steps": 40, "train.meta_batch": 4, "train.batch_size": 64, "train.train_ratio": 0.1,
    "context.context_size": 32,
}


def check(config: PEARLConfig) -> PEARLConfig:
    """``config`` if its values are allowed; a ``ValueError`` naming the bad value otherwise."""
    c, t = config.context, config.train
    if config.obs_mode not in ("pixels", "state"):
        raise ValueError(f"obs_mode={config.obs_mode!r}; allowed: 'pixels', 'state'")
    if c.context_reward is not None and c.context_reward not in REWARD_CHOICES:
        raise ValueError(f"context.context_reward={c.context_reward!r}; allowed: None, 'shaped', 'sparse'")
    for name, value in (("context.latent_size", c.latent_size), ("context.context_size", c.context_size),
                        ("train.meta_batch", t.meta_batch), ("train.batch_size", t.batch_size),
                        ("train.collect_tasks", t.collect_tasks), ("train.capacity_frames_per_task", t.capacity_frames_per_task),
                        ("train.prior_steps", t.prior_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: must be a positive integer")
    for name, value in (("train.initial_steps_per_task", t.initial_steps_per_task), ("train.posterior_steps", t.posterior_steps),
                        ("train.extra_posterior_steps", t.extra_posterior_steps),
                        ("train.exploration_episodes", t.exploration_episodes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}={value!r}: must be an integer >= 0")
    if c.posterior_update_every is not None and c.posterior_update_every < 1:
        raise ValueError(f"context.posterior_update_every={c.posterior_update_every!r}: a positive integer or None")
    if t.train_ratio < 0 or c.kl_weight < 0:
        raise ValueError(f"train.train_ratio={t.train_ratio!r}, context.kl_weight={c.kl_weight!r}: must be >= 0")
    return config


def make_config(env_id: str = "meld/Nav2D-v0", **overrides: Any) -> PEARLConfig:
    """The paper defaults, then ``PRESETS[env_id]``, then ``overrides`` (``section__field`` or ``section.field``)."""
    return check(override(PEARLConfig(env_id=env_id), {**PRESETS.get(env_id, {}), **overrides}))


def presets_table() -> str:
    rows = ["| environment | field | value |", "|---|---|---|"]
    rows += [f"| {env} | {k} | {v} |" for env, o in PRESETS.items() for k, v in o.items()]
    return "\n".join(rows)
