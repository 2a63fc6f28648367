"""Smoke runs of ``python -m meld_agent.train`` and ``python -m meld_agent.evaluate`` on tiny budgets."""
import json
import os
import subprocess
import sys

import torch

TINY = ["--set", "model.latent1_size=8", "--set", "model.latent2_size=16", "--set", "model.hidden_size=32",
        "--set", "model.state_hidden_size=32", "--set", "model.feature_size=32", "--set", "sac.hidden_sizes=[32,32]",
        "--set", "train.initial_random_trials=4", "--set", "train.model_pretrain_ratio=0.02", "--set", "train.collect_tasks=2",
        "--set", "train.tasks_per_update=2", "--set", "train.model_batch_steps=82", "--set", "train.model_train_ratio=0.02",
        "--set", "train.ac_train_ratio=0.02", "--set", "train.num_train_tasks=4", "--set", "train.stage1_env_steps=240",
        "--set", "replay.capacity_frames_per_task=2000", "--set", "sac.batch_size=32"]


def run(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600)


def train(out, steps, *extra):
    return run("meld_agent.train", "--env", "meld/Nav2D-v0", "--obs-mode", "state", "--steps", str(steps), "--out", str(out),
               "--eval-every", "240", "--eval-tasks", "2", "--no-progress", "--threads", "1", *TINY, *extra)


def _weights(run_dir):
    state = torch.load(os.path.join(run_dir, "checkpoint", "state.pt"), weights_only=True)
    return torch.cat([v.flatten().float() for k, v in sorted(state["learner"]["model"].items())] +
                     [v.flatten().float() for k, v in sorted(state["learner"]["actor"].items())])


def test_train_writes_config_logs_checkpoint_and_resume_is_exact(tmp_path):
    straight = train(tmp_path / "a", 480)
    assert straight.returncode == 0, straight.stderr
    assert "eval/success" in json.loads(straight.stdout)
    assert "before learning started" not in straight.stderr
    files = set(os.listdir(tmp_path / "a"))
    assert {"config.json", "config.md", "metrics.csv", "tb", "checkpoint"} <= files
    tags = open(tmp_path / "a" / "metrics.csv").read()
    for tag in ("losses/model_loss", "losses/critic_loss", "charts/train_return", "eval/success_ep2"):
        assert tag in tags
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "a" / "tb"))

    first = train(tmp_path / "b", 240)  # stopped half-way (as after a kill)
    assert first.returncode == 0, first.stderr
    again = train(tmp_path / "b", 240)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = run("meld_agent.train", "--out", str(tmp_path / "b"), "--steps", "480", "--resume", "--no-progress", "--threads", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert torch.equal(_weights(tmp_path / "a"), _weights(tmp_path / "b"))


def test_resume_with_set_goes_on_under_changed_settings(tmp_path):
    """``--resume --set``: sac.*/train.*/extensions.* settings change from the checkpoint on (a schedule, as the Nav2D learning test
    switches at 100k); the same --set values as the run's are no change; a model field is refused by name."""
    assert train(tmp_path / "s", 240).returncode == 0
    with open(tmp_path / "s" / "config.json") as f:
        before = json.load(f)
    bad = train(tmp_path / "s", 480, "--resume", "--set", "model.latent1_size=9")
    assert bad.returncode == 2 and "model.latent1_size" in bad.stderr and "allowed: sac.*, train.* and extensions.*" in bad.stderr
    changed = train(tmp_path / "s", 480, "--resume", "--set", "extensions.n_step=3", "--set", "extensions.random_opening_fraction=0.5")
    assert changed.returncode == 0, changed.stderr
    with open(tmp_path / "s" / "config.json") as f:
        after = json.load(f)
    assert after["extensions"]["n_step"] == 3 and after["extensions"]["random_opening_fraction"] == 0.5
    before["extensions"]["n_step"], before["extensions"]["random_opening_fraction"] = 3, 0.5
    assert after == before  # nothing else changed
    state = torch.load(os.path.join(tmp_path, "s", "checkpoint", "state.pt"), weights_only=True)
    assert json.loads(state["config"]) == after
    with open(tmp_path / "s" / "settings.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert rows == [{"from_steps": 240, "changes": {"extensions.n_step": 3, "extensions.random_opening_fraction": 0.5}}]
    assert not torch.equal(_weights(tmp_path / "s"), _weights_after_plain_resume(tmp_path))  # the change took effect


def _weights_after_plain_resume(tmp_path):
    assert train(tmp_path / "plain", 240).returncode == 0
    assert train(tmp_path / "plain", 480, "--resume").returncode == 0
    return _weights(tmp_path / "plain")


def test_resume_from_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    assert train(tmp_path / "c", 240).returncode == 0
    with open(tmp_path / "c" / "checkpoint" / "state.pt", "r+b") as f:
        f.truncate(1000)
    out = run("meld_agent.train", "--out", str(tmp_path / "c"), "--steps", "480", "--resume", "--no-progress")
    assert out.returncode == 2 and "is corrupt: state.pt has 1000 bytes" in out.stderr


def test_evaluate_writes_results_plots_and_videos(tmp_path):
    assert train(tmp_path / "e", 240).returncode == 0
    out = run("meld_agent.evaluate", str(tmp_path / "e"), "--split", "test", "--tasks", "2", "--video", "--threads", "1")
    assert out.returncode == 0, out.stderr
    assert "| eval/success |" in out.stdout
    folder = tmp_path / "e" / "eval_test"
    assert f"wrote {folder / 'results.json'}" in out.stdout and f"videos {folder / 'test_task<i>_trial<j>.mp4'}" in out.stdout
    assert "random policy: 100%" in out.stderr and "4/4" in out.stderr  # the progress bar: 2 tasks, MELD and random
    files = set(os.listdir(folder))
    assert {"results.json", "belief_task0.png", "test_task0_trial0.mp4", "test_task1_trial0.mp4"} <= files
    results = json.load(open(folder / "results.json"))
    assert len(results["meld"]) == 2 and len(results["meld"][0]["episode_returns"]) == 2
    assert len(results["meld"][0]["predictions"]) == 40


def test_a_budget_inside_the_random_data_phase_says_the_agent_is_untrained(tmp_path):
    out = train(tmp_path / "r", 60)  # TINY: 4 random trials come first, of 20 steps (appendix C's stage 1: one episode)
    assert out.returncode == 0, out.stderr
    assert "eval/success" in json.loads(out.stdout)
    assert ("ended in the random-data phase (4 random-policy trials, 80 env steps; paper appendix A), before learning "
            "started: the evaluation above is of an untrained agent") in out.stderr


def test_evaluate_on_a_missing_run_is_a_clear_error(tmp_path):
    out = run("meld_agent.evaluate", str(tmp_path / "nothing"))
    assert out.returncode == 2 and "not a run folder" in out.stderr


def test_pixel_run_smoke(tmp_path):
    """The paper architecture from 64x64 pixels, on a budget of a few trials."""
    out = run("meld_agent.train", "--env", "meld/Nav2D-v0", "--steps", "160", "--out", str(tmp_path / "p"), "--eval-every", "160",
              "--eval-tasks", "1", "--no-progress", "--set", "train.initial_random_trials=2", "--set", "train.model_pretrain_ratio=0.02",
              "--set", "train.collect_tasks=2", "--set", "train.tasks_per_update=1", "--set", "train.model_batch_steps=41",
              "--set", "train.model_train_ratio=0.02", "--set", "train.ac_train_ratio=0.02", "--set", "train.num_train_tasks=2",
              "--set", "replay.capacity_frames_per_task=500")
    assert out.returncode == 0, out.stderr
    state = torch.load(tmp_path / "p" / "checkpoint" / "state.pt", weights_only=True)
    assert state["counters"]["env_steps"] == 160 and state["counters"]["updates"] >= 2


def test_show_config_prints_the_resolved_config_and_the_preset_sources():
    out = run("meld_agent.train", "--env", "meld/CheetahVel-v0", "--show-config", "--set", "model.latent2_size=48")
    assert out.returncode == 0, out.stderr
    assert "| model.latent2_size | 48 |" in out.stdout and "| model.latent1_size | 64 |" in out.stdout
    assert "reference 0_meld_dense.gin" in out.stdout
    bad = run("meld_agent.train", "--env", "meld/Nav2D-v0", "--steps", "10", "--out", "x", "--set", "model.nope=1")
    assert bad.returncode == 2 and "unknown config field 'model.nope'" in bad.stderr


def test_plots_cli_draws_curves_with_random_lines_and_prints_the_rows(tmp_path):
    from meld_agent.logger import RunLogger

    log = RunLogger(str(tmp_path / "run"), tensorboard=False)
    for step, success in ((400, 0.1), (800, 0.4)):
        log({"eval/success": success, "eval/return_ep1": 2.0, "eval/return_ep2": 3.0 + success,
             "eval/return_gain": 1.0 + success, "eval/return_gain_low": 0.5, "eval/return_gain_high": 2.0}, step)
    log.close()
    out = run("meld_agent.plots", str(tmp_path / "run"), "--out", str(tmp_path / "curve.png"), "--random", "0.05",
              "--random-return", "0.4", "0.3")
    assert out.returncode == 0, out.stderr
    assert os.path.getsize(tmp_path / "curve.png") > 10_000
    import imageio.v2 as imageio

    assert imageio.imread(tmp_path / "curve.png").shape[1] == 1620  # three panels: success, returns, the episode gain
    assert "env_step=800, eval/success=0.4" in out.stdout
