"""Configuration of the MELD agent: one frozen dataclass per component, composed into ``MELDConfig``.

``ModelConfig``, ``SACConfig``, ``ReplayConfig`` and ``TrainConfig`` hold what the paper and the authors' code
define, with their defaults (Table 1, appendix A) unless a field says otherwise. ``ExtensionsConfig`` holds the
additions to the paper's algorithm, every one off by default (docs/nav2d_learning.md, "Extensions", says what each
did). ``PRESETS`` (``meld_agent.presets``) holds the per-environment overrides with their source, checked against the
authors' configs in ``meld_agent.reference_configs``. ``make_config(env_id, **overrides)``
applies the preset of ``env_id`` and then the caller's overrides; overrides are written ``section__field=value``
(Python) or ``section.field=value`` (command line), or as a bare ``field=value`` when the name is unique.

The generic part (overrides, JSON, tables of nested frozen dataclasses) serves every agent of the repository:
``override``, ``config_from_dict``, ``config_to_json``, ``config_table``, ``parse_setting``.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from meld_agent.presets import (DEVIATIONS, PAPER_TEXT_WIDTHS, PRESET_SOURCES,  # noqa: F401 (re-exported)
                                PRESETS, presets_table)

REWARD_CHOICES = ("shaped", "sparse")
REWARD_INPUT_CHOICES = ("shaped", "sparse", "none")
CONV_DTYPE_CHOICES = ("float32", "bfloat16")
ACTIVATION_CHOICES = ("leaky_relu", "relu")
COMPILE_CHOICES = ("none", "default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class ModelConfig:
    """Latent state model (paper Eq. 2, 5 and appendix A; two latent layers as in SLAC)."""

    latent1_size: int = 32  # z1 (the stochastic layer the KL acts on); reference gin 0_meld_dense
    latent2_size: int = 256  # z2; paper B.3: "we use dimension 256"
    base_depth: int | None = None  # the reference's width unit d (ModelDistributionNetwork.base_depth): setting it sets
    # conv_filters (d, 2d, 4d, 8d, 8d), feature_size 8d and hidden_size 8d (``base_depth_widths``); None: those three as
    # given. The defaults below are d = 32's (0_meld_dense.gin); every reference environment config sets d = 64
    conv_filters: tuple[int, ...] = (32, 64, 128, 256, 256)  # paper A: encoder filters; decoder mirrors them
    conv_kernels: tuple[int, ...] = (5, 3, 3, 3, 4)  # paper A; k x 2k for 64x128 two-camera images (rectangular filters)
    activation: str = "leaky_relu"  # of the model networks: the reference's (slope 0.2); "relu" is paper A's text. The
    # actor and critics use ReLU in both
    feature_size: int = 256  # encoder output (= last conv filters for images; the MLP encoder's in obs_mode="state")
    hidden_size: int = 256  # latent and reward MLPs, 2 hidden layers: the reference's 8*base_depth (paper A's text: 32 units,
    # available as ``meld_agent.presets.PAPER_TEXT_WIDTHS``)
    state_hidden_size: int = 256  # MLP encoder/decoder widths in obs_mode="state"
    observation_std: float = math.sqrt(0.1)  # fixed std of the image (or state) likelihood; reference decoder_stddev
    reward_std: float | None = None  # fixed reward likelihood std; None learns it (reference default)
    reward_weight: float = 8.0  # weight of log p(r|z) in the ELBO; reference elbo_reward_weight
    reward_repeat: int = 32  # copies of r concatenated to the image features; reference num_repeat_when_concatenate
    reward_input: str = "shaped"  # reward given to q as evidence: shaped | sparse | none (= SLAC, no reward evidence)
    reward_target: str = "shaped"  # reward that p(r|z) reconstructs (appendix C: shaped even when the input is sparse)
    conv_dtype: str = "float32"  # float32 | bfloat16: the conv encoder/decoder under bfloat16 autocast (weights, latents
    # and losses stay float32); 1.3-1.7x the model updates/s on CPUs with AVX-512 BF16 or AMX (BENCHMARKS.md), slower without
    learning_rate: float = 1e-4  # paper Table 1
    grad_clip_norm: float | None = None  # reference gradient_clipping=None


@dataclass(frozen=True)
class SACConfig:
    """Soft actor-critic on the belief (paper 4.2, appendix A; Haarnoja et al. 2018)."""

    hidden_sizes: tuple[int, ...] = (256, 256)  # actor and each critic; paper A; reference actor_fc_layers and
    # critic_joint_fc_layers (512, 512 for Peg and Buttons)
    actor_learning_rate: float = 3e-4  # paper Table 1
    critic_learning_rate: float = 3e-4  # paper Table 1
    alpha_learning_rate: float = 3e-4  # reference run_meld.py
    initial_alpha: float = 1.0  # temperature before learning
    target_entropy: float | None = None  # None: -|A| (SAC default)
    gamma: float = 0.99  # discount
    tau: float = 0.005  # target critic Polyak rate
    batch_size: int = 256  # transitions per actor-critic update; reference ac_bs_in_steps (256 cheetah, 512 paper Table 1)
    critic_reward: str = "shaped"  # reward the critic learns from (appendix C: shaped during meta-training)
    deterministic_test: bool | None = None  # meta-test (Algorithm 2) with the mean action (True) or sampled ones (False);
    # None: the agent's own way (``meta_test_actions``): MELD samples, as the reference's policy does (meld_policy.py
    # _action), SLAC takes the mean, as slac.pytorch's evaluation does (``exploit``)


@dataclass(frozen=True)
class ReplayConfig:
    """Per-task replay of whole trials, every frame stored once as uint8 (Algorithm 1, line 2)."""

    capacity_frames_per_task: int = 100_000  # paper Table 1: size of per-task buffers 1e5
    storage: str = "memory"  # memory | disk (numpy memmap files under ``directory``)
    directory: str | None = None  # where disk storage lives; None: <run>/replay or a temporary folder
    sequence_length: int | None = None  # frames per sampled sequence; None: whole trials (MELD)
    memory_headroom: float = 0.8  # refuse to allocate more than this share of available RAM (or free disk)


@dataclass(frozen=True)
class TrainConfig:
    """Meta-training schedule (Algorithm 1, appendix A, appendix C)."""

    num_train_tasks: int | None = None  # train tasks used; None: all of the environment's train split
    initial_random_trials: int = 60  # paper A: model pre-trained on 60 trajectories from a random policy
    model_pretrain_ratio: float = 0.8  # model-only updates per initial env step; reference init_model_train_ratio
    collect_tasks: int = 20  # tasks collected from per iteration; paper Table 1
    trials_per_task: int = 1  # rollouts per task per iteration; paper Table 1
    collect_envs: int = 1  # trials collected together (meld_agent/collect.py): their envs step in lockstep and one
    # batched filter step and actor forward per env step serves them all; each trial draws what it draws one at a time,
    # so the replay is that of 1 up to the float rounding of batched matrix products (~1e-6 in the actions); 1: one
    # trial at a time
    collect_async: bool = False  # with collect_envs > 1: the envs run in collect_envs worker processes (Gymnasium
    # AsyncVectorEnv), so physics and rendering use that many cores; False: in this process
    collect_exact: bool = False  # with collect_envs > 1: the policy runs one trial at a time (one-row forwards), so the
    # replay is bit for bit that of collect_envs=1 while the envs still step together
    tasks_per_update: int = 20  # tasks a batch is drawn across (with replacement; distinct ones while offline data
    # is mixed in, as the reference then takes every train task once); paper Table 1, reference num_tasks_per_train
    update_trials_per_task: int = 1  # trials drawn from each of them: the actor-critic's batch is tasks_per_update x
    # this many trials; reference train_trials_per_task
    model_batch_steps: int = 256  # frames per model batch: the model trains on model_batch_steps // trial frames of the
    # batch's trials (at least 1, at most all of them); reference model_bs_in_steps
    model_train_ratio: float = 0.8  # model updates per env step; reference 640 steps / (20 tasks x 40 steps)
    ac_train_ratio: float = 0.8  # actor-critic updates per env step; reference ac_train_ratio
    two_stage: bool | None = None  # appendix C sparse procedure; None: on when the env is sparse at test
    stage1_env_steps: int = 100_000  # env steps of the shaped-reward stage; reference examples.txt (~100k)
    offline_ratio: float = 0.3  # stage 2: share of a batch's episodes taken from stage 1's data (the offline buffer)
    # instead of stage 2's own; reference 2_sawyerButtons_2episodes_sparse.gin offline_ratio
    compile: str = "none"  # torch.compile of the update's loss functions (posterior pass, model loss, critic and actor
    # losses): none (eager) | default | reduce-overhead (CUDA graphs on CUDA) | max-autotune; BENCHMARKS.md measures them


@dataclass(frozen=True)
class ExtensionsConfig:
    """Additions to the paper's algorithm, each off by default; docs/nav2d_learning.md ("Extensions") says what each
    did on Nav2D. A preset that turns one on says so in its source line (``PRESET_SOURCES``)."""

    episode_start_input: bool = False  # append e_t (1 on the first frame of a trial's later episode, which the env
    # reports) to a_{t-1} in the prior, posterior and z2 transition, so that the prior can predict the reset
    stage2_init_from_stage1: bool = False  # appendix C's stage 2 starts from stage 1's networks (the paper: fresh ones)
    stage2_sparse_critic: float | None = None  # stage 2's critic learns from the sparse reward + this x the shaped one,
    # so that searching pays while the goal region's centre still outranks its edge; None: the shaped reward (appendix C)
    ac_batch_trials: int | None = None  # the actor-critic draws its own batch of this many trials (one more posterior
    # pass); None: one batch of tasks_per_update x update_trials_per_task trials serves both updates
    n_step: int = 1  # critic targets sum this many discounted rewards before bootstrapping (fewer near an episode's end:
    # like the one-step targets they never cross an episode boundary), for credit over several steps; 1: SAC's one-step target
    opening_fraction: float = 0.0  # share of each actor-critic batch drawn from the first ``opening_steps`` steps of a
    # trial's later episodes, where a memory of the earlier ones pays; 0: uniform over the batch's steps
    opening_steps: int = 5
    random_opening_fraction: float = 0.0  # share of collected trials whose later episodes open with
    # ``random_opening_steps`` uniform random actions (the belief reads them), so that the critic sees openings in
    # every direction whatever the memory holds; 0: the policy throughout
    random_opening_steps: int = 3
    random_opening_hold: bool = False  # one random action per opening, held for its steps (temporally extended
    # exploration, as in Dabney et al. 2021's epsilon-z-greedy), so that the opening travels in one direction
    random_opening_until_reward: bool = False  # an opening ends at its first step with a sparse reward > 0, so that the
    # policy takes over on the goal instead of being carried past it


@dataclass(frozen=True)
class MELDConfig:
    """One MELD run: environment, seed, components. Saved as ``config.json`` with every run."""

    env_id: str = "meld/Nav2D-v0"  # environment id (meld_envs registry)
    seed: int = 0  # seeds every generator the agent owns
    obs_mode: str = "pixels"  # pixels (conv encoder) | state (MLP encoder, for fast algorithmic checks)
    device: str = "auto"  # auto: cuda when present, else cpu
    model: ModelConfig = field(default_factory=ModelConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    extensions: ExtensionsConfig = field(default_factory=ExtensionsConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return config_to_json(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MELDConfig:
        return config_from_dict(cls, data)

    def flat(self) -> dict[str, Any]:
        """``{"model.latent1_size": 32, ..., "seed": 0}``: one entry per field."""
        return flat(self)

    def table(self) -> str:
        """The config as a two-column Markdown table, one row per field."""
        return config_table(self)


# -- nested frozen dataclass configs, for every agent here --------------------------------------------------------------
C = TypeVar("C")


def field_paths(config_type: type) -> list[str]:
    """Every settable field of ``config_type`` as ``section.field`` (or ``field`` at the top)."""
    paths = []
    for f in dataclasses.fields(config_type):
        section = _section_type(config_type, f.name)
        paths += [f"{f.name}.{g.name}" for g in dataclasses.fields(section)] if section else [f.name]
    return paths


def _section_type(config_type: type, name: str) -> type | None:
    default = getattr(config_type(), name)
    return type(default) if dataclasses.is_dataclass(default) else None


def resolve_field(config_type: type, key: str) -> str:
    """``section.field`` for ``key`` given as ``section.field``, ``section__field`` or a unique ``field``."""
    key = key.replace("__", ".")
    paths = field_paths(config_type)
    if key in paths:
        return key
    matches = [p for p in paths if "." not in key and p.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"config field {key!r} is ambiguous; write one of {', '.join(matches)}")
    raise ValueError(f"unknown config field {key!r}; allowed: {', '.join(sorted(paths))}")


def _coerce(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value  # JSON lists back to the tuples the dataclasses hold


def override(config: C, overrides: dict[str, Any]) -> C:
    """A copy of ``config`` with ``overrides`` applied (keys as ``resolve_field`` reads them); values unchecked."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for raw, value in overrides.items():
        section, _, name = resolve_field(type(config), raw).rpartition(".")
        if section:
            nested.setdefault(section, {})[name] = _coerce(value)
        else:
            top[name] = _coerce(value)
    for section, values in nested.items():
        top[section] = dataclasses.replace(getattr(config, section), **values)
    return dataclasses.replace(config, **top)


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a config written by ``config_to_json``; fields it lacks take their defaults, unknown ones are refused."""
    kwargs: dict[str, Any] = {}
    names = [f.name for f in dataclasses.fields(cls)]
    for name, value in data.items():
        if name not in names:
            raise ValueError(f"unknown config field {name!r}; allowed: {', '.join(names)}")
        section = _section_type(cls, name)
        if section is not None:
            allowed = {f.name for f in dataclasses.fields(section)}
            bad = set(value) - allowed
            if bad:
                raise ValueError(f"unknown {section.__name__} fields {sorted(bad)}; allowed: {', '.join(sorted(allowed))}")
            kwargs[name] = section(**{k: _coerce(v) for k, v in value.items()})
        else:
            kwargs[name] = _coerce(value)
    return cls(**kwargs)


def config_to_json(config: Any) -> str:
    return json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True)


def flat(config: Any) -> dict[str, Any]:
    """``{"section.field": value, ..., "field": value}``: one entry per field."""
    out: dict[str, Any] = {}
    for name, value in dataclasses.asdict(config).items():
        if isinstance(value, dict):
            out.update({f"{name}.{k}": v for k, v in value.items()})
        else:
            out[name] = value
    return out


def config_table(config: Any) -> str:
    """The config as a two-column Markdown table, one row per field."""
    return "\n".join(["| field | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in sorted(flat(config).items())])


def parse_setting(text: str) -> tuple[str, Any]:
    """``"sac.batch_size=64"`` -> ``("sac.batch_size", 64)``; values are JSON, else strings."""
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"--set {text!r}: expected section.field=value, e.g. sac.batch_size=64")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def base_depth_widths(base_depth: int) -> dict[str, Any]:
    """The widths the reference's ``ModelDistributionNetwork.base_depth`` d sets (meld/networks/model_network_helpers.py):
    encoder filters d, 2d, 4d, 8d, 8d (the decoder mirrors them), image features 8d, and 2 hidden layers of 8d units in
    every latent distribution and in the reward decoder."""
    if isinstance(base_depth, bool) or not isinstance(base_depth, int) or base_depth < 1:
        raise ValueError(f"model.base_depth={base_depth!r}: must be a positive integer, or None")
    d = base_depth
    return {"model.conv_filters": (d, 2 * d, 4 * d, 8 * d, 8 * d), "model.feature_size": 8 * d, "model.hidden_size": 8 * d}


_WIDTH_FIELDS = tuple(base_depth_widths(1))


def _expand_base_depth(config: MELDConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` (resolved keys) with ``model.base_depth`` written out as the widths it sets; a width given on its own
    clears ``model.base_depth`` (the widths no longer follow it)."""
    given = [k for k in _WIDTH_FIELDS if k in overrides]
    if "model.base_depth" in overrides:
        if overrides["model.base_depth"] is None:
            return overrides
        widths = base_depth_widths(overrides["model.base_depth"])
        for k in given:
            if _coerce(overrides[k]) != widths[k]:
                raise ValueError(f"{k}={overrides[k]!r} contradicts model.base_depth={overrides['model.base_depth']} "
                                 f"({k}={widths[k]!r}); give the widths with model.base_depth=null instead")
        return {**overrides, **widths}
    if given and config.model.base_depth is not None:
        return {**overrides, "model.base_depth": None}
    return overrides


def resolve_key(key: str) -> str:
    """``section.field`` of ``MELDConfig`` for ``key`` given as ``section.field``, ``section__field`` or a unique ``field``."""
    return resolve_field(MELDConfig, key)


def with_overrides(config: MELDConfig, overrides: dict[str, Any]) -> MELDConfig:
    """A copy of ``config`` with ``overrides`` (keys as in ``resolve_key``) applied and checked. ``model.base_depth``
    sets the widths it stands for (``base_depth_widths``); a width set on its own clears it."""
    resolved: dict[str, Any] = {}
    for key, value in overrides.items():
        resolved[resolve_key(key)] = value
    return check(override(config, _expand_base_depth(config, resolved)))


def make_config(env_id: str = "meld/Nav2D-v0", **overrides: Any) -> MELDConfig:
    """The paper defaults, then ``PRESETS[env_id]`` (``meld_agent.presets``), then ``overrides``."""
    return with_overrides(with_overrides(MELDConfig(env_id=env_id), PRESETS.get(env_id, {})), overrides)


def parse_override(text: str) -> tuple[str, Any]:
    """``"model.latent1_size=64"`` -> ``("model.latent1_size", 64)``; values are JSON, else strings."""
    key, value = parse_setting(text)
    return resolve_key(key), value


def check(config: MELDConfig) -> MELDConfig:
    """``config`` if its values are allowed; a ``ValueError`` naming the bad value otherwise."""
    m, s, r, t, x = config.model, config.sac, config.replay, config.train, config.extensions
    if config.obs_mode not in ("pixels", "state"):
        raise ValueError(f"obs_mode={config.obs_mode!r}; allowed: 'pixels', 'state'")
    if m.reward_input not in REWARD_INPUT_CHOICES:
        raise ValueError(f"model.reward_input={m.reward_input!r}; allowed: {', '.join(map(repr, REWARD_INPUT_CHOICES))}")
    for name, value in (("model.reward_target", m.reward_target), ("sac.critic_reward", s.critic_reward)):
        if value not in REWARD_CHOICES:
            raise ValueError(f"{name}={value!r}; allowed: 'shaped', 'sparse'")
    if x.stage2_sparse_critic is not None and not (math.isfinite(x.stage2_sparse_critic) and x.stage2_sparse_critic >= 0):
        raise ValueError(f"extensions.stage2_sparse_critic={x.stage2_sparse_critic!r}: must be a finite number >= 0, or None")
    for name, value in (("extensions.opening_fraction", x.opening_fraction),
                        ("extensions.random_opening_fraction", x.random_opening_fraction), ("train.offline_ratio", t.offline_ratio)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value!r}: must be in [0, 1]")
    if t.compile not in COMPILE_CHOICES:
        raise ValueError(f"train.compile={t.compile!r}; allowed: {', '.join(map(repr, COMPILE_CHOICES))}")
    if t.collect_envs < 1:
        raise ValueError(f"train.collect_envs={t.collect_envs!r}: must be >= 1")
    if m.activation not in ACTIVATION_CHOICES:
        raise ValueError(f"model.activation={m.activation!r}; allowed: {', '.join(map(repr, ACTIVATION_CHOICES))}")
    if m.conv_dtype not in CONV_DTYPE_CHOICES:
        raise ValueError(f"model.conv_dtype={m.conv_dtype!r}; allowed: {', '.join(map(repr, CONV_DTYPE_CHOICES))}")
    if m.base_depth is not None:
        for key, value in base_depth_widths(m.base_depth).items():
            if getattr(m, key.split(".")[1]) != value:
                raise ValueError(f"{key}={getattr(m, key.split('.')[1])!r} contradicts model.base_depth={m.base_depth} "
                                 f"({key}={value!r}); set model.base_depth=null to give the widths one by one")
    if len(m.conv_filters) != 5 or len(m.conv_kernels) != 5:
        raise ValueError(f"model.conv_filters={m.conv_filters} / conv_kernels={m.conv_kernels}: need 5 layers each (paper A)")
    if r.storage not in ("memory", "disk"):
        raise ValueError(f"replay.storage={r.storage!r}; allowed: 'memory', 'disk'")
    if r.sequence_length is not None and r.sequence_length < 2:
        raise ValueError(f"replay.sequence_length={r.sequence_length}: need >= 2 frames or None (whole trials)")
    for name, value in (("replay.capacity_frames_per_task", r.capacity_frames_per_task), ("sac.batch_size", s.batch_size),
                        ("extensions.n_step", x.n_step), ("extensions.opening_steps", x.opening_steps),
                        ("train.collect_tasks", t.collect_tasks), ("train.tasks_per_update", t.tasks_per_update),
                        ("extensions.random_opening_steps", x.random_opening_steps), ("train.trials_per_task", t.trials_per_task),
                        ("train.model_batch_steps", t.model_batch_steps), ("train.update_trials_per_task", t.update_trials_per_task),
                        ("extensions.ac_batch_trials", 1 if x.ac_batch_trials is None else x.ac_batch_trials)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: must be a positive integer")
    for name, value in (("train.model_train_ratio", t.model_train_ratio), ("train.ac_train_ratio", t.ac_train_ratio),
                        ("train.model_pretrain_ratio", t.model_pretrain_ratio)):
        if value < 0:
            raise ValueError(f"{name}={value!r}: must be >= 0")
    return config
