"""Evidence that each baseline learns (slow): better than random on the held-out tasks of
meld/CheetahVel-v0 after a small budget.

Budget: 10,000 meta-training env steps (RL², on-policy, 30,000) in obs_mode="state" (each agent's
MLP-encoder path: the same algorithm without the conv encoder, which a 2-core CPU cannot train in
minutes), then 2 trials on each of the 10 test tasks with fixed seeds, against uniform random actions
on the same starts. CheetahVel is dense at test, so the test return (-|v - v*| - 0.01|a|^2 summed)
measures progress long before the 0.2 m/s success threshold is met. About 4 min per agent (RL² ~8)
on one core. RL² runs with its CheetahVel preset (initial action std e^-1, 600-step rollouts): at 30,000 steps seeds
0-2 score -44.4, -43.0 and -44.3 against random's -52.2; with sb3's initial std 1 they score -58.7, -47.9 and
-55.9, either side of random (BENCHMARKS.md, Baselines).
"""
import pytest
import torch

from meld_agent.evaluation import summarize
from meld_envs.interface import RandomAgent, TrainContext, env_info, run_trials

ENV = "meld/CheetahVel-v0"
STEPS = {"pearl": 10_000, "slac": 10_000, "rl2": 30_000}
# MELD and SLAC: paper A's 60 random trials instead of the preset's 600 (30,000 steps), cpu-sized ratios
MELD_LIKE = {"train__initial_random_trials": 60, "train__model_pretrain_ratio": 0.2, "train__model_train_ratio": 0.1,
             "train__ac_train_ratio": 0.1}


def _make(name, spec):
    if name == "pearl":  # the CPU-sized variant: oyster's cheetah-vel config spends 60,000 steps on prior-policy data
        from baselines.pearl import PEARL, SMALL

        return PEARL(spec, seed=0, **{k.replace(".", "__"): v for k, v in SMALL.items()})
    if name == "rl2":
        from baselines.rl2 import RL2

        return RL2(spec, seed=0)
    from baselines.slac import SLAC

    return SLAC(spec, seed=0, **MELD_LIKE)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pearl", "rl2", "slac"])
def test_baseline_beats_random_on_held_out_cheetah_tasks(name):
    torch.set_num_threads(1)
    spec = env_info(ENV, "state")
    agent = _make(name, spec)
    ctx = TrainContext(spec, "state")
    ctx.allow(STEPS[name])
    agent.meta_train(ctx, STEPS[name])
    learned = summarize(run_trials(agent, ENV, "test", None, 2, "state", seed=777))
    random = summarize(run_trials(RandomAgent(spec, seed=0), ENV, "test", None, 2, "state", seed=777))
    print(f"{name}: {learned}\nrandom: {random}")
    assert learned["eval/return"] > random["eval/return"] + 3.0  # above random by more than trial-to-trial noise (10k steps: ~+7)
