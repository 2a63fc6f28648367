"""Meta-test a trained MELD run on held-out tasks (Algorithm 2), next to a random policy.

    python -m meld_agent.evaluate runs/nav --split test --video

Writes ``<run>/eval_<split>/``: ``results.json`` (per trial and summary, MELD and random),
``belief_task<i>.png`` (predicted reward mean ± std along the first trial of each task: the paper's
Figure 6 view) and, with ``--video``, an mp4 per trial with the goal drawn.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

import torch
from tqdm import tqdm

import meld_envs
from meld_agent.agent import MELD
from meld_agent.config import MELDConfig
from meld_agent.evaluation import plot_reward_belief, summarize
from meld_agent.train import CHECKPOINT
from meld_envs.interface import RandomAgent, run_trials


def load_run(run_dir: str) -> MELD:
    """The agent of a run folder with its latest weights (no replay, no optimizers)."""
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{run_dir!r} is not a run folder (no config.json); train one with python -m meld_agent.train")
    with open(config_path) as f:
        config = MELDConfig.from_dict(json.load(f))
    agent = MELD(config)
    agent.load(os.path.join(run_dir, CHECKPOINT), weights_only=True)
    return agent


def evaluate(run_dir: str, split: str = "test", trials: int = 1, tasks: int | None = None, video: bool = False,
             seed: int | None = None, plots: bool = True, progress: bool = False) -> dict:
    """Run the evaluation and write its files into ``<run_dir>/eval_<split>/``; returns ``{"meld": summary, "random":
    summary}``. Reset seeds are the protocol's (``meld_envs.interface.eval_seed``) unless ``seed`` draws other starts.
    ``progress``: a bar over the trials, MELD's then the random policy's."""
    agent = load_run(run_dir)
    config = agent.config
    out = os.path.join(run_dir, f"eval_{split}")
    os.makedirs(out, exist_ok=True)
    task_list = None if tasks is None else list(range(tasks))
    n_tasks = len(meld_envs.tasks(config.env_id, split)) if tasks is None else tasks
    with tqdm(total=2 * n_tasks * trials, desc=f"{config.env_id} {split}: MELD", unit="trial", disable=not progress,
              dynamic_ncols=True) as bar:  # MELD's trials, then the random policy's
        def advance(done: int, total: int) -> None:
            bar.update(1)

        results = run_trials(agent, config.env_id, split, task_list, trials, config.obs_mode, seed=seed,
                             video_dir=out if video else None, on_trial=advance)
        bar.set_description(f"{config.env_id} {split}: random policy")
        random_results = run_trials(RandomAgent(agent.env_info, seed=0), config.env_id, split, task_list, trials,
                                    config.obs_mode, seed=seed, on_trial=advance)
    summary = {"meld": summarize(results), "random": summarize(random_results)}
    if plots:
        seen = set()
        for r in results:
            if r.task not in seen:
                seen.add(r.task)
                plot_reward_belief(r, os.path.join(out, f"belief_task{r.task}.png"), f"{config.env_id} {split} task {r.task}")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"summary": summary, "meld": [dataclasses.asdict(r) for r in results],
                   "random": [dataclasses.asdict(r) for r in random_results]}, f, indent=1)
    agent.close()
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m meld_agent.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="run folder written by python -m meld_agent.train")
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--trials", type=int, default=1, help="trials per task")
    p.add_argument("--tasks", type=int, default=None, help="only the first N tasks of the split")
    p.add_argument("--video", action="store_true", help="write an mp4 per trial (goal drawn)")
    p.add_argument("--seed", type=int, default=None,
                   help="other reset seeds (seed + 1000 x task + trial); default: the protocol's meta-test seeds")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        summary = evaluate(args.run, args.split, args.trials, args.tasks, args.video, args.seed,
                           progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = sorted(set(summary["meld"]) | set(summary["random"]))
    print("| metric | MELD | random |\n|---|---:|---:|")
    for k in rows:
        print(f"| {k} | {summary['meld'].get(k, float('nan')):.3f} | {summary['random'].get(k, float('nan')):.3f} |")
    out = os.path.join(args.run, f"eval_{args.split}")
    print(f"\nwrote {os.path.join(out, 'results.json')} (every trial, MELD and random) and the reward-belief plots "
          f"{os.path.join(out, 'belief_task<i>.png')}" + (f"; videos {os.path.join(out, f'{args.split}_task<i>_trial<j>.mp4')}"
                                                          if args.video else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
