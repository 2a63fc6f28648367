"""What one protocol run costs on this machine: meta-trains an agent as `python -m leaderboards.run` does (the preset's
env, observations, agent defaults, one seed), in chunks of env steps, for a time budget; times one full evaluation
point; and projects the wall time of the whole run.

    .venv/bin/python benchmarks/protocol_cost.py --agents meld slac --envs meld/CheetahVel-v0 --preset state \\
        --budget-s 600 --threads 1
    .venv/bin/python benchmarks/protocol_cost.py --agents meld --envs meld/Reacher-v0 --preset pixels-100k \\
        --budget-s 240 --markdown-out cost.md          # on a GPU machine (the agents take the GPU when there is one)

Projection: the time measured, plus the steps left at the last chunk's seconds per step, plus the preset's evaluation
points at the measured evaluation's time. It holds when the last chunk is in the run's steady state: an agent that
starts with data collection and no updates (PEARL's prior-policy trials, MELD's random trials on CheetahVel) shows
cheap first chunks, and a projection made before its updates begin is too low; the chunk column shows where they
begin. A run that reaches its budget within the time is measured, not projected.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import meld_envs  # noqa: F401  (sets MUJOCO_GL before anything imports mujoco)
from leaderboards import agents, protocol, runner

COLUMNS = ("agent", "env", "preset", "device", "env steps run", "train s", "s per chunk", "eval point s",
           "run (projected)", "how")


def _device() -> str:
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def measure(agent_name: str, env_id: str, preset: str, *, chunk: int, budget_s: float, seed: int = 0,
            log=print) -> dict:
    """One agent on one env: chunk timings, one evaluation point's time and the projected run time (seconds)."""
    proto = protocol.preset(preset).for_env(env_id)
    info = protocol.env_info(proto)
    agent = agents.resolve_agent(agent_name)(info, seed=seed)
    ctx = protocol.TrainContext(info, proto.obs_mode)
    test_env = protocol.make_test_env(proto)
    chunks: list[tuple[int, float]] = []
    try:
        began = time.perf_counter()
        while ctx.steps_used < proto.budget_steps and time.perf_counter() - began < budget_s:
            size = min(chunk, proto.budget_steps - ctx.steps_used)
            t = time.perf_counter()
            runner.train_chunk(agent, ctx, size)
            chunks.append((ctx.steps_used, time.perf_counter() - t))
            log(f"  {agent_name} {env_id}: {ctx.steps_used} env steps, {chunks[-1][1]:.1f} s for this chunk")
        train_s = time.perf_counter() - began
        t = time.perf_counter()
        protocol.evaluate(agent, proto, test_env)
        eval_s = time.perf_counter() - t
    finally:
        ctx.close()
        test_env.close()
    steps = ctx.steps_used
    points = proto.eval_points + 1  # one before training, then one after each chunk of the budget
    done = steps >= proto.budget_steps
    if done:
        total, how = train_s + points * eval_s, "measured (evaluations: timed once, times their number)"
    else:
        prev = chunks[-2][0] if len(chunks) > 1 else 0
        rate = chunks[-1][1] / max(1, steps - prev)
        total = train_s + (proto.budget_steps - steps) * rate + points * eval_s
        how = "projected from the last chunk"
    return {"agent": agent_name, "env": env_id, "preset": preset, "steps": steps, "budget": proto.budget_steps,
            "train_s": train_s, "chunks": chunks, "eval_s": eval_s, "eval_points": points, "total_s": total, "how": how}


def row(m: dict, device: str) -> str:
    times = [f"{s:.0f}" if s >= 10 else f"{s:.1f}" for _, s in m["chunks"]]
    per_chunk = ", ".join(times if len(times) <= 8 else times[:4] + ["…"] + times[-3:])
    cells = (m["agent"], f"`{m['env']}`", m["preset"], device, f"{m['steps']:,} of {m['budget']:,}", f"{m['train_s']:.0f}",
             per_chunk, f"{m['eval_s']:.1f}", _duration(m["total_s"]), m["how"])
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", nargs="+", default=["meld"], help="agent names or module:Class (default: meld)")
    p.add_argument("--envs", nargs="+", default=["meld/Nav2D-v0"], help="env ids (default: meld/Nav2D-v0)")
    p.add_argument("--preset", default="state", help=f"protocol preset: {', '.join(protocol.PRESETS)} (default: state)")
    p.add_argument("--chunk", type=int, default=2000, help="env steps per timed chunk (default 2000)")
    p.add_argument("--budget-s", type=float, default=300.0, help="seconds of meta-training per agent and env (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    p.add_argument("--markdown-out", default=None, help="also write the table to this file (row by row, as measured)")
    args = p.parse_args(argv)
    if args.preset not in protocol.PRESETS:
        p.error(f"--preset {args.preset!r}; allowed: {', '.join(protocol.PRESETS)}")
    if args.chunk < 1 or args.budget_s <= 0:
        p.error(f"--chunk {args.chunk} and --budget-s {args.budget_s}: must be positive")
    for env_id in args.envs:
        try:
            protocol.preset(args.preset).for_env(env_id)
        except (KeyError, ValueError) as e:
            p.error(f"--envs {env_id!r}: {e}")
    if args.threads is not None:
        runner.limit_threads(args.threads)
    device = _device()
    head = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
             f"{args.threads or 'default'}; {device}.", "", *head]
    print("\n".join(lines), flush=True)
    status = 0
    for agent_name in args.agents:
        for env_id in args.envs:
            try:
                line = row(measure(agent_name, env_id, args.preset, chunk=args.chunk, budget_s=args.budget_s,
                                   seed=args.seed), device)
            except Exception as e:  # one failing pair still leaves the others' rows
                line, status = f"| {agent_name} | `{env_id}` | {args.preset} | {device} | error: {type(e).__name__}: {e} |", 1
            lines.append(line)
            print(line, flush=True)
            if args.markdown_out:
                with open(args.markdown_out, "w") as f:
                    f.write("\n".join(lines) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
