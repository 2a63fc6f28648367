"""MELD's collection throughput: env steps/s of policy trials collected one at a time and ``train.collect_envs`` at a
time (meld_agent/collect.py), in this process or in worker processes.

    .venv/bin/python benchmarks/collection_throughput.py              # Nav2D state and Reacher pixels, ~1-2 min
    .venv/bin/python benchmarks/collection_throughput.py --quick      # fewer trials

Each configuration builds the env preset's agent (untrained networks, the preset's sizes), then times the collection
of the same policy trials (the agent's ``_collect_trials``, as ``meta_train`` calls it) after one warm-up group.
Torch runs on one thread; the worker processes of ``collect_async`` use as many cores as the machine gives them.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from meld_agent import MELD, TrainContext, make_config

CASES = [  # env, obs_mode, trials per measurement, configurations (collect_envs, collect_async, collect_exact)
    ("meld/Nav2D-v0", "state", 20, [(1, False, False), (10, False, False), (20, False, False), (10, False, True),
                                    (10, True, False)]),
    ("meld/Reacher-v0", "pixels", 8, [(1, False, False), (4, False, False), (8, False, False), (4, True, False)]),
]


def measure(env_id: str, obs_mode: str, trials: int, collect_envs: int, collect_async: bool, exact: bool) -> float:
    config = make_config(env_id, obs_mode=obs_mode, device="cpu", num_train_tasks=max(trials, 4),
                         capacity_frames_per_task=1000, collect_envs=collect_envs, collect_async=collect_async,
                         collect_exact=exact, two_stage=False)
    agent = MELD(config)
    ctx = TrainContext(agent.env_info, obs_mode, config.train.num_train_tasks)
    tasks = list(ctx.train_tasks)
    agent._ensure_replay(len(tasks))
    ctx.allow(10 ** 9)
    order = [i % len(tasks) for i in range(trials)]
    agent._collect_trials(ctx, tasks, order[:collect_envs], random=False)  # warm-up: envs made, workers started
    used = ctx.steps_used
    started = time.perf_counter()
    agent._collect_trials(ctx, tasks, order, random=False)
    rate = (ctx.steps_used - used) / (time.perf_counter() - started)
    agent.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="half the trials")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"{len(os.sched_getaffinity(0))} usable; torch {torch.__version__}, one torch thread")
    print("| env (obs) | collect_envs | envs in | policy forward | env steps/s | x one at a time |")
    print("|---|---:|---|---|---:|---:|")
    for env_id, obs_mode, trials, configs in CASES:
        trials = max(2, trials // 2) if args.quick else trials
        base = None
        for n, asynchronous, exact in configs:
            rate = measure(env_id, obs_mode, trials, n, asynchronous, exact)
            base = base or rate
            forward = "one row" if n == 1 or exact else "batched"
            where = f"{n} worker processes" if asynchronous else "this process"
            print(f"| {env_id} ({obs_mode}) | {n} | {where} | {forward} | {rate:,.0f} | {rate / base:.2f} |", flush=True)


if __name__ == "__main__":
    main()
