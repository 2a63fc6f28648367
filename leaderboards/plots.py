"""Report figures (matplotlib, headless): learning curves with CI bands, adaptation across the
episodes of a trial, performance profiles and probability of improvement.

Every function takes plain data (see ``leaderboards.report``) and writes one PNG.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from meld_envs.stats import Estimate  # noqa: E402

# a curve: x (env steps) float [points], and an Estimate of arrays float [points]
Curve = tuple[np.ndarray, Estimate]


def _colors(agents: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {a: cmap(i % 10) for i, a in enumerate(agents)}


def _grid(n: int) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def learning_curves(curves: Mapping[str, Mapping[str, Curve]], path: str, ylabel: str,
                    ylim: tuple[float, float] | None = None) -> None:
    """One panel per environment (the paper's Figure 5 layout): ``curves[env][agent]``."""
    envs = list(curves)
    agents = sorted({a for per_env in curves.values() for a in per_env})
    colors = _colors(agents)
    fig, axes = _grid(len(envs))
    for ax, env in zip(axes, envs):
        for agent, (x, est) in curves[env].items():
            ax.plot(x, est.point, color=colors[agent], label=agent, lw=1.8)
            ax.fill_between(x, est.lower, est.upper, color=colors[agent], alpha=0.2, lw=0)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_title(env.removeprefix("meld/"), fontsize=10)
        ax.set_xlabel("meta-training env steps")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(agents), 5), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def adaptation(per_episode: Mapping[str, Mapping[str, Estimate]], path: str) -> None:
    """Return in each episode of a meta-test trial at the final evaluation:
    ``per_episode[env][agent]`` holds arrays float [episodes_per_trial]."""
    envs = list(per_episode)
    agents = sorted({a for per_env in per_episode.values() for a in per_env})
    colors = _colors(agents)
    fig, axes = _grid(len(envs))
    width = 0.8 / max(len(agents), 1)
    for ax, env in zip(axes, envs):
        for i, agent in enumerate(agents):
            if agent not in per_episode[env]:
                continue
            est = per_episode[env][agent]
            x = np.arange(1, len(est.point) + 1) + (i - (len(agents) - 1) / 2) * width
            err = np.vstack([est.point - est.lower, est.upper - est.point])
            ax.bar(x, est.point, width=width, color=colors[agent], label=agent, yerr=err, capsize=3)
        ax.set_title(env.removeprefix("meld/"), fontsize=10)
        ax.set_xlabel("episode of the trial")
        ax.set_xticks(range(1, 1 + max(len(e.point) for e in per_episode[env].values())))
        ax.set_ylabel("return (final evaluation)")
        ax.grid(alpha=0.3, axis="y")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(agents), 5), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def performance_profiles(taus: np.ndarray, profiles: Mapping[str, Estimate], path: str) -> None:
    """Fraction of runs with final success above tau, with pointwise 95% CI bands."""
    colors = _colors(sorted(profiles))
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for agent, est in profiles.items():
        ax.step(taus, est.point, where="post", color=colors[agent], label=agent)
        ax.fill_between(taus, est.lower, est.upper, step="post", color=colors[agent], alpha=0.2, lw=0)
    ax.set_xlabel(r"success rate $\tau$")
    ax.set_ylabel(r"fraction of runs with success $> \tau$")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def probability_of_improvement(pairs: Mapping[tuple[str, str], Estimate], path: str) -> None:
    """P(X > Y) with 95% CIs, one row per pair of agents."""
    labels = [f"P({x} > {y})" for x, y in pairs]
    fig, ax = plt.subplots(figsize=(5.5, 0.5 + 0.45 * len(pairs)))
    for i, est in enumerate(pairs.values()):
        ax.plot([est.lower, est.upper], [i, i], color="tab:blue", lw=6, alpha=0.5)
        ax.plot([est.point], [i], "o", color="tab:blue")
    ax.axvline(0.5, color="gray", ls="--", lw=1)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of improvement (final success)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
