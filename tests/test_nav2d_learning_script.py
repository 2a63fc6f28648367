"""``benchmarks/nav2d_learning.py``, the script behind BENCHMARKS.md "Learning", on a tiny budget: snapshots that
are run folders, the slow test's protocol on each, a table, and a clear refusal to mix configs in one folder."""
import json
import os
import subprocess
import sys

from test_agent_cli import TINY

SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "nav2d_learning.py")


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
    png = tmp_path / "curve.png"
    assert script("plot", run, "--out", str(png)).returncode == 0 and png.stat().st_size > 10_000
    tasks = script("tasks", os.path.join(run, "snapshots", "2k"))
    assert tasks.returncode == 0 and tasks.stdout.count("\n") == 12  # header, rule, 10 test tasks


def test_bad_budget_is_refused_with_the_allowed_values(tmp_path):
    bad = script("train", str(tmp_path / "x"), "--steps", "2500", "--chunk", "1000")
    assert bad.returncode == 2 and "--steps 2500" in bad.stderr and "multiple of --chunk" in bad.stderr
