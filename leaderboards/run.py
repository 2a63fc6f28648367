"""``python -m leaderboards.run``: protocol runs for agent x envs x seeds, locally or on Ray.

    python -m leaderboards.run --agent random --env all --preset smoke
    python -m leaderboards.run --agent meld --env meld/Nav2D-v0 --seeds 0 1 2
    python -m leaderboards.run --agent my_pkg.agent:MyAgent --env all --seeds 0-9 --executor ray --address auto

Each run writes ``<results>/<preset>/<agent>/<env>/seed_<k>.jsonl``; running the same command
again resumes unfinished runs from their last checkpoint and skips finished ones. On a terminal,
progress bars show each running run (env steps of its budget, and what it is doing: training
towards evaluation point k, or evaluating) and all runs together; Ctrl-C stops every run, and the
same command resumes them.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from typing import Any

from tqdm import tqdm

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
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they are off anyway when stderr is no terminal)")
    return p


def _log(message: str) -> None:
    print(message, flush=True)


class ProgressBars:
    """tqdm bars in this process: one overall (env steps of every run's budget, runs finished) and one per
    running run (env steps of its budget, its phase). Thread-safe; disabled, it only prints log lines."""

    def __init__(self, specs: list[RunSpec], enabled: bool = True) -> None:
        self.enabled, self.total_runs, self.finished = enabled, len(specs), 0
        budgets = [protocol.preset(s.preset).for_env(s.env_id).budget_steps for s in specs]
        self.budgets = {str(s): b for s, b in zip(specs, budgets)}
        self._lock = threading.RLock()
        self._bars: dict[str, tqdm] = {}
        self._steps: dict[str, int] = {}
        self._slots: dict[str, int] = {}
        self.overall = tqdm(total=sum(budgets), desc=f"{len(specs)} run(s)", unit="step", position=0,
                            dynamic_ncols=True, disable=not enabled, postfix="0 finished")

    def log(self, message: str) -> None:
        with self._lock:
            if self.enabled:
                tqdm.write(message)
            else:
                _log(message)

    def update(self, event: dict[str, Any]) -> None:
        """A ``runner.Progress`` event."""
        if not self.enabled:
            return
        with self._lock:
            name = event["run"]
            if name not in self._bars:
                slot = min(set(range(1, len(self._slots) + 2)) - set(self._slots.values()))
                self._slots[name] = slot
                self._bars[name] = tqdm(total=event["budget"], desc=name, unit="step", position=slot, leave=False,
                                        dynamic_ncols=True)
            steps = min(event["steps"], event["budget"])
            self._advance(name, steps - self._steps.get(name, 0))
            self._bars[name].set_postfix_str(event["phase"], refresh=True)

    def _advance(self, name: str, steps: int) -> None:
        self._steps[name] = self._steps.get(name, 0) + steps
        if name in self._bars:
            self._bars[name].update(steps)
        self.overall.update(steps)

    def finish(self, spec: RunSpec, outcome: Any) -> None:
        """A run ended (``outcome``: its summary, or the exception it raised): its bar goes, and the overall bar
        counts the rest of its budget (an agent may stop short of it)."""
        with self._lock:
            name = str(spec)
            if self.enabled:
                self._advance(name, self.budgets.get(name, 0) - self._steps.get(name, 0))
                if name in self._bars:
                    self._bars.pop(name).close()
                    self._slots.pop(name)
            self.finished += 1
            failed = isinstance(outcome, BaseException)
            self.overall.set_postfix_str(f"{self.finished}/{self.total_runs} finished" + (", a run failed" if failed else ""))

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
            self.overall.close()


# in a pool worker: where its log lines and progress events go (the main process draws the bars)
_QUEUE: Any = None


def _init_worker(events: Any, parent: int) -> None:
    global _QUEUE
    _QUEUE = events
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it ends the workers
    _die_with(parent)


def _die_with(parent: int) -> None:
    """End this worker when the process ``parent`` dies, even by SIGKILL (Linux: ``PR_SET_PDEATHSIG``), so that no
    orphan goes on running and holding its run's lock; elsewhere a thread watches the parent."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # it died before the request took effect
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _run_logged(spec: RunSpec) -> dict[str, Any]:
    if _QUEUE is None:  # a Ray task, or a worker without bars
        return runner.run(spec, log=_log)
    return runner.run(spec, log=lambda m: _QUEUE.put(("log", m)), progress=lambda e: _QUEUE.put(("progress", e)))


def _forward(events: Any, bars: ProgressBars) -> None:
    """The main process's side of the workers' queue: log lines and progress events to the bars, until None."""
    while (item := events.get()) is not None:
        kind, payload = item
        if kind == "progress":
            bars.update(payload)
        else:
            bars.log(payload)


def default_threads(runs: int, executor: str, workers: int | None = None) -> int:
    """Threads per run that keep parallel runs from oversubscribing the CPUs: a Ray task holds one
    CPU; local runs share this machine's CPUs evenly."""
    if executor == "ray":
        return 1
    cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, workers or min(runs, cpus)))


def run_local(specs: list[RunSpec], workers: int | None = None,
              bars: ProgressBars | None = None) -> list[tuple[RunSpec, Any]]:
    """Run ``specs`` in a pool of fresh (spawned) processes, or here when there is one worker, showing progress on
    ``bars``. Returns ``(spec, summary or exception)`` per spec. A ``KeyboardInterrupt`` ends every run (each
    resumes from its last checkpoint) and is raised again."""
    bars = bars or ProgressBars(specs, enabled=False)
    workers = workers or min(len(specs), os.cpu_count() or 1)
    outcomes: list[tuple[RunSpec, Any]] = []
    if workers <= 1 or len(specs) == 1:
        for spec in specs:
            try:
                outcome: Any = runner.run(spec, log=bars.log, progress=bars.update)
            except Exception as e:  # one failed run must not stop the others
                outcome = e
            bars.finish(spec, outcome)
            outcomes.append((spec, outcome))
        return outcomes
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold GL or threads
    events = ctx.Queue()
    forwarder = threading.Thread(target=_forward, args=(events, bars), daemon=True)
    forwarder.start()
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                                  initargs=(events, os.getpid()))
    try:
        futures = {pool.submit(_run_logged, spec): spec for spec in specs}
        for future in concurrent.futures.as_completed(futures):
            try:
                outcome = future.result()
            except Exception as e:
                outcome = e
            bars.finish(futures[future], outcome)
            outcomes.append((futures[future], outcome))
    except BaseException:  # Ctrl-C: the workers ignore it, so end them here (their runs resume from checkpoints)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    events.put(None)
    forwarder.join(timeout=5)
    return outcomes


def run_ray(specs: list[RunSpec], address: str | None = None, temp_dir: str | None = None,
            max_retries: int = 3, num_cpus: int | None = None, bars: ProgressBars | None = None) -> list[tuple[RunSpec, Any]]:
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
                outcome: Any = ray.get(done[0])
            except Exception as e:  # RayTaskError (also the original type) or WorkerCrashedError
                outcome = e
            if bars is not None:
                bars.finish(spec, outcome)
            outcomes.append((spec, outcome))
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
    bars = ProgressBars(specs, enabled=not args.no_progress and sys.stderr.isatty())
    try:
        if args.executor == "ray":
            outcomes = run_ray(specs, args.address, args.ray_temp_dir, args.max_retries, bars=bars)
        else:
            outcomes = run_local(specs, args.workers, bars)
    except KeyboardInterrupt:
        bars.close()
        print(f"interrupted; the same command resumes (results so far in {results_dir})", file=sys.stderr)
        return 130
    bars.close()
    failed = [(s, o) for s, o in outcomes if isinstance(o, BaseException)]
    for spec, error in failed:
        print(f"FAILED {spec}: {type(error).__name__}: {error}", file=sys.stderr)
    _log(f"{len(outcomes) - len(failed)}/{len(specs)} run(s) finished in {time.perf_counter() - began:.1f} s; "
         f"results in {results_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
