"""Aggregates and stratified bootstrap intervals against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from meld_envs import stats


def test_iqm_and_mean_by_hand():
    scores = np.arange(1, 9, dtype=float).reshape(4, 2)  # 1..8
    assert stats.iqm(scores) == pytest.approx(4.5)  # mean of the middle four: 3, 4, 5, 6
    assert stats.mean(scores) == pytest.approx(4.5)
    assert stats.iqm(np.array([[0.0], [0.0], [0.0], [100.0]])) == pytest.approx(0.0)  # the outlier is trimmed


def test_bootstrap_interval_of_one_task_by_hand():
    """Runs [0, 0, 1]: a resample's mean is K/3 with K ~ Binomial(3, 1/3), so
    P(0) = 8/27 = .296, P(1/3) = 12/27 = .444, P(2/3) = 6/27 = .222, P(1) = 1/27 = .037.
    Cumulative: .296, .741, .963, 1. The 95% interval's 2.5th and 97.5th percentiles fall on
    0 and 1; the 90% interval's 95th percentile falls on 2/3 (.741 < .95 <= .963)."""
    scores = np.array([[0.0], [0.0], [1.0]])
    e95 = stats.interval_estimate(scores, stats.mean, reps=20_000, confidence=0.95, seed=0)
    assert e95.point == pytest.approx(1 / 3)
    assert (e95.lower, e95.upper) == pytest.approx((0.0, 1.0))
    e90 = stats.interval_estimate(scores, stats.mean, reps=20_000, confidence=0.90, seed=0)
    assert (e90.lower, e90.upper) == pytest.approx((0.0, 2 / 3))


def test_bootstrap_is_stratified_by_task():
    """Each task's runs agree, so every stratified resample has the same mean: a zero-width interval.
    (Resampling the pooled scores instead would mix the tasks and give a wide interval.)"""
    scores = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    e = stats.interval_estimate(scores, stats.mean, reps=500, seed=3)
    assert e.point == e.lower == e.upper == 0.5
    resamples = stats.stratified_resamples(scores, 50, np.random.default_rng(0))
    assert resamples.shape == (50, 3, 2)
    assert np.all(resamples[:, :, 0] == 0) and np.all(resamples[:, :, 1] == 1)


def test_intervals_are_seeded_and_methods_independent():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(size=(5, 4)), rng.uniform(size=(5, 4))
    one = stats.interval_estimates({"a": a}, stats.iqm, reps=300, seed=7)
    two = stats.interval_estimates({"b": b, "a": a}, stats.iqm, reps=300, seed=7)
    assert one["a"] == two["a"]  # adding a method does not move another's interval
    other = stats.interval_estimates({"a": a}, stats.iqm, reps=300, seed=8)
    assert other["a"].point == one["a"].point and other["a"][1:] != one["a"][1:]
    assert one["a"].lower <= one["a"].point <= one["a"].upper


def test_probability_of_improvement_by_hand():
    x = np.array([[1.0, 0.5], [3.0, 0.5]])
    y = np.array([[2.0, 0.5], [0.0, 0.5]])
    # task 0: pairs (1>2 no, 1>0 yes, 3>2 yes, 3>0 yes) = 3/4; task 1: all ties = 1/2; average 5/8
    assert stats.probability_of_improvement(x, y) == pytest.approx(5 / 8)
    assert stats.probability_of_improvement(y, x) == pytest.approx(3 / 8)
    e = stats.probability_of_improvement_estimate(x, y, reps=500, seed=0)
    assert e.point == pytest.approx(5 / 8) and 0 <= e.lower <= e.point <= e.upper <= 1
    with pytest.raises(ValueError, match="same tasks"):
        stats.probability_of_improvement(x, y[:, :1])


def test_performance_profile_by_hand():
    scores = np.array([[0.0, 0.5], [1.0, 0.25]])
    assert stats.performance_profile(scores, [0.0, 0.3, 0.9, 1.0]).tolist() == [0.75, 0.5, 0.25, 0.0]
    bands = stats.performance_profiles({"m": scores}, [0.0, 0.3], reps=200)
    assert bands["m"].point.tolist() == [0.75, 0.5] and bands["m"].lower.shape == (2,)


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        stats.interval_estimate(np.array([[np.nan]]), stats.mean)
    with pytest.raises(ValueError, match="confidence"):
        stats.interval_estimate(np.ones((2, 2)), stats.mean, confidence=95)
