"""benchmarks/protocol_cost.py: a run that finishes within its time is measured (its evaluations counted at the
preset's number), a run that does not is projected from its last chunk, and bad arguments are refused by name."""
import pytest

import benchmark_scripts


@pytest.fixture(scope="module")
def cost():
    return benchmark_scripts.load("protocol_cost")


def test_a_finished_run_is_measured_and_an_unfinished_one_projected(cost):
    done = cost.measure("random", "meld/Nav2D-v0", "smoke", chunk=200, budget_s=60, log=lambda m: None)
    assert done["steps"] == done["budget"] and done["how"].startswith("measured")
    assert done["total_s"] == pytest.approx(done["train_s"] + done["eval_points"] * done["eval_s"])
    assert [s for s, _ in done["chunks"]] == list(range(200, done["budget"] + 1, 200))
    part = cost.measure("random", "meld/Nav2D-v0", "state", chunk=500, budget_s=0.01, log=lambda m: None)
    assert part["steps"] == 500 < part["budget"] and part["how"].startswith("projected")
    (_, seconds), = part["chunks"]
    assert part["total_s"] == pytest.approx(part["train_s"] + (part["budget"] - 500) * seconds / 500
                                            + 11 * part["eval_s"])


def test_bad_arguments_name_the_value(cost, capsys):
    with pytest.raises(SystemExit):
        cost.main(["--preset", "nope"])
    assert "'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cost.main(["--envs", "meld/Nope-v0"])
    assert "meld/Nope-v0" in capsys.readouterr().err
