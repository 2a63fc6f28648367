"""Single-core environment throughput of meld-bench against Meta-World at the same image size.

    .venv/bin/python benchmarks/env_throughput.py                 # full run, ~40 s
    .venv/bin/python benchmarks/env_throughput.py --quick         # ~15-20 s smoke run
    .venv/bin/python benchmarks/env_throughput.py --markdown-out results/throughput.md

Measured, with the whole process pinned to one CPU:

* every simulated id in ``meld_envs.registry.SIMULATED``: steps/s with pixel observations (random
  actions, reset at episode end, made with ``gym.make``), steps/s with ``obs_mode="state"`` (same
  physics, no rendering) and the cost of one agent frame (``env.unwrapped._agent_view.render``);
* Meta-World ``reach-v3`` made with ``gym.make("Meta-World/MT1", env_name="reach-v3",
  render_mode="rgb_array", width=W, height=H)``: steps/s where a step is ``env.step`` +
  ``env.render()`` (its own ``rgb_array`` path, as shipped), its ``env.render()`` cost alone, and
  steps/s without rendering;
* the ratio of each meld pixel throughput to Meta-World's ``rgb_array`` throughput.

Targets: an agent frame costs <= 1 ms; pixel throughput >= 30x Meta-World's.
"""
from __future__ import annotations

import os


def _pin_to_one_cpu() -> int:
    """Pin this process (every thread it has now, and so every thread made later) to its first allowed CPU."""
    cpu = _CPU if "_CPU" in globals() else min(os.sched_getaffinity(0))
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except (ProcessLookupError, PermissionError):
            pass
    return cpu


# Before numpy, MuJoCo or OSMesa start threads of their own: they inherit the pinning.
_CPU = _pin_to_one_cpu()

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import meld_envs  # noqa: E402  (first: sets MUJOCO_GL / LP_NUM_THREADS before mujoco is imported)
import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

RENDER_TARGET_MS = 1.0
SPEEDUP_TARGET = 30.0
METAWORLD_TASK = "reach-v3"


@dataclass
class Rate:
    calls: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def ms_per_call(self) -> float:
        return 1e3 * self.seconds / self.calls


def measure(fn: Callable[[], None], seconds: float, warmup_seconds: float, min_calls: int) -> Rate:
    """Call ``fn`` for ``warmup_seconds`` (at least twice) untimed, then for at least ``seconds``
    and ``min_calls`` calls, timed with ``time.perf_counter``."""
    start, n = time.perf_counter(), 0
    while n < 2 or time.perf_counter() - start < warmup_seconds:
        fn()
        n += 1
    _pin_to_one_cpu()  # threads started since (Mesa's shader-cache thread sets its own affinity to all CPUs)
    n = 0
    start = time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= min_calls:
            return Rate(n, elapsed)


def measure_pair(a: Callable[[], None], b: Callable[[], None], seconds: float, warmup_seconds: float,
                 min_calls: int, rounds: int = 5) -> tuple[Rate, Rate]:
    """``a`` and ``b`` timed in alternating rounds; each one's median round.

    Two costs that are compared with each other (a frame's rendering and a step's physics) are
    measured under the same load this way, even when the machine's load drifts.
    """
    a_rounds, b_rounds = [], []
    for r in range(rounds):
        warm = warmup_seconds if r == 0 else 0.0
        a_rounds.append(measure(a, seconds / rounds, warm, max(2, min_calls // rounds)))
        b_rounds.append(measure(b, seconds / rounds, warm, max(2, min_calls // rounds)))
    median = lambda rates: sorted(rates, key=lambda x: x.ms_per_call)[len(rates) // 2]  # noqa: E731
    return median(a_rounds), median(b_rounds)


def stepper(env: gym.Env, render: bool = False, seed: int = 0) -> Callable[[], None]:
    """One random-action step (plus ``env.render()`` when ``render``); resets at episode end."""
    env.reset(seed=seed)
    env.action_space.seed(seed)

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if render:
            env.render()
        if terminated or truncated:
            env.reset()

    return step


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gl_renderer() -> str:
    """``GL_RENDERER`` of the backend that draws the agent's frames (e.g. llvmpipe), or '?'.

    Asked of a context made for the purpose: rendering leaves no meld context current."""
    from meld_envs import _gl

    return _gl.renderer_info().get("renderer", "?")


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def pinned_threads(cpu: int) -> tuple[int, int]:
    """(threads pinned to ``cpu`` alone, threads in all)."""
    tids = os.listdir("/proc/self/task")
    ok = 0
    for tid in tids:
        try:
            ok += os.sched_getaffinity(int(tid)) == {cpu}
        except ProcessLookupError:
            pass
    return ok, len(tids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement (default 3)")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed warm-up seconds per measurement (default 0.5)")
    parser.add_argument("--quick", action="store_true", help="smoke run of ~20 s (--seconds 1 --warmup 0.2)")
    parser.add_argument("--markdown-out", metavar="FILE", help="also write the markdown report to FILE")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup = 1.0, 0.2
    min_calls = 3 if args.quick else 10  # Meta-World's rgb_array path gives only a few steps per second

    warnings.filterwarnings("ignore")  # gymnasium's env checker complains about Meta-World's spaces
    import metaworld  # noqa: F401  (registers the Meta-World/ namespace)

    run = lambda fn: measure(fn, args.seconds, args.warmup, min_calls)  # noqa: E731
    rows: list[dict] = []
    renderer = "?"
    started = time.perf_counter()

    for e in meld_envs.registry.SIMULATED:
        env = gym.make(e.id, task=0)
        pixels = run(stepper(env))
        u = env.unwrapped
        agent_view, data = u._agent_view, u.data
        # a frame's rendering against one control step's physics (no Python around it), same load
        render, physics = measure_pair(lambda: agent_view.render(data),
                                       lambda: mujoco.mj_step(u.model, u.data, nstep=u.frame_skip),
                                       args.seconds, args.warmup, min_calls)
        renderer = gl_renderer()  # our GL context is current here
        frame = "x".join(map(str, agent_view.frame_shape))
        env.close()
        env = gym.make(e.id, task=0, obs_mode="state")
        state = run(stepper(env))
        env.close()
        log(f"{e.id}: pixels {pixels.per_second:.0f} steps/s ({pixels.calls} steps), state {state.per_second:.0f} "
            f"steps/s ({state.calls}), render {render.ms_per_call:.3f} ms/frame ({render.calls} frames)")
        rows.append(dict(name=f"`{e.id}`", frame=frame, pixels=pixels, state=state, render=render, physics=physics))

    # Meta-World at each of our frame sizes: one camera of the same total size (its rgb_array path)
    metaworld: dict[str, Rate] = {}
    for h, w in sorted({e.obs_shape[:2] for e in meld_envs.registry.SIMULATED}):
        env = gym.make("Meta-World/MT1", env_name=METAWORLD_TASK, render_mode="rgb_array", width=w, height=h, seed=0)
        mw_pixels = run(stepper(env, render=True))
        mw_render = run(env.render)
        shape = env.render().shape
        env.close()
        env = gym.make("Meta-World/MT1", env_name=METAWORLD_TASK, seed=0)
        mw_state = run(stepper(env))
        env.close()
        log(f"Meta-World {METAWORLD_TASK} {h}x{w}: step+render {mw_pixels.per_second:.1f} steps/s, physics "
            f"{mw_state.per_second:.0f} steps/s, render {mw_render.ms_per_call:.1f} ms/frame")
        frame = "x".join(map(str, shape))
        metaworld[frame] = mw_pixels
        rows.append(dict(name=f"Meta-World `{METAWORLD_TASK}`, `rgb_array` as shipped", frame=frame,
                         pixels=mw_pixels, state=mw_state, render=mw_render, physics=None))

    ok, total = pinned_threads(_CPU)
    gl = os.environ.get("MUJOCO_GL", "(unset)")
    lp = os.environ.get("LP_NUM_THREADS", "(unset)")
    machine = (f"{cpu_model()}, 1 core (pinned to CPU {_CPU} with os.sched_setaffinity; {ok}/{total} threads pinned; "
               f"{os.cpu_count()} logical CPUs on the machine); MUJOCO_GL={gl}, LP_NUM_THREADS={lp}, "
               f"GL_RENDERER={renderer}; mujoco {mujoco.__version__}, gymnasium {gym.__version__}, "
               f"metaworld {version('metaworld')}, meld-bench {meld_envs.__version__}, numpy {np.__version__}, "
               f"Python {platform.python_version()}, {platform.system()} {platform.release()}")

    lines = [
        "| Environment | Frame (HxWx3) | Pixel steps/s | State steps/s (no rendering) | Render ms/frame "
        "| Physics ms/step | Pixel steps/s ÷ Meta-World `rgb_array` same size |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r["pixels"].per_second / metaworld[r["frame"]].per_second
        physics_ms = f"{r['physics'].ms_per_call:.3f}" if r["physics"] else "–"
        lines.append(f"| {r['name']} | {r['frame']} | {r['pixels'].per_second:,.1f} | {r['state'].per_second:,.0f} "
                     f"| {r['render'].ms_per_call:.3f} | {physics_ms} | {ratio:,.0f}x |")
    ours = [r for r in rows if r["physics"] is not None]
    small = [r for r in ours if r["frame"] == "64x64x3"]
    two_camera = [r for r in ours if r["frame"] != "64x64x3"]
    worst_render = max(r["render"].ms_per_call for r in small)
    worst_ratio = min(r["pixels"].per_second / metaworld[r["frame"]].per_second for r in ours)
    render_vs_physics = max(r["render"].ms_per_call / r["physics"].ms_per_call for r in two_camera) if two_camera else 0.0
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    report = "\n".join([
        *lines,
        "",
        f"Machine: {machine}.",
        "",
        f"Settings: {args.seconds:g} s timed per measurement after {args.warmup:g} s warm-up (at least {min_calls} "
        f"calls); random actions, resets at episode end included; Meta-World steps are `env.step` + `env.render()`; "
        f"render columns time only the renderer call (meld: `env.unwrapped._agent_view.render(data)`, "
        f"Meta-World: `env.render()`).",
        "",
        f"Targets: a 64x64 agent frame <= {RENDER_TARGET_MS:g} ms: {verdict(worst_render <= RENDER_TARGET_MS)} "
        f"(slowest {worst_render:.3f} ms); the two-camera frames of the Sawyer tasks cost no more than the "
        f"physics of a step: {verdict(render_vs_physics <= 1.0)} (worst render/physics {render_vs_physics:.2f}); "
        f"pixel throughput >= {SPEEDUP_TARGET:g}x Meta-World's at the same size: "
        f"{verdict(worst_ratio >= SPEEDUP_TARGET)} (lowest {worst_ratio:,.0f}x).",
    ])
    print(report)
    log(f"total {time.perf_counter() - started:.0f} s")
    if args.markdown_out:
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown_out)), exist_ok=True)
        with open(args.markdown_out, "w") as f:
            f.write(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
