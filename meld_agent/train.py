"""Meta-train MELD on an environment's train tasks, evaluating on held-out tasks as it goes.

    python -m meld_agent.train --env meld/Nav2D-v0 --steps 200000 --out runs/nav
    python -m meld_agent.train --out runs/nav --steps 200000 --resume        # after a kill: continues exactly
    python -m meld_agent.train --out runs/nav --steps 300000 --resume --set extensions.n_step=6   # on, with changed settings
    python -m meld_agent.train --env meld/Nav2D-v0 --obs-mode state --set train.model_train_ratio=0.2 ...

The run folder gets ``config.json`` (and ``config.md``, the same as a table), ``metrics.csv`` and
``tb/`` (TensorBoard: ``charts/``, ``losses/``, ``eval/``) and ``checkpoint/`` (rewritten atomically
after every evaluation). Training proceeds in chunks of ``--eval-every`` env steps, each followed by
an evaluation (Algorithm 2 on test tasks) and a checkpoint; the chunking is part of the run, so
``--resume`` replays the same schedule and reaches the same weights as an uninterrupted run.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
from typing import Any

import torch
from tqdm import tqdm

import meld_envs
from meld_agent import checkpoint
from meld_agent.agent import MELD
from meld_agent.config import MELDConfig, make_config, parse_override, presets_table, with_overrides
from meld_agent.evaluation import summarize
from meld_agent.logger import RunLogger
from meld_envs.interface import TrainContext, run_trials

CHECKPOINT = "checkpoint"
CHANGEABLE = ("sac.", "train.", "extensions.")  # sections a run may change once started (change_settings)
FIXED_IN_A_RUN = ("sac.hidden_sizes", "train.num_train_tasks", "train.two_stage", "extensions.episode_start_input")  # shapes


def write_run_files(out: str, config: MELDConfig, eval_every: int, eval_trials: int, eval_tasks: int | None) -> None:
    """A new run folder's ``config.json``, ``config.md`` (the same as a table) and ``trainer.json`` (the schedule a
    resumed run keeps)."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write(config.to_json())
    with open(os.path.join(out, "config.md"), "w") as f:
        f.write(config.table() + "\n")
    with open(os.path.join(out, "trainer.json"), "w") as f:
        json.dump({"eval_every": eval_every, "eval_trials": eval_trials, "eval_tasks": eval_tasks,
                   "renderer": meld_envs.renderer_info()}, f)  # observations differ in the last bits between renderers


def change_settings(out: str, overrides: dict[str, Any]) -> MELDConfig:
    """Go on with the run in ``out`` under changed ``sac.*`` / ``train.*`` / ``extensions.*`` settings from its checkpoint on: a schedule
    such as the Nav2D learning test's (tests/test_agent_learning.py), or ``train --resume --set ...``. The networks,
    optimizers, replay, counters and RNG states stay as they are; ``config.json``, ``config.md`` and the checkpoint's
    config become the new config (optimizers take its learning rates on load), and ``settings.jsonl`` records the change
    and the step it took effect. Settings equal to the run's are no change, so calling it again after a kill completes
    it. Fields outside those sections (and ``FIXED_IN_A_RUN``) would change the networks' or replay's shapes:
    a ``ValueError`` names them. Returns the new config."""
    with open(os.path.join(out, "config.json")) as f:
        base = MELDConfig.from_dict(json.load(f))
    config = with_overrides(base, overrides)
    old, new = base.flat(), config.flat()
    changed = {k: new[k] for k in new if new[k] != old[k]}
    bad = [k for k in changed if not k.startswith(CHANGEABLE) or k in FIXED_IN_A_RUN]
    if bad:
        raise ValueError(f"a run cannot change {', '.join(bad)} once started; allowed: sac.*, train.* and extensions.* "
                         f"fields except {', '.join(FIXED_IN_A_RUN)}")
    ckpt = os.path.join(out, CHECKPOINT)
    state = checkpoint.load_state(ckpt)
    if MELDConfig.from_dict(json.loads(state["config"])) != config:
        state["config"] = config.to_json()

        def keep_replay(folder: str) -> list[str]:
            names = sorted(n for n in os.listdir(ckpt) if n.startswith("replay"))
            for name in names:
                shutil.copy(os.path.join(ckpt, name), folder)
            return names

        checkpoint.save(ckpt, state, keep_replay)
    if changed:  # config.json last: until it is written, calling again redoes the change
        spent = int(ast.literal_eval(state.get("extra", "{}")).get("budget_spent", 0))
        with open(os.path.join(out, "settings.jsonl"), "a") as f:
            f.write(json.dumps({"from_steps": spent, "changes": changed}) + "\n")
        for name, text in (("config.md", config.table() + "\n"), ("config.json", config.to_json())):
            with open(os.path.join(out, name + ".partial"), "w") as f:
                f.write(text)
            os.replace(os.path.join(out, name + ".partial"), os.path.join(out, name))
    return config


def open_run(agent: Any, out: str, resume: bool) -> tuple[int, dict[str, float], RunLogger]:
    """``(budget spent, last evaluation, logger)`` of the run in ``out`` for ``agent`` (any agent of this repository):
    a resumed run restores the newest complete checkpoint and reopens its logs cut back to it, so nothing logged after
    the checkpoint appears twice; a resumed run without a checkpoint yet starts over, and says so."""
    ckpt = os.path.join(out, CHECKPOINT)
    spent, last_eval, keep_rows, purge_step = 0, {}, None, None
    if resume and checkpoint.recover(ckpt):
        extra = agent.load(ckpt)
        spent, last_eval = int(extra["budget_spent"]), dict(extra.get("last_eval", {}))
        keep_rows, purge_step = extra.get("log_rows"), int(agent.counters["env_steps"]) + 1
    elif resume:
        print(f"{out}: no checkpoint yet, so training starts from step 0", file=sys.stderr)
        keep_rows, purge_step = 0, 0
    logger = RunLogger(out, keep_rows=keep_rows, purge_step=purge_step)
    agent.logger = logger
    return spent, last_eval, logger


def train(config: MELDConfig, steps: int, out: str, eval_every: int = 10_000, eval_trials: int = 1,
          eval_tasks: int | None = None, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Meta-train ``config`` for ``steps`` env steps into run folder ``out``; returns the last evaluation."""
    ckpt = os.path.join(out, CHECKPOINT)
    state_path = os.path.join(out, "trainer.json")
    if resume:
        with open(os.path.join(out, "config.json")) as f:
            config = MELDConfig.from_dict(json.load(f))
        with open(state_path) as f:
            schedule = json.load(f)
        eval_every, eval_trials, eval_tasks = schedule["eval_every"], schedule["eval_trials"], schedule["eval_tasks"]
    check_schedule(config.env_id, steps, eval_every, eval_trials, eval_tasks)
    if not resume:
        if checkpoint.recover(ckpt) or os.path.exists(os.path.join(out, "metrics.csv")):
            raise FileExistsError(f"{out!r} already holds a run; pass --resume to continue it or choose another --out")
        write_run_files(out, config, eval_every, eval_trials, eval_tasks)
    agent = MELD(config)
    if config.replay.storage == "disk" and config.replay.directory is None:
        agent.replay_directory = os.path.join(out, "replay")
    spent, last_eval, logger = open_run(agent, out, resume)
    ctx = TrainContext(agent.env_info, config.obs_mode, config.train.num_train_tasks)
    tasks = None if eval_tasks is None else list(range(eval_tasks))
    bar = tqdm(total=steps, initial=min(spent, steps), unit="step", disable=not progress, dynamic_ncols=True,
               desc=f"MELD {config.env_id}")
    try:
        while spent < steps:
            chunk = min(eval_every, steps - spent)
            ctx.allow(chunk)
            agent.meta_train(ctx, chunk)
            spent += chunk
            results = run_trials(agent, config.env_id, "test", tasks, eval_trials, config.obs_mode)  # the protocol's seeds
            last_eval = summarize(results)
            logger(last_eval, int(agent.counters["env_steps"]))
            agent.save(ckpt, extra={"budget_spent": spent, "last_eval": last_eval, "log_rows": logger.rows})
            bar.update(chunk)
            bar.set_postfix(stage=agent.stage, success=f"{last_eval['eval/success']:.2f}", ret=f"{last_eval['eval/return']:.1f}")
    finally:
        bar.close()
        logger.close()
        agent.close()
    return last_eval


def run_arguments(prog: str, description: str) -> argparse.ArgumentParser:
    """The arguments every ``train`` command shares (MELD's and the baselines')."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--env", default="meld/Nav2D-v0", help="environment id (default: %(default)s)")
    p.add_argument("--steps", type=int, default=None, help="env-step budget of the whole run")
    p.add_argument("--out", default=None, help="run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--obs-mode", choices=("pixels", "state"), default="pixels", help="state: MLP encoder, for fast checks")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="config override (repeatable)")
    p.add_argument("--eval-every", type=int, default=10_000, help="env steps between evaluations and checkpoints")
    p.add_argument("--eval-trials", type=int, default=1, help="trials per test task at each evaluation")
    p.add_argument("--eval-tasks", type=int, default=None, help="evaluate on the first N test tasks (default: all)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--show-config", action="store_true", help="print the resolved config (and presets), then exit")
    return p


def check_schedule(env_id: str, steps: int, eval_every: int, eval_trials: int, eval_tasks: int | None) -> None:
    """A ``ValueError`` naming the first bad value of a run's schedule, before anything is written."""
    entry = meld_envs.entry(env_id)  # names the known ids when env_id is not one
    for name, value in (("steps", steps), ("eval-every", eval_every), ("eval-trials", eval_trials)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name} {value!r}: must be a positive integer")
    if eval_tasks is not None and not 1 <= eval_tasks <= entry.num_test_tasks:
        raise ValueError(f"--eval-tasks {eval_tasks!r}: {env_id} has {entry.num_test_tasks} test tasks; "
                         f"allowed: 1..{entry.num_test_tasks}, or leave it out for all")


def parse_run_arguments(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, apply ``--threads``, and insist on ``--steps``/``--out`` unless ``--show-config``; a bad schedule
    (``check_schedule``) is a usage error before anything is written."""
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.show_config and (args.steps is None or args.out is None):
        p.error("--steps and --out are required (or --show-config)")
    try:
        check_schedule(args.env, 1 if args.show_config else args.steps, args.eval_every, args.eval_trials, args.eval_tasks)
    except ValueError as e:
        p.error(str(e))
    return args


def main(argv: list[str] | None = None) -> int:
    p = run_arguments("python -m meld_agent.train", __doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parse_run_arguments(p, argv)
    try:
        overrides: dict[str, Any] = dict(parse_override(s) for s in args.set)
        config = make_config(args.env, seed=args.seed, obs_mode=args.obs_mode, device=args.device, **overrides)
        if args.show_config:
            print(config.table() + "\n\nPer-environment presets:\n\n" + presets_table())
            return 0
        if args.resume and overrides:  # sac.* / train.* changes from the checkpoint on; others must match the run's
            change_settings(args.out, overrides)
        result = train(config, args.steps, args.out, args.eval_every, args.eval_trials, args.eval_tasks, args.resume, not args.no_progress)
    except (ValueError, FileExistsError, FileNotFoundError, MemoryError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    with open(os.path.join(args.out, "config.json")) as f:  # the run's own config (--resume keeps it)
        run_config = MELDConfig.from_dict(json.load(f))
    if args.steps < (random_steps := MELD.random_phase_steps(run_config)):
        print(f"note: the budget of {args.steps} env steps ended in the random-data phase "
              f"({run_config.train.initial_random_trials} random-policy trials, {random_steps} env steps; paper "
              "appendix A), before learning started: the evaluation above is of an untrained agent. "
              f"Learning starts after {random_steps} env steps.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
