"""The published reference results reproduce (slow): one committed reference run (MELD on Nav2D, state track, seed 0)
is replayed from its header's agent, config overrides, seed and thread count to its second evaluation point (10,000
env steps of meta-training), and every number of its first two evaluation points (per test task and trial: success
and return of each episode) must equal the committed ones.

Float sums depend on the numerical libraries and the CPU's instruction set, so an exact replay needs the versions the
header records (``host.libraries``); with others the test is skipped, naming them. 5-8 minutes on one core.
"""
from __future__ import annotations

import dataclasses
import os

import pytest

from leaderboards import protocol, results, runner

REFERENCE = os.path.join(os.path.dirname(__file__), os.pardir, "leaderboards", "reference", "state", "meld",
                         "meld__Nav2D-v0", "seed_0.jsonl")
POINTS = 2  # evaluation points 0 and 1
COMPARED = ("index", "budget_steps", "env_steps", "eval_env_steps", "exploration_env_steps", "success_rate",
            "success_per_episode", "return_per_episode", "per_task")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_reference_run_replays_to_its_committed_evaluation_points(tmp_path, monkeypatch):
    records = results.read_records(REFERENCE)
    header = records[0]
    here = runner.library_versions()
    recorded = header["host"]["libraries"]
    differ = {k: (v, here.get(k)) for k, v in recorded.items() if here.get(k) != v}
    if differ:
        pytest.skip(f"the reference run was made with other library versions (recorded, here): {differ}")
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
