"""Aggregate statistics with stratified bootstrap confidence intervals (Agarwal et al. 2021, rliable).

Pure functions over score matrices ``float [runs, tasks]`` (runs = seeds, tasks = environments or
test tasks), or dicts ``{method: matrix}``. Every interval function returns point estimates and
intervals, and takes a ``seed``: the same inputs and seed give the same interval everywhere.

Stratified bootstrap: each resample draws, for every task separately, ``runs`` runs with
replacement from that task's runs; the aggregate of the resampled matrix is one bootstrap
statistic. Intervals are percentile intervals of ``reps`` statistics. Methods are resampled with
independent generators seeded from ``seed`` alone, so adding a method changes no other's interval.

The one bootstrap of the project: the leaderboard's reports and the agents' own evaluations (the episode-2 gain
of ``meld_agent.evaluation``) use it alike.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import scipy.stats

Aggregate = Callable[[np.ndarray], "float | np.ndarray"]


class Estimate(NamedTuple):
    """A point estimate and its confidence interval (each a float or an array of one shape)."""

    point: float | np.ndarray
    lower: float | np.ndarray
    upper: float | np.ndarray


# -- aggregates: float [runs, tasks] -> float ------------------------------------------------------
def mean(scores: np.ndarray) -> float:
    """Mean over runs and tasks."""
    return float(np.mean(scores))


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of all run x task scores (25% trimmed each side)."""
    return float(scipy.stats.trim_mean(np.asarray(scores, dtype=float).ravel(), proportiontocut=0.25))


def median(scores: np.ndarray) -> float:
    return float(np.median(scores))


# the same aggregates over float [reps, runs, tasks] at once (the bootstrap's hot loop)
_VECTORIZED: dict[Callable, Callable[[np.ndarray], np.ndarray]] = {
    mean: lambda r: r.mean(axis=(1, 2)),
    iqm: lambda r: scipy.stats.trim_mean(r.reshape(len(r), -1), proportiontocut=0.25, axis=1),
    median: lambda r: np.median(r.reshape(len(r), -1), axis=1),
}


def _as_matrix(scores: np.ndarray) -> np.ndarray:
    a = np.asarray(scores, dtype=float)
    if a.ndim == 1:
        a = a[:, None]  # runs of one task
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"scores must be a [runs, tasks] matrix; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("scores contain NaN or infinite values")
    return a


def stratified_resamples(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` stratified bootstrap resamples of ``scores [runs, tasks]``: float [reps, runs, tasks]."""
    a = _as_matrix(scores)
    runs, tasks = a.shape
    idx = rng.integers(0, runs, size=(reps, runs, tasks))  # per task, its own draw of runs
    return np.take_along_axis(np.broadcast_to(a, (reps, runs, tasks)), idx, axis=1)


def _percentiles(stats: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: must be in (0, 1), e.g. 0.95")
    tail = 100 * (1 - confidence) / 2
    lower, upper = np.percentile(stats, [tail, 100 - tail], axis=0)
    return lower, upper


def interval_estimate(scores: np.ndarray, aggregate: Aggregate, *, reps: int = 2000,
                      confidence: float = 0.95, seed: int = 0) -> Estimate:
    """``aggregate(scores)`` and its stratified-bootstrap percentile interval."""
    a = _as_matrix(scores)
    rng = np.random.default_rng(seed)
    resamples = stratified_resamples(a, reps, rng)
    vectorized = _VECTORIZED.get(aggregate)
    stats = vectorized(resamples) if vectorized else np.array([aggregate(r) for r in resamples])
    lower, upper = _percentiles(stats, confidence)
    point = aggregate(a)
    return Estimate(point, _scalar(lower), _scalar(upper))


def interval_estimates(score_dict: Mapping[str, np.ndarray], aggregate: Aggregate, *, reps: int = 2000,
                       confidence: float = 0.95, seed: int = 0) -> dict[str, Estimate]:
    """``interval_estimate`` for each method of ``{method: float [runs, tasks]}``."""
    return {m: interval_estimate(s, aggregate, reps=reps, confidence=confidence, seed=seed)
            for m, s in score_dict.items()}


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


# -- performance profiles -----------------------------------------------------------------------
def performance_profile(scores: np.ndarray, taus: Sequence[float]) -> np.ndarray:
    """Fraction of run x task scores above each threshold: float [len(taus)]."""
    a = np.asarray(scores, dtype=float).ravel()
    return np.array([np.mean(a > tau) for tau in taus])


def performance_profiles(score_dict: Mapping[str, np.ndarray], taus: Sequence[float], *, reps: int = 2000,
                         confidence: float = 0.95, seed: int = 0) -> dict[str, Estimate]:
    """Run-score performance profiles with pointwise stratified-bootstrap bands, per method:
    each ``Estimate`` holds arrays float [len(taus)]."""
    taus = np.asarray(taus, dtype=float)
    return interval_estimates(score_dict, lambda s: performance_profile(s, taus), reps=reps,
                              confidence=confidence, seed=seed)


# -- probability of improvement -----------------------------------------------------------------
def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y): for each task, the probability that a random run of X scores above a random run of
    Y (ties count half; the Mann-Whitney U statistic over runs_x * runs_y), averaged over tasks.
    ``x``: float [runs_x, tasks], ``y``: float [runs_y, tasks]."""
    x, y = _as_matrix(x), _as_matrix(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must cover the same tasks; got {x.shape[1]} and {y.shape[1]} tasks")
    greater = (x[:, None, :] > y[None, :, :]).mean(axis=(0, 1))
    ties = (x[:, None, :] == y[None, :, :]).mean(axis=(0, 1))
    return float(np.mean(greater + 0.5 * ties))


def probability_of_improvement_estimate(x: np.ndarray, y: np.ndarray, *, reps: int = 2000,
                                        confidence: float = 0.95, seed: int = 0) -> Estimate:
    """``probability_of_improvement(x, y)`` with an interval from resampling x's and y's runs,
    stratified by task, independently."""
    x, y = _as_matrix(x), _as_matrix(y)
    rx, ry = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    xs, ys = stratified_resamples(x, reps, rx), stratified_resamples(y, reps, ry)
    stats = np.array([probability_of_improvement(a, b) for a, b in zip(xs, ys)])
    lower, upper = _percentiles(stats, confidence)
    return Estimate(probability_of_improvement(x, y), float(lower), float(upper))
