"""Learning curves of MELD runs: held-out success, return per episode of the trial and the episode gain vs env steps.

    python -m meld_agent.plots runs/nav runs/nav_seed1 --out nav_curve.png [--random 0.0] [--random-return 0.4 0.3]
"""
from __future__ import annotations

import argparse
import os
import sys

from meld_agent.logger import read_metrics

_EPISODE_STYLES = ["-", "--", ":"]  # line style of episode k of the trial (cycled)


def curve_rows(run_dir: str) -> list[dict[str, float]]:
    """One row per evaluation of a run: env_step and every ``eval/`` metric."""
    metrics = read_metrics(run_dir)
    steps = sorted({s for tag, points in metrics.items() if tag.startswith("eval/") for s, _ in points})
    rows = []
    for step in steps:
        row: dict[str, float] = {"env_step": step}
        for tag, points in metrics.items():
            if tag.startswith("eval/"):
                values = [v for s, v in points if s == step]
                if values:
                    row[tag] = values[-1]
        rows.append(row)
    return rows


def plot_learning_curves(run_dirs: list[str], out: str, random_success: float | None = None, title: str = "",
                         random_returns: list[float] | None = None) -> None:
    """Test success (left) and test return per trial episode (middle) vs env steps, one line per run;
    the random policy's success and per-episode returns (``random_returns[k]`` for episode k+1) as
    horizontal lines when given. Runs of multi-episode trials add a third panel: the paired gain of the
    last episode over the first with its 95% interval (``evaluation.episode_gain``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_rows = {run: curve_rows(run) for run in run_dirs}
    with_gain = any("eval/return_gain" in r for rows in all_rows.values() for r in rows)
    fig, axes = plt.subplots(1, 3 if with_gain else 2, figsize=(13.5 if with_gain else 9, 3.4))
    ax_s, ax_r = axes[0], axes[1]
    for i, run in enumerate(run_dirs):
        rows = all_rows[run]
        steps = [r["env_step"] for r in rows]
        name = os.path.basename(os.path.normpath(run))
        ax_s.plot(steps, [r.get("eval/success", float("nan")) for r in rows], marker="o", color=f"C{i}", label=name)
        episodes = sorted({k for r in rows for k in r if k.startswith("eval/return_ep")})
        for j, key in enumerate(episodes):
            ax_r.plot(steps, [r.get(key, float("nan")) for r in rows], marker="o", color=f"C{i}", ls=_EPISODE_STYLES[j % len(_EPISODE_STYLES)],
                      label=f"{name} ep{key[-1]}")
        if with_gain:
            gain = [(r["env_step"], r["eval/return_gain"], r["eval/return_gain_low"], r["eval/return_gain_high"])
                    for r in rows if "eval/return_gain" in r]
            if gain:
                g_steps, g_mean, g_low, g_high = zip(*gain)
                axes[2].plot(g_steps, g_mean, marker="o", color=f"C{i}", label=name)
                axes[2].fill_between(g_steps, g_low, g_high, color=f"C{i}", alpha=0.2)
    if random_success is not None:
        ax_s.axhline(random_success, color="k", ls=":", label="random policy")
    for j, value in enumerate(random_returns or []):
        ax_r.axhline(value, color="k", ls=_EPISODE_STYLES[j % len(_EPISODE_STYLES)], lw=0.8, alpha=0.6, label=f"random ep{j + 1}")
    ax_s.set_xlabel("env steps")
    ax_s.set_ylabel("test success (last episode)")
    ax_s.set_ylim(-0.02, 1.02)
    ax_r.set_xlabel("env steps")
    ax_r.set_ylabel("test return per episode")
    ax_s.legend(fontsize=7)
    ax_r.legend(fontsize=7)
    if with_gain:
        axes[2].axhline(0.0, color="k", lw=0.8)
        axes[2].set_xlabel("env steps")
        axes[2].set_ylabel("last minus first episode return")
        axes[2].set_title("paired gain, 95% interval", fontsize=9)
        axes[2].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m meld_agent.plots", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--out", required=True, help="image file to write")
    p.add_argument("--random", type=float, default=None, help="random-policy success, drawn as a line")
    p.add_argument("--random-return", type=float, nargs="+", default=None, metavar="R",
                   help="random-policy test return of episode 1, 2, ... of the trial, drawn as lines")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    plot_learning_curves(args.runs, args.out, args.random, args.title, args.random_return)
    for run in args.runs:
        print(run)
        for row in curve_rows(run):
            print("  " + ", ".join(f"{k}={v:.3g}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
