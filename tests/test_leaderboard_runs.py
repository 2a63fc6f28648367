"""`python -m leaderboards.run` end to end: the smoke preset, resume after a kill, faulty files."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest

from leaderboards import protocol, report, results, runner, validate
from leaderboards.runner import RunSpec

PYTHON = sys.executable
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args: str, cwd: str | None = None, timeout: float = 170) -> subprocess.CompletedProcess:
    """The command in a fresh process, run outside the repository (MuJoCo may write a log file into it)."""
    return subprocess.run([PYTHON, *args], capture_output=True, text=True, cwd=cwd or tempfile.gettempdir(),
                          timeout=timeout, env={**os.environ, "PYTHONPATH": REPO})


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory) -> str:
    """The smoke preset for the random agent on every registered environment, via the CLI."""
    out = str(tmp_path_factory.mktemp("smoke") / "results")
    proc = _cli("-m", "leaderboards.run", "--agent", "random", "--env", "all", "--preset", "smoke", "--results", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_smoke_preset_end_to_end_for_random_on_every_env(smoke_results, tmp_path):
    ran = {os.path.basename(os.path.dirname(p)) for p in results.find_results(smoke_results)}
    assert ran >= {results.env_slug(e) for e in protocol.all_env_ids()}  # (the registry may grow meanwhile)
    for env_slug in sorted(ran):
        path = os.path.join(smoke_results, "smoke", "random", env_slug, "seed_0.jsonl")
        records = results.read_records(path)
        assert [r["record"] for r in records] == ["header", "eval", "eval", "eval", "end"]
        assert [r["env_steps"] for r in records[1:4]] == [0, 100, 200]
        assert records[0]["protocol"] == "meld-v1" and records[0]["agent"]["config"]["action_scale"] == 1.0
        assert not os.path.exists(path[:-6] + ".ckpt")  # checkpoints go once a run is complete
    assert validate.main([smoke_results]) == 0
    assert report.main([smoke_results, "--out", str(tmp_path / "report"), "--reps", "200"]) == 0
    for name in ("leaderboard.md", "leaderboard.html", "summary.json", "curves_success.png", "adaptation.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    # a second run skips finished runs and changes nothing
    before = {p: open(p).read() for p in validate.validate_dir(smoke_results)}
    proc = _cli("-m", "leaderboards.run", "--agent", "random", "--env", "meld/Nav2D-v0", "--preset", "smoke",
                "--results", smoke_results)
    assert proc.returncode == 0 and "[skip]" in proc.stdout
    assert before == {p: open(p).read() for p in before}


def test_unknown_agent_env_preset_exit_with_what_exists(monkeypatch, capsys):
    from leaderboards import agents, run

    monkeypatch.setitem(agents.BUILTIN_AGENTS, "future", "no_such_package.agent:Future")
    assert run.main(["--agent", "future", "--env", "all", "--preset", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "agent 'future' is not available yet" in err and "random (baselines.random:RandomAgent)" in err
    proc = _cli("-m", "leaderboards.run", "--agent", "nope", "--env", "all", "--preset", "smoke")
    assert proc.returncode == 2 and "agent 'nope' is unknown" in proc.stderr and "random" in proc.stderr
    proc = _cli("-m", "leaderboards.run", "--agent", "random", "--env", "meld/X-v0", "--preset", "smoke")
    assert proc.returncode == 2 and "meld/Nav2D-v0" in proc.stderr
    proc = _cli("-m", "leaderboards.run", "--agent", "random", "--env", "all", "--preset", "tiny")
    assert proc.returncode == 2 and "available: paper, pixels-100k, state, smoke" in proc.stderr


# A run is killed (SIGKILL, no clean-up) at a chosen moment, then the same command runs again.
_KILLER = textwrap.dedent("""
    import os, signal, sys
    from leaderboards import results, run, runner
    from baselines.random import RandomAgent

    where, results_dir = sys.argv[1], sys.argv[2]
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    if where == "training":            # in the middle of meta-training chunk 2
        calls = []
        original = RandomAgent.meta_train
        def meta_train(self, ctx, steps):
            calls.append(1)
            if len(calls) == 2:
                ctx.allow(steps)
                env = ctx.make_env(0); env.reset(seed=0)
                for _ in range(7): env.step(env.action_space.sample())
                die()
            original(self, ctx, steps)
        RandomAgent.meta_train = meta_train
    elif where == "after-checkpoint":  # evaluation point 1 is checkpointed but not yet in the results file
        original = runner._save_checkpoint
        def save(spec, agent, state):
            original(spec, agent, state)
            if state["eval_index"] == 1:
                die()
        runner._save_checkpoint = save
    elif where == "mid-write":         # half-way through writing the results file with point 1
        original = results.atomic_write_text
        def write(path, text):
            if path.endswith(".jsonl") and text.count("\\n") == 3:
                with open(path + ".partial", "w") as f:   # what a non-atomic writer would leave
                    f.write(text[: len(text) // 2])
                die()
            original(path, text)
        results.atomic_write_text = write
    sys.exit(run.main(["--agent", "random", "--env", "meld/Nav2D-v0", "--preset", "smoke", "--results", results_dir]))
""")


def _comparable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("wall_clock_s", "created", "host")} for r in records]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[dict]:
    out = str(tmp_path_factory.mktemp("whole"))
    spec = RunSpec(agent="random", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=out)
    runner.run(spec, log=lambda m: None)
    return results.read_records(spec.path)


@pytest.mark.parametrize("where", ["training", "after-checkpoint", "mid-write"])
def test_a_killed_run_resumes_without_duplicating_or_losing_a_point(where, tmp_path, uninterrupted):
    out = str(tmp_path / "results")
    killed = subprocess.run([PYTHON, "-c", _KILLER, where, out], capture_output=True, text=True, timeout=120,
                            cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": REPO})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    spec = RunSpec(agent="random", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=out)
    before = results.read_records(spec.path)
    # killed in training: points 0 and 1 are in the file; otherwise point 1 is only in the checkpoint
    assert [r["index"] for r in before[1:]] == ([0, 1] if where == "training" else [0])
    assert validate.validate_file(spec.path, require_complete=False) == []  # what is there is valid

    logs: list[str] = []
    runner.run(spec, log=logs.append)
    assert any(m.startswith("[resume]") for m in logs), logs
    after = results.read_records(spec.path)
    assert [r.get("index") for r in after] == [None, 0, 1, 2, None]
    # the random agent's generator is checkpointed and meta-test starts are fixed: same numbers as
    # a run that was never killed
    assert _comparable(after) == _comparable(uninterrupted)
    assert validate.validate_file(spec.path) == []


def test_resume_refuses_a_changed_agent_config(tmp_path):
    spec = RunSpec(agent="random", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=str(tmp_path))
    runner.run(spec, log=lambda m: None)
    records = results.read_records(spec.path)
    results.write_records(spec.path, records[:2])  # pretend it stopped after point 0
    changed = RunSpec(**{**spec.__dict__, "overrides": (("action_scale", 0.5),)})
    with pytest.raises(RuntimeError, match="different agent"):
        runner.run(changed, log=lambda m: None)


def test_the_header_names_the_cpu_and_a_resume_on_another_one_says_so(tmp_path, monkeypatch):
    spec = RunSpec(agent="random", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=str(tmp_path),
                   keep_checkpoints=True)
    runner.run(spec, log=lambda m: None)
    records = results.read_records(spec.path)
    cpu = records[0]["host"]["cpu"]
    assert cpu == runner.cpu_info() and cpu["model"] and isinstance(cpu["features"], list)
    results.write_records(spec.path, records[:-1])  # stopped before its end record, resumed on another machine
    other = {"vendor": "OtherVendor", "model": "Other CPU", "features": ["avx2", "fma"]}  # another CPU type
    monkeypatch.setattr(runner, "cpu_info", lambda: other)
    logs: list[str] = []
    runner.run(spec, log=logs.append)
    assert any("resumed on" in m and "Other CPU" in m and cpu["model"] in m for m in logs), logs
    after = results.read_records(spec.path)
    assert after[0] == records[0] and _comparable(after) == _comparable(records)  # the header it started with


def test_truncated_or_corrupt_lines_are_never_counted(smoke_results, tmp_path):
    src = results.run_path(smoke_results, "smoke", "random", "meld/Nav2D-v0", 0)
    text = open(src).read()
    folder = tmp_path / "theirs"
    cases = {
        "truncated.jsonl": text[: text.rindex("\n", 0, len(text) - 1) + 40],  # cut inside the last line
        "no_newline.jsonl": text[:-1],
        "garbage.jsonl": text.replace('"record":"end"', '"record":"end"', 1) + "{not json}\n",
        "nan.jsonl": text.replace('"success_rate":0.5', '"success_rate":NaN', 1),
    }
    folder.mkdir()
    for name, body in cases.items():
        (folder / name).write_text(body)
    problems = validate.validate_dir(str(folder))
    assert problems[str(folder / "truncated.jsonl")][0].startswith("line 5 is truncated")
    assert "truncated" in problems[str(folder / "no_newline.jsonl")][0]
    assert "line 6 is truncated or not valid JSON" in problems[str(folder / "garbage.jsonl")][0]
    assert "NaN" in problems[str(folder / "nan.jsonl")][0] or "not valid JSON" in problems[str(folder / "nan.jsonl")][0]
    runs, refused = report.load_runs(str(folder))
    assert runs == [] and len(refused) == 4


def test_results_writes_are_atomic(tmp_path):
    path = str(tmp_path / "a" / "r.jsonl")
    results.write_records(path, [{"record": "header"}])
    results.write_records(path, [{"record": "header"}, {"record": "end"}])
    assert results.read_records(path) == [{"record": "header"}, {"record": "end"}]
    assert os.listdir(tmp_path / "a") == ["r.jsonl"]  # no temporary files left behind
    with pytest.raises(ValueError):
        results.write_records(path, [{"x": float("nan")}])
    assert json.loads(open(path).read().splitlines()[-1]) == {"record": "end"}  # the failed write changed nothing


def test_the_readme_example_agent_runs_the_protocol(tmp_path, monkeypatch):
    readme = open(os.path.join(REPO, "leaderboards", "README.md")).read()
    code = readme.split("<!-- example-agent -->\n```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 45
    (tmp_path / "my_lab_agent.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = RunSpec(agent="my_lab_agent:ConstantActionAgent", env_id="meld/Nav2D-v0", seed=0, preset="smoke",
                   results_dir=str(tmp_path / "results"), overrides=(("scale", 0.5),))
    summary = runner.run(spec, log=lambda m: None)
    assert summary["status"] == "done" and validate.validate_file(spec.path) == []
    header = results.read_records(spec.path)[0]
    assert header["agent"]["class"] == "my_lab_agent:ConstantActionAgent" and header["agent"]["overrides"] == {"scale": 0.5}


def test_a_run_cannot_be_run_twice_at_once(tmp_path):
    spec = RunSpec(agent="random", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=str(tmp_path))
    folder = os.path.dirname(spec.path)
    with runner._exclusive(os.path.join(folder, ".seed_0.lock")):
        with pytest.raises(RuntimeError, match="another process is running"):
            runner.run(spec, log=lambda m: None)
    assert not os.path.exists(spec.path)


@pytest.mark.slow
def test_meld_runs_the_smoke_protocol_and_resumes(tmp_path):
    spec = RunSpec(agent="meld", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=str(tmp_path),
                   keep_checkpoints=True)
    runner.run(spec, log=lambda m: None)
    assert validate.validate_file(spec.path) == []
    records = results.read_records(spec.path)
    results.write_records(spec.path, records[:3])  # killed after checkpointing point 2, before writing it
    logs: list[str] = []
    runner.run(spec, log=logs.append)  # MELD.load on a fresh agent, then point 2 restored, not recomputed
    assert any("[resume]" in m and "point 2" in m for m in logs), logs
    assert _comparable(results.read_records(spec.path)) == _comparable(records)


def test_a_damaged_results_file_is_rebuilt_from_the_checkpoint(tmp_path, uninterrupted):
    spec = RunSpec(agent="random", env_id="meld/Nav2D-v0", seed=0, preset="smoke", results_dir=str(tmp_path),
                   keep_checkpoints=True)
    runner.run(spec, log=lambda m: None)
    text = open(spec.path).read()
    open(spec.path, "w").write(text[: len(text) // 2])  # e.g. a disk that filled up under another writer
    logs: list[str] = []
    runner.run(spec, log=logs.append)
    assert any(m.startswith("[repair]") for m in logs), logs
    assert _comparable(results.read_records(spec.path)) == _comparable(uninterrupted)


def test_parallel_runs_share_the_cpus_in_threads(monkeypatch):
    from leaderboards.run import default_threads
    from leaderboards.runner import limit_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert default_threads(runs=2, executor="local") == 4  # two processes, four threads each
    assert default_threads(runs=20, executor="local") == 1
    assert default_threads(runs=20, executor="local", workers=1) == 8  # runs one after another
    assert default_threads(runs=20, executor="ray") == 1  # a Ray task holds one CPU
    import torch

    before = torch.get_num_threads()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(var, "")
    try:
        limit_threads(1)
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads=0"):
        limit_threads(0)
