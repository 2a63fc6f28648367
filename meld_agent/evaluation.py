"""Summaries of meta-test trials (Algorithm 2) and the Figure 6 view of the belief.

The trials themselves are run by ``meld_envs.interface.run_trials``, the protocol's own trial runner, so a number
here is the leaderboard's number on the same tasks and reset seeds.
"""
from __future__ import annotations

import numpy as np

from meld_envs import stats
from meld_envs.interface import TrialResult


def summarize(results: list[TrialResult]) -> dict[str, float]:
    """Means over trials: ``eval/return``, ``eval/success`` and per-episode ``eval/return_ep{k}``,
    ``eval/success_ep{k}`` (k = 1..E; the last episode's success is the trial's); for trials of 2 or more
    episodes also ``eval/return_gain`` with its 95% interval ``eval/return_gain_low`` / ``_high`` (``episode_gain``)."""
    returns = np.array([r.episode_returns for r in results])  # [trials, E]
    success = np.array([r.episode_success for r in results], dtype=float)
    shaped = np.array([r.episode_shaped_returns for r in results])
    out = {"eval/return": float(returns.sum(1).mean()), "eval/success": float(success[:, -1].mean()),
           "eval/shaped_return": float(shaped.sum(1).mean())}
    for k in range(returns.shape[1]):
        out[f"eval/return_ep{k + 1}"] = float(returns[:, k].mean())
        out[f"eval/success_ep{k + 1}"] = float(success[:, k].mean())
    if returns.shape[1] > 1:
        out["eval/return_gain"], out["eval/return_gain_low"], out["eval/return_gain_high"] = _mean_interval(returns[:, -1] - returns[:, 0])
    return out


def episode_gain(results: list[TrialResult], confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """How much the last episode of a trial beats its first, paired within trials: the mean of
    ``return[last] - return[first]`` over trials and its bootstrap percentile interval (``meld_envs.stats``,
    10,000 resamples of the trials). Returns ``(mean, lower, upper)``. The evidence a multi-episode trial
    asks for (the paper's Figure 15): a lower bound above 0 says episode 2 uses what episode 1 found,
    beyond the trial-to-trial noise that a comparison of two means over a few trials hides."""
    if not results:
        raise ValueError("episode_gain needs at least one trial; got none")
    episodes = {len(r.episode_returns) for r in results}
    if min(episodes) < 2:
        raise ValueError(f"episode_gain needs trials of 2 or more episodes; got trials of {sorted(episodes)} episode(s)")
    return _mean_interval(np.array([r.episode_returns[-1] - r.episode_returns[0] for r in results], dtype=float), confidence, seed)


def validation_key(summary: dict[str, float], min_success: float) -> tuple[bool, float]:
    """How a checkpoint ranks when one is chosen by its ``summarize`` on *training* tasks, so that the held-out tasks
    stay unseen until the one final evaluation (early stopping on validation data). First whether its success reaches
    ``min_success``, then, for trials of 2 or more episodes, the lower bound of the episode gain's 95% interval (the
    evidence that the last episode uses the earlier ones), else the mean return. Larger is better: ``max(summaries,
    key=...)``."""
    return summary["eval/success"] >= min_success, summary.get("eval/return_gain_low", summary["eval/return"])


def _mean_interval(values: np.ndarray, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(mean, lower, upper)``: the mean of ``values`` over trials and its percentile bootstrap interval
    (``meld_envs.stats``, 10,000 resamples)."""
    estimate = stats.interval_estimate(values, stats.mean, reps=10_000, confidence=confidence, seed=seed)
    return float(estimate.point), float(estimate.lower), float(estimate.upper)


def plot_reward_belief(result: TrialResult, path: str, title: str = "") -> None:
    """The paper's Figure 6 view of the belief: predicted reward mean +- std along a test trial,
    against the reward the agent saw and the (hidden) shaped reward."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = np.array(result.predictions) if result.predictions else np.zeros((0, 2))
    steps = np.arange(len(pred))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if len(pred):
        ax.plot(steps, pred[:, 0], color="C0", label="predicted reward (mean)")
        ax.fill_between(steps, pred[:, 0] - pred[:, 1], pred[:, 0] + pred[:, 1], color="C0", alpha=0.25, label="± std")
    # act() at step t sees the reward of step t-1: align rewards with the belief that read them
    seen = np.concatenate([[0.0], result.rewards[:-1]])
    ax.step(np.arange(len(seen)), seen, where="post", color="k", lw=1, label="reward seen")
    ax.plot(np.arange(len(seen)), np.concatenate([[0.0], result.shaped_rewards[:-1]]), color="C2", lw=1, ls="--", label="shaped reward (hidden)")
    ax.set_xlabel("step in trial")
    ax.set_ylabel("reward")
    ax.set_title(title or f"test task {result.task}: belief over reward")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
