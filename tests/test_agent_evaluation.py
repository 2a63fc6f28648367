"""Meta-test summaries: the paired episode-2-over-episode-1 gain and its interval."""
import numpy as np
import pytest

from meld_agent.evaluation import TrialResult, episode_gain, summarize, validation_key


def trial(*returns, task=0):
    return TrialResult(task, list(returns), [0.0] * len(returns), [False] * len(returns))


def test_gain_is_paired_within_trials():
    # trial returns spread 0..90, yet every second episode beats its first by exactly 1 or 2:
    # the means of the two episodes overlap widely, the paired gain does not
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 90, 40)
    results = [trial(b, b + 1 + (i % 2), task=i % 10) for i, b in enumerate(base)]
    mean, low, high = episode_gain(results)
    assert mean == pytest.approx(1.5)
    assert 1.0 <= low < 1.5 < high <= 2.0


def test_gain_interval_covers_zero_when_episodes_tie_on_average():
    results = [trial(5.0, 5.0 + d) for d in (-3, 3, -1, 1, -2, 2, 0, -4, 4, 0)]
    mean, low, high = episode_gain(results)
    assert mean == 0.0 and low < 0.0 < high


def test_gain_uses_the_last_and_first_episode_and_is_reproducible():
    results = [trial(1.0, 9.0, 4.0), trial(2.0, 0.0, 3.0), trial(0.0, 0.0, 2.0)]
    mean, *_ = episode_gain(results)
    assert mean == pytest.approx((3 + 1 + 2) / 3)
    assert episode_gain(results, seed=3) == episode_gain(results, seed=3)


def test_constant_gain_has_a_zero_width_interval():
    assert episode_gain([trial(1.0, 3.0)] * 4) == (2.0, 2.0, 2.0)


def test_gain_of_single_episode_trials_is_a_clear_error():
    with pytest.raises(ValueError, match=r"2 or more episodes.*\[1\]"):
        episode_gain([trial(1.0), trial(2.0)])
    with pytest.raises(ValueError, match="at least one trial"):
        episode_gain([])


def test_summarize_reports_the_gain_only_for_multi_episode_trials():
    two = summarize([trial(1.0, 4.0), trial(2.0, 3.0), trial(0.0, 5.0)])
    assert two["eval/return_gain"] == pytest.approx(3.0)
    assert two["eval/return_gain_low"] <= 3.0 <= two["eval/return_gain_high"]
    assert two["eval/return_ep2"] - two["eval/return_ep1"] == pytest.approx(two["eval/return_gain"])
    one = summarize([trial(1.0), trial(2.0)])
    assert not any(k.startswith("eval/return_gain") for k in one)


def test_validation_key_ranks_by_success_floor_then_gain_lower_bound():
    def summary(success, *trials):
        results = [TrialResult(0, list(r), [0.0] * len(r), [success] * len(r)) for r in trials]
        return summarize(results)
    steady = summary(True, (1.0, 4.0), (2.0, 3.0), (0.0, 5.0))  # gain +3, interval above 0
    noisy = summary(True, (0.0, 9.0), (5.0, 1.0), (0.0, 8.0))  # larger mean gain, interval reaching below 0
    failing = summary(False, (0.0, 9.0), (0.0, 9.0))  # the largest gain, but no success
    candidates = {"steady": steady, "noisy": noisy, "failing": failing}
    assert noisy["eval/return_gain"] > steady["eval/return_gain"]
    assert max(candidates, key=lambda k: validation_key(candidates[k], 0.5)) == "steady"
    assert max(candidates, key=lambda k: validation_key(candidates[k], 0.0)) == "failing"
    single = {"a": summary(True, (1.0,), (3.0,)), "b": summary(True, (4.0,), (2.0,))}
    assert max(single, key=lambda k: validation_key(single[k], 0.5)) == "b"  # one-episode trials: the mean return
