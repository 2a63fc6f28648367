"""Report figures (matplotlib, headless): learning curves with CI bands, adaptation across the
episodes of a trial, performance profiles and probability of improvement.

Every function takes plain data (see ``leaderboards.report``) and writes one PNG. An agent has one
colour, marker and line style in every figure of a report, and the same in every report unless
another agent of that report would look the same (``agent_styles``); each figure has one legend
naming every agent of the report that it shows. Agents with equal values stay visible: markers, line
styles and a small sideways offset per agent. An interval is drawn only where it rests on at least
``MIN_SEEDS_FOR_INTERVAL`` seeds; with one seed a bootstrap over seeds measures nothing.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from meld_envs.stats import Estimate  # noqa: E402

MIN_SEEDS_FOR_INTERVAL = 2


class Series(NamedTuple):
    """One agent's values in one panel: ``x`` float [points], ``est`` an Estimate of arrays float [points],
    ``n`` int [points], the seeds behind each point."""

    x: np.ndarray
    est: Estimate
    n: np.ndarray


class AgentStyle(NamedTuple):
    color: str
    marker: str
    linestyle: str


# the built-in agents' styles; any other agent's follows from its name (agent_style)
_BUILTIN_STYLES: dict[str, AgentStyle] = {
    "meld": AgentStyle("#1f77b4", "o", "-"),
    "random": AgentStyle("#7f7f7f", "s", "--"),
    "pearl": AgentStyle("#ff7f0e", "^", "-."),
    "rl2": AgentStyle("#2ca02c", "D", ":"),
    "slac": AgentStyle("#9467bd", "v", "-"),
}
# other agents' colours: far from the built-in ones and from each other
_PALETTE = ("#d62728", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#000000", "#e6ab02", "#000075")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
_LINESTYLES = ("-", "--", "-.", ":")


def agent_style(agent: str) -> AgentStyle:
    """The preferred look of ``agent``: fixed for the built-in agents, else a function of the name alone (sha256)."""
    if agent in _BUILTIN_STYLES:
        return _BUILTIN_STYLES[agent]
    h = int.from_bytes(hashlib.sha256(agent.encode()).digest()[:8], "big")
    return AgentStyle(_PALETTE[h % len(_PALETTE)], _MARKERS[(h // len(_PALETTE)) % len(_MARKERS)],
                      _LINESTYLES[(h // (len(_PALETTE) * len(_MARKERS))) % len(_LINESTYLES)])


def agent_styles(agents: Sequence[str]) -> dict[str, AgentStyle]:
    """The look of each of a report's ``agents``: its ``agent_style``, except that an agent whose colour or marker
    another agent of the report already has (built-in agents first, then by name) takes the next free one. So the
    same agents look the same in every report and every figure, and no two agents of a report look alike."""
    styles: dict[str, AgentStyle] = {}
    for agent in sorted(agents, key=lambda a: (a not in _BUILTIN_STYLES, a)):
        color, marker, linestyle = agent_style(agent)
        taken_colors = {s.color for s in styles.values()}
        taken_markers = {s.marker for s in styles.values()}
        if color in taken_colors:
            free = [c for c in _PALETTE[_PALETTE.index(color) + 1:] + _PALETTE if c not in taken_colors] if color in _PALETTE \
                else [c for c in _PALETTE if c not in taken_colors]
            color = free[0] if free else color
        if marker in taken_markers:
            free = [m for m in _MARKERS[_MARKERS.index(marker) + 1:] + _MARKERS if m not in taken_markers]
            marker = free[0] if free else marker
        styles[agent] = AgentStyle(color, marker, linestyle)
    return styles


def _legend(fig: plt.Figure, styles: Mapping[str, AgentStyle], height_in: float) -> float:
    """One legend for the whole figure, below the panels, naming every agent; returns the figure
    fraction it takes at the bottom."""
    agents = sorted(styles)
    entry_in = 0.75 + 0.08 * max((len(a) for a in agents), default=1)  # a handle and the longest name at 10 pt
    ncol = max(1, min(len(agents), 4, int(fig.get_figwidth() // entry_in)))
    handles = [Line2D([], [], color=styles[a].color, marker=styles[a].marker, linestyle=styles[a].linestyle, lw=1.6)
               for a in agents]
    fig.legend(handles, list(agents), loc="lower center", ncol=max(ncol, 1), frameon=False)
    rows = math.ceil(len(agents) / max(ncol, 1))
    return min(0.5, (0.15 + 0.25 * rows) / height_in)


def _grid(n: int) -> tuple[plt.Figure, np.ndarray, float]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    height = 3.2 * rows + 0.6
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, height), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel(), height


def _offset(i: int, n: int, span: float) -> float:
    """A small sideways shift of agent ``i`` of ``n`` (2% of the x range apart), so equal values do not hide each other."""
    return (i - (n - 1) / 2) * 0.02 * span


def _mark_all_zero(ax: plt.Axes, series: Sequence[Series]) -> None:
    if series and all(np.all(np.asarray(s.est.point) == 0) for s in series):
        ax.text(0.5, 0.75, "every agent: 0 at every point", transform=ax.transAxes, ha="center", va="center",
                color="0.4", fontsize=9)


def learning_curves(curves: Mapping[str, Mapping[str, Series]], path: str, ylabel: str,
                    ylim: tuple[float, float] | None = None, styles: Mapping[str, AgentStyle] | None = None) -> None:
    """One panel per environment (the paper's Figure 5 layout): ``curves[env][agent]``; the mean with its
    95% CI band where at least two seeds stand behind a point."""
    envs = list(curves)
    agents = sorted({a for per_env in curves.values() for a in per_env})
    styles = {a: s for a, s in (styles or agent_styles(agents)).items() if a in agents}
    fig, axes, height = _grid(len(envs))
    for ax, env in zip(axes, envs):
        xs = [s.x for s in curves[env].values()]
        span = float(max(np.max(x) for x in xs) - min(np.min(x) for x in xs)) or 1.0
        for i, agent in enumerate(agents):
            if agent not in curves[env]:
                continue
            x, est, n = curves[env][agent]
            style = styles[agent]
            x = x + _offset(i, len(agents), span)
            every = max(1, len(x) // 12)
            ax.plot(x, est.point, color=style.color, marker=style.marker, linestyle=style.linestyle, lw=1.6,
                    ms=max(3.5, 7.0 - 1.2 * i), markevery=(i % every, every), zorder=3 + i / 10, label=agent)
            banded = np.asarray(n) >= MIN_SEEDS_FOR_INTERVAL
            if banded.any():
                ax.fill_between(x, est.lower, est.upper, where=banded, color=style.color, alpha=0.15, lw=0)
        _mark_all_zero(ax, list(curves[env].values()))
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_title(env.removeprefix("meld/"), fontsize=10)
        ax.set_xlabel("meta-training env steps")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    bottom = _legend(fig, styles, height)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def adaptation(per_episode: Mapping[str, Mapping[str, Series]], path: str,
               styles: Mapping[str, AgentStyle] | None = None) -> None:
    """Return in each episode of a meta-test trial at the final evaluation: ``per_episode[env][agent]``
    with ``x`` the episodes 1..E; error bars (95% CI) where at least two seeds stand behind a bar, and
    a marker on every bar so that a bar of height 0 shows."""
    envs = list(per_episode)
    agents = sorted({a for per_env in per_episode.values() for a in per_env})
    styles = {a: s for a, s in (styles or agent_styles(agents)).items() if a in agents}
    fig, axes, height = _grid(len(envs))
    width = 0.8 / max(len(agents), 1)
    for ax, env in zip(axes, envs):
        for i, agent in enumerate(agents):
            if agent not in per_episode[env]:
                continue
            episodes, est, n = per_episode[env][agent]
            style = styles[agent]
            x = np.asarray(episodes, float) + (i - (len(agents) - 1) / 2) * width
            ax.bar(x, est.point, width=width, color=style.color, alpha=0.75)
            ax.plot(x, est.point, linestyle="none", marker=style.marker, color=style.color, mec="black", mew=0.6, ms=6,
                    label=agent)
            banded = np.asarray(n) >= MIN_SEEDS_FOR_INTERVAL
            if banded.any():
                err = np.vstack([est.point - est.lower, est.upper - est.point])[:, banded]
                ax.errorbar(x[banded], np.asarray(est.point)[banded], yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
        _mark_all_zero(ax, list(per_episode[env].values()))
        values = np.concatenate([np.ravel(v) for s in per_episode[env].values() for v in (s.est.lower, s.est.upper)] + [[0.0]])
        pad = 0.08 * (float(np.ptp(values)) or 1.0)  # room for the markers of bars at 0 and at the extremes
        ax.set_ylim(float(values.min()) - pad, float(values.max()) + pad)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(env.removeprefix("meld/"), fontsize=10)
        ax.set_xlabel("episode of the trial")
        ax.set_xticks(range(1, 1 + max(len(s.est.point) for s in per_episode[env].values())))
        ax.set_ylabel("return (final evaluation)")
        ax.grid(alpha=0.3, axis="y")
    bottom = _legend(fig, styles, height)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def performance_profiles(taus: np.ndarray, profiles: Mapping[str, Estimate], path: str,
                         seeds: Mapping[str, int], styles: Mapping[str, AgentStyle] | None = None) -> None:
    """Fraction of runs with final success above tau; pointwise 95% CI bands for agents with at least two
    seeds (``seeds[agent]``). Equal profiles stay apart by line style and staggered markers."""
    agents = sorted(profiles)
    styles = {a: s for a, s in (styles or agent_styles(agents)).items() if a in agents}
    height = 4.2
    fig, ax = plt.subplots(figsize=(6.4, height))
    for i, agent in enumerate(agents):
        est, style = profiles[agent], styles[agent]
        lw = max(1.2, 3.0 - 0.5 * i)  # the first drawn widest, so one exactly under another still shows at its edges
        ax.step(taus, est.point, where="post", color=style.color, linestyle=style.linestyle, lw=lw,
                marker=style.marker, ms=5, markevery=((2 * i) % 10, 10), zorder=3 + i / 10, label=agent)
        if seeds.get(agent, 0) >= MIN_SEEDS_FOR_INTERVAL:
            ax.fill_between(taus, est.lower, est.upper, step="post", color=style.color, alpha=0.15, lw=0)
    ax.set_xlabel(r"success rate $\tau$")
    ax.set_ylabel(r"fraction of runs with success $> \tau$")
    ax.set_ylim(-0.04, 1.04)
    ax.grid(alpha=0.3)
    bottom = _legend(fig, styles, height)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def probability_of_improvement(pairs: Mapping[tuple[str, str], Estimate], path: str,
                               seeds: Mapping[str, int]) -> None:
    """P(X > Y) with 95% CIs, one row per pair of agents, each labelled above its row (long agent names
    take the figure's width, not the axes'). The interval is drawn where both agents have at least two seeds."""
    n = len(pairs)
    fig, ax = plt.subplots(figsize=(6.4, 1.3 + 0.62 * n))
    label_at = blended_transform_factory(ax.transAxes, ax.transData)
    for i, ((x, y), est) in enumerate(pairs.items()):
        if min(seeds.get(x, 0), seeds.get(y, 0)) >= MIN_SEEDS_FOR_INTERVAL:
            ax.plot([est.lower, est.upper], [i, i], color="tab:blue", lw=6, alpha=0.45, solid_capstyle="butt")
        ax.plot([est.point], [i], "o", color="tab:blue")
        ax.text(0.01, i - 0.28, f"P({x} > {y})   seeds: {seeds.get(x, 0)} vs {seeds.get(y, 0)}",
                transform=label_at, fontsize=9, va="bottom")
    ax.axvline(0.5, color="gray", ls="--", lw=1)
    ax.set_yticks([])
    ax.set_ylim(n - 0.5, -0.75)
    ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel("probability of improvement P(X > Y), final success")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
