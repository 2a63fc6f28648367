"""The protocol's tracks: ``paper`` (1M env steps of pixels), ``pixels-100k`` and ``state`` (every agent on each env's
low-dimensional state). What an agent observes follows the preset, every results header records the observation mode
and the preset's version, and the report puts a lab's results next to the reference results."""
from __future__ import annotations

import json

import numpy as np

import meld_envs
from leaderboards import protocol, report, results, runner, validate
from test_leaderboard_report import fake_run


def test_each_track_fixes_observations_budget_and_version():
    for env in meld_envs.registry.SIMULATED:
        paper, pixels, state = (protocol.preset(n).for_env(env.id) for n in ("paper", "pixels-100k", "state"))
        assert (paper.obs_mode, paper.budget_steps) == ("pixels", 1_000_000)
        assert (pixels.obs_mode, pixels.budget_steps) == ("pixels", 100_000)
        assert state.obs_mode == "state" and state.budget_steps >= 100_000
        for p in (paper, pixels, state):
            assert p.test_tasks == tuple(range(env.num_test_tasks)) and p.track_version >= 1
            assert {"obs_mode", "track_version"} <= set(p.to_json())
    assert protocol.preset("state").seeds == (0, 1, 2)


class Recorder:
    """Records the observations it meets in meta-training and at meta-test, acting at random."""

    def __init__(self, env_info, seed=0):
        self.env_info, self.rng = env_info, np.random.default_rng(seed)
        self.seen: dict[str, set] = {"train": set(), "test": set()}

    def meta_train(self, ctx, steps):
        env = ctx.make_env(0)
        obs, _ = env.reset(seed=0)
        self.seen["train"].add((obs.dtype.str, obs.shape))
        while ctx.steps_remaining > 0:
            obs, _, term, trunc, _ = env.step(self.env_info.action_space.sample())
            self.seen["train"].add((obs.dtype.str, obs.shape))
            if term or trunc:
                env.reset()

    def reset(self):
        pass

    def act(self, obs, reward, info):
        self.seen["test"].add((obs.dtype.str, obs.shape))
        return self.env_info.action_space.sample()

    def save(self, path):
        import os
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "seen.json"), "w") as f:
            json.dump({k: sorted(map(list, v)) for k, v in self.seen.items()}, f)

    def load(self, path):
        pass


def test_a_state_track_run_shows_states_and_records_its_track(tmp_path, monkeypatch):
    tiny = protocol.Preset(name="state", budget_steps=60, eval_points=1, trials_per_task=1, num_test_tasks=1,
                           seeds=(0,), obs_mode="state", version=1)
    monkeypatch.setitem(protocol.PRESETS, "state", tiny)
    agents = {}
    monkeypatch.setattr(runner.agents, "resolve_agent", lambda spec: lambda info, seed=0: agents.setdefault(
        "a", Recorder(info, seed)))
    spec = runner.RunSpec(agent="recorder", env_id="meld/Reacher-v0", seed=0, preset="state", results_dir=str(tmp_path),
                          keep_checkpoints=True)
    runner.run(spec, log=lambda m: None)
    state_shape = meld_envs.interface.env_info("meld/Reacher-v0", "state").observation_space.shape
    assert len(state_shape) == 1
    for where in ("train", "test"):
        assert agents["a"].seen[where] == {("<f4", state_shape)}, where
    records = results.read_records(spec.path)
    params = records[0]["protocol_params"]
    assert (params["obs_mode"], params["track_version"]) == ("state", 1)
    assert validate.validate_file(spec.path) == []
    # a state-track file whose header says pixels is refused, naming the setting
    records[0]["protocol_params"]["obs_mode"] = "pixels"
    problems = results.check_records(records, protocol_version=protocol.PROTOCOL_VERSION,
                                     expected_params=protocol.expected_params)
    assert problems and "obs_mode='pixels'" in problems[0] and "obs_mode='state'" in problems[0]


def test_files_without_track_fields_read_as_pixels_version_1(tmp_path):
    path = fake_run(str(tmp_path), "old", "meld/Nav2D-v0", 0, 0.5)
    records = results.read_records(path)
    for key in ("obs_mode", "track_version"):
        del records[0]["protocol_params"][key]
    assert results.check_records(records, protocol_version=protocol.PROTOCOL_VERSION,
                                 expected_params=protocol.expected_params) == []
    records[0]["preset"] = "state"  # ... but not as a state-track result
    records[0]["protocol_params"].update(protocol.expected_params("state", "meld/Nav2D-v0"))
    del records[0]["protocol_params"]["obs_mode"]
    assert any("obs_mode" in p for p in results.check_records(records, protocol_version=protocol.PROTOCOL_VERSION,
                                                               expected_params=protocol.expected_params))


def test_a_labs_results_are_reported_next_to_the_reference_results(tmp_path):
    reference, lab = tmp_path / "reference", tmp_path / "lab"
    for seed in range(3):
        fake_run(str(reference), "meld", "meld/Nav2D-v0", seed, 0.6, preset="state")
        fake_run(str(reference), "random", "meld/Nav2D-v0", seed, 0.1, preset="state")
        fake_run(str(lab), "mine", "meld/Nav2D-v0", seed, 0.9, preset="state")
    summary, refused = report.report([str(lab), str(reference)], str(tmp_path / "out"), preset="state", reps=200,
                                     log=lambda m: None)
    assert refused == [] and set(summary["per_env"]["meld/Nav2D-v0"]) == {"meld", "random", "mine"}
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "observations: state" in text
    compact = report.compact_tables(json.loads((tmp_path / "out" / "summary.json").read_text()))
    row = next(line for line in compact.splitlines() if line.startswith("| `meld/Nav2D-v0`"))
    iqm = summary["per_env"]["meld/Nav2D-v0"]["mine"]["iqm"]
    assert f"{iqm.point:.2f} [{iqm.lower:.2f}, {iqm.upper:.2f}] (3)" in row
    fake_run(str(lab), "meld", "meld/Nav2D-v0", 0, 0.9, preset="state")  # the same run twice: refused, named
    _, refused = report.report([str(lab), str(reference)], str(tmp_path / "out2"), preset="state", reps=200,
                               log=lambda m: None)
    assert len(refused) == 1 and "duplicate" in refused[0][1][0]
    assert report.main([str(lab), str(reference), "--preset", "state", "--out", str(tmp_path / "out3"),
                        "--reps", "100"]) == 1  # a refused file: exit 1 ...
    assert report.main([str(lab), str(reference), "--preset", "state", "--out", str(tmp_path / "out3"),
                        "--reps", "100", "--allow-refused"]) == 0


def test_the_score_table_is_written_between_the_readmes_markers(tmp_path):
    folder = tmp_path / "reference"
    for seed in range(2):
        fake_run(str(folder), "meld", "meld/Nav2D-v0", seed, 0.6, preset="state")
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n<!-- reference-scores -->\n| environment | pearl | meld |\n|---|---:|---:|\n"
                      "| `meld/Nav2D-v0` | 0.10 | 0.20 |\n<!-- /reference-scores -->\n\nafter\n")
    assert report.main([str(folder), "--preset", "state", "--out", str(tmp_path / "out"), "--reps", "100",
                        "--scores-into", str(readme)]) == 0
    text = readme.read_text()  # pearl has no runs here: its column stays, empty
    assert "0.10" not in text and text.startswith("# title\n\n<!-- reference-scores -->\n| environment | meld | pearl |")
    assert text.endswith("(2) | — |\n<!-- /reference-scores -->\n\nafter\n")
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert report.main([str(folder), "--preset", "state", "--out", str(tmp_path / "out"), "--reps", "100",
                        "--scores-into", str(plain)]) == 2
    assert plain.read_text() == "no markers\n"
