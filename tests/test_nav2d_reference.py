"""Nav2D supports the paper's two-episode behaviour (appendix D.1): a scripted policy that sweeps the
semicircle and remembers the goal across the episode boundary solves every held-out task and earns
more in episode 2; without the memory it does not; staying at the centre never succeeds."""
import pytest

import benchmark_scripts


@pytest.fixture(scope="module")
def table():
    return dict(benchmark_scripts.load("nav2d_reference").reference_table(trials=1))


def test_sweep_with_memory_solves_every_test_task_and_does_better_in_episode_2(table):
    sweep = table["sweep"]
    assert sweep["eval/success"] == 1.0
    assert sweep["eval/return_ep2"] > sweep["eval/return_ep1"] + 3.0


def test_memory_is_what_makes_episode_2_better(table):
    forgetful = table["sweep, no memory"]
    assert forgetful["eval/return_ep2"] == pytest.approx(forgetful["eval/return_ep1"], abs=1.0)
    assert table["sweep"]["discounted_shaped"] > forgetful["discounted_shaped"] + 2.0


def test_exploring_beats_the_centre_even_on_the_shaped_reward_the_critic_sees(table):
    assert table["centre"]["eval/success"] == 0.0
    assert table["sweep"]["discounted_shaped"] > table["centre"]["discounted_shaped"] + 5.0
    assert table["centre"]["discounted_shaped"] > table["random"]["discounted_shaped"]
