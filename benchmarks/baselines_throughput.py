"""Throughput of every agent on this machine: env-steps/s while collecting (policy forward + env
step, from pixels) and gradient updates/s, at each environment's preset config.

    python benchmarks/baselines_throughput.py --env meld/Nav2D-v0 meld/CheetahVel-v0 --threads 1

Collection is timed over whole trials of the agent's own meta-training loop (no updates in
between); updates over ``--updates`` gradient steps on a replay filled by that collection. RL²'s
"update" is one PPO minibatch gradient step (sb3's ``train`` over a collected rollout).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from typing import Any

import numpy as np
import torch

from meld_envs.interface import EnvInfo, TrainContext, env_info

AGENTS = ("meld", "slac", "pearl", "pearl-small", "rl2", "random")  # pearl-small: baselines.pearl.SMALL


def _make(name: str, spec: EnvInfo) -> Any:
    if name == "meld":
        from meld_agent import MELD

        return MELD(spec, seed=0)
    if name == "slac":
        from baselines.slac import SLAC

        return SLAC(spec, seed=0)
    if name in ("pearl", "pearl-small"):
        from baselines.pearl import PEARL, SMALL

        small = {k.replace(".", "__"): v for k, v in SMALL.items()} if name == "pearl-small" else {}
        return PEARL(spec, seed=0, **small)
    if name == "rl2":
        from baselines.rl2 import RL2

        return RL2(spec, seed=0)
    from baselines.random import RandomAgent

    return RandomAgent(spec, seed=0)


def measure(name: str, env_id: str, trials: int = 4, updates: int = 5) -> dict[str, float]:
    """``{"env_steps_per_s", "updates_per_s"}`` of agent ``name`` on ``env_id`` (pixels)."""
    spec = env_info(env_id, "pixels")
    agent = _make(name, spec)
    ctx = TrainContext(spec, "pixels")
    ctx.allow(10**9)
    out: dict[str, float] = {}
    if name in ("meld", "slac", "pearl", "pearl-small"):
        tasks = list(ctx.train_tasks)
        agent._ensure_replay(len(tasks))
        agent._ctx = ctx
        collect = (lambda k: agent._collect(ctx, tasks, k, random=False)) if not name.startswith("pearl") else \
            (lambda k: agent._collect(ctx, tasks, k, posterior=False, to_encoder=True))
        collect(0)  # warm-up (env construction, first conv call)
        start, steps = time.perf_counter(), 0
        for k in range(1, trials + 1):
            steps += collect(k)[0]
        out["env_steps_per_s"] = steps / (time.perf_counter() - start)
        if name.startswith("pearl"):
            agent.learner.update(agent.sample_batch())
            start = time.perf_counter()
            for _ in range(updates):
                agent.learner.update(agent.sample_batch())
        else:
            agent._train(1, 1, phase="train")
            start = time.perf_counter()
            agent._train(updates, updates, phase="train")  # one model + one actor-critic step per update
        out["updates_per_s"] = updates / (time.perf_counter() - start)
    elif name == "rl2":
        model = agent.model
        agent.trial_env.set_context(ctx)
        _, callback = model._setup_learn(model.n_steps, None, reset_num_timesteps=True)
        callback.on_training_start(locals(), globals())
        start = time.perf_counter()
        model.collect_rollouts(model.env, callback, model.rollout_buffer, n_rollout_steps=model.n_steps)
        out["env_steps_per_s"] = model.n_steps / (time.perf_counter() - start)
        start = time.perf_counter()
        model.train()
        n = model.n_epochs * math.ceil(model.n_steps / model.batch_size)
        out["updates_per_s"] = n / (time.perf_counter() - start)
    else:
        env = ctx.make_env(0)
        env.reset(seed=0)
        n = trials * spec.max_episode_steps * spec.episodes_per_trial
        start = time.perf_counter()
        for _ in range(n):
            _, _, terminated, truncated, _ = env.step(agent.act(None))
            if terminated or truncated:
                env.reset()
        out["env_steps_per_s"] = n / (time.perf_counter() - start)
        env.close()
        out["updates_per_s"] = float("nan")
    close = getattr(agent, "close", None)
    if callable(close):
        close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/baselines_throughput.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--env", nargs="+", default=["meld/Nav2D-v0", "meld/CheetahVel-v0"])
    p.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS)
    p.add_argument("--trials", type=int, default=4, help="trials timed for collection")
    p.add_argument("--updates", type=int, default=5, help="gradient updates timed")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    print("| agent | environment | env-steps/s (collect, pixels) | updates/s |\n|---|---|---:|---:|", flush=True)
    for env_id in args.env:
        for name in args.agents:
            r = measure(name, env_id, args.trials, args.updates)
            rows.append({"agent": name, "env": env_id, **r})
            ups = "—" if np.isnan(r["updates_per_s"]) else f"{r['updates_per_s']:.2f}"
            print(f"| {name} | `{env_id}` | {r['env_steps_per_s']:.0f} | {ups} |", flush=True)
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
          f"{args.threads} torch thread(s), load average {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
