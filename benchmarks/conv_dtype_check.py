"""Does ``model.conv_dtype="bfloat16"`` learn the latent model as float32 does? Same start, same batches.

    .venv/bin/python benchmarks/conv_dtype_check.py                # ~6 min on 2 CPU cores
    .venv/bin/python benchmarks/conv_dtype_check.py --updates 20   # smoke run

Collects random-policy trials of ``meld/Nav2D-v0`` from pixels (64x64, 2-episode trials), draws a fixed
list of model batches from them (the preset's 8 trials x 41 frames), and trains two latent models
from the same initial weights on that list: one with float32 convolutions, one with the conv
encoder/decoder under bfloat16 autocast. Prints the ELBO terms over the last updates of each and
the wall time, and draws both loss curves to ``benchmarks/figures/conv_dtype.png``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import meld_envs  # noqa: F401  (sets MUJOCO_GL before anything imports mujoco)
import numpy as np
import torch

from meld_agent import MELD
from meld_agent.config import make_config
from meld_agent.update import Learner

TERMS = ("losses/model_loss", "losses/observation_log_prob", "losses/reward_log_prob", "losses/kl", "losses/reconstruction_mse")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--updates", type=int, default=150, help="model updates per precision")
    p.add_argument("--trials", type=int, default=40, help="random-policy trials collected")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "figures", "conv_dtype.png"))
    args = p.parse_args(argv)

    config = make_config("meld/Nav2D-v0", obs_mode="pixels", initial_random_trials=args.trials, model_pretrain_ratio=0.0)
    agent = MELD(config)
    agent.meta_train(steps=args.trials * 40)  # random-policy trials only (no updates: pre-training ratio 0)
    batches = [agent.replay.sample(config.train.tasks_per_update, 1) for _ in range(args.updates)]
    shape, actions = agent.obs_shape, agent.action_size
    agent.close()

    curves, seconds = {}, {}
    for dtype in ("float32", "bfloat16"):
        learner = Learner(shape, actions, make_config("meld/Nav2D-v0", obs_mode="pixels", model__conv_dtype=dtype),
                          seed=0, device=torch.device("cpu"))
        rows, start = [], time.perf_counter()
        for batch in batches:
            rows.append(learner.train_step(batch, model=True, actor_critic=False))
        seconds[dtype] = time.perf_counter() - start
        curves[dtype] = {k: np.array([r[k] for r in rows]) for k in TERMS}
        print(f"{dtype}: {args.updates} model updates in {seconds[dtype]:.0f} s", flush=True)

    tail = max(1, args.updates // 5)
    print(f"\n| term (mean of the last {tail} updates) | float32 | bfloat16 |\n|---|---:|---:|")
    for k in TERMS:
        print(f"| {k} | {curves['float32'][k][-tail:].mean():.4g} | {curves['bfloat16'][k][-tail:].mean():.4g} |")
    print(f"| seconds for {args.updates} updates | {seconds['float32']:.0f} | {seconds['bfloat16']:.0f} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, k in zip(axes, ("losses/observation_log_prob", "losses/reward_log_prob", "losses/kl")):
        for dtype, style in (("float32", "-"), ("bfloat16", "--")):
            ax.plot(curves[dtype][k], ls=style, label=dtype)
        ax.set_title(k.split("/")[1], fontsize=9)
        ax.set_xlabel("model update")
        ax.legend(fontsize=7)
    fig.suptitle("Latent model on Nav2D pixels: float32 vs bfloat16 convolutions (same start, same batches)", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"\nfigure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
