"""``python -m leaderboards.report results/ --out report/``: tables, plots, leaderboard.md/.html.

``python -m leaderboards.report results/ leaderboards/reference/ --preset state --out report/`` puts a lab's runs next
to the committed reference runs of the same preset.

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
Next to every score the tables show how many unscored exploration episodes the agent got on each
trial's task before the scored trial (``exploration_episodes`` of its results header: PEARL's
exploration phase) and whether it sampled its actions or took their mean at meta-test
(``meta_test_actions``; "unstated" when the agent does not say).
Unfinished runs appear in the learning curves but not in the scores; failed runs (a ``failed``
record: the run raised) are listed with their error. Intervals are shown only where at least two
seeds stand behind a number (a bootstrap over one seed measures nothing), and the report warns
when agents are compared on fewer than three seeds.
"""
from __future__ import annotations

import argparse
import base64
import functools
import html
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

import meld_envs
from leaderboards import plots, protocol, results
from meld_envs import stats
from meld_envs.stats import Estimate

_PLOTS = {
    "curves_success.png": "Success rate on test tasks vs meta-training env steps, mean over seeds",
    "curves_return.png": "Return of the trial's last episode on test tasks vs meta-training env steps, mean over seeds",
    "adaptation.png": "Return in each episode of a meta-test trial at the final evaluation, mean over seeds",
    "performance_profile.png": "Performance profiles: fraction of runs (seed x environment) with final success above a threshold",
    "probability_of_improvement.png": "Probability that a run of X scores above a run of Y (final success, per environment, averaged)",
}
_INTERVAL_NOTE = {  # how each figure shows its 95% bootstrap CI over seeds
    "curves_success.png": "band", "curves_return.png": "band", "adaptation.png": "error bars",
    "performance_profile.png": "band", "probability_of_improvement.png": "bar",
}
MIN_SEEDS_FOR_INTERVAL = plots.MIN_SEEDS_FOR_INTERVAL
FEW_SEEDS = 3  # a comparison on fewer seeds than this is warned about


@dataclass
class Run:
    """One accepted results file."""

    path: str
    header: dict[str, Any]
    evals: list[dict[str, Any]]
    complete: bool
    error: str | None = None  # what a failed run raised (its ``failed`` record)

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


def load_runs(results_dir: str | list[str]) -> tuple[list[Run], list[tuple[str, list[str]]]]:
    """Accepted runs and refused files ``(path, reasons)`` under ``results_dir`` (recursively; one folder or several,
    e.g. a lab's results and ``leaderboards/reference/``). The same preset, agent, env and seed twice is refused."""
    folders = [results_dir] if isinstance(results_dir, str) else list(results_dir)
    runs, refused, seen = [], [], {}
    for path in (p for folder in folders for p in results.find_results(folder)):
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
        last = records[-1]
        run = Run(path, records[0], [r for r in records if r["record"] == "eval"], last["record"] == "end",
                  last.get("error") if last["record"] == "failed" else None)
        key = (run.preset, run.agent, run.env_id, run.seed)
        if key in seen:
            refused.append((path, [f"duplicate of {seen[key]} (same preset, agent, env and seed)"]))
            continue
        seen[key] = path
        runs.append(run)
    return runs, refused


class Cell(NamedTuple):
    """A table cell: its text, the value it sorts by (None: by its text) and an interval shown beside it."""

    text: str
    value: float | None = None
    interval: str = ""

    def __str__(self) -> str:
        return f"{self.text} {self.interval}".strip()


def _est_cell(e: Estimate | None, n: int, digits: int = 2) -> Cell:
    """An estimate's cell: the point, and its interval only when ``n`` seeds can give it a width."""
    if e is None:
        return Cell("—")
    interval = f"[{e.lower:.{digits}f}, {e.upper:.{digits}f}]" if n >= MIN_SEEDS_FOR_INTERVAL else ""
    return Cell(f"{e.point:.{digits}f}", float(e.point), interval)


def _seeds_cell(seeds: Sequence[int], unfinished: Sequence[int] = (), failed: Sequence[int] = ()) -> Cell:
    """How many seeds a row rests on, then which (and which are unfinished or failed)."""
    notes = [f"seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}"] if seeds else []
    notes += [f"unfinished: seed{'s' * (len(unfinished) > 1)} {', '.join(map(str, unfinished))}"] if unfinished else []
    notes += [f"failed: seed{'s' * (len(failed) > 1)} {', '.join(map(str, failed))}"] if failed else []
    return Cell(str(len(seeds)), len(seeds), "(" + "; ".join(notes) + ")" if notes else "")


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
    curves_s: dict[str, dict[str, plots.Series]] = {e: {} for e in envs}
    curves_r: dict[str, dict[str, plots.Series]] = {e: {} for e in envs}
    adapt: dict[str, dict[str, plots.Series]] = {e: {} for e in envs}
    for env in envs:
        for agent in agent_names:
            mine = sorted((r for r in runs if r.env_id == env and r.agent == agent), key=lambda r: r.seed)
            if not mine:
                continue
            done = [r for r in mine if r.complete]
            entry: dict[str, Any] = {
                "n": len(done), "seeds": [r.seed for r in done],
                "incomplete_seeds": [r.seed for r in mine if not r.complete and r.error is None],
                "failed": [{"seed": r.seed, "error": r.error, "path": r.path} for r in mine if r.error is not None],
                "exploration_episodes": sorted({results.exploration_episodes(r.header) for r in mine}),
                "meta_test_actions": sorted({results.meta_test_actions(r.header) for r in mine})}
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
                adapt[env][agent] = plots.Series(np.arange(1, E + 1, dtype=float), _stack(entry["return_per_episode"]),
                                                 np.full(E, len(done)))
            per_env[env][agent] = entry
            n_points = max(len(r.evals) for r in mine)  # 0 when every run failed before its first evaluation
            xs, s_ests, r_ests, ns = [], [], [], []
            for k in range(n_points):
                have = [r for r in mine if len(r.evals) > k]
                xs.append(have[0].evals[k]["budget_steps"])
                ns.append(len(have))
                s_ests.append(ci(np.stack([r.task_success(k) for r in have]), stats.mean, reps=min(reps, 500)))
                r_ests.append(ci(np.stack([r.task_return(k) for r in have]), stats.mean, reps=min(reps, 500)))
            if n_points:
                curves_s[env][agent] = plots.Series(np.array(xs, float), _stack(s_ests), np.array(ns))
                curves_r[env][agent] = plots.Series(np.array(xs, float), _stack(r_ests), np.array(ns))

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
        overall[agent] = {"iqm": ci(m, stats.iqm), "mean": ci(m, stats.mean), "n": len(common), "seeds": common}
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
        "warnings": _seed_warnings(per_env, agent_names),
        "_plot": {"curves_success": curves_s, "curves_return": curves_r, "adaptation": adapt},
    }


def _seed_warnings(per_env: dict[str, dict[str, dict[str, Any]]], agent_names: list[str]) -> list[str]:
    """A warning when two or more agents are compared and one rests on fewer than ``FEW_SEEDS`` finished seeds
    in some environment."""
    fewest = {a: min(cells[a]["n"] for cells in per_env.values() if cells.get(a, {}).get("n"))
              for a in agent_names if any(cells.get(a, {}).get("n") for cells in per_env.values())}
    few = {a: n for a, n in fewest.items() if n < FEW_SEEDS}
    if len(fewest) < 2 or not few:
        return []
    listing = ", ".join(f"{a} {n} seed{'s' * (n > 1)}" for a, n in few.items())
    warning = (f"This comparison rests on fewer than {FEW_SEEDS} seeds ({listing}, in the environment with the fewest): "
               "rankings, differences and probabilities of improvement may not hold with more seeds. "
               f"Intervals are shown only where {MIN_SEEDS_FOR_INTERVAL} or more seeds stand behind a number. "
               f"Run more seeds (--seeds 0-{FEW_SEEDS + 1}) for a comparison.")
    return [warning]


def _stack(ests: list[Estimate]) -> Estimate:
    return Estimate(np.array([e.point for e in ests]), np.array([e.lower for e in ests]), np.array([e.upper for e in ests]))


def make_plots(summary: dict[str, Any], out: str) -> list[str]:
    """Write the report's PNGs into ``out``; returns their file names."""
    made = []
    p = summary["_plot"]
    styles = plots.agent_styles(summary["agents"])  # one look per agent in every figure
    curves_s = {e: c for e, c in p["curves_success"].items() if c}
    if curves_s:
        plots.learning_curves(curves_s, os.path.join(out, "curves_success.png"), "success rate", ylim=(-0.05, 1.05),
                              styles=styles)
        plots.learning_curves({e: c for e, c in p["curves_return"].items() if c}, os.path.join(out, "curves_return.png"),
                              "return (last episode)", styles=styles)
        made += ["curves_success.png", "curves_return.png"]
    adapt = {e: a for e, a in p["adaptation"].items() if a}
    if adapt:
        plots.adaptation(adapt, os.path.join(out, "adaptation.png"), styles=styles)
        made.append("adaptation.png")
    seeds = {a: o["n"] for a, o in summary["overall"].items()}
    if summary["profiles"]:
        plots.performance_profiles(summary["taus"], summary["profiles"], os.path.join(out, "performance_profile.png"), seeds,
                                   styles=styles)
        made.append("performance_profile.png")
    if summary["probability_of_improvement"]:
        plots.probability_of_improvement(summary["probability_of_improvement"],
                                         os.path.join(out, "probability_of_improvement.png"), seeds)
        made.append("probability_of_improvement.png")
    return made


def _captions(summary: dict[str, Any], made: list[str]) -> dict[str, str]:
    """Each figure's caption: what it shows, and whether and how it shows an interval."""
    per_env_n = [c["n"] for cells in summary["per_env"].values() for c in cells.values() if c["n"]]
    overall_n = [o["n"] for o in summary["overall"].values()]
    captions = {}
    for name in made:
        ns = overall_n if name in ("performance_profile.png", "probability_of_improvement.png") else per_env_n
        if ns and max(ns) >= MIN_SEEDS_FOR_INTERVAL:
            note = (f"{_INTERVAL_NOTE[name]}: 95% stratified bootstrap CI over seeds, drawn where "
                    f"{MIN_SEEDS_FOR_INTERVAL} or more seeds stand behind it")
        else:
            note = f"no {_INTERVAL_NOTE[name]}: one seed per agent, so there is nothing to take an interval over"
        captions[name] = f"{_PLOTS[name]} ({note})."
    return captions


Table = tuple[list[str], list[list[Cell]]]


def _tables(summary: dict[str, Any]) -> tuple[Table, Table, Table]:
    """The overall, per-environment and probability-of-improvement tables as (header, rows of cells); every
    row has one cell per header."""
    envs, overall, per_env = summary["envs"], summary["overall"], summary["per_env"]
    head = (["Rank", "Agent", "IQM success", "Mean success", "Exploration episodes, actions"] + [f"{e.removeprefix('meld/')} success" for e in envs]
            + ["n seeds"])
    rows = []
    for rank, agent in enumerate(summary["agents"], start=1):
        o = overall.get(agent)
        declared = {e: per_env[e][agent] for e in envs if agent in per_env[e]}
        row = [Cell(str(rank), rank) if o else Cell("—"), Cell(agent),
               _est_cell(o["iqm"], o["n"]) if o else Cell("—"), _est_cell(o["mean"], o["n"]) if o else Cell("—"),
               _declared_cell(declared)]
        for e in envs:
            cell = per_env[e].get(agent, {})
            row.append(_est_cell(cell.get("mean"), cell.get("n", 0)))
        row.append(_seeds_cell(o["seeds"]) if o else Cell("0", 0, "(no seed finished every environment)"))
        rows.append(row)
    env_head = ["Environment", "Agent", "IQM success", "Mean success", "Exploration episodes", "Actions", "Success per episode", "Return (last episode)",
                "Return per episode", "Env steps", "Wall clock (s)", "n seeds"]
    env_rows = []
    for e in envs:
        for agent, cell in per_env[e].items():
            seeds = _seeds_cell(cell["seeds"], cell["incomplete_seeds"], [f["seed"] for f in cell["failed"]])
            declared = [_exploration_cell({e: cell}), _actions_cell({e: cell})]
            if not cell["n"]:
                env_rows.append([Cell(e), Cell(agent), Cell("—"), Cell("—")] + declared + [Cell("—")] * (len(env_head) - 7)
                                + [seeds])
                continue
            n = cell["n"]
            env_rows.append([
                Cell(e), Cell(agent), _est_cell(cell["iqm"], n), _est_cell(cell["mean"], n), *declared,
                Cell(" → ".join(f"{s:.2f}" for s in cell["success_per_episode"]), cell["success_per_episode"][-1]),
                _est_cell(cell["return_mean"], n, 1),
                Cell(" → ".join(f"{r.point:.1f}" for r in cell["return_per_episode"]), cell["return_per_episode"][-1].point),
                Cell(f"{cell['env_steps']:,}", cell["env_steps"]), Cell(f"{cell['wall_clock_s']:.1f}", cell["wall_clock_s"]),
                seeds])
    pi_head = ["X", "Y", "P(X > Y)", "n seeds (X, Y)"]
    pi_rows = [[Cell(x), Cell(y), _est_cell(est, min(overall[x]["n"], overall[y]["n"])),
                Cell(f"{overall[x]['n']}, {overall[y]['n']}", min(overall[x]["n"], overall[y]["n"]))]
               for (x, y), est in summary["probability_of_improvement"].items()]
    for h, rs in ((head, rows), (env_head, env_rows), (pi_head, pi_rows)):
        assert all(len(r) == len(h) for r in rs), "a table row without one cell per column"
    return (head, rows), (env_head, env_rows), (pi_head, pi_rows)


def _exploration_cell(cells: dict[str, dict[str, Any]]) -> Cell:
    """Exploration episodes per trial of an agent's runs in ``cells`` (environment -> its per-env entry): one
    number when they agree, else the range with each environment's."""
    per_env = {e: c["exploration_episodes"] for e, c in cells.items()}
    values = sorted({v for vs in per_env.values() for v in vs})
    if not values:
        return Cell("—")
    if len(values) == 1:
        return Cell(str(values[0]), values[0])
    notes = ", ".join(f"{e.removeprefix('meld/')} {'/'.join(map(str, vs))}" for e, vs in per_env.items())
    return Cell(f"{values[0]}–{values[-1]}", values[-1], f"({notes})")


def _declared_cell(cells: dict[str, dict[str, Any]]) -> Cell:
    """The overall table's one cell for both: the exploration episodes, with the action mode in its note."""
    episodes, actions = _exploration_cell(cells), _actions_cell(cells)
    note = "; ".join(x for x in (episodes.interval.strip("()"), f"{actions.text} actions") if x)
    return Cell(episodes.text, episodes.value, f"({note})")


def _actions_cell(cells: dict[str, dict[str, Any]]) -> Cell:
    """What an agent's runs in ``cells`` said they do at meta-test: sampled, mean or unstated."""
    modes = sorted({m for c in cells.values() for m in c["meta_test_actions"]})
    return Cell(" / ".join(modes)) if modes else Cell("—")


def _failed_runs(summary: dict[str, Any]) -> list[str]:
    """One line per failed run: who, where, and what it raised."""
    return [f"{agent} on {env}, seed {f['seed']} ({f['path']}): {f['error']}"
            for env, cells in summary["per_env"].items() for agent, cell in cells.items() for f in cell["failed"]]


def _provenance(runs: list[Run]) -> list[tuple[str, str]]:
    envs = sorted({r.env_id for r in runs})
    params = [(r.preset, results.protocol_params(r.header)) for r in runs]
    tracks = sorted({(name, p["track_version"], p["obs_mode"]) for name, p in params})
    items = [("protocol", protocol.PROTOCOL_VERSION),
             ("preset", ", ".join(f"{name} (version {version}, observations: {obs})" for name, version, obs in tracks)),
             ("package versions", ", ".join(sorted({r.header["package_version"] for r in runs})))]
    renderers = sorted({_renderer(r.header) for r in runs})
    note = " (observations differ in their last bits between renderers: compare across them only statistically)"
    items.append(("renderers" if len(renderers) > 1 else "renderer", "; ".join(renderers) + (note if len(renderers) > 1 else "")))
    items += [(f"task split hash {e}", _split_hash(e)) for e in envs]
    return items


def _renderer(header: dict[str, Any]) -> str:
    """``MUJOCO_GL`` and the GL renderer and version of a results header (``meld_envs.renderer_info()``)."""
    info = header.get("renderer")
    if not isinstance(info, dict):
        return "not recorded"
    return f"{info.get('backend', '?')}: {info.get('renderer', '?')}, GL {info.get('version', '?')}"


def _intro(summary: dict[str, Any], runs: list[Run], reps: int, seed: int) -> str:
    return (f"{len(runs)} run(s) of {len(summary['agents'])} agent(s) on {len(summary['envs'])} environment(s). "
            "Scores: success rate on held-out test tasks at the end of meta-training (last episode of each trial; "
            "an episode succeeds when its final step does). Overall scores aggregate per-run success over "
            "[seeds, environments]; per-environment scores over [seeds, test tasks]. Intervals in brackets: 95% "
            "stratified bootstrap over seeds (each environment's or test task's runs resampled; "
            f"{reps} resamples, seed {seed}), shown only where {MIN_SEEDS_FOR_INTERVAL} or more seeds stand behind a "
            "number; 'n seeds' says how many do. 'Exploration episodes': unscored episodes the agent asked for on "
            "each trial's task before the scored trial (an exploration phase, as PEARL's), not counted in its score; "
            "'Actions': whether it sampled its actions at meta-test or took their mean ('unstated' when it does not say).")


def write_markdown(summary: dict[str, Any], runs: list[Run], refused: list[tuple[str, list[str]]], made: list[str],
                   path: str, reps: int, seed: int) -> None:
    overall, per_env, improvement = _tables(summary)

    def table(t: Table) -> list[str]:
        h, rs = t
        cells = [[str(c).replace("|", "\\|") for c in r] for r in rs]  # a | in a name would end the cell
        return ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)] + ["| " + " | ".join(r) + " |" for r in cells]

    lines = ["# meld-bench leaderboard", "", _intro(summary, runs, reps, seed), ""]
    lines += [f"> **Warning:** {w}\n" for w in summary["warnings"]]
    lines += ["## Overall", ""] + table(overall) + ["", "## Per environment", ""] + table(per_env)
    if failed := _failed_runs(summary):
        lines += ["", "## Failed runs (not counted)", ""] + [f"- {f}" for f in failed]
    if summary["probability_of_improvement"]:
        lines += ["", "## Probability of improvement", ""] + table(improvement)
    if made:
        lines += ["", "## Plots", ""]
        for name, caption in _captions(summary, made).items():
            lines += [f"**{caption}**", "", f"![{_PLOTS[name]}]({name})", ""]
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
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
td.text { overflow-wrap: anywhere; min-width: 6em; } td.number { white-space: nowrap; }
th { background: #f3f3f3; cursor: pointer; user-select: none; vertical-align: bottom; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
td .ci, td .note { display: block; color: #555; font-size: 12px; }
td .ci { white-space: nowrap; } td .note { white-space: normal; }
code { overflow-wrap: anywhere; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; } .refused, .failed { color: #a00; }
.warning { background: #fff4df; border-left: 4px solid #d98c00; padding: 0.5em 1em; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  table { font-size: 10px; } td .ci, td .note { font-size: 9px; }
  th, td { padding: 2px 3px; } td.number, td .ci { white-space: normal; } td.text { min-width: 4em; }
  th { cursor: auto; } th::after { content: "" !important; }
  tr, figure { break-inside: avoid; } h2 { break-after: avoid; }
  .hint { display: none; }
}
"""


def _sort_value(text: str, value: float | None) -> str:
    """What a cell sorts by: its number, else its text; empty (sorted last) when it has neither."""
    if value is not None:
        return repr(float(value))
    return "" if text == "—" else text


def write_html(summary: dict[str, Any], runs: list[Run], refused: list[tuple[str, list[str]]], made: list[str],
               out: str, path: str, reps: int, seed: int) -> None:
    """One static page: sortable tables (click a header) and the plots inlined, so it works anywhere."""
    overall, per_env, improvement = _tables(summary)
    esc = html.escape

    def td(c: Cell) -> str:
        kind = "ci" if c.interval.startswith("[") else "note"  # an interval stays on one line, a note wraps
        interval = f'<span class="{kind}">{esc(c.interval)}</span>' if c.interval else ""
        kind = "text" if c.value is None and c.text != "—" else "number"  # long names may break anywhere, numbers never
        return f'<td class="{kind}" data-value="{esc(_sort_value(c.text, c.value))}">{esc(c.text)}{interval}</td>'

    def table(table_id: str, t: Table) -> str:
        h, rs = t
        ths = "".join(f'<th scope="col">{esc(c)}</th>' for c in h)
        trs = "".join("<tr>" + "".join(map(td, r)) + "</tr>" for r in rs)
        return f'<table class="sortable" id="{table_id}"><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table>'

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>meld-bench leaderboard</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>meld-bench leaderboard</h1>",
             f'<p>{esc(_intro(summary, runs, reps, seed))} <span class="hint">Click a column header to sort.</span></p>']
    parts += [f'<p class="warning"><strong>Warning:</strong> {esc(w)}</p>' for w in summary["warnings"]]
    parts += ["<h2>Overall</h2>", table("overall", overall), "<h2>Per environment</h2>", table("per-env", per_env)]
    if failed := _failed_runs(summary):
        parts += ["<h2>Failed runs (not counted)</h2>", '<ul class="failed">']
        parts += [f"<li><code>{esc(f)}</code></li>" for f in failed] + ["</ul>"]
    if summary["probability_of_improvement"]:
        parts += ["<h2>Probability of improvement</h2>", table("improvement", improvement)]
    if made:
        parts.append("<h2>Plots</h2>")
        for name, caption in _captions(summary, made).items():
            with open(os.path.join(out, name), "rb") as f:
                data = base64.b64encode(f.read()).decode()
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(_PLOTS[name])}" data-name="{name}">'
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
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


def _cells_tables(summary: dict[str, Any], extra_agents: Sequence[str] = ()) -> tuple[str, str]:
    per_env = summary["per_env"]
    agents = list(summary["agents"]) + [a for a in extra_agents if a not in summary["agents"]]
    head = "| environment | " + " | ".join(agents) + " |\n|---|" + "---:|" * len(agents)
    score_rows, cost_rows = [], []
    for env, cells in per_env.items():
        scores, costs = [], []
        for agent in agents:
            c = cells.get(agent)
            if c is None or not c.get("n"):
                scores.append("—")
                costs.append("—")
                continue
            iqm = c["iqm"]
            interval = f" [{iqm['lower']:.2f}, {iqm['upper']:.2f}]" if c["n"] >= 2 else ""
            scores.append(f"{iqm['point']:.2f}{interval} ({c['n']})")
            costs.append(f"{c['wall_clock_s'] / 60:.0f} min" if c["wall_clock_s"] >= 60 else f"{c['wall_clock_s']:.0f} s")
        score_rows.append(f"| `{env}` | " + " | ".join(scores) + " |")
        cost_rows.append(f"| `{env}` | " + " | ".join(costs) + " |")
    return head + "\n" + "\n".join(score_rows), head + "\n" + "\n".join(cost_rows)


def compact_tables(summary: dict[str, Any]) -> str:
    """Two markdown tables from ``summary.json``'s content: final success per environment and agent (IQM with its
    95% interval where two or more seeds stand behind it, and the seeds), and the mean wall-clock time of one run.
    Agents in the report's ranking order."""
    scores, costs = _cells_tables(summary)
    return ("Final success rate, IQM over seeds x test tasks [95% CI] (seeds):\n\n" + scores
            + "\n\nWall-clock time of one run (mean over its seeds):\n\n" + costs + "\n")


SCORES_BEGIN, SCORES_END = "<!-- reference-scores -->", "<!-- /reference-scores -->"


def write_scores_into(path: str, summary: dict[str, Any]) -> None:
    """Replace the text between the ``<!-- reference-scores -->`` and ``<!-- /reference-scores -->`` lines of the
    markdown file ``path`` with the score table of ``compact_tables`` (written atomically). Agents that head a column
    of the table there and have no runs now keep their column, with "—"."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin, end = text.find(SCORES_BEGIN + "\n"), text.find("\n" + SCORES_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{path} has no '{SCORES_BEGIN}' line followed by a '{SCORES_END}' line to write the "
                         "scores between")
    old_head = text[begin + len(SCORES_BEGIN) + 1: end].split("\n", 1)[0]
    shown = [cell.strip() for cell in old_head.strip().strip("|").split("|")][1:] if old_head.startswith("|") else []
    scores, _ = _cells_tables(summary, shown)
    results.atomic_write_text(path, text[: begin + len(SCORES_BEGIN) + 1] + scores + text[end:])


def report(results_dir: str | list[str], out: str, *, preset: str | None = None, reps: int = 2000, seed: int = 0,
           log: Callable[[str], None] = print) -> tuple[dict[str, Any], list[tuple[str, list[str]]]]:
    """Build the whole report into ``out`` from the runs under ``results_dir`` (one folder or several); returns the
    summary and the refused files."""
    folders = [results_dir] if isinstance(results_dir, str) else list(results_dir)
    for folder in folders:
        if not os.path.isdir(folder):
            raise ValueError(f"results folder {folder} does not exist" if not os.path.exists(folder)
                             else f"{folder} is not a folder; give the results folder (e.g. results/)")
    where = ", ".join(folders)
    runs, refused = load_runs(folders)
    presets = sorted({r.preset for r in runs})
    if preset is None and len(presets) > 1:
        raise ValueError(f"{where} holds runs of several presets ({', '.join(presets)}); choose one with --preset")
    if preset is not None:
        if preset not in presets:
            raise ValueError(f"no accepted runs of preset {preset!r} in {where}; found: {', '.join(presets) or 'none'}")
        runs = [r for r in runs if r.preset == preset]
    if not runs:
        reasons = "".join(f"\n  {p}: {'; '.join(r)}" for p, r in refused)
        raise ValueError(f"no accepted results under {where}" + (f"; refused:{reasons}" if refused else ""))
    os.makedirs(out, exist_ok=True)
    summary = summarize(runs, reps=reps, seed=seed)
    made = make_plots(summary, out)
    write_markdown(summary, runs, refused, made, os.path.join(out, "leaderboard.md"), reps, seed)
    write_html(summary, runs, refused, made, out, os.path.join(out, "leaderboard.html"), reps, seed)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({**_summary_json(summary), "refused": [{"path": p, "reasons": r} for p, r in refused],
                   "runs": [r.path for r in runs]}, f, indent=1)
    for warning in summary["warnings"]:
        log(f"warning: {warning}")
    log(f"report of {len(runs)} run(s) in {out}: leaderboard.md, leaderboard.html, summary.json, {', '.join(made)}")
    return summary, refused


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m leaderboards.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", help="results folders (searched recursively for *.jsonl); several are "
                                               "reported together, e.g. yours and leaderboards/reference/")
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.add_argument("--preset", default=None, help="the preset to report when the folder holds several")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--allow-refused", action="store_true", help="exit 0 even when some files were refused")
    p.add_argument("--compact", action="store_true", help="also print the final scores and the cost per run as two "
                                                          "short markdown tables (environments x agents)")
    p.add_argument("--scores-into", metavar="FILE", default=None,
                   help="write the final-score table between the lines <!-- reference-scores --> and "
                        "<!-- /reference-scores --> of the markdown FILE (the README's reference scores)")
    args = p.parse_args(argv)
    try:
        summary, refused = report(args.results, args.out, preset=args.preset, reps=args.reps, seed=args.seed)
        if args.compact or args.scores_into:
            plain = _summary_json(summary)
            if args.compact:
                print(compact_tables(plain))
            if args.scores_into:
                write_scores_into(args.scores_into, plain)
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
