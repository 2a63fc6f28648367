"""MELD's presets against the authors' configs (meld_agent/reference_configs.py): every reference setting is reproduced
or listed with its reason in DEVIATIONS; every registered environment has a preset whose replay fits a smoke run."""
import dataclasses
import os
from collections import defaultdict

import pytest

import meld_agent
from meld_agent import presets
from meld_agent import reference_configs as rc
from meld_agent.config import MELDConfig, base_depth_widths, check, make_config
from meld_agent.networks import Actor, LatentModel
from meld_envs import registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 2 ** 30
MAX_ACTION_SIZE = 7  # the Sawyer's joints; every other environment here has fewer


def test_presets_live_in_their_module_and_are_re_exported():
    from meld_agent.config import PRESET_SOURCES, PRESETS, presets_table
    assert PRESETS is presets.PRESETS and meld_agent.PRESETS is presets.PRESETS
    assert PRESET_SOURCES is presets.PRESET_SOURCES and presets_table is presets.presets_table


@pytest.mark.parametrize("env_id", rc.ENV_IDS)
def test_every_reference_setting_is_reproduced_or_a_listed_deviation(env_id):
    config = make_config(env_id)
    listed = presets.DEVIATIONS.get(env_id, {})
    differs, matches = defaultdict(list), defaultdict(list)
    for row in rc.rows(env_id):
        key = row.field or row.name
        if row.field is not None and rc.our_value(config, row.field) == row.ours:
            matches[key].append(row.where)
        else:
            differs[key].append(f"{row.name} = {row.written} ({row.where}); here "
                                f"{'nothing' if row.field is None else rc.our_value(config, row.field)!r}")
    unlisted = {k: v for k, v in differs.items() if k not in listed}
    assert not unlisted, f"{env_id}: reference settings neither reproduced nor in presets.DEVIATIONS: {unlisted}"
    stale = [k for k in listed if k in matches and k not in differs]
    assert not stale, f"{env_id}: DEVIATIONS lists {stale}, which the preset reproduces"


def test_the_reference_table_covers_what_the_agent_depends_on():
    needed = {"model.latent1_size", "model.latent2_size", "model.reward_weight", "model.reward_std", "model.base_depth",
              "train.model_batch_steps", "sac.batch_size", "train.model_train_ratio", "train.ac_train_ratio",
              "train.initial_random_trials", "train.model_pretrain_ratio", "train.tasks_per_update",
              "train.collect_tasks", "train.trials_per_task", "sac.hidden_sizes", "replay.capacity_frames_per_task",
              "train.num_train_tasks", "registry.episodes_per_trial", "registry.max_episode_steps"}
    for env_id in rc.ENV_IDS:
        assert needed <= {r.field for r in rc.rows(env_id)}, env_id
    assert {r.field for r in rc.rows("meld/ButtonPress-v0")} >= {"train.offline_ratio", "agent.two_stage"}
    assert set(rc.ENV_IDS) == {"meld/CheetahVel-v0", "meld/Reacher-v0", "meld/PegInsert-v0", "meld/ShelfPlace-v0",
                               "meld/ButtonPress-v0"}


def test_peg_and_shelf_latents_are_the_references():
    for env_id in ("meld/PegInsert-v0", "meld/ShelfPlace-v0"):
        m = make_config(env_id).model
        assert (m.latent1_size, m.latent2_size, m.base_depth, m.hidden_size) == (128, 64, 64, 512)


def test_deviations_name_known_environments_and_every_preset_has_a_source():
    ids = {e.id for e in registry.ENVIRONMENTS}
    assert set(presets.DEVIATIONS) <= ids | {"*"}
    assert set(presets.PRESETS) == ids == set(presets.PRESET_SOURCES)
    for env_id in ids - set(rc.ENV_IDS):  # no reference config: the whole preset is a listed deviation
        assert presets.DEVIATIONS[env_id].get("preset"), env_id


def _replay_gib(config, entry, num_tasks):
    trial_frames = entry.max_episode_steps * entry.episodes_per_trial + 1
    trials = max(1, config.replay.capacity_frames_per_task // trial_frames)
    h, w, c = entry.obs_shape
    per_trial = trial_frames * h * w * c + 4 * ((trial_frames - 1) * MAX_ACTION_SIZE + 2 * trial_frames)
    return num_tasks * trials * per_trial / GIB


@pytest.mark.parametrize("env_id", [e.id for e in registry.ENVIRONMENTS])
def test_make_config_resolves_with_a_replay_that_fits_a_smoke_run(env_id):
    config = make_config(env_id)
    entry = registry.entry(env_id)
    wanted = config.train.num_train_tasks or entry.num_train_tasks
    # the leaderboard's protocol gives the registry's train split; train.num_train_tasks keeps the first n of it
    assert _replay_gib(config, entry, min(wanted, entry.num_train_tasks)) <= 8.0
    assert _replay_gib(config, entry, wanted) <= 16.0  # python -m meld_agent.train draws num_train_tasks tasks
    assert config.train.tasks_per_update <= wanted and config.train.collect_tasks <= wanted


def test_base_depth_sets_the_widths_and_a_width_on_its_own_clears_it():
    m = make_config("meld/CheetahVel-v0").model
    assert (m.base_depth, m.conv_filters, m.feature_size, m.hidden_size) == (64, (64, 128, 256, 512, 512), 512, 512)
    m = make_config("meld/CheetahVel-v0", base_depth=32).model
    assert (m.conv_filters, m.hidden_size) == ((32, 64, 128, 256, 256), 256)
    m = make_config("meld/CheetahVel-v0", hidden_size=32).model
    assert (m.base_depth, m.hidden_size, m.conv_filters) == (None, 32, (64, 128, 256, 512, 512))
    m = make_config("meld/CheetahVel-v0", **presets.PAPER_TEXT_WIDTHS).model
    assert (m.base_depth, m.conv_filters, m.feature_size, m.hidden_size) == (None, (32, 64, 128, 256, 256), 256, 32)
    assert make_config("meld/Nav2D-v0").model.base_depth is None  # the defaults: base_depth 32's widths
    nav = make_config("meld/Nav2D-v0").model
    assert make_config("meld/Nav2D-v0", base_depth=32).model == dataclasses.replace(nav, base_depth=32)
    with pytest.raises(ValueError, match="contradicts model.base_depth=64"):
        make_config("meld/Nav2D-v0", base_depth=64, hidden_size=32)
    with pytest.raises(ValueError, match="model.base_depth=0: must be a positive integer"):
        make_config("meld/Nav2D-v0", base_depth=0)
    saved = make_config("meld/CheetahVel-v0").to_dict()
    edited = MELDConfig.from_dict({**saved, "model": {**saved["model"], "hidden_size": 8}})
    with pytest.raises(ValueError, match="contradicts model.base_depth=64"):
        check(edited)
    assert base_depth_widths(64)["model.conv_filters"] == (64, 128, 256, 512, 512)


def test_the_networks_take_the_presets_widths():
    config = make_config("meld/PegInsert-v0")
    model = LatentModel((64, 128, 3), 7, config.model)
    assert model.encoder.out_size == 512  # 8 x base_depth features
    convs = [m for m in model.encoder.net if hasattr(m, "out_channels")]
    assert tuple(c.out_channels for c in convs) == (64, 128, 256, 512, 512)
    assert model.z1_posterior.net[0].out_features == 512 and model.reward_decoder.net[2].out_features == 512
    actor = Actor(model.belief_size, 7, config.sac.hidden_sizes)
    assert [m.out_features for m in actor.net if hasattr(m, "out_features")] == [512, 512, 14]


def test_docs_presets_page_is_current():
    with open(os.path.join(REPO, "docs", "presets.md")) as f:
        assert f.read() == presets.markdown(), "regenerate it: python -m meld_agent.reference_configs > docs/presets.md"


@pytest.mark.skipif(not os.environ.get("MELD_REFERENCE_GIT"), reason="MELD_REFERENCE_GIT: the authors' repository's .git")
def test_the_reference_table_is_true_to_the_authors_repository():
    assert rc.verify(os.environ["MELD_REFERENCE_GIT"]) == []
