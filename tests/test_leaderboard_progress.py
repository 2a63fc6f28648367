"""`leaderboards.run` as a user lives with it: progress while it works, one line on Ctrl-C, a failed run recorded
with its error, no lock files left behind, and a hint when a lab's agent module is not found."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from leaderboards import agents, report, results, runner, validate
from leaderboards.runner import RunSpec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_AGENTS = textwrap.dedent("""
    import time
    from baselines.random import RandomAgent

    class CrashOnAct(RandomAgent):
        def act(self, obs, reward=0.0, info=None):
            raise RuntimeError("boom at the first act")

    class SlowTrainer(RandomAgent):
        def meta_train(self, ctx, steps):
            time.sleep(60)
""")


@pytest.fixture
def lab_agents(tmp_path, monkeypatch) -> str:
    (tmp_path / "lab_agents.py").write_text(_AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return str(tmp_path)


def test_a_run_that_raises_is_recorded_as_failed_and_reported_with_its_error(lab_agents, tmp_path):
    d = str(tmp_path / "results")
    crashed = RunSpec(agent="lab_agents:CrashOnAct", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=d,
                      agent_name="crashy")
    with pytest.raises(RuntimeError, match="boom at the first act"):
        runner.run(crashed, log=lambda m: None)
    records = results.read_records(crashed.path)
    assert [r["record"] for r in records] == ["header", "failed"]
    assert records[-1]["error"] == "RuntimeError: boom at the first act" and "lab_agents.py" in records[-1]["traceback"]
    assert any("failed run: RuntimeError: boom" in p for p in validate.validate_file(crashed.path))
    assert validate.validate_file(crashed.path, require_complete=False) == []
    runner.run(RunSpec(agent="random", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=d), log=lambda m: None)
    summary, refused = report.report(d, str(tmp_path / "report"), reps=100, log=lambda m: None)
    assert refused == []
    cell = summary["per_env"]["meld/Nav2D-v0"]["crashy"]
    assert cell["n"] == 0 and cell["incomplete_seeds"] == [] and cell["failed"][0]["error"].startswith("RuntimeError")
    md = open(tmp_path / "report" / "leaderboard.md").read()
    assert "| meld/Nav2D-v0 | crashy | — |" in md and "(failed: seed 0)" in md and "unfinished" not in md
    assert "## Failed runs (not counted)" in md and "crashy on meld/Nav2D-v0, seed 0" in md and "boom at the first act" in md
    logs: list[str] = []  # running it again drops the failed record and tries again
    with pytest.raises(RuntimeError):
        runner.run(crashed, log=logs.append)
    assert any(m.startswith("[retry]") and "boom" in m for m in logs), logs
    assert [r["record"] for r in results.read_records(crashed.path)] == ["header", "failed"]


def test_a_clean_run_leaves_no_lock_file_and_reports_its_progress(tmp_path):
    spec = RunSpec(agent="random", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=str(tmp_path))
    events: list[dict] = []
    runner.run(spec, log=lambda m: None, progress=events.append)
    assert sorted(os.listdir(os.path.dirname(spec.path))) == ["seed_0.jsonl"]
    phases = [e["phase"] for e in events if e["phase"] != "starting"]  # the ticker's, while the agent is built
    assert phases[0] == "evaluating 0/2: 0/2 trials" and phases[-1] == "done"
    assert "training 1/2" in phases and "evaluating 2/2: 2/2 trials" in phases
    assert {e["budget"] for e in events} == {200} and {e["run"] for e in events} == {str(spec)}
    steps = [e["steps"] for e in events]
    assert steps == sorted(steps) and steps[-1] == 200
    events.clear()
    runner.run(spec, log=lambda m: None, progress=events.append)  # complete: skipped, shown as such
    assert [e["phase"] for e in events] == ["complete"]


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_ends_with_one_line_and_the_same_command_resumes(lab_agents, tmp_path, workers):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it, while the runs meta-train."""
    d = str(tmp_path / "results")
    cmd = [sys.executable, "-m", "leaderboards.run", "--agent", "lab_agents:SlowTrainer", "--env", "meld/Nav2D-v0",
           "--preset", "smoke", "--seeds", "0", "1", "--workers", str(workers), "--results", d]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([lab_agents, REPO])}
    proc = subprocess.Popen(cmd, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        paths = [results.run_path(d, "smoke", "lab_agents.SlowTrainer", "meld/Nav2D-v0", s) for s in range(workers)]
        deadline = time.time() + 120
        while not all(os.path.exists(p) and '"eval"' in open(p).read() for p in paths):  # point 0 done: training
            assert time.time() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out + err
    assert err.strip().splitlines() == [f"interrupted; the same command resumes (results so far in {d})"], err
    assert "Traceback" not in out + err
    for path in paths:  # an interrupt is not a failure: the run resumes from its checkpoint
        assert [r["record"] for r in results.read_records(path)] == ["header", "eval"]


def test_an_agent_module_that_is_not_found_gets_a_hint(tmp_path):
    with pytest.raises(agents.AgentNotFound) as e:
        agents.resolve_agent("my_lab.agent:ConstantActionAgent")
    message = str(e.value)
    assert "No module named 'my_lab'" in message
    assert "run the command from the folder that holds my_lab/" in message and "PYTHONPATH" in message
    (tmp_path / "broken_lab.py").write_text("import no_such_dependency_xyz\n")
    sys.path.insert(0, str(tmp_path))
    try:  # a module that is found but fails to import itself: no hint about where it lives
        with pytest.raises(agents.AgentNotFound) as e:
            agents.resolve_agent("broken_lab:Agent")
    finally:
        sys.path.remove(str(tmp_path))
    assert "no_such_dependency_xyz" in str(e.value) and "PYTHONPATH" not in str(e.value)


def test_readmes_and_help_give_the_same_time_for_the_smoke_preset():
    from leaderboards import protocol

    claim = "about half a minute on 2 CPU cores"  # measured: BENCHMARKS.md, "Leaderboard"
    assert claim in protocol.PRESETS["smoke"].description  # what --help prints
    for readme in ("README.md", os.path.join("leaderboards", "README.md")):
        text = open(os.path.join(REPO, readme)).read()
        assert "under a minute" not in text and "minutes-long" not in text
    assert claim in open(os.path.join(REPO, "README.md")).read()
