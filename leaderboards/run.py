"""``python -m leaderboards.run``: protocol runs for agent x envs x seeds, locally or on Ray.

    python -m leaderboards.run --agent random --env all --preset smoke
    python -m leaderboards.run --agent meld --env meld/Nav2D-v0 --seeds 0 1 2
    python -m leaderboards.run --agent my_pkg.agent:MyAgent --env all --seeds 0-9 --executor ray --address auto

Each run writes ``<results>/<preset>/<agent>/<env>/seed_<k>.jsonl``; running the same command
again resumes unfinished runs from their last checkpoint and skips finished ones.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import re
import sys
import time
from typing import Any

from leaderboards import agents, protocol, runner
from leaderboards.runner import RunSpec


def parse_seeds(tokens: list[str]) -> list[int]:
    """``["0", "3-5"]`` -> ``[0, 3, 4, 5]`` (ranges inclusive)."""
    seeds: list[int] = []
    for token in tokens:
        if m := re.fullmatch(r"(\d+)-(\d+)", token.strip()):
            lo, hi = int(m[1]), int(m[2])
            if hi < lo:
                raise ValueError(f"bad seed range {token!r}: {hi} < {lo}")
            seeds.extend(range(lo, hi + 1))
        elif re.fullmatch(r"\d+", token.strip()):
            seeds.append(int(token))
        else:
            raise ValueError(f"bad seed {token!r}: give non-negative integers or inclusive ranges like 0-9")
    return list(dict.fromkeys(seeds))


def parse_overrides(items: list[str]) -> tuple[tuple[str, Any], ...]:
    """``["lr=3e-4", "name=x"]`` -> ``(("lr", 0.0003), ("name", "x"))``; values are JSON when they parse."""
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"bad --config {item!r}: expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.append((key, value))
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m leaderboards.run", description=__doc__,
                                epilog=f"presets of protocol {protocol.PROTOCOL_VERSION}:\n{protocol.describe()}",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", required=True, help="built-in name (random, meld, ...), entry point name, or module:Class")
    p.add_argument("--env", nargs="+", required=True,
                   help="environment ids, or 'all' for every registered id except real-robot ones")
    p.add_argument("--seeds", nargs="+", help="seeds or inclusive ranges (0-9); default: the preset's")
    p.add_argument("--preset", default="paper", help=f"protocol preset ({', '.join(protocol.PRESETS)}); default paper")
    p.add_argument("--results", default="results", help="results folder (default: results/)")
    p.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE", help="agent config overrides")
    p.add_argument("--name", help="agent name in the results folder (default: from --agent)")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--workers", type=int, default=None, help="local processes (default: min(runs, CPUs))")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per run for torch/OpenMP/BLAS (default: CPUs / parallel runs, at least 1)")
    p.add_argument("--address", default=None, help="Ray cluster address (e.g. auto); default: start Ray here")
    p.add_argument("--ray-temp-dir", default=None, help="Ray's temp folder when starting Ray here (keep it short)")
    p.add_argument("--max-retries", type=int, default=3, help="Ray: retries of a run whose worker was lost")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the last checkpoint of finished runs")
    return p


def _log(message: str) -> None:
    print(message, flush=True)


def _run_logged(spec: RunSpec) -> dict[str, Any]:
    return runner.run(spec, log=_log)


def default_threads(runs: int, executor: str, workers: int | None = None) -> int:
    """Threads per run that keep parallel runs from oversubscribing the CPUs: a Ray task holds one
    CPU; local runs share this machine's CPUs evenly."""
    if executor == "ray":
        return 1
    cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, workers or min(runs, cpus)))


def run_local(specs: list[RunSpec], workers: int | None = None) -> list[tuple[RunSpec, Any]]:
    """Run ``specs`` in a pool of fresh (spawned) processes, or here when there is one worker.
    Returns ``(spec, summary or exception)`` per spec."""
    workers = workers or min(len(specs), os.cpu_count() or 1)
    outcomes: list[tuple[RunSpec, Any]] = []
    if workers <= 1 or len(specs) == 1:
        for spec in specs:
            try:
                outcomes.append((spec, _run_logged(spec)))
            except Exception as e:  # one failed run must not stop the others
                outcomes.append((spec, e))
        return outcomes
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold GL or threads
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_run_logged, spec): spec for spec in specs}
        for future in concurrent.futures.as_completed(futures):
            try:
                outcomes.append((futures[future], future.result()))
            except Exception as e:
                outcomes.append((futures[future], e))
    return outcomes


def run_ray(specs: list[RunSpec], address: str | None = None, temp_dir: str | None = None,
            max_retries: int = 3, num_cpus: int | None = None) -> list[tuple[RunSpec, Any]]:
    """One Ray task per run; each writes its own results file into the shared results folder, and
    a task whose worker dies is retried (``max_retries``) and resumes from its checkpoint."""
    import ray  # optional dependency: meld-bench[distributed]

    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                 _node_ip_address="127.0.0.1", _temp_dir=temp_dir)
    try:
        task = ray.remote(num_cpus=1, max_retries=max_retries)(_run_logged)
        pending = {task.remote(spec): spec for spec in specs}
        outcomes: list[tuple[RunSpec, Any]] = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done[0])
            try:
                outcomes.append((spec, ray.get(done[0])))
            except Exception as e:  # RayTaskError (also the original type) or WorkerCrashedError
                outcomes.append((spec, e))
        return outcomes
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        preset = protocol.preset(args.preset)
        envs = protocol.env_ids(args.env)
        seeds = parse_seeds(args.seeds) if args.seeds else list(preset.seeds)
        overrides = parse_overrides(args.config)
        agents.resolve_agent(args.agent)  # fail now, with the list of agents, not in every worker
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results_dir = os.path.abspath(args.results)  # workers and Ray tasks may run elsewhere
    if args.threads is not None and args.threads < 1:
        print(f"error: --threads {args.threads}: must be a positive integer", file=sys.stderr)
        return 2
    threads = args.threads or default_threads(len(envs) * len(seeds), args.executor, args.workers)
    specs = [RunSpec(agent=args.agent, env_id=env, seed=seed, preset=preset.name, results_dir=results_dir,
                     overrides=overrides, agent_name=args.name, keep_checkpoints=args.keep_checkpoints, threads=threads)
             for env in envs for seed in seeds]
    _log(f"{len(specs)} protocol run(s) of {protocol.PROTOCOL_VERSION}/{preset.name}: agent {args.agent}, "
         f"envs {', '.join(envs)}, seeds {seeds}, executor {args.executor}")
    began = time.perf_counter()
    if args.executor == "ray":
        outcomes = run_ray(specs, args.address, args.ray_temp_dir, args.max_retries)
    else:
        outcomes = run_local(specs, args.workers)
    failed = [(s, o) for s, o in outcomes if isinstance(o, BaseException)]
    for spec, error in failed:
        print(f"FAILED {spec}: {type(error).__name__}: {error}", file=sys.stderr)
    _log(f"{len(outcomes) - len(failed)}/{len(specs)} run(s) finished in {time.perf_counter() - began:.1f} s; "
         f"results in {results_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
