"""One protocol run (agent x env x seed) with checkpoints, so a killed run resumes exactly.

After every evaluation point ``k`` the runner

1. saves a checkpoint ``eval-k/``: the agent (``agent.save``) and ``state.json`` (steps used,
   wall-clock so far and the evaluation records ``0..k``), then points ``LATEST`` at it;
2. rewrites the results file with record ``k`` appended (atomically).

On resume the checkpoint is the truth: the file is rewritten with its records, so a record
written after it is dropped (and recomputed, never duplicated) and one not yet written is
restored (never lost); training continues after the checkpoint's evaluation point.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import meld_envs
from leaderboards import agents, protocol, results
from meld_envs.interface import BudgetExhausted, exploration_episodes_of, meta_test_actions_of


@dataclass(frozen=True)
class RunSpec:
    """Everything one protocol run needs; picklable, so it can go to a worker process or Ray task."""

    agent: str  # as given to --agent: a built-in name, an entry point or "module:Class"
    env_id: str
    seed: int
    preset: str = "paper"
    results_dir: str = "results"
    overrides: tuple[tuple[str, Any], ...] = field(default=())  # agent config overrides (key, value)
    agent_name: str | None = None  # results folder name; default derived from ``agent``
    keep_checkpoints: bool = False
    threads: int | None = None  # CPU threads of the agent's numerical libraries (torch, OpenMP, BLAS); None: theirs

    @property
    def name(self) -> str:
        return self.agent_name or agents.agent_name(self.agent)

    @property
    def path(self) -> str:
        return results.run_path(self.results_dir, self.preset, self.name, self.env_id, self.seed)

    @property
    def checkpoint_dir(self) -> str:
        return self.path[: -len(".jsonl")] + ".ckpt"

    def __str__(self) -> str:
        return f"{self.name} on {self.env_id}, seed {self.seed} ({self.preset})"


def package_version() -> str:
    try:
        return importlib.metadata.version("meld-bench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def source_commit() -> str | None:
    """The git commit of the checkout this code runs from (with ``+changes`` when its tracked files differ from it),
    or None outside a git checkout: which code made a result, beyond the package version."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", root, "diff", "--quiet", "HEAD", "--"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+changes" if dirty.returncode == 1 else "")


def library_versions() -> dict[str, str]:
    """Versions of the numerical libraries a run's numbers depend on (those installed; torch's build tag included)."""
    found = {}
    for name in ("numpy", "torch", "mujoco", "gymnasium"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


_CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")


def cpu_info() -> dict[str, Any]:
    """The CPU a run's float sums depend on: vendor, model name and the instruction-set extensions that choose the
    math libraries' kernels (MKL, oneDNN, torch's and numpy's vector code). Runs with the same seed, libraries and
    thread count give the same numbers on CPUs that agree here; on others they differ once the agent trains."""
    info: dict[str, Any] = {"vendor": None, "model": platform.processor() or platform.machine(), "features": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id":
                    info["vendor"] = value.strip()
                elif key == "model name":
                    info["model"] = value.strip()
                elif key == "flags":  # the first processor's entry is enough
                    flags = set(value.split())
                    info["features"] = [x for x in _CPU_FEATURES if x in flags]
                    break
    except OSError:
        pass
    return info


def cpu_type(info: dict[str, Any] | None = None) -> str:
    """Vendor and kernel-picking extensions of ``info`` (this machine's by default) in one string, e.g.
    ``"AuthenticAMD avx2 fma avx512f avx512_vnni avx512_bf16"``: CPUs of one type give the same float sums."""
    info = cpu_info() if info is None else info
    return " ".join([str(info["vendor"]), *(info["features"] or [])])


def make_header(spec: RunSpec, proto: protocol.EnvProtocol, agent_cls: type, agent: Any) -> dict[str, Any]:
    return {
        "record": "header",
        "schema": results.SCHEMA_VERSION,
        "protocol": protocol.PROTOCOL_VERSION,
        "preset": spec.preset,
        "env_id": spec.env_id,
        "seed": spec.seed,
        "agent": {
            "name": spec.name,
            "spec": spec.agent,
            "class": agents.class_path(agent_cls),
            "overrides": dict(spec.overrides),
            "config": agents.agent_config(agent),
            "exploration_episodes": exploration_episodes_of(agent),  # unscored episodes before each meta-test trial
            "meta_test_actions": meta_test_actions_of(agent),  # "sampled", "mean" or None (unstated)
        },
        "package_version": package_version(),
        "source_commit": source_commit(),  # git commit of the code that ran (None outside a checkout)
        "task_split_hash": protocol.task_split_hash(spec.env_id),
        "protocol_params": proto.to_json(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                 "threads": spec.threads, "libraries": library_versions(),
                 "cpu": cpu_info()},  # what an exact replay needs to match
        "renderer": meld_envs.renderer_info(),  # results from different renderers compare only statistically
    }


_RESUME_KEYS = ("schema", "protocol", "preset", "env_id", "seed", "agent", "task_split_hash", "protocol_params")


def _check_resumable(old: dict[str, Any], new: dict[str, Any], path: str) -> None:
    def value(header: dict[str, Any], key: str) -> Any:
        v = results.protocol_params(header) if key == "protocol_params" else header.get(key)
        return json.loads(results.dumps({"v": v}))
    changed = [k for k in _RESUME_KEYS if value(old, k) != value(new, k)]
    if changed:
        raise RuntimeError(
            f"{path} was started with a different {', '.join(changed)} than this run; "
            "refusing to mix them. Use another --results folder or delete that file (and its .ckpt folder)."
        )


def _latest_checkpoint(ckpt_dir: str) -> str | None:
    pointer = os.path.join(ckpt_dir, "LATEST")
    if not os.path.exists(pointer):
        return None
    with open(pointer) as f:
        name = f.read().strip()
    path = os.path.join(ckpt_dir, name)
    if not os.path.isdir(path):
        raise RuntimeError(f"checkpoint pointer {pointer} names {name!r}, which does not exist")
    return path


def _save_checkpoint(spec: RunSpec, agent: Any, state: dict[str, Any]) -> None:
    name = f"eval-{state['eval_index']:04d}"
    final = os.path.join(spec.checkpoint_dir, name)
    if os.path.exists(final):  # left over from a run killed before it moved LATEST here
        shutil.rmtree(final)
    agent.save(os.path.join(final, "agent"))
    results.atomic_write_text(os.path.join(final, "state.json"), results.dumps(state))
    results.atomic_write_text(os.path.join(spec.checkpoint_dir, "LATEST"), name + "\n")  # the commit point
    for old in os.listdir(spec.checkpoint_dir):
        if old.startswith("eval-") and old != name:
            shutil.rmtree(os.path.join(spec.checkpoint_dir, old), ignore_errors=True)


@contextlib.contextmanager
def _exclusive(path: str, log: Callable[[str], None] = print):
    """Hold an exclusive lock on ``path`` (released by the OS if the process dies). A lock file whose holder is
    gone (a run that was killed) is taken over, with a message."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    left_over = os.path.exists(path)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another process is running this protocol run (lock {path} is held)") from None
        if left_over:
            log(f"[lock] {path} was left by a run that ended without cleaning up; its process is gone, taking it over")
        yield


# what a run reports as it goes: {"run": str(spec), "steps": env steps used, "budget": the preset's, "phase": text}
Progress = Callable[[dict[str, Any]], None]


class _Reporter:
    """Sends ``progress`` events: at every phase change, and every ``interval_s`` while meta-training (the env
    steps counted so far), from a daemon thread, so a long ``meta_train`` call still shows movement."""

    def __init__(self, spec: RunSpec, budget: int, progress: Progress | None, interval_s: float = 1.0) -> None:
        self.spec, self.budget, self.progress, self.interval_s = str(spec), budget, progress, interval_s
        self.phase, self.ctx = "starting", None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True) if progress else None
        if self._thread:
            self._thread.start()

    def send(self, phase: str | None = None) -> None:
        if phase is not None:
            self.phase = phase
        if self.progress:
            steps = self.ctx.steps_used if self.ctx is not None else 0
            self.progress({"run": self.spec, "steps": steps, "budget": self.budget, "phase": self.phase})

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.send()

    def close(self) -> None:
        self._stop.set()


def run(spec: RunSpec, log: Callable[[str], None] = print, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or resume, or skip if complete) one protocol run; returns a short summary. ``progress``, if given,
    receives the run's progress events (``Progress``)."""
    folder, name = os.path.split(spec.path)
    lock = os.path.join(folder, "." + name[: -len(".jsonl")] + ".lock")
    with _exclusive(lock, log):
        summary = _run(spec, log, progress)
        os.unlink(lock)  # a clean exit leaves no lock file behind (a failed or killed run's is harmless)
    return summary


def limit_threads(threads: int) -> None:
    """Cap this process's numerical threads: through the environment for libraries not loaded yet,
    and directly for torch when an agent has already imported it. Parallel runs that each start one
    thread per core oversubscribe the machine (on 2 cores, ~110 ms a policy step instead of ~3 ms)."""
    if threads < 1:
        raise ValueError(f"threads={threads}: must be a positive integer")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def train_chunk(agent: Any, ctx: protocol.TrainContext, steps: int) -> None:
    """One chunk of meta-training as the protocol gives it: ``agent.meta_train`` with an allowance of ``steps`` env
    steps on ``ctx``, and none left between chunks (an agent stepping past it is stopped there, no error)."""
    ctx.allow(steps)
    try:
        agent.meta_train(ctx, steps)
    except BudgetExhausted:
        pass  # the agent tried to step past its allowance and was stopped; that is all
    finally:
        ctx.allow(0)  # no training steps between meta_train calls (e.g. from act at meta-test)


def _run(spec: RunSpec, log: Callable[[str], None], progress: Progress | None = None) -> dict[str, Any]:
    if spec.threads is not None:
        limit_threads(spec.threads)
    proto = protocol.preset(spec.preset).for_env(spec.env_id)
    agent_cls = agents.resolve_agent(spec.agent)
    path = spec.path

    try:
        existing = results.read_records(path) if os.path.exists(path) else []
    except results.ResultsError as e:
        if _latest_checkpoint(spec.checkpoint_dir) is None:
            raise
        log(f"[repair] {spec}: {e}; rebuilding the file from the checkpoint")
        existing = []
    if existing and existing[-1].get("record") == "failed":
        log(f"[retry] {spec}: the last attempt failed ({existing[-1].get('error')}); trying again from its last checkpoint")
        existing = existing[:-1]
    if existing and existing[-1].get("record") == "end":
        log(f"[skip] {spec}: complete in {path}")
        if not spec.keep_checkpoints:  # left over when a run died between its end record and the clean-up
            shutil.rmtree(spec.checkpoint_dir, ignore_errors=True)
        if progress:
            progress({"run": str(spec), "steps": proto.budget_steps, "budget": proto.budget_steps, "phase": "complete"})
        return {"spec": str(spec), "path": path, "status": "complete", "success_rate": _last_success(existing)}

    test_env = protocol.make_test_env(proto)
    ctx: protocol.TrainContext | None = None
    reporter = _Reporter(spec, proto.budget_steps, progress)
    records: list[dict[str, Any]] = []
    k, began, wall_clock = 0, time.perf_counter(), 0.0
    try:
        info = protocol.env_info(proto)
        agent = agent_cls(info, seed=spec.seed, **dict(spec.overrides))
        header = make_header(spec, proto, agent_cls, agent)
        cpu_here = header["host"]["cpu"]
        if existing:
            _check_resumable(existing[0], header, path)
            header = existing[0]
        ctx = reporter.ctx = protocol.TrainContext(info, proto.obs_mode)
        checkpoint = _latest_checkpoint(spec.checkpoint_dir)
        if checkpoint is None:
            if len(existing) > 1:
                raise RuntimeError(f"{path} has evaluation records but no checkpoint in {spec.checkpoint_dir}; "
                                   "cannot resume it. Delete the file to start over.")
            records, start, wall_clock = [header], 0, 0.0
            results.write_records(path, records)
        else:
            with open(os.path.join(checkpoint, "state.json")) as f:
                state = json.load(f)
            agent.load(os.path.join(checkpoint, "agent"))
            k = state["eval_index"]
            if not existing:
                _check_resumable(state["header"], header, os.path.join(checkpoint, "state.json"))
                header = state["header"]
            records = [header] + state["records"]  # points 0..k: a lost one is rewritten, a later one dropped
            results.write_records(path, records)
            ctx.steps_used, wall_clock, start = state["env_steps"], state["wall_clock_s"], k + 1
            log(f"[resume] {spec}: from evaluation point {k} ({ctx.steps_used} env steps)")
            started_on = header.get("host", {}).get("cpu")
            if started_on is None or cpu_type(started_on) != cpu_type(cpu_here):
                log(f"[resume] {spec}: started on {started_on or 'a CPU its header does not record'}, resumed on "
                    f"{cpu_here}: the rest of the run is a valid sample, but float sums differ across CPUs, so it "
                    "will not replay exactly")

        eval_steps = proto.eval_steps
        points = len(eval_steps) - 1
        for k in range(start, len(eval_steps)):
            began = time.perf_counter()
            if k > 0:
                reporter.send(f"training {k}/{points}")
                train_chunk(agent, ctx, eval_steps[k] - eval_steps[k - 1])
                if ctx.steps_used > eval_steps[k]:  # cannot happen through ctx; guards the invariant
                    raise RuntimeError(f"{spec}: {ctx.steps_used} env steps exceed the budget {eval_steps[k]}")
            metrics = protocol.evaluate(agent, proto, test_env, on_trial=lambda done, total, k=k: reporter.send(
                f"evaluating {k}/{points}: {done}/{total} trials"))
            wall_clock += time.perf_counter() - began
            record = {"record": "eval", "index": k, "budget_steps": eval_steps[k], "env_steps": ctx.steps_used,
                      "wall_clock_s": round(wall_clock, 3), **metrics}
            records.append(record)
            _save_checkpoint(spec, agent, {"eval_index": k, "env_steps": ctx.steps_used,
                                           "wall_clock_s": wall_clock, "header": header, "records": records[1:]})
            results.write_records(path, records)
            log(f"[eval {k}/{len(eval_steps) - 1}] {spec}: {ctx.steps_used} steps, "
                f"success {metrics['success_rate']:.2f}, returns {[round(r, 2) for r in metrics['return_per_episode']]}")
        records.append({"record": "end", "env_steps": ctx.steps_used, "wall_clock_s": round(wall_clock, 3)})
        results.write_records(path, records)
        reporter.send("done")
    except Exception as e:  # recorded, so a report lists the run as failed with its error; an interrupt is no failure
        if records:
            records.append({"record": "failed", "error": f"{type(e).__name__}: {e}"[:2000], "eval_index": k,
                            "env_steps": ctx.steps_used if ctx is not None else 0,
                            "wall_clock_s": round(wall_clock + time.perf_counter() - began, 3),
                            "traceback": "".join(traceback.format_exception(e))[-4000:]})
            results.write_records(path, records)
        raise
    finally:
        reporter.close()
        if ctx is not None:
            ctx.close()
        test_env.close()
    if not spec.keep_checkpoints:
        shutil.rmtree(spec.checkpoint_dir, ignore_errors=True)
    return {"spec": str(spec), "path": path, "status": "done", "success_rate": _last_success(records),
            "wall_clock_s": round(wall_clock, 3)}


def _last_success(records: list[dict[str, Any]]) -> float | None:
    evals = [r for r in records if r.get("record") == "eval"]
    return evals[-1]["success_rate"] if evals else None
