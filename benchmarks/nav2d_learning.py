"""Reproduce the Nav2D learning runs of BENCHMARKS.md ("Agent", "Learning"): train with snapshots, then
evaluate each snapshot with the slow learning test's protocol.

    python benchmarks/nav2d_learning.py train runs/nav_a --seed 0 --set sac.gamma=0.99 ...   # 100k steps, ~1 h 30 min
    python benchmarks/nav2d_learning.py eval runs/nav_a                                     # every snapshot not yet evaluated
    python benchmarks/nav2d_learning.py table runs/nav_a runs/nav_b
    python benchmarks/nav2d_learning.py tasks runs/nav_a/snapshots/100k                    # per test task
    python benchmarks/nav2d_learning.py plot runs/nav_a runs/nav_b --out nav2d_learning.png
    python benchmarks/nav2d_learning.py probe runs/nav_a/snapshots/100k                    # the belief and episode 2
    python benchmarks/nav2d_learning.py openings runs/nav_a/snapshots/80k                  # episode 2 in the replay
    python benchmarks/nav2d_learning.py branch runs/nav_a/snapshots/60k runs/nav_a_branch --steps 90000 --set sac.target_entropy=0

``train`` runs ``meld_agent.train`` in chunks of 10,000 env steps (the same schedule as one uninterrupted run,
see ``meld_agent/train.py``) on one torch thread, as the recorded runs did. After each chunk it copies the run's
checkpoint to ``<run>/snapshots/<N>k`` (itself a run folder, so ``load_run`` and ``meld_agent.evaluate`` read it;
the copy keeps the replay, ~30 MB in state mode, so a variant can be continued from any snapshot).
Killed, it continues from the last checkpoint when started again with the same arguments.

``eval`` is the protocol of ``tests/test_agent_learning.py``: 10 trials on each of the 10 held-out test tasks
(reset seeds 777...), MELD's mean action, sparse rewards; it writes ``<snapshot>/protocol.json`` (summary and
per-trial results) and appends one line per snapshot to ``<run>/protocol.jsonl``. ``table`` prints those lines as
Markdown: success, episode 1 / episode 2 return, and the paired episode-2 gain with its 95% bootstrap interval.

``branch`` continues a snapshot with changed ``sac.*``/``train.*`` settings in a new run folder, with snapshots as
``train`` makes them; its ``branched_from.json`` says from where and what changed.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

import meld_envs
from meld_agent import checkpoint
from meld_agent.config import MELDConfig, make_config, parse_override, with_overrides
from meld_agent.evaluate import load_run
from meld_agent.evaluation import summarize, validation_key
from meld_agent.networks import belief_latent_mean
from meld_agent.train import CHANGEABLE, CHECKPOINT, FIXED_IN_A_RUN, change_settings, train, write_run_files
from meld_envs.interface import RandomAgent, env_info, run_trials

ENV = "meld/Nav2D-v0"
CHUNK = 10_000
TRIALS, SEED = 10, 777  # as tests/test_agent_learning.py


def snapshot_dirs(run: str) -> list[tuple[int, str]]:
    """``(steps, folder)`` of the run's snapshots, in order."""
    root = os.path.join(run, "snapshots")
    if not os.path.isdir(root):
        return []
    found = [(int(name[:-1]) * 1000, os.path.join(root, name)) for name in os.listdir(root) if name.endswith("k") and name[:-1].isdigit()]
    return sorted(found)


def train_with_snapshots(run: str, steps: int, config: MELDConfig, chunk: int = CHUNK, start: int = 0) -> None:
    """Train ``config`` into ``run`` up to ``steps`` env steps, copying the checkpoint to ``snapshots/<N>k`` every
    ``chunk`` steps after ``start`` (where a branched run's checkpoint begins)."""
    torch.set_num_threads(1)
    resume = os.path.exists(os.path.join(run, "config.json"))  # a run folder, with or without a checkpoint yet
    if resume:
        with open(os.path.join(run, "config.json")) as f:
            saved = MELDConfig.from_dict(json.load(f))  # fields added since the run started take their defaults
            if saved != config:
                raise ValueError(f"{run!r} holds a run with another config; use the same --seed/--set or another folder")
    done = {s for s, _ in snapshot_dirs(run)}
    for target in range(start + chunk, steps + 1, chunk):
        snap = os.path.join(run, "snapshots", f"{target // 1000}k")
        if target in done:
            continue
        last = train(config, target, run, eval_every=chunk, resume=resume, progress=False)
        resume = True
        partial = snap + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        shutil.copy(os.path.join(run, "config.json"), partial)
        shutil.copytree(os.path.join(run, CHECKPOINT), os.path.join(partial, CHECKPOINT))
        os.replace(partial, snap)
        print(f"{run}: {target} steps, quick eval success {last['eval/success']:.2f}", flush=True)


def branch(snapshot: str, run: str, steps: int, overrides: list[str], chunk: int = CHUNK) -> None:
    """Continue ``snapshot`` (networks, optimizers, replay, counters) in a new run folder ``run`` with ``overrides``
    (``sac.*``, ``train.*`` and ``extensions.*`` fields that keep the networks' shapes), with snapshots as ``train`` makes them: a cheap
    way to see what a change does from a trained agent. Started again with the same arguments, it continues."""
    with open(os.path.join(snapshot, "config.json")) as f:
        base = MELDConfig.from_dict(json.load(f))
    changes = dict(parse_override(s) for s in overrides)
    bad = [k for k in changes if not k.startswith(CHANGEABLE) or k in FIXED_IN_A_RUN]
    if bad:
        raise ValueError(f"branch cannot change {', '.join(bad)}; allowed: {', '.join(c + '*' for c in CHANGEABLE)} fields "
                         f"except {', '.join(FIXED_IN_A_RUN)}")
    config = with_overrides(base, changes)
    state = checkpoint.load_state(os.path.join(snapshot, CHECKPOINT))
    start = int(ast.literal_eval(state["extra"])["budget_spent"])
    if steps <= start or (steps - start) % chunk:
        raise ValueError(f"--steps {steps}: the snapshot is at {start} steps; give more, by a multiple of --chunk ({chunk})")
    if not os.path.exists(os.path.join(run, CHECKPOINT)):
        if os.path.exists(run):
            raise FileExistsError(f"{run!r} exists but holds no run; branch into a new folder")
        partial = run + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_run_files(partial, base, chunk, 1, None)  # train's own files, as train_with_snapshots makes them
        shutil.copytree(os.path.join(snapshot, CHECKPOINT), os.path.join(partial, CHECKPOINT))
        change_settings(partial, changes)  # the checkpoint's agent is now this config's
        with open(os.path.join(partial, "branched_from.json"), "w") as f:
            json.dump({"snapshot": os.path.abspath(snapshot), "steps": start, "overrides": changes}, f, indent=1)
        os.replace(partial, run)
    train_with_snapshots(run, steps, config, chunk, start)


SPLITS = {  # split -> (trials per task, reset seed, per-snapshot file, per-run log)
    "test": (TRIALS, SEED, "protocol.json", "protocol.jsonl"),  # the slow test's final evaluation
    "train": (4, 555, "validation.json", "validation.jsonl"),  # the slow test's checkpoint choice: 120 trials on the 30 train tasks
}


def evaluate_snapshots(run: str, only: list[int] | None, trials: int | None = None, split: str = "test") -> None:
    torch.set_num_threads(1)
    default_trials, seed, name, log_name = SPLITS[split]
    trials = trials or default_trials
    log = os.path.join(run, log_name)
    seen = set()
    if os.path.exists(log):
        with open(log) as f:
            seen = {json.loads(line)["steps"] for line in f if line.strip()}
    for steps, snap in snapshot_dirs(run):
        if steps in seen or (only and steps // 1000 not in only):
            continue
        agent = load_run(snap)
        results = run_trials(agent, ENV, split, None, trials, "state", seed=seed)
        agent.close()
        summary = summarize(results)
        tmp = os.path.join(snap, name + ".partial")
        with open(tmp, "w") as f:
            json.dump({"summary": summary, "trials": [dataclasses.asdict(r) for r in results]}, f)
        os.replace(tmp, os.path.join(snap, name))
        with open(log, "a") as f:
            f.write(json.dumps({"steps": steps, "trials_per_task": trials, **summary}) + "\n")
        print(row(run, {"steps": steps, **summary}), flush=True)


def select(runs: list[str]) -> None:
    """Per run and snapshot, the validation on train tasks (``eval --split train``) next to the held-out result
    (``eval``, where it has run), with the snapshot the slow test would keep marked: the best ``validation_key`` on the
    train tasks, with the success floor the test asserts on held-out tasks (the random policy's + 0.3, here on the
    same train trials)."""
    trials, seed, _, log_name = SPLITS["train"]
    floor = summarize(run_trials(RandomAgent(env_info(ENV, "state"), seed=0), ENV, "train", None, trials, "state", seed=seed))["eval/success"] + 0.3
    print(f"Train tasks: {trials} trials per task, reset seeds {seed}..., success floor {floor:.2f}. Held-out: the slow "
          "test's protocol. Kept: the snapshot the slow test keeps.\n")
    print("| run | steps | train: success | ep 1 / ep 2 | gain [95% CI] | held-out: success | ep 1 / ep 2 | gain [95% CI] | kept |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        rows = protocol_rows(run, log_name)
        best = max(rows, key=lambda r: validation_key(r, floor))
        test = {r["steps"]: r for r in protocol_rows(run)} if os.path.exists(os.path.join(run, "protocol.jsonl")) else {}
        for r in rows:
            held_out = cells(test[r["steps"]]) if r["steps"] in test else " not evaluated | | |"
            print(row(run, r) + held_out + (" kept |" if r is best else " |"))


def row(run: str, s: dict) -> str:
    return f"| {os.path.basename(run.rstrip('/'))} | {s['steps'] // 1000}k |{cells(s)}"


def cells(s: dict) -> str:
    """`` success | ep 1 / ep 2 return | gain [95% CI] |`` of one evaluation summary."""
    return (f" {s['eval/success']:.2f} | {s['eval/return_ep1']:.1f} / {s['eval/return_ep2']:.1f} | "
            f"{s['eval/return_gain']:+.2f} [{s['eval/return_gain_low']:.2f}, {s['eval/return_gain_high']:.2f}] |")


def table(runs: list[str]) -> None:
    print("| run | steps | success | return ep 1 / ep 2 | gain [95% CI] |\n|---|---|---|---|---|")
    for run in runs:
        for line in protocol_rows(run):
            print(row(run, line))


def protocol_rows(run: str, log_name: str = "protocol.jsonl") -> list[dict]:
    with open(os.path.join(run, log_name)) as f:
        return sorted((json.loads(x) for x in f if x.strip()), key=lambda r: r["steps"])


def plot(runs: list[str], out: str) -> None:
    """Success and the paired episode-2 gain (95% interval shaded) against env steps, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_s, ax_g) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        rows = protocol_rows(run)
        x = [r["steps"] / 1000 for r in rows]
        name = os.path.basename(run.rstrip("/"))
        ax_s.plot(x, [r["eval/success"] for r in rows], marker="o", label=name)
        line, = ax_g.plot(x, [r["eval/return_gain"] for r in rows], marker="o", label=name)
        ax_g.fill_between(x, [r["eval/return_gain_low"] for r in rows], [r["eval/return_gain_high"] for r in rows],
                          color=line.get_color(), alpha=0.2)
    ax_s.set(xlabel="env steps (thousands)", ylabel="test success (100 trials)", ylim=(0, 1), title="success at the end of episode 2")
    ax_g.axhline(0, color="k", lw=0.8)
    ax_g.set(xlabel="env steps (thousands)", ylabel="return ep 2 - ep 1", title="paired episode-2 gain, 95% interval")
    for ax in (ax_s, ax_g):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("MELD, Nav2D (state), held-out tasks, sparse reward: the slow test's protocol")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def tasks_table(snapshot: str) -> None:
    """Per test task, from ``<snapshot>/protocol.json``: success, episode 1 / 2 return, the first step on the goal
    in each episode (mean over trials that reach it), and episode 2's return after episode 1 found the goal or not."""
    with open(os.path.join(snapshot, "protocol.json")) as f:
        trials = json.load(f)["trials"]
    goals = {t.index: math.degrees(t.params["goal_angle"]) for t in meld_envs.tasks(ENV, "test")}
    print("| task (goal) | success | return ep 1 / ep 2 | first step on goal ep 1 / ep 2 | ep 2 after a find (n) | ep 2 after a miss (n) |")
    print("|---|---|---|---|---|---|")
    for task in sorted({t["task"] for t in trials}):
        rows = [t for t in trials if t["task"] == task]
        length = len(rows[0]["rewards"]) // 2
        first = [[next((i for i, r in enumerate(t["rewards"][k * length:(k + 1) * length]) if r > 0), None) for k in (0, 1)] for t in rows]
        reach = [[f[k] for f in first if f[k] is not None] for k in (0, 1)]
        found = [t["episode_returns"][1] for t, f in zip(rows, first) if f[0] is not None]
        missed = [t["episode_returns"][1] for t, f in zip(rows, first) if f[0] is None]
        mean = lambda xs: f"{sum(xs) / len(xs):.1f}" if xs else "-"  # noqa: E731
        print(f"| {task} ({goals[task]:.0f}°) | {sum(t['episode_success'][-1] for t in rows) / len(rows):.1f} | "
              f"{mean([t['episode_returns'][0] for t in rows])} / {mean([t['episode_returns'][1] for t in rows])} | "
              f"{mean(reach[0])} / {mean(reach[1])} | {mean(found)} ({len(found)}) | {mean(missed)} ({len(missed)}) |")


class _Recorder:
    """An agent for ``run_trials`` that passes every call to ``agent`` and keeps, per trial, the belief the actor
    reads and the observation acted on at each step."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.trials: list[tuple[list, list]] = []
        self.hook = agent.learner.actor.register_forward_pre_hook(lambda module, args: self.trials[-1][0].append(args[0][0].clone()))

    def reset(self) -> None:
        self.agent.reset()
        self.trials.append(([], []))

    def act(self, obs, reward: float = 0.0, info: dict | None = None):
        self.trials[-1][1].append(np.asarray(obs)[:2].copy())
        return self.agent.act(obs, reward, info)


def _probe_trials(agent, split: str, trials: int, seed: int) -> list[dict]:
    """The evaluation's trials (``run_trials``) of ``agent`` on every ``split`` task, with the belief the actor reads
    and the robot's position at each step and the sparse rewards; ``found``: episode 1 reached the goal."""
    recorder = _Recorder(agent)
    try:
        results = run_trials(recorder, ENV, split, None, trials, "state", seed=seed)
    finally:
        recorder.hook.remove()
    goals = [t.params["goal_angle"] for t in meld_envs.tasks(ENV, split)]
    rows = []
    for result, (beliefs, positions) in zip(results, recorder.trials):
        half = len(result.rewards) // 2
        rows.append({"goal": goals[result.task], "found": any(r > 0 for r in result.rewards[:half]), "half": half,
                     "belief": torch.stack(beliefs).numpy(), "positions": np.array(positions), "rewards": np.array(result.rewards)})
    return rows


GRID = torch.linspace(-1.0, 1.0, 21)  # the critic is asked about every action of this grid over the action box


@torch.no_grad()
def _opening(agent, belief: torch.Tensor) -> np.ndarray:
    """Per belief ``[N, D]``: the angle (degrees) of the actor's mean action, its largest |component| (1: the tanh is
    saturated), the angle of the grid action the critic (the smaller of the twin Qs) rates highest, the spread
    max - min of Q over the grid, and the critic's pull on the actor's angle: dQ/dtheta at the mean action when it is
    turned about the start (per radian; > 0: Q rises towards larger angles); ``[N, 5]``. The grid covers the whole box:
    its corners are Nav2D's fastest actions (0.35 m per step against 0.25 m along an axis), so a unit-circle grid would
    miss the critic's favourite."""
    actions = torch.cartesian_prod(GRID, GRID)  # [K, 2]
    n, k = belief.shape[0], actions.shape[0]
    q1, q2 = agent.learner.critic(belief.repeat_interleave(k, 0), actions.repeat(n, 1))
    q = torch.minimum(q1, q2).view(n, k)
    mean, _ = agent.learner.actor(belief, deterministic=True)
    best = actions[q.argmax(1)]
    with torch.enable_grad():
        at = mean.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(torch.minimum(*agent.learner.critic(belief, at)).sum(), at)
    pull = (grad * torch.stack([-mean[:, 1], mean[:, 0]], dim=1)).sum(1)  # along d(action)/dtheta = (-a_y, a_x)
    return torch.stack([torch.rad2deg(torch.atan2(mean[:, 1], mean[:, 0])), mean.abs().amax(1),
                        torch.rad2deg(torch.atan2(best[:, 1], best[:, 0])), q.max(1).values - q.min(1).values, pull], dim=1).numpy()


@torch.no_grad()
def _reward_error(agent, rows: list[dict]) -> dict[str, float]:
    """Does the model remember a found goal across the reset? The mean |error| of its reward prediction (p(r|z) at the
    belief's means, the paper's Figure 6 view) against the shaped reward, -distance to the goal, over episode 2's frames
    2-6: against the trial's own goal and against the other found goals (``rows`` with a goal > 17° away). A model that
    remembers fits its own goal better; episode 1 before the find is the error without knowledge. Episode 2's first frame
    is left out: the reward given with it is episode 1's last (the trial's reward for the step that ended episode 1)."""
    model = agent.learner.model
    z1, z2 = model.config.latent1_size, model.config.latent2_size
    goals = sorted({r["goal"] for r in rows})
    spans: dict[str, list[float]] = {"episode 1 before the find": [], "episode 2, frames 2-6, own goal": [],
                                     "episode 2, frames 2-6, other found goals": []}
    for r in rows:
        belief = torch.as_tensor(r["belief"], dtype=torch.float32)
        predicted = model.decode_reward(belief_latent_mean(belief, z1, z2))[0].numpy()
        half, found = r["half"], int(np.argmax(r["rewards"][:r["half"]] > 0))

        def error(goal: float, frames: slice) -> list[float]:
            target = -np.linalg.norm(r["positions"][frames] - [math.cos(goal), math.sin(goal)], axis=1)
            return list(np.abs(predicted[frames] - target))

        spans["episode 1 before the find"] += error(r["goal"], slice(0, found))
        spans["episode 2, frames 2-6, own goal"] += error(r["goal"], slice(half + 1, half + 6))
        for other in (g for g in goals if abs(g - r["goal"]) > 0.3):
            spans["episode 2, frames 2-6, other found goals"] += error(other, slice(half + 1, half + 6))
    return {name: float(np.mean(values)) if values else float("nan") for name, values in spans.items()}


def _circular_mean(degrees) -> float:
    radians = np.radians(np.asarray(degrees))
    return float(np.degrees(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean())))


def probe(snapshot: str, train_trials: int = 6, trials: int = TRIALS) -> None:
    """Does the belief hold the goal after episode 1, and does episode 2 use it? A ridge regression from the belief
    (the actor's input) to the goal direction, fitted on train-task trials whose episode 1 found the goal and scored
    on such trials of the held-out test tasks, at four frames; then, per test goal, where episode 2 is after 3 steps."""
    torch.set_num_threads(1)
    agent = load_run(snapshot)
    train_rows = [r for r in _probe_trials(agent, "train", train_trials, 4242) if r["found"]]
    test_rows = [r for r in _probe_trials(agent, "test", trials, SEED) if r["found"]]
    for r in test_rows:
        r["opening"] = _opening(agent, torch.as_tensor(r["belief"][[0, r["half"]]], dtype=torch.float32))
    reward_error = _reward_error(agent, test_rows)
    agent.close()
    if not train_rows or not test_rows:
        raise ValueError(f"{snapshot!r}: episode 1 found no goal in {'train' if not train_rows else 'test'} trials; nothing to probe")

    def data(rows, frame):
        x = np.stack([np.r_[r["belief"][frame], 1.0] for r in rows])
        return x, np.stack([[math.cos(r["goal"]), math.sin(r["goal"])] for r in rows])

    half = test_rows[0]["half"]
    print(f"{len(train_rows)} train and {len(test_rows)} test trials whose episode 1 found the goal")
    print("| belief at | R² (test tasks) | mean angle error |\n|---|---|---|")
    for frame, name in [(0, "first frame of episode 1"), (half - 1, "last frame of episode 1"),
                        (half, "first frame of episode 2"), (2 * half - 1, "last frame of episode 2")]:
        x, y = data(train_rows, frame)
        w = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ y)  # ridge, lambda 1
        x, y = data(test_rows, frame)
        pred = x @ w
        r2 = 1 - ((pred - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum()
        error = np.abs(np.degrees(np.arctan2(pred[:, 1], pred[:, 0]) - np.arctan2(y[:, 1], y[:, 0])))
        print(f"| {name} | {r2:.2f} | {np.minimum(error, 360 - error).mean():.1f}° |")
    print("\nThe model's reward prediction against the shaped reward (mean |error|), test trials whose episode 1 found the goal:\n")
    print("| " + " | ".join(reward_error) + " |\n|" + "---|" * len(reward_error))
    print("| " + " | ".join(f"{v:.2f}" for v in reward_error.values()) + " |")
    print("\nEpisode 2's opening: where the robot is after 3 steps; at episode 2's first frame, the direction of the actor's "
          "mean action (with its largest |component|: 1.00 is a saturated tanh) and of the action the critic rates highest "
          "over the action box (Q spread over the box), the critic's pull on the actor's angle there (dQ/dtheta per radian, > 0: "
          "turn to larger angles), with the same at episode 1's first frame, where nothing is known yet.\n")
    print("| goal | trials (episode 1 found it) | episode 2 after 3 steps: angle, distance from start | actor (max abs) / critic's "
          "best, episode 2 (Q spread) | critic's pull, episode 2 | actor (max abs) / critic's best, episode 1 | "
          "return ep 1 / ep 2 |\n|---|---|---|---|---|---|---|")
    for goal in sorted({r["goal"] for r in test_rows}):
        rows = [r for r in test_rows if r["goal"] == goal]
        at = np.stack([r["positions"][half + 3] for r in rows])
        first, second = np.stack([r["opening"][0] for r in rows]), np.stack([r["opening"][1] for r in rows])
        print(f"| {math.degrees(goal):.0f}° | {len(rows)} | {_circular_mean(np.degrees(np.arctan2(at[:, 1], at[:, 0]))):.0f}°, "
              f"{np.linalg.norm(at, axis=1).mean():.2f} m | {_circular_mean(second[:, 0]):.0f}° ({second[:, 1].mean():.2f}) / "
              f"{_circular_mean(second[:, 2]):.0f}° ({second[:, 3].mean():.2f}) | {second[:, 4].mean():+.2f} | {_circular_mean(first[:, 0]):.0f}° "
              f"({first[:, 1].mean():.2f}) / {_circular_mean(first[:, 2]):.0f}° | "
              f"{np.mean([r['rewards'][:half].sum() for r in rows]):.1f} / {np.mean([r['rewards'][half:].sum() for r in rows]):.1f} |")


def openings(snapshot: str, recent: int = 20, steps: int = 3) -> None:
    """What the actor-critic learns episode 2's opening from: in the snapshot's replay, the last ``recent`` trials of
    each train task whose episode 1 found the goal, per 30 degrees of goal angle: where the robot is ``steps`` steps
    into episode 2 (circular mean and spread of its angle) and the sparse return of both episodes. An opening that
    explores around the remembered goal shows angles that follow the goal; a fixed one, the same angle for every bin."""
    folder = os.path.join(snapshot, CHECKPOINT)
    with open(os.path.join(folder, "replay.json")) as f:
        meta = json.load(f)
    obs = np.load(os.path.join(folder, "replay_obs.npy"), mmap_mode="r")
    sparse = np.load(os.path.join(folder, "replay_sparse_reward.npy"), mmap_mode="r")
    half = (meta["trial_frames"] - 1) // 2  # frame `half` is episode 2's first; rewards 1..half are episode 1's
    goals = [math.degrees(t.params["goal_angle"]) for t in meld_envs.tasks(ENV, "train")]
    rows = []
    for task, count in enumerate(meta["counts"]):
        for k in range(min(recent, count, meta["capacity"])):
            slot = (count - 1 - k) % meta["capacity"]
            reward = np.asarray(sparse[task, slot])
            if reward[1:half + 1].sum() > 0:
                x, y = obs[task, slot, half + steps, :2]
                rows.append((goals[task], math.degrees(math.atan2(y, x)), reward[1:half + 1].sum(), reward[half + 1:].sum(),
                             math.hypot(x, y)))
    if not rows:
        raise ValueError(f"{snapshot!r}: no trial in the replay whose episode 1 found the goal")
    rows = np.array(rows)
    print(f"replay of {snapshot}: the last {recent} trials of each train task, those whose episode 1 found the goal\n")
    print(f"| goal | trials | episode 2 after {steps} steps: angle (spread) | sparse return ep 1 / ep 2 |\n|---|---|---|---|")
    for low in range(0, 180, 30):
        sel = rows[(rows[:, 0] >= low) & (rows[:, 0] < low + 30)]
        if len(sel):
            radians = np.radians(sel[:, 1])
            length = np.hypot(np.sin(radians).mean(), np.cos(radians).mean())  # circular spread: sqrt(-2 ln R)
            spread = math.degrees(math.sqrt(max(0.0, -2 * math.log(max(length, 1e-12)))))
            print(f"| {low}-{low + 30}° | {len(sel)} | {_circular_mean(sel[:, 1]):.0f}° ({spread:.0f}°) | "
                  f"{sel[:, 2].mean():.1f} / {sel[:, 3].mean():.1f} |")
    off = np.abs((rows[:, 1] - rows[:, 0] + 180) % 360 - 180)
    print(f"\nThe same trials by how far from the goal's direction episode 2 is after {steps} steps: what the critic can learn "
          "the opening's worth from\n")
    print("| off the goal by | trials | distance from the start | sparse return ep 2 |\n|---|---|---|---|")
    for low, high in ((0, 15), (15, 30), (30, 60), (60, 90), (90, 181)):
        sel = rows[(off >= low) & (off < high)]
        if len(sel):
            print(f"| {low}-{min(high, 180)} deg | {len(sel)} | {sel[:, 4].mean():.2f} m | {sel[:, 3].mean():.1f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train with a snapshot every 10,000 env steps")
    t.add_argument("run")
    t.add_argument("--steps", type=int, default=100_000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="config override (repeatable)")
    t.add_argument("--chunk", type=int, default=CHUNK, help="env steps between snapshots, a multiple of 1000 (default: %(default)s)")
    r = sub.add_parser("branch", help="continue a snapshot in a new folder with changed sac.* / train.* settings")
    r.add_argument("snapshot", help="e.g. runs/nav_a/snapshots/60k")
    r.add_argument("run", help="a new folder")
    r.add_argument("--steps", type=int, required=True, help="train until this many env steps in all (snapshot's included)")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="the change (repeatable)")
    r.add_argument("--chunk", type=int, default=CHUNK, help="env steps between snapshots, a multiple of 1000 (default: %(default)s)")
    e = sub.add_parser("eval", help="the slow test's protocol on every snapshot not yet evaluated")
    e.add_argument("run")
    e.add_argument("--at", type=int, nargs="*", metavar="K", help="only these snapshots, in thousands of steps")
    e.add_argument("--trials", type=int, default=None, help="trials per task (default: 10 on test, 4 on train, the slow test's)")
    e.add_argument("--split", choices=tuple(SPLITS), default="test", help="test: the final protocol; train: the checkpoint choice")
    c = sub.add_parser("select", help="the snapshot the slow test would keep (chosen on train tasks) and its held-out result")
    c.add_argument("runs", nargs="+")
    b = sub.add_parser("table", help="Markdown table of the evaluated snapshots")
    b.add_argument("runs", nargs="+")
    g = sub.add_parser("plot", help="success and episode-2 gain against env steps")
    g.add_argument("runs", nargs="+")
    g.add_argument("--out", required=True, help="image file, e.g. nav2d_learning.png")
    d = sub.add_parser("tasks", help="per-task table of one evaluated snapshot")
    d.add_argument("snapshot", help="e.g. runs/nav_a/snapshots/100k")
    q = sub.add_parser("probe", help="does the belief hold the goal after episode 1, and does episode 2 use it?")
    q.add_argument("snapshot", help="e.g. runs/nav_a/snapshots/100k")
    q.add_argument("--train-trials", type=int, default=6, help="trials per train task to fit the probe (default: %(default)s)")
    q.add_argument("--trials", type=int, default=TRIALS, help="trials per test task to score it (default: %(default)s)")
    o = sub.add_parser("openings", help="episode 2's openings in a snapshot's replay, per goal (what the critic learns from)")
    o.add_argument("snapshot", help="e.g. runs/nav_a/snapshots/80k")
    o.add_argument("--recent", type=int, default=20, help="latest trials per train task (default: %(default)s)")
    args = p.parse_args(argv)
    try:
        if args.command in ("train", "branch") and (args.chunk <= 0 or args.chunk % 1000):
            p.error(f"--chunk {args.chunk}: must be a positive multiple of 1000")
        if args.command == "train":
            if args.steps <= 0 or args.steps % args.chunk:
                p.error(f"--steps {args.steps}: must be a positive multiple of --chunk ({args.chunk})")
            config = make_config(ENV, obs_mode="state", seed=args.seed, **dict(parse_override(s) for s in args.set))
            train_with_snapshots(args.run, args.steps, config, args.chunk)
        elif args.command == "branch":
            branch(args.snapshot, args.run, args.steps, args.set, args.chunk)
        elif args.command == "eval":
            evaluate_snapshots(args.run, args.at, args.trials, args.split)
        elif args.command == "select":
            select(args.runs)
        elif args.command == "plot":
            plot(args.runs, args.out)
        elif args.command == "tasks":
            tasks_table(args.snapshot)
        elif args.command == "probe":
            probe(args.snapshot, args.train_trials, args.trials)
        elif args.command == "openings":
            openings(args.snapshot, args.recent)
        else:
            table(args.runs)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
