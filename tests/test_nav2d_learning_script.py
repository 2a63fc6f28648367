"""``benchmarks/nav2d_learning.py``, the script behind BENCHMARKS.md "Learning", on a tiny budget: snapshots that
are run folders, the slow test's protocol on each, a table, and a clear refusal to mix configs in one folder."""
import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import benchmark_scripts
from test_agent_cli import TINY

SCRIPT = benchmark_scripts.path("nav2d_learning")


def script(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=600)


def test_train_snapshots_evaluate_and_tabulate(tmp_path):
    run = str(tmp_path / "nav")
    done = script("train", run, "--steps", "2000", "--chunk", "1000", *TINY)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(os.path.join(run, "snapshots"))) == ["1k", "2k"]
    assert script("train", run, "--steps", "2000", "--chunk", "1000", *TINY).returncode == 0  # nothing left to do
    other = script("train", run, "--steps", "2000", "--chunk", "1000", "--seed", "3", *TINY)
    assert other.returncode != 0 and "another config" in other.stderr

    evaluated = script("eval", run, "--trials", "1")
    assert evaluated.returncode == 0, evaluated.stderr
    with open(os.path.join(run, "protocol.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    assert [line["steps"] for line in lines] == [1000, 2000]
    assert all(-20 <= line["eval/return_gain_low"] <= line["eval/return_gain"] <= line["eval/return_gain_high"] <= 20 for line in lines)
    assert script("eval", run, "--trials", "1").stdout == ""  # each snapshot is evaluated once

    table = script("table", run)
    assert table.returncode == 0 and table.stdout.count("| nav |") == 2
    validated = script("eval", run, "--split", "train", "--trials", "1")
    assert validated.returncode == 0, validated.stderr
    with open(os.path.join(run, "validation.jsonl")) as f:
        train_rows = [json.loads(line) for line in f]
    assert [r["steps"] for r in train_rows] == [1000, 2000] and all(r["trials_per_task"] == 1 for r in train_rows)
    assert os.path.exists(os.path.join(run, "snapshots", "1k", "validation.json"))
    chosen = script("select", run)
    assert chosen.returncode == 0, chosen.stderr
    rows = [line.split("|") for line in chosen.stdout.splitlines() if line.startswith("| nav |")]
    assert len(rows) == 2 and [r[-2].strip() for r in rows].count("kept") == 1  # one snapshot kept, chosen on train tasks
    assert all(r[6].strip() == f"{t['eval/success']:.2f}" for r, t in zip(rows, lines))  # next to its held-out result
    png = tmp_path / "curve.png"
    assert script("plot", run, "--out", str(png)).returncode == 0 and png.stat().st_size > 10_000
    tasks = script("tasks", os.path.join(run, "snapshots", "2k"))
    assert tasks.returncode == 0 and tasks.stdout.count("\n") == 12  # header, rule, 10 test tasks
    probed = script("probe", os.path.join(run, "snapshots", "2k"), "--train-trials", "1", "--trials", "1")
    assert probed.returncode == 2 and "episode 1 found no goal" in probed.stderr  # a 2k-step agent finds none


def test_probe_reads_the_goal_from_a_belief_that_holds_it(monkeypatch, capsys):
    """The probe's regression and tables on made-up trials: a belief that holds (cos, sin) of the goal from the
    last frame of episode 1 on scores R² ~1 there and ~0 or below on the first frame."""
    module = benchmark_scripts.load("nav2d_learning")
    rng = np.random.default_rng(0)

    def trials(agent, split, n, seed):
        rows = []
        for goal in rng.uniform(0, math.pi, 40 if split == "train" else 20):
            belief = rng.normal(0, 1, (40, 6))
            belief[19:, :2] = [math.cos(goal), math.sin(goal)]
            positions = np.tile([math.cos(goal), math.sin(goal)], (40, 1))
            rows.append({"goal": goal, "found": True, "half": 20, "belief": belief, "positions": positions, "rewards": np.ones(40)})
        return rows

    monkeypatch.setattr(module, "_probe_trials", trials)
    # an actor that heads for the direction in the belief at 0.8 of full speed, a critic that rates that direction's
    # unit action highest (inside the box, so the corners, the fastest actions, are not what it prefers)
    learner = types.SimpleNamespace(actor=lambda belief, deterministic: (0.8 * belief[:, :2], None),
                                    critic=lambda belief, action: (-((action - belief[:, :2]) ** 2).sum(-1),) * 2)
    # a model whose reward prediction is right for the trial's own goal (0: these trials stand on it) when its z1 mean
    # holds a unit direction, as the belief does from episode 1's last frame on, and wrong before
    learner.model = types.SimpleNamespace(config=types.SimpleNamespace(latent1_size=2, latent2_size=1),
                                          decode_reward=lambda z: (-(z[:, :2].norm(dim=-1) - 1).abs(), None))
    monkeypatch.setattr(module, "load_run", lambda snapshot: types.SimpleNamespace(close=lambda: None, learner=learner))
    module.probe("snap")
    out = capsys.readouterr().out
    r2 = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out.splitlines() if "frame of episode" in line}
    assert r2["first frame of episode 1"] < 0.2 and min(r2[k] for k in r2 if "first frame of episode 1" != k) > 0.95
    errors = out.split("mean |error|")[1].splitlines()[4]  # before the find (none: found at once) / own goal / other goals
    before, own, other = (float(x) for x in errors.strip("|").split("|"))
    assert math.isnan(before) and own == 0.0 and other > 0.5  # the trials stand on their own goal, far from the others
    rows = [line.split("|") for line in out.splitlines() if line.endswith("| 20.0 / 20.0 |")]
    assert len(rows) == 20  # one row per test goal: where episode 2 is after 3 steps, the opening, returns
    for row in rows:
        goal = float(row[1].strip(" °"))
        actor, critic = (float(x.split("°")[0]) for x in row[4].split("/"))
        assert abs(actor - goal) < 0.5 and abs(critic - goal) <= 6  # the critic's grid has steps of 0.1
        largest = 0.8 * max(abs(math.cos(math.radians(goal))), abs(math.sin(math.radians(goal))))
        assert abs(float(row[4].split("(")[1].split(")")[0]) - largest) < 0.01  # the actor's largest |component|
        assert float(row[4].split("(")[2].rstrip(") ")) > 4.0  # Q spread: 0 at the goal's direction, below -4 at a far corner
        assert abs(float(row[5])) < 1e-4  # the actor already points where the critic's Q is highest: no pull to turn


def test_bad_budget_is_refused_with_the_allowed_values(tmp_path):
    bad = script("train", str(tmp_path / "x"), "--steps", "2500", "--chunk", "1000")
    assert bad.returncode == 2 and "--steps 2500" in bad.stderr and "multiple of --chunk" in bad.stderr


def test_branch_continues_a_snapshot_with_a_changed_setting(tmp_path):
    run, branched = str(tmp_path / "nav"), str(tmp_path / "nav-te0")
    assert script("train", run, "--steps", "1000", "--chunk", "1000", *TINY).returncode == 0
    snap = os.path.join(run, "snapshots", "1k")
    bad = script("branch", snap, str(tmp_path / "x"), "--steps", "2000", "--chunk", "1000", "--set", "model.latent1_size=8")
    assert bad.returncode == 2 and "model.latent1_size" in bad.stderr and "allowed: sac.*, train.*, extensions.*" in bad.stderr
    done = script("branch", snap, branched, "--steps", "2000", "--chunk", "1000", "--set", "sac.target_entropy=0")
    assert done.returncode == 0, done.stderr
    assert os.listdir(os.path.join(branched, "snapshots")) == ["2k"]  # only steps past the snapshot's
    with open(os.path.join(branched, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(snap, "config.json")) as f:
        base = json.load(f)
    assert config["sac"]["target_entropy"] == 0 and base["sac"]["target_entropy"] is None
    base["sac"]["target_entropy"] = 0
    assert config == base  # everything else as the snapshot's
    with open(os.path.join(branched, "metrics.csv")) as f:
        steps = {int(line.split(",")[0]) for line in list(f)[1:]}
    assert min(steps) > 1000  # it went on from the snapshot, not from scratch
    again = script("branch", snap, branched, "--steps", "2000", "--chunk", "1000", "--set", "sac.target_entropy=0")
    assert again.returncode == 0 and not os.path.exists(os.path.join(branched, "snapshots", "3k"))


def test_openings_reads_episode_2s_start_from_the_replay_of_trials_that_found_the_goal(tmp_path):
    """A hand-made replay: each train task's trial whose episode 1 found the goal opens episode 2 towards the goal,
    the one that missed it opens away from it. The table must show the first kind only, so the angles follow the
    goal bins; a replay without any find is refused."""
    import meld_envs

    goals = np.array([t.params["goal_angle"] for t in meld_envs.tasks("meld/Nav2D-v0", "train")])
    half, n = 20, len(goals)
    obs = np.zeros((n, 2, 2 * half + 1, 4), np.float32)
    sparse = np.zeros((n, 2, 2 * half + 1), np.float32)
    sparse[:, 0, 5:half + 1] = 1.0  # slot 0: episode 1 reaches the goal at step 5
    obs[:, 0, half + 3, :2] = 0.6 * np.stack([np.cos(goals), np.sin(goals)], 1)
    obs[:, 1, half + 3, :2] = 0.6 * np.stack([np.cos(math.pi - goals), np.sin(math.pi - goals)], 1)
    folder = tmp_path / "snap" / "checkpoint"
    folder.mkdir(parents=True)

    def write(found):
        np.save(folder / "replay_obs.npy", obs)
        np.save(folder / "replay_sparse_reward.npy", sparse * found)
        (folder / "replay.json").write_text(json.dumps({"counts": [2] * n, "capacity": 2, "trial_frames": 2 * half + 1}))

    write(1.0)
    out = script("openings", str(tmp_path / "snap"))
    assert out.returncode == 0, out.stderr
    rows = [line.split("|")[1:-1] for line in out.stdout.splitlines() if line.startswith("| ") and "°" in line.split("|")[1]]
    assert sum(int(r[1]) for r in rows) == n  # one trial per task: the one that found the goal
    for low, angle in ((int(r[0].split("-")[0]), float(r[2].split("°")[0])) for r in rows):
        assert low <= angle <= low + 30
    assert all(r[3].strip().startswith("16.0 / 0.0") for r in rows)  # steps 5-20 on the goal; nothing in episode 2
    by_offset = [line.split("|")[1:-1] for line in out.stdout.splitlines() if line.startswith("| ") and " deg " in line]
    assert [(r[0].strip(), int(r[1]), r[2].strip()) for r in by_offset] == [("0-15 deg", n, "0.60 m")]  # all head for it
    write(0.0)
    none = script("openings", str(tmp_path / "snap"))
    assert none.returncode == 2 and "no trial in the replay whose episode 1 found the goal" in none.stderr


def test_the_critics_pull_turns_the_actor_towards_the_higher_q():
    """``_opening``'s last column, dQ/dtheta at the actor's mean action: an actor 0.2 rad clockwise of the direction a
    critic -|a - g|^2 prefers is pulled counter-clockwise by 2 |a| |g| sin(0.2); rotated the other way, by as much back."""
    module = benchmark_scripts.load("nav2d_learning")
    import torch

    goal = torch.tensor([[math.cos(1.0), math.sin(1.0)]])
    for offset in (-0.2, 0.2):
        turned = 0.8 * torch.tensor([[math.cos(1.0 + offset), math.sin(1.0 + offset)]])
        learner = types.SimpleNamespace(actor=lambda belief, deterministic, a=turned: (a, None),
                                        critic=lambda belief, action: (-((action - goal) ** 2).sum(-1),) * 2)
        row = module._opening(types.SimpleNamespace(learner=learner), torch.zeros(1, 3))[0]
        assert row[0] == pytest.approx(math.degrees(1.0 + offset), abs=1e-3)
        assert row[4] == pytest.approx(-2 * 0.8 * math.sin(offset), rel=1e-4)
