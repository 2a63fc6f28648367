"""``python -m leaderboards.report results/ --out report/``: tables, plots, leaderboard.md/.html.

Scores are success rates on the held-out test tasks (the trial's last episode, final evaluation
point), aggregated across seeds and tasks as interquartile mean (IQM) and mean with 95%
stratified-bootstrap confidence intervals (``leaderboards.stats``; seeded with ``--seed``):

* per environment over ``[seeds, test tasks]``;
* overall over ``[seeds, environments]`` (per-run success rates), for agents that finished every
  environment of the report with common seeds; with performance profiles and the probability of
  improvement between agents.

Files from another protocol version, with a task-split hash other than this installation's, with
settings other than their preset's, or with a truncated or malformed line are refused with the reason and not counted; the report is
still written from the rest and the exit status is 1 (``--allow-refused`` makes it 0).
Unfinished runs appear in the learning curves but not in the scores.
"""
from __future__ import annotations

import argparse
import base64
import functools
import html
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import meld_envs
from leaderboards import plots, protocol, results
from meld_envs import stats
from meld_envs.stats import Estimate

_PLOTS = {
    "curves_success.png": "Success rate on test tasks vs meta-training env steps (mean, 95% CI)",
    "curves_return.png": "Return of the trial's last episode on test tasks vs meta-training env steps (mean, 95% CI)",
    "adaptation.png": "Return in each episode of a meta-test trial at the final evaluation (mean, 95% CI)",
    "performance_profile.png": "Performance profiles: fraction of runs with final success above a threshold",
    "probability_of_improvement.png": "Probability of improvement between agents (final success)",
}


@dataclass
class Run:
    """One accepted results file."""

    path: str
    header: dict[str, Any]
    evals: list[dict[str, Any]]
    complete: bool

    @property
    def agent(self) -> str:
        return self.header["agent"]["name"]

    @property
    def env_id(self) -> str:
        return self.header["env_id"]

    @property
    def seed(self) -> int:
        return self.header["seed"]

    @property
    def preset(self) -> str:
        return self.header["preset"]

    def task_success(self, k: int = -1) -> np.ndarray:
        """float [test tasks]: success of the trials' last episode at evaluation ``k``, mean over trials."""
        return np.array([np.mean([s[-1] for s in t["success"]]) for t in self.evals[k]["per_task"]], dtype=float)

    def task_return(self, k: int = -1, episode: int = -1) -> np.ndarray:
        """float [test tasks]: return of ``episode`` of the trials at evaluation ``k``, mean over trials."""
        return np.array([np.mean([r[episode] for r in t["return"]]) for t in self.evals[k]["per_task"]], dtype=float)


@functools.lru_cache(maxsize=None)
def _split_hash(env_id: str) -> str:
    return protocol.task_split_hash(env_id)


def load_runs(results_dir: str) -> tuple[list[Run], list[tuple[str, list[str]]]]:
    """Accepted runs and refused files ``(path, reasons)`` under ``results_dir`` (recursively)."""
    runs, refused, seen = [], [], {}
    for path in results.find_results(results_dir):
        try:
            records = results.read_records(path)
        except results.ResultsError as e:
            refused.append((path, [str(e)]))
            continue
        problems = results.check_records(records, protocol_version=protocol.PROTOCOL_VERSION, split_hash=_split_hash,
                                         expected_params=protocol.expected_params)
        if problems:
            refused.append((path, problems))
            continue
        run = Run(path, records[0], [r for r in records if r["record"] == "eval"], records[-1]["record"] == "end")
        key = (run.preset, run.agent, run.env_id, run.seed)
        if key in seen:
            refused.append((path, [f"duplicate of {seen[key]} (same preset, agent, env and seed)"]))
            continue
        seen[key] = path
        runs.append(run)
    return runs, refused


def _fmt(e: Estimate | None, digits: int = 2) -> str:
    if e is None:
        return "—"
    return f"{e.point:.{digits}f} [{e.lower:.{digits}f}, {e.upper:.{digits}f}]"


def _est_json(e: Estimate | None) -> Any:
    if e is None:
        return None
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in e._asdict().items()}


def summarize(runs: list[Run], *, reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every number of the report (JSON-able except the ``_plot`` entry) from accepted runs of one preset."""
    env_order = {e.id: i for i, e in enumerate(meld_envs.ENVIRONMENTS)}
    envs = sorted({r.env_id for r in runs}, key=lambda e: env_order.get(e, len(env_order)))
    agent_names = sorted({r.agent for r in runs})
    ci = functools.partial(stats.interval_estimate, reps=reps, seed=seed)

    per_env: dict[str, dict[str, dict[str, Any]]] = {e: {} for e in envs}
    curves_s: dict[str, dict[str, Any]] = {e: {} for e in envs}
    curves_r: dict[str, dict[str, Any]] = {e: {} for e in envs}
    adapt: dict[str, dict[str, Estimate]] = {e: {} for e in envs}
    for env in envs:
        for agent in agent_names:
            mine = sorted((r for r in runs if r.env_id == env and r.agent == agent), key=lambda r: r.seed)
            if not mine:
                continue
            done = [r for r in mine if r.complete]
            entry: dict[str, Any] = {"seeds": [r.seed for r in done], "incomplete_seeds": [r.seed for r in mine if not r.complete]}
            if done:
                success = np.stack([r.task_success() for r in done])  # [seeds, test tasks]
                last_return = np.stack([r.task_return() for r in done])
                E = len(done[0].evals[-1]["return_per_episode"])
                entry.update(
                    iqm=ci(success, stats.iqm), mean=ci(success, stats.mean), return_mean=ci(last_return, stats.mean),
                    return_per_episode=[ci(np.stack([r.task_return(episode=e) for r in done]), stats.mean) for e in range(E)],
                    success_per_episode=[float(np.mean([r.evals[-1]["success_per_episode"][e] for r in done])) for e in range(E)],
                    env_steps=int(np.mean([r.evals[-1]["env_steps"] for r in done])),
                    wall_clock_s=float(np.mean([r.evals[-1]["wall_clock_s"] for r in done])),
                    run_success=[float(np.mean(s)) for s in success],
                )
                points = [ep.point for ep in entry["return_per_episode"]]
                adapt[env][agent] = Estimate(np.array(points), np.array([ep.lower for ep in entry["return_per_episode"]]),
                                             np.array([ep.upper for ep in entry["return_per_episode"]]))
            per_env[env][agent] = entry
            n_points = max(len(r.evals) for r in mine)
            xs, s_ests, r_ests = [], [], []
            for k in range(n_points):
                have = [r for r in mine if len(r.evals) > k]
                xs.append(have[0].evals[k]["budget_steps"])
                s_ests.append(ci(np.stack([r.task_success(k) for r in have]), stats.mean, reps=min(reps, 500)))
                r_ests.append(ci(np.stack([r.task_return(k) for r in have]), stats.mean, reps=min(reps, 500)))
            curves_s[env][agent] = (np.array(xs, float), _stack(s_ests))
            curves_r[env][agent] = (np.array(xs, float), _stack(r_ests))

    # overall: per-run success rates [common seeds, envs], for agents that finished every env
    overall: dict[str, dict[str, Any]] = {}
    matrices: dict[str, np.ndarray] = {}
    for agent in agent_names:
        seed_sets = [set(per_env[e].get(agent, {}).get("seeds", [])) for e in envs]
        common = sorted(set.intersection(*seed_sets)) if seed_sets else []
        if not common:
            continue
        m = np.array([[per_env[e][agent]["run_success"][per_env[e][agent]["seeds"].index(s)] for e in envs] for s in common])
        matrices[agent] = m
        overall[agent] = {"iqm": ci(m, stats.iqm), "mean": ci(m, stats.mean), "seeds": common}
    ranking = sorted(agent_names, key=lambda a: (a not in overall,
                                                 -(overall[a]["iqm"].point if a in overall else 0),
                                                 -(overall[a]["mean"].point if a in overall else 0), a))
    ranked = [a for a in ranking if a in overall]
    improvement = {(x, y): stats.probability_of_improvement_estimate(matrices[x], matrices[y], reps=reps, seed=seed)
                   for i, x in enumerate(ranked) for y in ranked[i + 1:]}
    taus = np.linspace(0.0, 1.0, 51)
    profiles = stats.performance_profiles(matrices, taus, reps=reps, seed=seed) if matrices else {}
    return {
        "envs": envs, "agents": ranking, "per_env": per_env, "overall": overall,
        "probability_of_improvement": improvement, "taus": taus, "profiles": profiles,
        "_plot": {"curves_success": curves_s, "curves_return": curves_r, "adaptation": adapt},
    }


def _stack(ests: list[Estimate]) -> Estimate:
    return Estimate(np.array([e.point for e in ests]), np.array([e.lower for e in ests]), np.array([e.upper for e in ests]))


def make_plots(summary: dict[str, Any], out: str) -> list[str]:
    """Write the report's PNGs into ``out``; returns their file names."""
    made = []
    p = summary["_plot"]
    if summary["envs"]:
        plots.learning_curves(p["curves_success"], os.path.join(out, "curves_success.png"), "success rate",
                              ylim=(-0.03, 1.03))
        plots.learning_curves(p["curves_return"], os.path.join(out, "curves_return.png"), "return (last episode)")
        made += ["curves_success.png", "curves_return.png"]
        adapt = {e: a for e, a in p["adaptation"].items() if a}
        if adapt:
            plots.adaptation(adapt, os.path.join(out, "adaptation.png"))
            made.append("adaptation.png")
    if summary["profiles"]:
        plots.performance_profiles(summary["taus"], summary["profiles"], os.path.join(out, "performance_profile.png"))
        made.append("performance_profile.png")
    if summary["probability_of_improvement"]:
        plots.probability_of_improvement(summary["probability_of_improvement"],
                                         os.path.join(out, "probability_of_improvement.png"))
        made.append("probability_of_improvement.png")
    return made


def _tables(summary: dict[str, Any]) -> tuple[list[str], list[list[tuple[str, float | None]]], list[str], list[list[tuple[str, float | None]]]]:
    """The overall and per-environment tables as header + rows of (text, sort value) cells."""
    envs, overall, per_env = summary["envs"], summary["overall"], summary["per_env"]
    head = ["Rank", "Agent", "IQM success", "Mean success"] + [f"{e.removeprefix('meld/')} success" for e in envs] + ["Seeds"]
    rows = []
    for rank, agent in enumerate(summary["agents"], start=1):
        o = overall.get(agent)
        row: list[tuple[str, float | None]] = [
            (str(rank) if o else "—", rank if o else None), (agent, None),
            (_fmt(o["iqm"]) if o else "—", o["iqm"].point if o else None),
            (_fmt(o["mean"]) if o else "—", o["mean"].point if o else None)]
        for e in envs:
            cell = per_env[e].get(agent, {})
            row.append((_fmt(cell.get("mean")), cell["mean"].point if "mean" in cell else None))
        row.append((", ".join(map(str, o["seeds"])) if o else "—", len(o["seeds"]) if o else None))
        rows.append(row)
    env_head = ["Environment", "Agent", "IQM success", "Mean success", "Success per episode", "Return (last episode)",
                "Return per episode", "Env steps", "Wall clock (s)", "Seeds"]
    env_rows = []
    for e in envs:
        for agent, cell in per_env[e].items():
            if "mean" not in cell:
                env_rows.append([(e, None), (agent, None)] + [("—", None)] * 6 +
                                [(f"unfinished: {cell['incomplete_seeds']}", None)])
                continue
            seeds = ", ".join(map(str, cell["seeds"])) + (f" (unfinished: {cell['incomplete_seeds']})" if cell["incomplete_seeds"] else "")
            env_rows.append([
                (e, None), (agent, None), (_fmt(cell["iqm"]), cell["iqm"].point), (_fmt(cell["mean"]), cell["mean"].point),
                (" → ".join(f"{s:.2f}" for s in cell["success_per_episode"]), cell["success_per_episode"][-1]),
                (_fmt(cell["return_mean"], 1), cell["return_mean"].point),
                (" → ".join(f"{r.point:.1f}" for r in cell["return_per_episode"]), cell["return_per_episode"][-1].point),
                (f"{cell['env_steps']:,}", cell["env_steps"]), (f"{cell['wall_clock_s']:.1f}", cell["wall_clock_s"]),
                (seeds, len(cell["seeds"]))])
    return head, rows, env_head, env_rows


def _provenance(runs: list[Run]) -> list[tuple[str, str]]:
    envs = sorted({r.env_id for r in runs})
    items = [("protocol", protocol.PROTOCOL_VERSION), ("preset", ", ".join(sorted({r.preset for r in runs}))),
             ("package versions", ", ".join(sorted({r.header["package_version"] for r in runs})))]
    items += [(f"task split hash {e}", _split_hash(e)) for e in envs]
    return items


def _intro(summary: dict[str, Any], runs: list[Run], reps: int, seed: int) -> str:
    return (f"{len(runs)} run(s) of {len(summary['agents'])} agent(s) on {len(summary['envs'])} environment(s). "
            "Scores: success rate on held-out test tasks at the end of meta-training (last episode of each trial; "
            "an episode succeeds when its final step does). Intervals: 95% stratified bootstrap "
            f"({reps} resamples, seed {seed}). Overall scores aggregate per-run success over [seeds, environments]; "
            "per-environment scores over [seeds, test tasks].")


def write_markdown(summary: dict[str, Any], runs: list[Run], refused: list[tuple[str, list[str]]], made: list[str],
                   path: str, reps: int, seed: int) -> None:
    head, rows, env_head, env_rows = _tables(summary)

    def table(h: list[str], rs: list[list[tuple[str, Any]]]) -> list[str]:
        return ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)] + ["| " + " | ".join(c for c, _ in r) + " |" for r in rs]

    lines = ["# meld-bench leaderboard", "", _intro(summary, runs, reps, seed), "", "## Overall", ""]
    lines += table(head, rows) + ["", "## Per environment", ""] + table(env_head, env_rows)
    if summary["probability_of_improvement"]:
        lines += ["", "## Probability of improvement", "", "| X | Y | P(X > Y) |", "|---|---|---|"]
        lines += [f"| {x} | {y} | {_fmt(e)} |" for (x, y), e in summary["probability_of_improvement"].items()]
    if made:
        lines += ["", "## Plots", ""]
        for name in made:
            lines += [f"**{_PLOTS[name]}**", "", f"![{_PLOTS[name]}]({name})", ""]
    if refused:
        lines += ["", "## Refused results (not counted)", ""]
        lines += [f"- `{p}`: " + "; ".join(reasons) for p, reasons in refused]
    lines += ["", "## Provenance", ""] + [f"- {k}: `{v}`" for k, v in _provenance(runs)] + [""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


_SORT_JS = """
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const col = Array.from(th.parentNode.children).indexOf(th);
  const asc = th.getAttribute('aria-sort') !== 'ascending';
  table.querySelectorAll('th').forEach(h => h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
  const key = row => {
    const cell = row.children[col], v = cell.dataset.value;
    return v === undefined || v === '' ? null : (isNaN(Number(v)) ? v : Number(v));
  };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null && y === null) return 0;
    if (x === null) return 1;   // missing values last either way
    if (y === null) return -1;
    const c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
    return asc ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
}
document.querySelectorAll('table.sortable th').forEach(th => th.addEventListener('click', () => sortTable(th)));
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
td { white-space: nowrap; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; } .refused { color: #a00; }
"""


def _sort_value(text: str, value: float | None) -> str:
    """What a cell sorts by: its number, else its text; empty (sorted last) when it has neither."""
    if value is not None:
        return repr(float(value))
    return "" if text == "—" else text


def write_html(summary: dict[str, Any], runs: list[Run], refused: list[tuple[str, list[str]]], made: list[str],
               out: str, path: str, reps: int, seed: int) -> None:
    """One static page: sortable tables (click a header) and the plots inlined, so it works anywhere."""
    head, rows, env_head, env_rows = _tables(summary)
    esc = html.escape

    def table(table_id: str, h: list[str], rs: list[list[tuple[str, Any]]]) -> str:
        ths = "".join(f'<th scope="col">{esc(c)}</th>' for c in h)
        trs = "".join("<tr>" + "".join(f'<td data-value="{esc(_sort_value(c, v))}">{esc(c)}</td>' for c, v in r)
                      + "</tr>" for r in rs)
        return f'<table class="sortable" id="{table_id}"><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table>'

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>meld-bench leaderboard</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>meld-bench leaderboard</h1>", f"<p>{esc(_intro(summary, runs, reps, seed))} Click a column header to sort.</p>",
             "<h2>Overall</h2>", table("overall", head, rows), "<h2>Per environment</h2>", table("per-env", env_head, env_rows)]
    if summary["probability_of_improvement"]:
        pr = [[(x, None), (y, None), (_fmt(e), e.point)] for (x, y), e in summary["probability_of_improvement"].items()]
        parts += ["<h2>Probability of improvement</h2>", table("improvement", ["X", "Y", "P(X > Y)"], pr)]
    if made:
        parts.append("<h2>Plots</h2>")
        for name in made:
            with open(os.path.join(out, name), "rb") as f:
                data = base64.b64encode(f.read()).decode()
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(_PLOTS[name])}" data-name="{name}">'
                         f"<figcaption>{esc(_PLOTS[name])}</figcaption></figure>")
    if refused:
        parts += ["<h2>Refused results (not counted)</h2>", '<ul class="refused">']
        parts += [f"<li><code>{esc(p)}</code>: {esc('; '.join(reasons))}</li>" for p, reasons in refused]
        parts.append("</ul>")
    parts += ["<h2>Provenance</h2>", "<ul>"] + [f"<li>{esc(k)}: <code>{esc(v)}</code></li>" for k, v in _provenance(runs)]
    parts += ["</ul>", f"<script>{_SORT_JS}</script>", "</body></html>"]
    with open(path, "w") as f:
        f.write("\n".join(parts))


def _summary_json(summary: dict[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, Estimate):
            return _est_json(v)
        if isinstance(v, dict):
            return {(" > ".join(k) if isinstance(k, tuple) else k): conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, np.ndarray):
            return v.tolist()
        return v

    return conv({k: v for k, v in summary.items() if not k.startswith("_")})


def report(results_dir: str, out: str, *, preset: str | None = None, reps: int = 2000, seed: int = 0,
           log: Callable[[str], None] = print) -> tuple[dict[str, Any], list[tuple[str, list[str]]]]:
    """Build the whole report into ``out``; returns the summary and the refused files."""
    runs, refused = load_runs(results_dir)
    presets = sorted({r.preset for r in runs})
    if preset is None and len(presets) > 1:
        raise ValueError(f"{results_dir} holds runs of several presets ({', '.join(presets)}); choose one with --preset")
    if preset is not None:
        if preset not in presets:
            raise ValueError(f"no accepted runs of preset {preset!r} in {results_dir}; found: {', '.join(presets) or 'none'}")
        runs = [r for r in runs if r.preset == preset]
    if not runs:
        reasons = "".join(f"\n  {p}: {'; '.join(r)}" for p, r in refused)
        raise ValueError(f"no accepted results under {results_dir}" + (f"; refused:{reasons}" if refused else ""))
    os.makedirs(out, exist_ok=True)
    summary = summarize(runs, reps=reps, seed=seed)
    made = make_plots(summary, out)
    write_markdown(summary, runs, refused, made, os.path.join(out, "leaderboard.md"), reps, seed)
    write_html(summary, runs, refused, made, out, os.path.join(out, "leaderboard.html"), reps, seed)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({**_summary_json(summary), "refused": [{"path": p, "reasons": r} for p, r in refused],
                   "runs": [r.path for r in runs]}, f, indent=1)
    log(f"report of {len(runs)} run(s) in {out}: leaderboard.md, leaderboard.html, summary.json, {', '.join(made)}")
    return summary, refused


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m leaderboards.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="results folder (searched recursively for *.jsonl)")
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.add_argument("--preset", default=None, help="the preset to report when the folder holds several")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--allow-refused", action="store_true", help="exit 0 even when some files were refused")
    args = p.parse_args(argv)
    try:
        _, refused = report(args.results, args.out, preset=args.preset, reps=args.reps, seed=args.seed)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path, reasons in refused:
        print(f"REFUSED {path}:\n  " + "\n  ".join(reasons), file=sys.stderr)
    if refused and not args.allow_refused:
        print(f"{len(refused)} file(s) refused and not counted (see above); --allow-refused to accept that", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
