"""The defaults (and the extensions the Nav2D learning test uses) train exactly as recorded: a short MELD run's
per-iteration losses against ``tests/data/pinned_losses.json``.

Two runs on Nav2D with state observations, small batches, 480 env steps and appendix C's stage switch at 240 (stage 1:
single-episode trials; stage 2: its random trials, pre-training with stage 1's episodes mixed in, one iteration): the
meld/Nav2D-v0 preset as it is, and the same with the learning test's extensions on. A change to the paper's algorithm,
to an extension, to the replay's sampling or to an RNG's draws shows here as a changed loss.

The numbers are pinned per CPU type (vendor and the instruction-set extensions that pick the math kernels,
``leaderboards.runner.cpu_type``): on one type they are the same to the last bit, but other CPUs' float summation
orders compound over the run's updates (up to ~1% apart at 480 steps between an AMD EPYC and an Intel Xeon). On a CPU
type with its own pinned set the test holds the losses to 1e-5; on another it holds them to the first set within 5%,
which still catches a changed algorithm or RNG draw but not a small numerical one. ``python tests/test_agent_pinned.py``
pins this machine's CPU type (after an intended change, on each CPU type the file holds).
"""
import json
import os

import pytest
import torch

from leaderboards.runner import cpu_type
from meld_agent import MELD, make_config

SMALL = {"obs_mode": "state", "train__initial_random_trials": 4, "train__collect_tasks": 2, "train__tasks_per_update": 2,
         "train__model_batch_steps": 82, "sac__batch_size": 64, "train__stage1_env_steps": 240}
EXTENSIONS = {"extensions__stage2_sparse_critic": 0.2, "extensions__ac_batch_trials": 4,
              "extensions__random_opening_fraction": 0.5, "extensions__random_opening_hold": True,
              "extensions__random_opening_steps": 6, "extensions__random_opening_until_reward": True,
              "extensions__n_step": 6, "extensions__opening_fraction": 0.5, "extensions__opening_steps": 6}
PINNED = os.path.join(os.path.dirname(__file__), "data", "pinned_losses.json")
RUNS = {"defaults": {}, "extensions": EXTENSIONS}


def _losses(overrides: dict) -> list[dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        agent = MELD(make_config("meld/Nav2D-v0", **SMALL, **overrides))
        rows: list[dict] = []
        agent.logger = lambda metrics, step: rows.append(
            {"step": step, **{k: v for k, v in sorted(metrics.items()) if k.startswith("losses/")}})
        agent.meta_train(steps=480)
        agent.close()
        return rows
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_short_run_gives_the_pinned_losses(name):
    with open(PINNED) as f:
        by_cpu = json.load(f)
    exact = cpu_type() in by_cpu
    pinned = by_cpu[cpu_type() if exact else next(iter(by_cpu))][name]
    rel, abs_ = (1e-5, 1e-6) if exact else (5e-2, 1e-3)
    rows = _losses(RUNS[name])
    assert [r["step"] for r in rows] == [r["step"] for r in pinned]  # pre-training, iterations, the stage switch
    for got, want in zip(rows, pinned):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=rel, abs=abs_), f"{name}, {want['step']} steps, {key}"


if __name__ == "__main__":  # pin this CPU type's losses
    with open(PINNED) as f:
        by_cpu = json.load(f)
    by_cpu[cpu_type()] = {name: _losses(overrides) for name, overrides in RUNS.items()}
    with open(PINNED, "w") as f:
        json.dump(by_cpu, f, indent=1)
        f.write("\n")
    print(f"pinned {cpu_type()!r} in {PINNED}")
