"""The published reference results reproduce (slow): committed reference runs of the state track (MELD on Nav2D seed
0, PEARL on Nav2D seed 1) are replayed from their header's agent, config overrides, seed and thread count to their
second evaluation point (10,000 env steps of meta-training), and every number of their first two evaluation points
(per test task and trial: success and return of each episode, exploration episodes' returns) must equal the committed
ones.

Float sums depend on the numerical libraries and on the CPU (its vendor and instruction-set extensions pick the
kernels of MKL, oneDNN, torch and numpy), so an exact replay needs the library versions and the CPU the header records
(``host.libraries``, ``host.cpu``); elsewhere the test is skipped, naming the difference. 5-8 minutes a run on one
core.
"""
from __future__ import annotations

import dataclasses
import os

import pytest

from leaderboards import protocol, results, runner

REFERENCE = os.path.join(os.path.dirname(__file__), os.pardir, "leaderboards", "reference", "state")
# The committed headers predate ``host.cpu``; these runs were made on the 2-CPU AMD EPYC with AVX-512 BF16 (Zen 4)
# that BENCHMARKS.md names for the runs of that day and on an Intel Xeon with AVX-512 FP16 and AMX. On the Xeon, with
# the same libraries, the MELD run gives other numbers from its first evaluation after training on
# (docs/reference_results.md). Each run's CPU type as a ``runner.cpu_type`` string:
RUNS = {"meld/meld__Nav2D-v0/seed_0.jsonl": "AuthenticAMD avx2 fma avx512f avx512_vnni avx512_bf16",
        "pearl/meld__Nav2D-v0/seed_1.jsonl":
            "GenuineIntel avx2 fma avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_tile"}
POINTS = 2  # evaluation points 0 and 1
COMPARED = ("index", "budget_steps", "env_steps", "eval_env_steps", "exploration_env_steps", "success_rate",
            "success_per_episode", "return_per_episode", "per_task")


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("run", sorted(RUNS))
def test_a_reference_run_replays_to_its_committed_evaluation_points(run, tmp_path, monkeypatch):
    records = results.read_records(os.path.join(REFERENCE, run))
    header = records[0]
    here = runner.library_versions()
    recorded = header["host"]["libraries"]
    differ = {k: (v, here.get(k)) for k, v in recorded.items() if here.get(k) != v}
    if differ:
        pytest.skip(f"the reference run was made with other library versions (recorded, here): {differ}")
    made_on = header["host"].get("cpu")
    made_on = RUNS[run] if made_on is None else runner.cpu_type(made_on)  # RUNS: for headers older than host.cpu
    cpu = runner.cpu_type()
    if cpu != made_on:
        pytest.skip(f"the reference run was made on another CPU ({made_on}; here {cpu}): its numbers replay only "
                    "statistically here")
    full = protocol.preset(header["preset"])
    proto = full.for_env(header["env_id"])
    first = proto.eval_steps[:POINTS]
    # the same preset up to the second evaluation point: the same chunk of meta-training before it
    monkeypatch.setitem(protocol.PRESETS, header["preset"], dataclasses.replace(
        full, budget_steps=first[-1], eval_points=POINTS - 1))
    assert protocol.preset(header["preset"]).for_env(header["env_id"]).eval_steps == first
    agent = header["agent"]
    spec = runner.RunSpec(agent=agent["spec"], env_id=header["env_id"], seed=header["seed"], preset=header["preset"],
                          results_dir=str(tmp_path), overrides=tuple(agent["overrides"].items()),
                          agent_name=agent["name"], threads=header["host"]["threads"])
    runner.run(spec, log=lambda m: None)
    replayed = [r for r in results.read_records(spec.path) if r["record"] == "eval"]
    committed = [r for r in records if r["record"] == "eval"][:POINTS]
    assert results.read_records(spec.path)[0]["agent"]["config"] == agent["config"]
    for got, want in zip(replayed, committed, strict=True):
        assert {k: got.get(k) for k in COMPARED} == {k: want.get(k) for k in COMPARED}, f"evaluation point {want['index']}"
