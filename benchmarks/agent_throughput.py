"""MELD update throughput at the paper's architecture, with FLOPs counted and compared with a large matmul.

    .venv/bin/python benchmarks/agent_throughput.py            # ~2-3 min on 2 CPU cores
    .venv/bin/python benchmarks/agent_throughput.py --quick    # ~30 s smoke run
    .venv/bin/python benchmarks/agent_throughput.py --markdown-out results/agent_throughput.md
    .venv/bin/python benchmarks/agent_throughput.py --nav2d-state --threads 1 --compile none,default  # state rows only
    # every simulated env's preset shapes on a GPU, eager and CUDA graphs (add --quick --budget-s 360 when short of time)
    .venv/bin/python benchmarks/agent_throughput.py --env-presets --device cuda --compile none,reduce-overhead \\
        --markdown-out results/agent_throughput_cuda.md
    # the same rows on a CPU, short timings (all envs in pixels: ~10 min on one core; compiling there takes many minutes)
    .venv/bin/python benchmarks/agent_throughput.py --env-presets --quick --compile none --device cpu \\
        --envs meld/Nav2D-v0,meld/CheetahVel-v0 [--obs-mode state]

Measured (random uint8 frames; the numbers do not depend on their content):

* **model update**: one gradient step on the ELBO (Eq. 5) over 32 sequences x 9 frames of 64x64
  (the batch shape of the reference SLAC PyTorch measurement in BENCHMARKS.md); the posterior pass it
  makes is kept, detached, for the actor-critic.
* **model + actor-critic update**: the above, then one SAC step on 256 transitions drawn from that
  shared posterior pass (``Learner.train_step``), i.e. what MELD does per train step.
* **actor-critic update alone, 256 x 9 frames**: a SAC step whose beliefs come from a no-grad
  posterior pass over 256 sequences x 9 frames (the reference's actor-critic batch shape, which it
  spends re-encoding images); MELD never needs this in training, it is here for the comparison.
* **actor-critic update alone, MELD's way**: what MELD does for an actor-critic step with no model
  step to share (``ac_train_ratio`` above ``model_train_ratio``): a no-grad posterior pass over the
  model batch's 32 x 9 frames, then SAC on 256 of its transitions.
* the model rows again with ``model.conv_dtype="bfloat16"`` (the conv encoder/decoder under bfloat16
  autocast; fast on CPUs with AVX-512 BF16 or AMX, and on GPUs that support bfloat16), next to a
  bfloat16 matmul.
* FLOPs per update from ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matmuls,
  forward + backward), achieved GFLOP/s, and the GFLOP/s of a 2048x2048 float32 matmul on the same
  threads. Then the same on CUDA when present.

* **Nav2D state preset shapes** (``make_config("meld/Nav2D-v0", obs_mode="state")``: MLP encoder, 8 trials x 41
  frames, 256 transitions), per ``train.compile`` mode: a model step; an actor-critic step with its own no-grad
  posterior pass; an actor-critic step as training runs those between two model steps (``Learner.actor_critic_steps``:
  one pass over 12 batches); a model + actor-critic step; and ``MELD.meta_train`` end to end (``--e2e-steps`` env
  steps: 60 random trials, 480 model pre-training steps, then iterations of 400 env steps, 80 model + actor-critic and
  240 actor-critic-only steps), in env steps/s over the whole run and over its iterations alone.

* **Per-environment preset shapes** (``--env-presets``): for each simulated env (``--envs``, default
  ``meld_envs.registry.SIMULATED``), ``make_config(env_id, obs_mode=..., device=..., train__compile=mode)`` per
  ``--compile`` mode and the env's own shapes (``meld_envs.interface.env_info``): a batch of ``train.tasks_per_update x
  train.update_trials_per_task`` stored trials of ``episodes_per_trial x max_episode_steps + 1`` frames (stage 2's
  trials for a two-stage sparse env; the stages differ in reward inputs only, not in shapes), random data on the device
  with the replay's episode-start flags; the model step reads ``MELD.model_batch_trials`` of them
  (``train.model_batch_steps // frames``). Rows: a model step and a model + actor-critic step (``Learner.train_step``),
  each first call (which compiles) timed apart. On CUDA also, for the model + actor-critic step under
  ``torch.profiler``: the GPU busy share (summed device time of the kernels, memcpys and memsets over the synchronized
  wall time of the profiled steps, and over the unprofiled step time) and the kernels launched per step. One table per
  device; a row that fails records its error and the others still run; ``--budget-s`` starts no new row after that
  many seconds; ``--markdown-out`` is rewritten after every row, so a run cut short leaves its finished rows.

Targets: >= 2x the reference's 1.0 model updates/s and 0.8 actor-critic updates/s at
the same batch shapes; >= 70% of the matmul FLOP/s.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback

import torch
from torch.utils.flop_counter import FlopCounterMode

import meld_envs  # noqa: F401  (sets MUJOCO_GL before anything imports mujoco)
from meld_agent.config import make_config
from meld_agent.replay import TrialBatch
from meld_agent.update import Learner

REFERENCE_MODEL_UPDATES_PER_S = 1.0
REFERENCE_AC_UPDATES_PER_S = 0.8
SPEEDUP_TARGET = 2.0
MATMUL_SHARE_TARGET = 0.7


def matmul_gflops(device: torch.device, seconds: float, dtype: torch.dtype = torch.float32) -> float:
    a = torch.randn(2048, 2048, device=device, dtype=dtype)
    b = torch.randn(2048, 2048, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * 2048**3 * n / (time.perf_counter() - start) / 1e9


def random_batch(b: int, episodes: int, episode_steps: int, obs_shape: tuple[int, ...], action_size: int,
                 device: torch.device, seed: int = 0, flags: bool = True) -> TrialBatch:
    """Random data of ``b`` stored trials of ``episodes`` episodes of ``episode_steps`` steps (``episodes *
    episode_steps + 1`` frames): uint8 images for a 3-D ``obs_shape``, float32 states otherwise; with ``flags``,
    ``episode_start`` as ``TrialReplay`` flags it (1 on the first frame of every later episode: frames T, 2T, ...
    counted from 0)."""
    length = episodes * episode_steps + 1
    g = torch.Generator().manual_seed(seed)
    if len(obs_shape) == 3:
        obs = torch.randint(0, 256, (b, length, *obs_shape), dtype=torch.uint8, generator=g)
    else:
        obs = torch.randn(b, length, *obs_shape, generator=g)
    actions = torch.rand(b, length - 1, action_size, generator=g) * 2 - 1
    rewards = torch.randn(b, length, generator=g)
    episode_start = None
    if flags:
        episode_start = torch.zeros(b, length)
        episode_start[:, episode_steps:length - 1:episode_steps] = 1.0
        episode_start = episode_start.to(device)
    return TrialBatch(obs.to(device), actions.to(device), rewards.to(device), (rewards > 1).float().to(device),
                      torch.arange(b, device=device), episode_start)


def timed(fn, seconds: float, min_calls: int, device: torch.device) -> tuple[float, int]:
    """Calls per second of ``fn`` over at least ``seconds`` and ``min_calls`` calls (after one warm-up)."""
    fn()
    n, start = 0, time.perf_counter()
    while n < min_calls or time.perf_counter() - start < seconds:
        fn()
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start), n


def flops_of(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def measure(device: torch.device, seconds: float, min_calls: int, image: tuple[int, int, int] = (64, 64, 3),
            conv_dtype: str = "float32") -> list[dict]:
    # the paper's model: without the Nav2D preset's episode-start flag (its batches here are 9-frame windows)
    config = make_config("meld/Nav2D-v0", device=device.type, sac__batch_size=256, extensions__episode_start_input=False,
                         model__conv_dtype=conv_dtype)
    learner = Learner(image, 6, config, seed=0, device=device)
    model_batch = random_batch(32, 1, 8, image, 6, device, flags=False)  # 9-frame windows
    ac_batch = random_batch(256, 1, 8, image, 6, device, seed=1, flags=False)
    cases = {
        "model update (32 x 9 frames)": lambda: learner.train_step(model_batch, model=True, actor_critic=False),
        "model + actor-critic update (32 x 9 frames, 256 transitions)": lambda: learner.train_step(model_batch),
        "actor-critic update alone (256 x 9 frames re-encoded)": lambda: learner.train_step(ac_batch, model=False, actor_critic=True),
        "actor-critic update alone, MELD's way (no-grad pass over 32 x 9 frames, 256 transitions)":
            lambda: learner.train_step(model_batch, model=False, actor_critic=True),
    }
    if conv_dtype != "float32":  # the option's rows: the model update and what MELD does per train step
        cases = {f"{name}, {conv_dtype} convolutions": fn for name, fn in list(cases.items())[:2]}
    rows = []
    for name, fn in cases.items():
        flops = flops_of(fn)
        rate, calls = timed(fn, seconds, min_calls, device)
        rows.append({"case": name, "updates_per_s": rate, "gflop_per_update": flops / 1e9, "gflops": rate * flops / 1e9, "calls": calls})
    return rows


def measure_nav2d_state(compile_mode: str, seconds: float, min_calls: int, e2e_steps: int, frames: int = 41) -> list[dict]:
    """The Nav2D state preset's update rows and ``MELD.meta_train`` end to end, under ``train.compile=compile_mode``
    (the first calls, which compile, are warm-up and not timed; the end-to-end run includes its compile time)."""
    from meld_agent import MELD

    device = torch.device("cpu")
    config = make_config("meld/Nav2D-v0", obs_mode="state", device="cpu", train__compile=compile_mode)
    learner = Learner((4,), 2, config, seed=0, device=device)
    # 4-D states, 2-D actions, trials of two episodes of (frames - 1) // 2 steps
    batches = [random_batch(8, 2, (frames - 1) // 2, (4,), 2, device, seed=i) for i in range(12)]
    cases = {
        f"model step (8 x {frames} frames)": (lambda: learner.train_step(batches[0], model=True, actor_critic=False), 1),
        "actor-critic step, own posterior pass": (lambda: learner.train_step(batches[0], model=False, actor_critic=True), 1),
        "actor-critic step, one pass over 12 batches (as training runs them)": (lambda: learner.actor_critic_steps(batches), 12),
        "model + actor-critic step": (lambda: learner.train_step(batches[0]), 1),
    }
    rows = []
    for name, (fn, steps) in cases.items():
        start = time.perf_counter()
        fn()  # compiles when compiling
        first = time.perf_counter() - start
        rate, calls = timed(fn, seconds, min_calls, device)
        rows.append({"case": f"Nav2D state, {compile_mode}: {name}", "updates_per_s": rate * steps, "ms": 1000 / (rate * steps),
                     "first_call_s": first})
    if e2e_steps:
        agent = MELD(make_config("meld/Nav2D-v0", obs_mode="state", device="cpu", train__compile=compile_mode))
        logged: list[tuple[int, float, bool]] = []  # (env step, time, whether an iteration's log)
        agent.logger = lambda metrics, step: logged.append((step, time.perf_counter(), "charts/updates_per_second" in metrics))
        start = time.perf_counter()
        agent.meta_train(steps=e2e_steps)
        total = time.perf_counter() - start
        agent.close()
        pre = [(s, t) for s, t, iteration in logged if not iteration]  # pre-training's log
        iterations = [(s, t) for s, t, iteration in logged if iteration]
        row = {"case": f"Nav2D state, {compile_mode}: meta_train end to end, {e2e_steps} env steps",
               "env_steps_per_s": e2e_steps / total, "seconds": total}
        if pre and len(iterations) >= 1:
            s0, t0 = pre[-1]
            row["iteration_env_steps_per_s"] = (iterations[-1][0] - s0) / (iterations[-1][1] - t0)
        rows.append(row)
    return rows


def nav2d_table(rows: list[dict]) -> str:
    lines = ["| Nav2D state preset (CPU) | ms per update | updates/s | env steps/s (whole run / iterations) | first call |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        if "env_steps_per_s" in r:
            it = r.get("iteration_env_steps_per_s")
            lines.append(f"| {r['case']} | | | {r['env_steps_per_s']:.0f} / {'' if it is None else f'{it:.0f}'} "
                         f"({r['seconds']:.0f} s) | |")
        else:
            lines.append(f"| {r['case']} | {r['ms']:.1f} | {r['updates_per_s']:.1f} | | {r['first_call_s']:.1f} s |")
    return "\n".join(lines)


# -- per-environment preset shapes ---------------------------------------------------------------------------------
def _is_device_event(event) -> bool:
    """Whether a profiler event ran on a CUDA device (``device_type`` is ``DeviceType.CUDA``)."""
    kind = getattr(event, "device_type", None)
    return kind is not None and str(kind).rsplit(".", 1)[-1].upper() == "CUDA"


def _device_us(event) -> float:
    """A device event's own time in microseconds: ``self_device_time_total`` (torch >= 2.4), else the deprecated
    ``self_cuda_time_total``, else its time range."""
    for name in ("self_device_time_total", "self_cuda_time_total"):  # the second only where the first is missing
        try:
            value = getattr(event, name)
        except AttributeError:
            continue
        except Exception:  # a property that raises on this torch / this event
            break
        if value:
            return float(value)
        break
    try:
        return float(event.time_range.elapsed_us())
    except Exception:
        return 0.0


def kernel_stats(events, steps: int, wall_s: float, step_s: float | None = None) -> dict:
    """From profiler events over ``steps`` steps that took ``wall_s`` seconds (synchronized): the device time of the
    CUDA events (kernels, memcpys, memsets) per step in ms, its share of the wall time (``gpu_busy``) and of
    ``step_s``, an unprofiled step's time (``gpu_busy_timed``), and the kernels launched per step (memcpys and memsets
    not counted)."""
    busy_us, kernels = 0.0, 0
    for event in events:
        if not _is_device_event(event):
            continue
        busy_us += _device_us(event)
        if not str(getattr(event, "name", "")).startswith(("Memcpy", "Memset")):
            kernels += 1
    per_step_s = busy_us / 1e6 / steps
    out = {"kernel_ms": 1000 * per_step_s, "gpu_busy": busy_us / 1e6 / wall_s, "kernels_per_step": kernels / steps}
    if step_s:
        out["gpu_busy_timed"] = per_step_s / step_s
    return out


def gpu_busy(fn, steps: int, device: torch.device, step_s: float | None = None) -> dict:
    """``kernel_stats`` of ``steps`` calls of ``fn`` (after two more warm-up calls) under ``torch.profiler``."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(2):
        fn()
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        torch.cuda.synchronize(device)
        wall = time.perf_counter() - start
    return kernel_stats(prof.events(), steps, wall, step_s)


def _error(ex: BaseException) -> str:
    traceback.print_exc(file=sys.stderr)
    return f"{type(ex).__name__}: {str(ex).splitlines()[0][:200] if str(ex) else ''}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_env_preset(env_id: str, obs_mode: str, device: torch.device, compile_mode: str, seconds: float,
                       min_calls: int, profile_steps: int) -> dict:
    """One row of ``--env-presets``: the env's preset config and shapes, a model step and a model + actor-critic step
    (first call apart, then ``timed``), and on CUDA the model + actor-critic step's ``gpu_busy``. Errors are recorded
    in the row (``error``), not raised."""
    from meld_envs.interface import env_info

    row: dict = {"env": env_id, "obs_mode": obs_mode, "compile": compile_mode, "device": device.type}
    errors: list[str] = []
    learner = batch = None
    try:
        info = env_info(env_id, obs_mode)
        obs_shape, action_size = tuple(info.observation_space.shape), int(info.action_space.shape[0])
        episodes, steps = int(info.episodes_per_trial), int(info.max_episode_steps)
        config = make_config(env_id, obs_mode=obs_mode, device=device.type, train__compile=compile_mode)
        t = config.train
        frames = episodes * steps + 1  # stage 2's trials (a sparse env's stage 1 stores single episodes)
        trials = t.tasks_per_update * t.update_trials_per_task
        m = min(max(1, t.model_batch_steps // frames), trials)  # MELD.model_batch_trials
        row.update(trials=trials, frames=frames, model_trials=m)
        if compile_mode != "none":
            torch._dynamo.reset()  # each Learner compiles its own functions: no recompile limit reached across rows
        learner = Learner(obs_shape, action_size, config, seed=0, device=device)
        batch = random_batch(trials, episodes, steps, obs_shape, action_size, device)
    except Exception as ex:
        row["error"] = "; ".join(errors + [_error(ex)])
        return row
    cases = {"model": lambda: learner.train_step(batch, model=True, actor_critic=False, model_trials=m),
             "both": lambda: learner.train_step(batch, model_trials=m)}
    for key, fn in cases.items():
        try:
            start = time.perf_counter()
            fn()  # compiles when compiling
            _sync(device)
            row[f"{key}_first_s"] = time.perf_counter() - start
            row[f"{key}_per_s"], row[f"{key}_calls"] = timed(fn, seconds, min_calls, device)
        except Exception as ex:
            errors.append(f"{key}: {_error(ex)}")
    if device.type == "cuda" and "both_per_s" in row:
        try:
            row.update(gpu_busy(cases["both"], profile_steps, device, 1.0 / row["both_per_s"]))
        except Exception as ex:
            errors.append(f"profile: {_error(ex)}")
    if errors:
        row["error"] = "; ".join(errors)
    learner = batch = None  # free the device memory before the next row (the closures see these names)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def env_preset_table(rows: list[dict], device: str) -> str:
    """The ``--env-presets`` rows of one device as a markdown table (``-``: not measured / not on this device)."""
    lines = [f"| Env ({device}) | Obs | Compile | Batch (trials x frames) | Model trials | Model steps/s | "
             "Model+AC steps/s | GPU busy % (profiled / timed step) | Kernel ms/step | Kernels/step | "
             "First call s (model / model+AC) | Note |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]

    def num(r: dict, key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else "-"

    for r in rows:
        batch = f"{r['trials']} x {r['frames']}" if "trials" in r else "-"
        busy = "-"
        if "gpu_busy" in r:
            busy = f"{100 * r['gpu_busy']:.0f}% / " + (f"{100 * r['gpu_busy_timed']:.0f}%" if "gpu_busy_timed" in r else "-")
        first = f"{num(r, 'model_first_s', '.1f')} / {num(r, 'both_first_s', '.1f')}"
        note = r.get("error", "").replace("|", "/")
        lines.append(f"| {r['env']} | {r['obs_mode']} | {r['compile']} | {batch} | {r.get('model_trials', '-')} | "
                     f"{num(r, 'model_per_s', '.2f')} | {num(r, 'both_per_s', '.2f')} | {busy} | "
                     f"{num(r, 'kernel_ms', '.2f')} | {num(r, 'kernels_per_step', '.0f')} | {first} | {note} |")
    return "\n".join(lines)


def run_env_presets(args: argparse.Namespace) -> int:
    """``--env-presets``: one row per (device, env, compile mode); prints each as it finishes and rewrites
    ``--markdown-out`` after each, so a run cut short keeps what it measured."""
    from meld_envs.registry import SIMULATED

    envs = [e.strip() for e in args.envs.split(",") if e.strip()] if args.envs else [e.id for e in SIMULATED]
    modes = [m.strip() for m in args.compile.split(",") if m.strip()]
    devices = [d.strip() for d in (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).split(",")]
    if "cuda" in devices and not torch.cuda.is_available():
        print("--device cuda: torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    seconds, min_calls, profile_steps = (1.0, 2, 3) if args.quick else (5.0, 3, 5)
    began = time.perf_counter()
    rows: dict[str, list[dict]] = {d: [] for d in devices}

    def text(final: bool) -> str:
        parts = []
        for d, rs in rows.items():
            name = torch.cuda.get_device_name(0) if d == "cuda" else "cpu"
            parts += [f"{d} ({name}), {args.obs_mode} observations" + ("" if final else " (run in progress)"), "",
                      env_preset_table(rs, d), ""]
        return "\n".join(parts + [f"Machine: {machine()}."])

    for d in devices:
        device = torch.device(d)
        for env_id in envs:
            for mode in modes:
                if args.budget_s and time.perf_counter() - began > args.budget_s:
                    rows[d].append({"env": env_id, "obs_mode": args.obs_mode, "compile": mode, "device": d,
                                    "error": f"not run: --budget-s {args.budget_s:g} spent"})
                    continue
                row = measure_env_preset(env_id, args.obs_mode, device, mode, seconds, min_calls, profile_steps)
                rows[d].append(row)
                print(env_preset_table([row], d).splitlines()[-1], f"({time.perf_counter() - began:.0f} s)", flush=True)
                if args.markdown_out:
                    _report(text(final=False), args.markdown_out, echo=False)
    print()
    return _report(text(final=True), args.markdown_out)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, "
            f"Python {platform.python_version()}; 1-min load average at the end: {load:.2f}")


def table(device_rows: dict[str, tuple[list[dict], float, float | None]]) -> str:
    lines = ["| Device | Update | Updates/s | GFLOP/update | Achieved GFLOP/s | % of 2048² float32 matmul |",
             "|---|---|---:|---:|---:|---:|"]
    for device, (rows, peak, bf16_peak) in device_rows.items():
        for r in rows:
            lines.append(f"| {device} | {r['case']} | {r['updates_per_s']:.2f} | {r['gflop_per_update']:.1f} | "
                         f"{r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f}% |")
        lines.append(f"| {device} | 2048x2048 float32 matmul | | | {peak:.1f} | 100% |")
        if bf16_peak is not None:
            lines.append(f"| {device} | 2048x2048 bfloat16 matmul | | | {bf16_peak:.1f} | {100 * bf16_peak / peak:.0f}% |")
    return "\n".join(lines)


def verdict(rows: list[dict], peak: float) -> str:
    model = next(r for r in rows if r["case"] == "model update (32 x 9 frames)")
    combined = next(r for r in rows if r["case"] == "model + actor-critic update (32 x 9 frames, 256 transitions)")
    ac = next(r for r in rows if r["case"].startswith("actor-critic update alone (256"))
    own = next(r for r in rows if r["case"].startswith("actor-critic update alone, MELD's way"))
    share = model["gflops"] / peak  # the model update: where the time goes in training
    best = max((r for r in rows if "bfloat16" not in r["case"]), key=lambda r: r["gflops"])
    parts = [
        f"model updates/s {model['updates_per_s']:.2f} = {model['updates_per_s'] / REFERENCE_MODEL_UPDATES_PER_S:.1f}x the reference "
        f"(target {SPEEDUP_TARGET:.0f}x: {'met' if model['updates_per_s'] >= SPEEDUP_TARGET * REFERENCE_MODEL_UPDATES_PER_S else 'not met'})",
        f"actor-critic updates/s as MELD trains (shared pass, with the model step) {combined['updates_per_s']:.2f} = "
        f"{combined['updates_per_s'] / REFERENCE_AC_UPDATES_PER_S:.1f}x the reference's 0.8 "
        f"({'met' if combined['updates_per_s'] >= SPEEDUP_TARGET * REFERENCE_AC_UPDATES_PER_S else 'not met'}); "
        f"re-encoding 256 x 9 frames alone: {ac['updates_per_s']:.2f}/s; "
        f"alone with MELD's own no-grad pass over 32 x 9 frames: {own['updates_per_s']:.2f}/s",
        f"the model update's share of the matmul FLOP/s {100 * share:.0f}% (target {100 * MATMUL_SHARE_TARGET:.0f}%: "
        f"{'met' if share >= MATMUL_SHARE_TARGET else 'not met'}; highest row: {100 * best['gflops'] / peak:.0f}%, {best['case']})",
    ]
    bf16 = next((r for r in rows if r["case"].startswith("model update") and "bfloat16" in r["case"]), None)
    if bf16 is not None:
        parts.append(f"with model.conv_dtype='bfloat16': {bf16['updates_per_s']:.2f} model updates/s "
                     f"({'meets' if bf16['updates_per_s'] >= SPEEDUP_TARGET * REFERENCE_MODEL_UPDATES_PER_S else 'misses'} the 2x target)")
    return "; ".join(parts) + "."


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short timings (smoke run)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    p.add_argument("--markdown-out", default=None, help="also write the table to this file")
    p.add_argument("--nav2d-state", action="store_true", help="only the Nav2D state preset's rows")
    p.add_argument("--compile", default="none", help="train.compile modes of the Nav2D state rows and of --env-presets, "
                                                     "comma-separated (none, default, reduce-overhead, max-autotune; "
                                                     "compiling takes minutes on a CPU)")
    p.add_argument("--e2e-steps", type=int, default=3200, help="env steps of the end-to-end run (0: none)")
    p.add_argument("--frames", type=int, default=41, help="frames per trial of the Nav2D state rows (41: stage 2's "
                                                          "two-episode trials; 21: stage 1's single episodes)")
    p.add_argument("--env-presets", action="store_true", help="only the per-environment preset rows (--envs, --device, "
                                                                "--obs-mode, --compile)")
    p.add_argument("--envs", default=None, help="env ids of --env-presets, comma-separated (default: every simulated env)")
    p.add_argument("--device", default=None, help="device(s) of --env-presets: cpu, cuda or cpu,cuda (default: cuda if "
                                                  "available, else cpu)")
    p.add_argument("--obs-mode", default="pixels", choices=("pixels", "state"), help="observations of --env-presets")
    p.add_argument("--budget-s", type=float, default=None, help="--env-presets: start no new row after this many seconds")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.env_presets:
        return run_env_presets(args)
    seconds, min_calls = (2.0, 2) if args.quick else (20.0, 5)
    nav_rows = [r for mode in args.compile.split(",")
                for r in measure_nav2d_state(mode.strip(), 2.0 if args.quick else 10.0, min_calls, 0 if args.quick else args.e2e_steps,
                                             args.frames)]
    if args.nav2d_state:
        return _report(nav2d_table(nav_rows) + f"\n\nMachine: {machine()}.", args.markdown_out)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    results = {}
    for device in devices:
        peak = matmul_gflops(device, 1.0 if args.quick else 3.0)
        rows = measure(device, seconds, min_calls)
        bf16_peak = None
        if device.type == "cpu" or torch.cuda.is_bf16_supported():
            bf16_peak = matmul_gflops(device, 1.0 if args.quick else 3.0, torch.bfloat16)
            rows += measure(device, seconds, min_calls, conv_dtype="bfloat16")
        results[device.type] = (rows, peak, bf16_peak)
    out = [table(results), "", nav2d_table(nav_rows), "", f"Machine: {machine()}.", ""]
    for device, (rows, peak, _) in results.items():
        out.append(f"{device}: {verdict(rows, peak)}")
    return _report("\n".join(out), args.markdown_out)


def _report(text: str, markdown_out: str | None, echo: bool = True) -> int:
    """Print ``text`` (unless ``echo`` is False) and, with ``--markdown-out``, write it there too."""
    if echo:
        print(text)
    if markdown_out:
        os.makedirs(os.path.dirname(markdown_out) or ".", exist_ok=True)
        with open(markdown_out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
