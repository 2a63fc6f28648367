"""`python -m leaderboards.report` and `leaderboards.validate` on made-up results of known quality,
and leaderboard.html in a real headless browser."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from leaderboards import protocol, report, results, validate
from meld_envs import stats

ENVS = ("meld/Nav2D-v0", "meld/CheetahVel-v0")


def fake_run(results_dir: str, agent: str, env_id: str, seed: int, skill: float, *, preset: str = "smoke",
             complete: bool = True, **header_changes) -> str:
    """A results file whose success probability rises linearly to ``skill`` over meta-training."""
    proto = protocol.preset(preset).for_env(env_id)
    rng = np.random.default_rng([seed, len(agent)])
    E = proto.episodes_per_trial
    header = {
        "record": "header", "schema": results.SCHEMA_VERSION, "protocol": protocol.PROTOCOL_VERSION, "preset": preset,
        "env_id": env_id, "seed": seed, "package_version": "0.1.0", "created": "2020-11-16T00:00:00+00:00",
        "agent": {"name": agent, "class": f"fake:{agent}", "overrides": {}, "config": {"skill": skill}},
        "task_split_hash": protocol.task_split_hash(env_id), "protocol_params": proto.to_json(), **header_changes,
    }
    records = [header]
    points = proto.eval_steps if complete else proto.eval_steps[:2]
    for k, steps in enumerate(points):
        p = skill * steps / proto.budget_steps
        per_task = []
        for t in proto.test_tasks:
            success = [[bool(rng.uniform() < p * (e + 1) / E) for e in range(E)] for _ in range(proto.trials_per_task)]
            ret = [[float(10 * s[e] + rng.normal()) for e in range(E)] for s in success]
            per_task.append({"task": t, "success": success, "return": ret})
        spe = [float(np.mean([s[e] for t in per_task for s in t["success"]])) for e in range(E)]
        rpe = [float(np.mean([r[e] for t in per_task for r in t["return"]])) for e in range(E)]
        records.append({"record": "eval", "index": k, "budget_steps": steps, "env_steps": steps, "eval_env_steps": 1,
                        "wall_clock_s": 1.0 + k, "success_rate": spe[-1], "success_per_episode": spe,
                        "return_per_episode": rpe, "per_task": per_task})
    if complete:
        records.append({"record": "end", "env_steps": points[-1], "wall_clock_s": float(len(points))})
    path = results.run_path(results_dir, preset, agent, env_id, seed)
    results.write_records(path, records)
    return path


@pytest.fixture(scope="module")
def two_agents(tmp_path_factory) -> str:
    d = str(tmp_path_factory.mktemp("two") / "results")
    for env in ENVS:
        for seed in range(3):
            fake_run(d, "good", env, seed, 0.9)
            fake_run(d, "weak", env, seed, 0.2)
    fake_run(d, "weak", ENVS[0], 3, 0.2, complete=False)  # unfinished: curves only
    return d


@pytest.fixture(scope="module")
def built_report(two_agents, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("report"))
    summary, refused = report.report(two_agents, out, reps=500, seed=0, log=lambda m: None)
    assert refused == []
    return out, summary


def test_report_ranks_and_aggregates_with_the_stats_functions(two_agents, built_report):
    out, summary = built_report
    assert summary["agents"] == ["good", "weak"]
    runs, _ = report.load_runs(two_agents)
    good = [r for r in runs if r.agent == "good" and r.env_id == ENVS[0]]
    matrix = np.stack([r.task_success() for r in sorted(good, key=lambda r: r.seed)])  # [seeds, test tasks]
    assert summary["per_env"][ENVS[0]]["good"]["iqm"] == stats.interval_estimate(matrix, stats.iqm, reps=500, seed=0)
    assert summary["per_env"][ENVS[0]]["weak"]["incomplete_seeds"] == [3]
    assert summary["overall"]["good"]["seeds"] == [0, 1, 2]
    p = summary["probability_of_improvement"][("good", "weak")]
    assert 0.5 < p.point <= 1 and p.lower <= p.point <= p.upper
    md = open(os.path.join(out, "leaderboard.md")).read()
    assert re.search(r"\| 1 \| good \| \d\.\d\d \[\d\.\d\d, \d\.\d\d\] \|", md)
    assert "| good | weak |" in md and "unfinished: [3]" in md
    for name in ("curves_success.png", "curves_return.png", "adaptation.png", "performance_profile.png",
                 "probability_of_improvement.png"):
        assert f"]({name})" in md and os.path.getsize(os.path.join(out, name)) > 5000
    data = json.load(open(os.path.join(out, "summary.json")))
    assert data["agents"] == ["good", "weak"] and data["overall"]["good"]["iqm"]["point"] == summary["overall"]["good"]["iqm"].point


def test_report_is_deterministic_under_its_seed(two_agents, built_report, tmp_path):
    _, summary = built_report
    again, _ = report.report(two_agents, str(tmp_path), reps=500, seed=0, log=lambda m: None)
    assert again["overall"]["good"]["iqm"] == summary["overall"]["good"]["iqm"]


def test_other_protocol_version_or_split_hash_is_refused(two_agents, tmp_path, capsys):
    d = str(tmp_path / "mixed")
    shutil.copytree(two_agents, d)
    old = fake_run(d, "old", ENVS[0], 0, 0.5, protocol="meld-v0")
    moved = fake_run(d, "moved", ENVS[0], 0, 0.5, task_split_hash="sha256:" + "0" * 64)
    truncated = fake_run(d, "cut", ENVS[0], 0, 0.5)
    with open(truncated, "r+") as f:
        f.truncate(os.path.getsize(truncated) - 30)
    assert report.main([d, "--out", str(tmp_path / "r"), "--reps", "100"]) == 1
    err = capsys.readouterr().err
    assert f"REFUSED {old}" in err and "protocol version 'meld-v0' is not 'meld-v1'" in err
    assert f"REFUSED {moved}" in err and "task split hash sha256:000" in err
    assert f"REFUSED {truncated}" in err and "truncated" in err
    md = open(tmp_path / "r" / "leaderboard.md").read()
    assert "## Refused results (not counted)" in md and "| old |" not in md and "| moved |" not in md
    assert report.main([d, "--out", str(tmp_path / "r2"), "--reps", "100", "--allow-refused"]) == 0
    assert validate.main([d]) == 1


def test_several_presets_need_a_choice(two_agents, tmp_path, capsys):
    d = str(tmp_path / "presets")
    shutil.copytree(two_agents, d)
    fake_run(d, "good", ENVS[0], 0, 0.9, preset="paper", complete=False)
    assert report.main([d, "--out", str(tmp_path / "r")]) == 2
    assert "several presets (paper, smoke); choose one with --preset" in capsys.readouterr().err
    assert report.main([d, "--out", str(tmp_path / "r"), "--preset", "smoke", "--reps", "100"]) == 0


def test_validate_checks_schema_and_consistency(tmp_path):
    d = str(tmp_path / "theirs")
    good = fake_run(d, "good", ENVS[0], 0, 0.9)
    assert validate.validate_file(good) == []
    records = results.read_records(good)
    bad = [dict(r) for r in records]
    bad[2] = {**bad[2], "index": 0}  # point 0 twice, point 1 lost
    del bad[0]["agent"]["class"]
    bad[3] = {**bad[3], "env_steps": 10**6, "success_rate": 1.5}
    results.write_records(good, bad)
    problems = validate.validate_file(good)
    assert any("missing field 'class'" in p for p in problems)
    bad[0]["agent"]["class"] = "fake:good"
    results.write_records(good, bad)
    problems = validate.validate_file(good)
    assert any("not 0, 1, 2" in p for p in problems)
    assert any("env_steps 1000000 outside" in p for p in problems) and any("success_rate 1.5" in p for p in problems)
    ragged = fake_run(d, "ragged", ENVS[0], 0, 0.9)
    records = results.read_records(ragged)
    records[2]["per_task"][1]["success"] = [[True]]  # Nav2D trials have two episodes
    results.write_records(ragged, records)
    assert "'success' and 'return' must be 1 trial(s) of 2 episode(s) each" in validate.validate_file(ragged)[0]
    bigger_budget = fake_run(d, "lazy", ENVS[0], 0, 0.9)
    records = results.read_records(bigger_budget)
    records[0]["protocol_params"]["budget_steps"] = 400
    results.write_records(bigger_budget, records)
    assert "protocol settings budget_steps=400 differ from those of preset 'smoke' (budget_steps=200)" in validate.validate_file(bigger_budget)[0]
    unfinished = fake_run(d, "weak", ENVS[0], 0, 0.1, complete=False)
    assert "incomplete run" in validate.validate_file(unfinished)[0]
    assert validate.validate_file(unfinished, require_complete=False) == []


# -- the HTML page in a real browser -------------------------------------------------------------
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


_PROBE = """
<script>
window.addEventListener('load', () => {
  const probe = {};
  const table = document.getElementById('overall');
  const agents = () => Array.from(table.tBodies[0].rows).map(r => r.children[1].textContent);
  probe.initial = agents();
  const iqm = Array.from(table.tHead.rows[0].children).find(th => th.textContent === 'IQM success');
  iqm.click(); probe.ascending = agents(); probe.sortState = iqm.getAttribute('aria-sort');
  iqm.click(); probe.descending = agents();
  const name = table.tHead.rows[0].children[1];
  name.click(); probe.byName = agents();
  probe.images = Array.from(document.images).map(i => [i.dataset.name, i.complete && i.naturalWidth > 100]);
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(probe);
  document.body.appendChild(pre);
});
</script>
</body>"""


def test_leaderboard_html_sorts_and_shows_plots_in_a_headless_browser(built_report, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH (apt-get install -y chromium) to check leaderboard.html in a real browser")
    out, _ = built_report
    page = open(os.path.join(out, "leaderboard.html")).read()
    assert page.count("</body>") == 1
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page.replace("</body>", _PROBE))
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", probe_page.as_uri()],
        capture_output=True, text=True, timeout=90)
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"no probe output; chromium said: {proc.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["initial"] == ["good", "weak"]
    assert probe["ascending"] == ["weak", "good"] and probe["sortState"] == "ascending"
    assert probe["descending"] == ["good", "weak"]
    assert probe["byName"] == ["good", "weak"]
    assert dict(probe["images"]) == {n: True for n in ("curves_success.png", "curves_return.png", "adaptation.png",
                                                       "performance_profile.png", "probability_of_improvement.png")}


def test_checkpoints_and_hidden_files_are_not_results(tmp_path, capsys):
    d = tmp_path / "r"
    path = fake_run(str(d), "good", ENVS[0], 0, 0.9)
    ckpt = Path(path[: -len(".jsonl")] + ".ckpt", "eval-0002", "agent")
    ckpt.mkdir(parents=True)
    (ckpt / "log.jsonl").write_text("an agent's own file\n")
    (d / ".half.jsonl.tmp").write_text("{")
    assert results.find_results(str(d)) == [path]
    assert validate.main([str(d)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert validate.main([str(empty)]) == 2 and "no *.jsonl results files" in capsys.readouterr().err
