"""`python -m leaderboards.report` and `leaderboards.validate` on made-up results of known quality,
and leaderboard.html in a real headless browser."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest

from leaderboards import plots, protocol, report, results, validate
from meld_envs import stats

ENVS = ("meld/Nav2D-v0", "meld/CheetahVel-v0")


def fake_run(results_dir: str, agent: str, env_id: str, seed: int, skill: float, *, preset: str = "smoke",
             complete: bool = True, failed: str | None = None, **header_changes) -> str:
    """A results file whose success probability rises linearly to ``skill`` over meta-training; unfinished after two
    points unless ``complete``; ``failed``: the error of a run that raised before its first evaluation."""
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
    points = [] if failed else proto.eval_steps if complete else proto.eval_steps[:2]
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
    if failed:
        records.append({"record": "failed", "error": failed, "env_steps": 0, "wall_clock_s": 0.5})
    elif complete:
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


LONG = "my_lab.agents.ConstantActionAgentWithALongName"


def _capture_figures(figures: dict[str, dict]):
    """Patch ``Figure.savefig`` to keep, per file name, what a reader sees: legend texts, each visible panel's lines
    (label, colour, marker, style, x data), and where the panels and axis labels landed in pixels."""
    original = matplotlib.figure.Figure.savefig

    def savefig(fig, path, *args, **kwargs):
        result = original(fig, path, *args, **kwargs)
        axes = [ax for ax in fig.axes if ax.get_visible()]
        figures[os.path.basename(str(path))] = {
            "legend": [t.get_text() for legend in fig.legends for t in legend.get_texts()],
            "lines": [[(ln.get_label(), ln.get_color(), ln.get_marker(), ln.get_linestyle(), tuple(np.ravel(ln.get_xdata())))
                       for ln in ax.lines if not ln.get_label().startswith("_")] for ax in axes],
            "axes_px": [ax.get_window_extent().bounds for ax in axes],
            "xlabels_px": [ax.xaxis.label.get_window_extent().bounds for ax in axes],
            "figure_px": fig.bbox.bounds,
        }
        return result

    return pytest.MonkeyPatch.context(), savefig


@pytest.fixture(scope="module")
def crowded_report(tmp_path_factory):
    """Every simulated environment; `good` and two agents with identical results on 3 seeds each, a long-named agent
    on one seed, `late` on the last environment only (not the first panel), an unfinished and a failed run."""
    d = str(tmp_path_factory.mktemp("crowded") / "results")
    envs = protocol.all_env_ids()
    for env in envs:
        for seed in range(3):
            fake_run(d, "good", env, seed, 0.9)
            fake_run(d, "twin_a", env, seed, 0.0)  # same name length: the same draws, identical results
            fake_run(d, "twin_b", env, seed, 0.0)
        fake_run(d, LONG, env, 0, 0.5)
    fake_run(d, "late", envs[-1], 0, 0.3)
    fake_run(d, "good", envs[0], 3, 0.9, complete=False)
    fake_run(d, "good", envs[1], 3, 0.9, failed="RuntimeError: boom at the first act")
    out = str(tmp_path_factory.mktemp("crowded_report"))
    figures: dict[str, dict] = {}
    context, savefig = _capture_figures(figures)
    logs: list[str] = []
    with context as mp:
        mp.setattr(matplotlib.figure.Figure, "savefig", savefig)
        summary, refused = report.report(d, out, reps=200, seed=0, log=logs.append)
    assert refused == []
    return out, summary, figures, logs


def test_every_figure_has_one_legend_naming_every_agent_in_one_style_each(crowded_report):
    _, summary, figures, _ = crowded_report
    every = sorted(["good", "twin_a", "twin_b", LONG, "late"])
    for name in ("curves_success.png", "curves_return.png", "adaptation.png"):
        assert figures[name]["legend"] == every, name  # `late` ran the last panel only
    assert figures["performance_profile.png"]["legend"] == sorted(summary["overall"])
    styles = plots.agent_styles(every)
    for name, figure in figures.items():
        for panel in figure["lines"]:
            for label, color, marker, linestyle, _ in panel:
                assert (color, marker) == styles[label][:2], (name, label)  # one look in every figure
    assert len({s.color for s in styles.values()}) == len({s.marker for s in styles.values()}) == len(every)
    # the same agents look the same in another report: built-in ones always, others unless a colour is taken
    assert plots.agent_styles(["meld", "random", "rl2"])["meld"] == plots.agent_styles(["meld", "x.Y"])["meld"]
    assert plots.agent_styles(["good", "weak"])["good"] == plots.agent_style("good") == styles["good"]


def test_agents_with_identical_values_stay_visible(crowded_report):
    _, summary, figures, _ = crowded_report
    for name in ("curves_success.png", "curves_return.png", "adaptation.png", "performance_profile.png"):
        for panel in figures[name]["lines"]:
            twins = {label: (marker, linestyle, x) for label, _, marker, linestyle, x in panel if label.startswith("twin")}
            a, b = twins["twin_a"], twins["twin_b"]
            assert a[:2] != b[:2], name  # another marker or line style
            if name != "performance_profile.png":
                assert a[2] != b[2], name  # and set a little apart along x
    assert summary["per_env"]["meld/Nav2D-v0"]["twin_a"]["mean"] == summary["per_env"]["meld/Nav2D-v0"]["twin_b"]["mean"]


def test_one_seed_gets_no_interval_and_a_comparison_on_few_seeds_is_warned_about(crowded_report, built_report):
    out, summary, _, logs = crowded_report
    md = open(os.path.join(out, "leaderboard.md")).read()
    row = next(line for line in md.splitlines() if line.startswith(f"| — | {LONG} |") or f"| {LONG} |" in line[:80])
    assert "[" not in row.split("|", 3)[3].rsplit("|", 2)[0], row  # points only for the one-seed agent
    assert re.search(r"\| good \| \d\.\d\d \[\d\.\d\d, \d\.\d\d\] \|", md)  # three seeds: intervals
    assert any(f"{LONG} 1 seed" in w for w in summary["warnings"]) and "> **Warning:** This comparison rests" in md
    assert any(m.startswith("warning: This comparison rests on fewer than 3 seeds") for m in logs)
    assert "95% stratified bootstrap over seeds" in md and "'n seeds' says how many" in md
    for line in md.splitlines():
        if line.startswith(f"| good | {LONG} |"):
            assert "[" not in line and line.endswith("| 3, 1 |")
    two_md = open(os.path.join(built_report[0], "leaderboard.md")).read()
    assert "band: 95% stratified bootstrap CI over seeds" in two_md


def test_one_seed_report_says_its_figures_have_no_interval(tmp_path):
    d = str(tmp_path / "results")
    for agent, skill in (("meld", 0.0), ("random", 0.3)):
        fake_run(d, agent, ENVS[0], 0, skill)
    fake_run(d, "random", ENVS[1], 0, 0.3)
    summary, _ = report.report(d, str(tmp_path / "out"), reps=100, log=lambda m: None)
    md = open(tmp_path / "out" / "leaderboard.md").read()
    assert "[" not in md.split("## Overall", 1)[1].split("## Plots", 1)[0]  # no zero-width "0.50 [0.50, 0.50]"
    assert "no band: one seed per agent" in md and "95% CI)" not in md
    assert summary["warnings"]


def test_probability_of_improvement_figure_has_room_for_long_names(crowded_report):
    _, summary, figures, _ = crowded_report
    figure = figures["probability_of_improvement.png"]
    ((_, _, _, axes_h),) = figure["axes_px"]
    assert axes_h >= 40 * len(summary["probability_of_improvement"])  # a row per pair, not 15 px for all
    ((x0, y0, w, _),) = figure["xlabels_px"]
    fx, fy, fw, _ = figure["figure_px"]
    assert x0 >= fx and y0 >= fy and x0 + w <= fx + fw  # the x label whole, not "probability of improvemen"


def test_a_missing_results_folder_is_named_as_missing(tmp_path, capsys):
    assert report.main([str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert f"results folder {tmp_path / 'nope'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


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
    assert "| good | weak |" in md and "| 3 (seeds 0, 1, 2; unfinished: seed 3) |" in md
    assert "Warning" not in md  # three seeds each: no warning, intervals everywhere
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


_LAYOUT_PROBE = """
<script>
window.addEventListener('load', () => {
  const probe = {width: window.innerWidth, pageWidth: document.documentElement.scrollWidth, tables: {}};
  document.querySelectorAll('table').forEach(t => {
    probe.tables[t.id] = {head: t.tHead.rows[0].children.length,
                          rows: Array.from(t.tBodies[0].rows).map(r => r.children.length),
                          right: t.getBoundingClientRect().right};
  });
  probe.overflowing = Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                           .map(e => e.tagName + (e.id ? '#' + e.id : '')).slice(0, 10);
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(probe);
  document.body.appendChild(pre);
});
</script>
</body>"""

_CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--hide-scrollbars", "--virtual-time-budget=5000")


def _browser_probe(out: str, probe_script: str, tmp_path: Path, width: int = 1280) -> dict:
    """Open ``out``/leaderboard.html with ``probe_script`` before ``</body>`` in headless Chromium at ``width`` px; the
    probe's JSON. Also leaves ``tmp_path``/page.png, a screenshot of the page as it is (to look at when it fails)."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH (apt-get install -y chromium) to check leaderboard.html in a real browser")
    page = open(os.path.join(out, "leaderboard.html")).read()
    assert page.count("</body>") == 1
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page.replace("</body>", probe_script))
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    flags = [chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},1000"]
    proc = subprocess.run([*flags, "--dump-dom", probe_page.as_uri()], capture_output=True, text=True, timeout=90)
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"no probe output; chromium said: {proc.stderr[-2000:]}"
    subprocess.run([*flags, f"--screenshot={tmp_path / 'page.png'}", Path(out, "leaderboard.html").as_uri()],
                   capture_output=True, timeout=90)
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def test_leaderboard_html_sorts_and_shows_plots_in_a_headless_browser(built_report, tmp_path):
    out, _ = built_report
    probe = _browser_probe(out, _PROBE, tmp_path)
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


def test_leaderboard_html_fits_a_laptop_screen_with_whole_rows(crowded_report, tmp_path):
    """Every simulated environment as a column, long agent names, unfinished and failed runs: at 1280 px nothing
    sticks out to the right (no column behind a scrollbar), and every row has one cell per column."""
    out = crowded_report[0]
    probe = _browser_probe(out, _LAYOUT_PROBE, tmp_path, width=1280)
    assert probe["width"] == 1280 and probe["pageWidth"] <= 1280, probe
    assert probe["overflowing"] == [], probe["overflowing"]
    assert set(probe["tables"]) == {"overall", "per-env", "improvement"}
    for name, table in probe["tables"].items():
        assert table["rows"] and set(table["rows"]) == {table["head"]}, (name, table)
        assert table["right"] <= 1280, (name, table)
    page = open(os.path.join(out, "leaderboard.html")).read()
    assert "@media print" in page and "Failed runs (not counted)" in page and 'class="warning"' in page
