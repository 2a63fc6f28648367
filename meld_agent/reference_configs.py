"""The authors' settings that MELD's presets reproduce: one row per setting, naming the file and line of the authors'
code (github.com/tonyzhaozh/meld, the configs of ``examples.txt``, which made the paper's figures) and the value.

Each environment's reference run binds three gin files, later ones winning: ``0_meld_dense.gin`` (``0_meld_sparse.gin``
for the sparse-reward Buttons run), ``1_<env>.gin`` and ``2_<env>_1episode.gin`` (``2_sawyerButtons_2episodes_sparse.gin``);
what they leave unbound keeps ``train_eval``'s defaults (``meld/scripts/run_meld.py``) or the model's
(``meld/networks/meld_model_network.py``). A row holds the effective binding and where it is made:

- ``field``: the setting of this repository that stands for it: a ``MELDConfig`` field (``model.latent1_size``), a
  column of the environment registry (``registry.max_episode_steps``: ``meld_envs.registry``), ``env.action_mode``
  (how the environment takes actions: ``ENV_ACTION_MODES``), ``agent.two_stage`` (whether MELD runs appendix C's two
  stages, the second one's model reading sparse rewards), or None where nothing here corresponds;
- ``ours``: the value of ``field`` that reproduces the binding (``CONVERSIONS`` says where it is not the same number).

``tests/test_agent_presets.py`` checks every row against ``make_config(env_id)`` and the registry: each is reproduced,
or listed with its reason in ``meld_agent.presets.DEVIATIONS``. ``verify(git_dir)`` checks the rows against a clone of
the authors' repository (``MELD_REFERENCE_GIT=<path to its .git> pytest tests/test_agent_presets.py``).
"""
from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from typing import Any

REPOSITORY = "https://github.com/tonyzhaozh/meld"


@dataclass(frozen=True)
class Reference:
    """One effective binding of a reference run."""

    env_id: str
    name: str  # the gin binding (or the Python name) as the authors' code spells it
    file: str  # path in the authors' repository
    line: int  # 1-based
    written: str  # the value as written there
    field: str | None  # our setting (module docstring); None: nothing here corresponds
    ours: Any  # the value of ``field`` that reproduces it

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def R(name: str, file: str, line: int, written: str, field: str | None, ours: Any) -> tuple:  # noqa: N802 (a row)
    return name, file if "/" in file else f"meld/configs/{file}", line, written, field, ours


# Bound by no config file: train_eval's and the model's defaults, the same in every reference run.
_DEFAULTS = (
    R("ModelDistributionNetwork.decoder_stddev", "meld/networks/meld_model_network.py", 35, "np.sqrt(0.1, dtype=np.float32)",
      "model.observation_std", math.sqrt(0.1)),
    R("train_eval.target_update_tau", "meld/scripts/run_meld.py", 139, "0.005", "sac.tau", 0.005),
    R("train_eval.actor_learning_rate", "meld/scripts/run_meld.py", 141, "3e-4", "sac.actor_learning_rate", 3e-4),
    R("train_eval.critic_learning_rate", "meld/scripts/run_meld.py", 142, "3e-4", "sac.critic_learning_rate", 3e-4),
    R("train_eval.alpha_learning_rate", "meld/scripts/run_meld.py", 143, "3e-4", "sac.alpha_learning_rate", 3e-4),
    R("train_eval.model_learning_rate", "meld/scripts/run_meld.py", 144, "1e-4", "model.learning_rate", 1e-4),
    R("train_eval.gamma", "meld/scripts/run_meld.py", 146, "0.99", "sac.gamma", 0.99),
    R("train_eval.gradient_clipping", "meld/scripts/run_meld.py", 148, "None", "model.grad_clip_norm", None),
)

_PER_ENV: dict[str, tuple[tuple, ...]] = {
    "meld/CheetahVel-v0": (
        R("ModelDistributionNetwork.base_depth", "2_cheetahVel_1episode.gin", 7, "64", "model.base_depth", 64),
        R("ModelDistributionNetwork.latent1_size", "2_cheetahVel_1episode.gin", 4, "64", "model.latent1_size", 64),
        R("ModelDistributionNetwork.latent2_size", "2_cheetahVel_1episode.gin", 5, "32", "model.latent2_size", 32),
        R("ModelDistributionNetwork.sparse_reward_inputs", "0_meld_dense.gin", 25, "False", "agent.two_stage", False),
        R("ModelDistributionNetwork.sparse_reward_targets", "0_meld_dense.gin", 26, "False", "model.reward_target", "shaped"),
        R("train_eval.actor_fc_layers", "1_cheetahVel.gin", 13, "(256, 256)", "sac.hidden_sizes", (256, 256)),
        R("train_eval.critic_joint_fc_layers", "1_cheetahVel.gin", 16, "(256, 256)", "sac.hidden_sizes", (256, 256)),
        R("train_eval.num_repeat_when_concatenate", "1_cheetahVel.gin", 17, "32", "model.reward_repeat", 32),
        R("train_eval.double_camera", "1_cheetahVel.gin", 23, "False", "registry.obs_shape", (64, 64, 3)),
        R("train_eval.max_episode_len_override", "2_cheetahVel_1episode.gin", 2, "50", "registry.max_episode_steps", 50),
        R("ModelDistributionNetwork.elbo_reward_weight", "2_cheetahVel_1episode.gin", 3, "16", "model.reward_weight", 16.0),
        R("ModelDistributionNetwork.reward_stddev", "2_cheetahVel_1episode.gin", 6, "0.2", "model.reward_std", 0.2),
        R("train_eval.stop_model_training", "2_cheetahVel_1episode.gin", 8, "500000", None, 500000),
        R("train_eval.episodes_per_trial", "2_cheetahVel_1episode.gin", 14, "1", "registry.episodes_per_trial", 1),
        R("train_eval.num_train_tasks", "2_cheetahVel_1episode.gin", 15, "20", "train.num_train_tasks", 20),
        R("train_eval.num_eval_tasks", "2_cheetahVel_1episode.gin", 16, "10", "registry.num_test_tasks", 10),
        R("train_eval.init_collect_trials_per_task", "2_cheetahVel_1episode.gin", 26, "20", "train.initial_random_trials", 400),
        R("train_eval.init_model_train_ratio", "2_cheetahVel_1episode.gin", 28, "0.3", "train.model_pretrain_ratio", 0.3),
        R("train_eval.replay_buffer_capacity", "2_cheetahVel_1episode.gin", 34, "10000", "replay.capacity_frames_per_task", 10000),
        R("train_eval.num_tasks_to_collect_per_iter", "2_cheetahVel_1episode.gin", 35, "1", "train.collect_tasks", 1),
        R("train_eval.collect_trials_per_task", "2_cheetahVel_1episode.gin", 36, "1", "train.trials_per_task", 1),
        R("train_eval.num_tasks_per_train", "2_cheetahVel_1episode.gin", 42, "10", "train.tasks_per_update", 10),
        R("train_eval.train_trials_per_task", "2_cheetahVel_1episode.gin", 43, "1", "train.update_trials_per_task", 1),
        R("train_eval.model_bs_in_steps", "2_cheetahVel_1episode.gin", 45, "256", "train.model_batch_steps", 256),
        R("train_eval.ac_bs_in_steps", "2_cheetahVel_1episode.gin", 46, "256", "sac.batch_size", 256),
        R("train_eval.model_train_ratio", "2_cheetahVel_1episode.gin", 52, "0.8", "train.model_train_ratio", 0.8),
        R("train_eval.ac_train_ratio", "2_cheetahVel_1episode.gin", 53, "0.8", "train.ac_train_ratio", 0.8),
    ),
    "meld/Reacher-v0": (
        R("ModelDistributionNetwork.base_depth", "2_sawyerReacher_1episode.gin", 6, "64", "model.base_depth", 64),
        R("ModelDistributionNetwork.latent1_size", "2_sawyerReacher_1episode.gin", 3, "64", "model.latent1_size", 64),
        R("ModelDistributionNetwork.latent2_size", "2_sawyerReacher_1episode.gin", 4, "32", "model.latent2_size", 32),
        R("ModelDistributionNetwork.sparse_reward_inputs", "0_meld_dense.gin", 25, "False", "agent.two_stage", False),
        R("ModelDistributionNetwork.sparse_reward_targets", "0_meld_dense.gin", 26, "False", "model.reward_target", "shaped"),
        R("train_eval.action_mode", "1_sawyerReacher.gin", 8, "'joint_delta_position'", "env.action_mode", "joint_delta_position"),
        R("train_eval.actor_fc_layers", "1_sawyerReacher.gin", 14, "(256, 256)", "sac.hidden_sizes", (256, 256)),
        R("train_eval.critic_joint_fc_layers", "1_sawyerReacher.gin", 17, "(256, 256)", "sac.hidden_sizes", (256, 256)),
        R("train_eval.num_repeat_when_concatenate", "1_sawyerReacher.gin", 18, "32", "model.reward_repeat", 32),
        R("train_eval.double_camera", "1_sawyerReacher.gin", 26, "True", "registry.obs_shape", (64, 128, 3)),
        R("ModelDistributionNetwork.elbo_reward_weight", "2_sawyerReacher_1episode.gin", 2, "10", "model.reward_weight", 10.0),
        R("ModelDistributionNetwork.reward_stddev", "2_sawyerReacher_1episode.gin", 5, "0.2", "model.reward_std", 0.2),
        R("train_eval.stop_model_training", "2_sawyerReacher_1episode.gin", 7, "500000", None, 500000),
        R("train_eval.episodes_per_trial", "2_sawyerReacher_1episode.gin", 13, "1", "registry.episodes_per_trial", 1),
        R("train_eval.num_train_tasks", "2_sawyerReacher_1episode.gin", 14, "60", "train.num_train_tasks", 60),
        R("train_eval.num_eval_tasks", "2_sawyerReacher_1episode.gin", 15, "10", "registry.num_test_tasks", 10),
        R("train_eval.init_collect_trials_per_task", "2_sawyerReacher_1episode.gin", 25, "2", "train.initial_random_trials", 120),
        R("train_eval.init_model_train_ratio", "2_sawyerReacher_1episode.gin", 27, "0.3", "train.model_pretrain_ratio", 0.3),
        R("train_eval.replay_buffer_capacity", "2_sawyerReacher_1episode.gin", 33, "10000", "replay.capacity_frames_per_task", 10000),
        R("train_eval.num_tasks_to_collect_per_iter", "2_sawyerReacher_1episode.gin", 34, "1", "train.collect_tasks", 1),
        R("train_eval.collect_trials_per_task", "2_sawyerReacher_1episode.gin", 35, "1", "train.trials_per_task", 1),
        R("train_eval.num_tasks_per_train", "2_sawyerReacher_1episode.gin", 41, "20", "train.tasks_per_update", 20),
        R("train_eval.train_trials_per_task", "2_sawyerReacher_1episode.gin", 42, "1", "train.update_trials_per_task", 1),
        R("train_eval.model_bs_in_steps", "2_sawyerReacher_1episode.gin", 44, "512", "train.model_batch_steps", 512),
        R("train_eval.ac_bs_in_steps", "2_sawyerReacher_1episode.gin", 45, "512", "sac.batch_size", 512),
        R("train_eval.model_train_ratio", "2_sawyerReacher_1episode.gin", 51, "0.8", "train.model_train_ratio", 0.8),
        R("train_eval.ac_train_ratio", "2_sawyerReacher_1episode.gin", 52, "0.5", "train.ac_train_ratio", 0.5),
        R("max_steps_dict['SawyerReachMT-v0']", "meld/scripts/run_meld.py", 165, "40", "registry.max_episode_steps", 40),
    ),
    "meld/PegInsert-v0": (
        R("ModelDistributionNetwork.base_depth", "2_sawyerPeg_1episode.gin", 6, "64", "model.base_depth", 64),
        R("ModelDistributionNetwork.latent1_size", "2_sawyerPeg_1episode.gin", 3, "128", "model.latent1_size", 128),
        R("ModelDistributionNetwork.latent2_size", "2_sawyerPeg_1episode.gin", 4, "64", "model.latent2_size", 64),
        R("ModelDistributionNetwork.sparse_reward_inputs", "0_meld_dense.gin", 25, "False", "agent.two_stage", False),
        R("ModelDistributionNetwork.sparse_reward_targets", "0_meld_dense.gin", 26, "False", "model.reward_target", "shaped"),
        R("train_eval.action_mode", "1_sawyerPeg.gin", 8, "'joint_delta_position'", "env.action_mode", "joint_delta_position"),
        R("train_eval.actor_fc_layers", "1_sawyerPeg.gin", 14, "(512, 512)", "sac.hidden_sizes", (512, 512)),
        R("train_eval.critic_joint_fc_layers", "1_sawyerPeg.gin", 17, "(512, 512)", "sac.hidden_sizes", (512, 512)),
        R("train_eval.num_repeat_when_concatenate", "1_sawyerPeg.gin", 18, "32", "model.reward_repeat", 32),
        R("train_eval.double_camera", "1_sawyerPeg.gin", 26, "True", "registry.obs_shape", (64, 128, 3)),
        R("ModelDistributionNetwork.elbo_reward_weight", "2_sawyerPeg_1episode.gin", 2, "10", "model.reward_weight", 10.0),
        R("ModelDistributionNetwork.reward_stddev", "2_sawyerPeg_1episode.gin", 5, "0.2", "model.reward_std", 0.2),
        R("train_eval.episodes_per_trial", "2_sawyerPeg_1episode.gin", 13, "1", "registry.episodes_per_trial", 1),
        R("train_eval.num_train_tasks", "2_sawyerPeg_1episode.gin", 14, "30", "train.num_train_tasks", 30),
        R("train_eval.num_eval_tasks", "2_sawyerPeg_1episode.gin", 15, "10", "registry.num_test_tasks", 10),
        R("train_eval.init_collect_trials_per_task", "2_sawyerPeg_1episode.gin", 25, "5", "train.initial_random_trials", 150),
        R("train_eval.init_model_train_ratio", "2_sawyerPeg_1episode.gin", 27, "0.3", "train.model_pretrain_ratio", 0.3),
        R("train_eval.replay_buffer_capacity", "2_sawyerPeg_1episode.gin", 33, "10000", "replay.capacity_frames_per_task", 10000),
        R("train_eval.num_tasks_to_collect_per_iter", "2_sawyerPeg_1episode.gin", 34, "1", "train.collect_tasks", 1),
        R("train_eval.collect_trials_per_task", "2_sawyerPeg_1episode.gin", 35, "1", "train.trials_per_task", 1),
        R("train_eval.num_tasks_per_train", "2_sawyerPeg_1episode.gin", 41, "20", "train.tasks_per_update", 20),
        R("train_eval.train_trials_per_task", "2_sawyerPeg_1episode.gin", 42, "1", "train.update_trials_per_task", 1),
        R("train_eval.model_bs_in_steps", "2_sawyerPeg_1episode.gin", 44, "512", "train.model_batch_steps", 512),
        R("train_eval.ac_bs_in_steps", "2_sawyerPeg_1episode.gin", 45, "512", "sac.batch_size", 512),
        R("train_eval.model_train_ratio", "2_sawyerPeg_1episode.gin", 51, "0.3", "train.model_train_ratio", 0.3),
        R("train_eval.ac_train_ratio", "2_sawyerPeg_1episode.gin", 52, "0.3", "train.ac_train_ratio", 0.3),
        R("max_steps_dict['SawyerPegMT4box-v0']", "meld/scripts/run_meld.py", 166, "40", "registry.max_episode_steps", 40),
    ),
    "meld/ShelfPlace-v0": (
        R("ModelDistributionNetwork.base_depth", "2_sawyerShelf_1episode.gin", 6, "64", "model.base_depth", 64),
        R("ModelDistributionNetwork.latent1_size", "2_sawyerShelf_1episode.gin", 3, "128", "model.latent1_size", 128),
        R("ModelDistributionNetwork.latent2_size", "2_sawyerShelf_1episode.gin", 4, "64", "model.latent2_size", 64),
        R("ModelDistributionNetwork.sparse_reward_inputs", "0_meld_dense.gin", 25, "False", "agent.two_stage", False),
        R("ModelDistributionNetwork.sparse_reward_targets", "0_meld_dense.gin", 26, "False", "model.reward_target", "shaped"),
        R("train_eval.action_mode", "1_sawyerShelf.gin", 8, "'torque'", "env.action_mode", "torque"),
        R("train_eval.actor_fc_layers", "1_sawyerShelf.gin", 14, "(256, 256)", "sac.hidden_sizes", (256, 256)),
        R("train_eval.critic_joint_fc_layers", "1_sawyerShelf.gin", 17, "(256, 256)", "sac.hidden_sizes", (256, 256)),
        R("train_eval.num_repeat_when_concatenate", "1_sawyerShelf.gin", 18, "32", "model.reward_repeat", 32),
        R("train_eval.double_camera", "1_sawyerShelf.gin", 26, "True", "registry.obs_shape", (64, 128, 3)),
        R("ModelDistributionNetwork.elbo_reward_weight", "2_sawyerShelf_1episode.gin", 2, "10", "model.reward_weight", 10.0),
        R("ModelDistributionNetwork.reward_stddev", "2_sawyerShelf_1episode.gin", 5, "0.2", "model.reward_std", 0.2),
        R("train_eval.episodes_per_trial", "2_sawyerShelf_1episode.gin", 13, "1", "registry.episodes_per_trial", 1),
        R("train_eval.num_train_tasks", "2_sawyerShelf_1episode.gin", 14, "40", "train.num_train_tasks", 40),
        R("train_eval.num_eval_tasks", "2_sawyerShelf_1episode.gin", 15, "10", "registry.num_test_tasks", 10),
        R("train_eval.init_collect_trials_per_task", "2_sawyerShelf_1episode.gin", 25, "20", "train.initial_random_trials", 800),
        R("train_eval.init_model_train_ratio", "2_sawyerShelf_1episode.gin", 27, "0.3", "train.model_pretrain_ratio", 0.3),
        R("train_eval.replay_buffer_capacity", "2_sawyerShelf_1episode.gin", 33, "10000", "replay.capacity_frames_per_task", 10000),
        R("train_eval.num_tasks_to_collect_per_iter", "2_sawyerShelf_1episode.gin", 34, "1", "train.collect_tasks", 1),
        R("train_eval.collect_trials_per_task", "2_sawyerShelf_1episode.gin", 35, "1", "train.trials_per_task", 1),
        R("train_eval.num_tasks_per_train", "2_sawyerShelf_1episode.gin", 41, "20", "train.tasks_per_update", 20),
        R("train_eval.train_trials_per_task", "2_sawyerShelf_1episode.gin", 42, "1", "train.update_trials_per_task", 1),
        R("train_eval.model_bs_in_steps", "2_sawyerShelf_1episode.gin", 44, "512", "train.model_batch_steps", 512),
        R("train_eval.ac_bs_in_steps", "2_sawyerShelf_1episode.gin", 45, "512", "sac.batch_size", 512),
        R("train_eval.model_train_ratio", "2_sawyerShelf_1episode.gin", 51, "0.3", "train.model_train_ratio", 0.3),
        R("train_eval.ac_train_ratio", "2_sawyerShelf_1episode.gin", 52, "0.3", "train.ac_train_ratio", 0.3),
        R("max_steps_dict['SawyerShelfMT-v0']", "meld/scripts/run_meld.py", 167, "40", "registry.max_episode_steps", 40),
    ),
    "meld/ButtonPress-v0": (
        R("ModelDistributionNetwork.base_depth", "2_sawyerButtons_2episodes_sparse.gin", 9, "64", "model.base_depth", 64),
        R("ModelDistributionNetwork.latent1_size", "2_sawyerButtons_2episodes_sparse.gin", 6, "64", "model.latent1_size", 64),
        R("ModelDistributionNetwork.latent2_size", "2_sawyerButtons_2episodes_sparse.gin", 7, "32", "model.latent2_size", 32),
        R("ModelDistributionNetwork.sparse_reward_inputs", "0_meld_sparse.gin", 25, "True", "agent.two_stage", True),
        R("ModelDistributionNetwork.sparse_reward_targets", "0_meld_sparse.gin", 26, "False", "model.reward_target", "shaped"),
        R("train_eval.action_mode", "1_sawyerButtons.gin", 8, "'joint_delta_position'", "env.action_mode", "joint_delta_position"),
        R("train_eval.actor_fc_layers", "1_sawyerButtons.gin", 14, "(512, 512)", "sac.hidden_sizes", (512, 512)),
        R("train_eval.critic_joint_fc_layers", "1_sawyerButtons.gin", 17, "(512, 512)", "sac.hidden_sizes", (512, 512)),
        R("train_eval.num_repeat_when_concatenate", "1_sawyerButtons.gin", 18, "32", "model.reward_repeat", 32),
        R("train_eval.double_camera", "1_sawyerButtons.gin", 26, "True", "registry.obs_shape", (64, 128, 3)),
        R("train_eval.load_offline_data", "2_sawyerButtons_2episodes_sparse.gin", 1, "True", "agent.two_stage", True),
        R("train_eval.offline_ratio", "2_sawyerButtons_2episodes_sparse.gin", 2, "0.3", "train.offline_ratio", 0.3),
        R("train_eval.max_episode_len_override", "2_sawyerButtons_2episodes_sparse.gin", 3, "30", "registry.max_episode_steps", 30),
        R("ModelDistributionNetwork.elbo_reward_weight", "2_sawyerButtons_2episodes_sparse.gin", 5, "10", "model.reward_weight", 10.0),
        R("ModelDistributionNetwork.reward_stddev", "2_sawyerButtons_2episodes_sparse.gin", 8, "0.2", "model.reward_std", 0.2),
        R("train_eval.episodes_per_trial", "2_sawyerButtons_2episodes_sparse.gin", 15, "2", "registry.episodes_per_trial", 2),
        R("train_eval.num_train_tasks", "2_sawyerButtons_2episodes_sparse.gin", 16, "15", "train.num_train_tasks", 15),
        R("train_eval.num_eval_tasks", "2_sawyerButtons_2episodes_sparse.gin", 17, "12", "registry.num_test_tasks", 12),
        R("train_eval.init_collect_trials_per_task", "2_sawyerButtons_2episodes_sparse.gin", 27, "5", "train.initial_random_trials", 75),
        R("train_eval.init_model_train_ratio", "2_sawyerButtons_2episodes_sparse.gin", 29, "0.3", "train.model_pretrain_ratio", 0.3),
        R("train_eval.replay_buffer_capacity", "2_sawyerButtons_2episodes_sparse.gin", 35, "10000", "replay.capacity_frames_per_task", 10000),
        R("train_eval.num_tasks_to_collect_per_iter", "2_sawyerButtons_2episodes_sparse.gin", 36, "1", "train.collect_tasks", 1),
        R("train_eval.collect_trials_per_task", "2_sawyerButtons_2episodes_sparse.gin", 37, "1", "train.trials_per_task", 1),
        R("train_eval.num_tasks_per_train", "2_sawyerButtons_2episodes_sparse.gin", 43, "15", "train.tasks_per_update", 15),
        R("train_eval.train_trials_per_task", "2_sawyerButtons_2episodes_sparse.gin", 44, "1", "train.update_trials_per_task", 1),
        R("train_eval.model_bs_in_steps", "2_sawyerButtons_2episodes_sparse.gin", 46, "512", "train.model_batch_steps", 512),
        R("train_eval.ac_bs_in_steps", "2_sawyerButtons_2episodes_sparse.gin", 47, "512", "sac.batch_size", 512),
        R("train_eval.model_train_ratio", "2_sawyerButtons_2episodes_sparse.gin", 53, "0.8", "train.model_train_ratio", 0.8),
        R("train_eval.ac_train_ratio", "2_sawyerButtons_2episodes_sparse.gin", 54, "0.5", "train.ac_train_ratio", 0.5),
    ),
}

ROWS: tuple[Reference, ...] = tuple(Reference(env_id, *row) for env_id, rows in _PER_ENV.items() for row in rows + _DEFAULTS)
ENV_IDS: tuple[str, ...] = tuple(_PER_ENV)

# How each Sawyer environment here takes actions (its class docstring, meld_envs/envs/*.py).
ENV_ACTION_MODES: dict[str, str] = {
    "meld/Reacher-v0": "joint_delta_position",
    "meld/PegInsert-v0": "joint_delta_position",
    "meld/ShelfPlace-v0": "joint_delta_position",
    "meld/ButtonPress-v0": "joint_delta_position",
}

# Where ``ours`` is not the reference's number itself.
CONVERSIONS: dict[str, str] = {
    "train_eval.init_collect_trials_per_task": "random-policy trials per train task (run_meld.py's init collect loops over "
                                               "every train task); train.initial_random_trials counts them all: x num_train_tasks",
    "train_eval.double_camera": "two cameras side by side: 64x128 images (64x64 with one)",
    "ModelDistributionNetwork.sparse_reward_inputs": "True only in the sparse-reward run, the second of appendix C's stages",
    "train_eval.load_offline_data": "the sparse-reward run starts on the shaped run's replay: appendix C's two stages",
    "ModelDistributionNetwork.sparse_reward_targets": "False: the reward decoder reconstructs the shaped reward",
    "ModelDistributionNetwork.base_depth": "d: encoder filters (d, 2d, 4d, 8d, 8d), features and latent MLPs 8d "
                                           "(meld_agent.config.base_depth_widths)",
    "train_eval.actor_fc_layers": "the actor's hidden layers; the critics' are critic_joint_fc_layers (the same in every "
                                  "config), so one sac.hidden_sizes holds both",
}


def rows(env_id: str) -> tuple[Reference, ...]:
    """The reference rows of ``env_id`` (empty for an environment the authors' code does not have)."""
    return tuple(r for r in ROWS if r.env_id == env_id)


def our_value(config: Any, field: str) -> Any:
    """The value of ``field`` (a row's) for ``config`` (a ``MELDConfig``) and its environment."""
    from meld_envs import registry

    entry = registry.entry(config.env_id)
    if field.startswith("registry."):
        return getattr(entry, field.split(".", 1)[1])
    if field == "env.action_mode":
        return ENV_ACTION_MODES.get(config.env_id)
    if field == "agent.two_stage":  # as MELD decides it: sparse at test exactly where a trial has 2 episodes (registry)
        return (entry.episodes_per_trial > 1 if config.train.two_stage is None else config.train.two_stage) \
            and config.model.reward_input != "none"
    section, _, name = field.rpartition(".")
    holder = getattr(config, section) if section else config
    return getattr(holder, name)


def verify(git_dir: str, commit: str = "HEAD") -> list[str]:
    """Rows whose file and line in the authors' repository (a clone's git directory) do not bind ``written``: empty when
    the table is true to it."""
    problems = []
    cache: dict[str, list[str]] = {}
    for r in ROWS:
        if r.file not in cache:
            text = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{r.file}"], capture_output=True,
                                  text=True, check=True).stdout
            cache[r.file] = text.split("\n")
        line = cache[r.file][r.line - 1] if r.line <= len(cache[r.file]) else ""
        key = r.name.split(".")[-1].split("[")[-1].strip("']")
        if key not in line or r.written not in line:
            problems.append(f"{r.env_id} {r.name}: {r.where} reads {line.strip()!r}, not {key} = {r.written}")
    return problems


if __name__ == "__main__":  # docs/presets.md
    from meld_agent.presets import markdown

    print(markdown(), end="")
