"""The ``python -m baselines.<name>.train`` command, shared by every baseline (MELD's run layout).

    python -m baselines.pearl.train --env meld/Nav2D-v0 --steps 200000 --out runs/pearl_nav
    python -m baselines.pearl.train --out runs/pearl_nav --steps 200000 --resume     # after a kill

A run folder holds ``config.json`` / ``config.md`` (the resolved config), ``run.json`` (env, seed,
observation mode, overrides, schedule: what ``--resume`` rebuilds the agent from), ``metrics.csv``
and ``tb/`` (``charts/``, ``losses/``, ``eval/``, as MELD's) and ``checkpoint/``, rewritten
atomically after every evaluation. Training proceeds in chunks of ``--eval-every`` env steps, each
followed by an evaluation on held-out tasks (the leaderboard's meta-test: sparse rewards where the
environment is sparse at test) and a checkpoint.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from meld_agent import checkpoint
from meld_agent.config import config_table, config_to_json, parse_setting
from meld_agent.evaluation import summarize
from meld_agent.train import check_schedule, open_run, parse_run_arguments, run_arguments
from meld_envs.interface import TrainContext, env_info, run_trials

CHECKPOINT = "checkpoint"
AgentFactory = Callable[..., Any]  # (env_info, seed=..., **overrides) -> agent


def build_agent(agent_cls: AgentFactory, env_id: str, obs_mode: str, seed: int, overrides: dict[str, Any]) -> Any:
    """The agent as the leaderboard would build it, on ``env_id`` in ``obs_mode``."""
    return agent_cls(env_info(env_id, obs_mode), seed=seed, **overrides)


def train(agent_cls: AgentFactory, env_id: str, steps: int, out: str, seed: int = 0, obs_mode: str = "pixels",
          overrides: dict[str, Any] | None = None, eval_every: int = 10_000, eval_trials: int = 1,
          eval_tasks: int | None = None, resume: bool = False, progress: bool = True) -> dict[str, float]:
    """Meta-train a baseline for ``steps`` env steps into the run folder ``out``; returns the last evaluation."""
    ckpt = os.path.join(out, CHECKPOINT)
    run_path = os.path.join(out, "run.json")
    if resume:
        if not os.path.exists(run_path):
            raise FileNotFoundError(f"{out!r} is not a run folder (no run.json); start one without --resume")
        with open(run_path) as f:
            run = json.load(f)
    else:
        if checkpoint.recover(ckpt) or os.path.exists(run_path):
            raise FileExistsError(f"{out!r} already holds a run; pass --resume to continue it or choose another --out")
        run = {"env_id": env_id, "obs_mode": obs_mode, "seed": seed, "overrides": overrides or {},
               "eval_every": eval_every, "eval_trials": eval_trials, "eval_tasks": eval_tasks}
    check_schedule(run["env_id"], steps, run["eval_every"], run["eval_trials"], run["eval_tasks"])
    agent = build_agent(agent_cls, run["env_id"], run["obs_mode"], run["seed"], run["overrides"])
    if not resume:
        os.makedirs(out, exist_ok=True)
        with open(run_path, "w") as f:
            json.dump(run, f, indent=1)
        with open(os.path.join(out, "config.json"), "w") as f:
            f.write(config_to_json(agent.config))
        with open(os.path.join(out, "config.md"), "w") as f:
            f.write(config_table(agent.config) + "\n")
    spent, last_eval, logger = open_run(agent, out, resume)
    ctx = TrainContext(agent.env_info, run["obs_mode"])
    tasks = None if run["eval_tasks"] is None else list(range(run["eval_tasks"]))
    from tqdm import tqdm

    bar = tqdm(total=steps, initial=min(spent, steps), unit="step", disable=not progress, dynamic_ncols=True,
               desc=f"{type(agent).__name__} {run['env_id']}")
    try:
        while spent < steps:
            chunk = min(run["eval_every"], steps - spent)
            ctx.allow(chunk)
            agent.meta_train(ctx, chunk)
            spent += chunk
            results = run_trials(agent, run["env_id"], "test", tasks, run["eval_trials"], run["obs_mode"])  # protocol seeds
            last_eval = summarize(results)
            logger(last_eval, int(agent.counters["env_steps"]))
            agent.save(ckpt, extra={"budget_spent": spent, "last_eval": last_eval, "log_rows": logger.rows})
            bar.update(chunk)
            bar.set_postfix(success=f"{last_eval['eval/success']:.2f}", ret=f"{last_eval['eval/return']:.1f}")
    finally:
        bar.close()
        logger.close()
        close = getattr(agent, "close", None)
        if callable(close):
            close()
    return last_eval


def main(name: str, agent_cls: AgentFactory, doc: str, argv: list[str] | None = None,
         show_config_extra: Callable[[], str] | None = None) -> int:
    """The ``train`` command of baseline ``name`` (module docstring ``doc``)."""
    p = run_arguments(f"python -m baselines.{name}.train", doc.split("\n\n")[0])
    args = parse_run_arguments(p, argv)
    try:
        overrides = dict(parse_setting(s) for s in args.set)
        if args.show_config:
            agent = build_agent(agent_cls, args.env, args.obs_mode, args.seed, overrides)
            print(config_table(agent.config) + (("\n\n" + show_config_extra()) if show_config_extra else ""))
            return 0
        result = train(agent_cls, args.env, args.steps, args.out, args.seed, args.obs_mode, overrides, args.eval_every,
                       args.eval_trials, args.eval_tasks, args.resume, not args.no_progress)
    except (ValueError, FileExistsError, FileNotFoundError, MemoryError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    return 0
