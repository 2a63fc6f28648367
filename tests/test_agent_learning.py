"""Evidence that MELD learns (slow): Nav2D with 2-episode trials and sparse test rewards.

Config: the meld/Nav2D-v0 preset with run N's settings (``LEARNING``; BENCHMARKS.md "Agent", "Learning", run N and
"Choosing the checkpoint on train tasks"): stage 2's critic learns from the sparse reward plus 0.2 x the shaped one,
gamma 0.99, actor-critic batches drawn from 32 trials. obs_mode="state", the MLP-encoder path of the same agent
(latent model, reward evidence, SAC on the belief, appendix C's two stages with the switch at 12,000 steps).
Budget: 100,000 env steps on one torch thread, ~1 h 55 min on one core of a 2-CPU AMD EPYC (2026-12-02), ~3 h 20 min
on the slower one of 2026-12-03, 2 h 22 min on the next one (the other core busy).

Checkpoint: every 10,000 steps the agent is validated on the 30 *train* tasks (4 trials each, reset seeds 555...,
which training never draws), and the test keeps the checkpoint that ``evaluation.validation_key`` ranks best:
success at least the random policy's + 0.3, then the largest lower bound of the episode-2 gain. The held-out tasks
are seen once, by the kept checkpoint. Why: in every configuration tried (runs F-Z), the gain comes and goes
between checkpoints of one run, so the last checkpoint is a lottery.

Protocol: 10 trials on each of the 10 held-out test tasks (reset seeds 777...), MELD's mean action, the random
policy on the same starts. Success must reach the random policy's + 0.3, and episode 2 must beat episode 1 with the
*paired* gain's 95% bootstrap interval above 0 (``evaluation.episode_gain``; with 3 trials per task, as until
2026-12-02, the noise is as large as the effect).

MEASURED TO FAIL the second assertion, so marked xfail. This is run N0 (seed 0), reproduced bit for bit on three
machines (2026-12-02, twice on 2026-12-03), and its validation measured with benchmarks/nav2d_learning.py (same
training, same validation): it keeps 100k (train tasks: success 0.57, gain +1.32 [0.38, 2.24], the run's only train
interval above 0). On the held-out tasks 100k has success 0.61 against the random policy's 0.00 (first assertion
passes) but gain +0.21 [-0.92, 1.36] (second fails). The held-out interval is above 0 only at 60k and 70k (+0.96
[0.58, 1.37], +0.59 [0.10, 1.07]), which the train tasks do not single out; choosing the rule to keep them would be
choosing it by the held-out tasks. The whole table, run N1, and the runs behind the other configurations are in
BENCHMARKS.md ("Choosing the checkpoint on train tasks"). For scale, a scripted sweep-and-remember policy scores
success 1.00 and episode 1/2 returns 12.1/17.3 (benchmarks/nav2d_reference.py). The learning curve is drawn to
``runs/agent_learning/nav2d_state.png`` (or ``$MELD_FIGURE_DIR``).
"""
import os
import shutil

import pytest
import torch

from meld_agent.config import make_config
from meld_agent.evaluate import load_run
from meld_agent.evaluation import RandomAgent, run_trials, summarize, validation_key
from meld_agent.plots import plot_learning_curves
from meld_agent.train import CHECKPOINT, train

ENV = "meld/Nav2D-v0"
STEPS, CHUNK = 100_000, 10_000
TRIALS = 10  # per test task: 100 trials, so that the episode-2 gain is measured, not guessed (see the docstring)
VALIDATION_TRIALS, VALIDATION_SEED = 4, 555  # per train task, to choose the checkpoint (benchmarks/nav2d_learning.py select)
LEARNING = {  # run N: on top of the meld/Nav2D-v0 preset (config.PRESETS, cpu-sized, stage switch at 12,000 steps)
    "train__stage2_critic_reward": "sparse", "sac__critic_shaped_weight": 0.2, "sac__gamma": 0.99, "train__ac_batch_trials": 32,
}


@pytest.mark.slow
@pytest.mark.xfail(reason="measured to fail the episode-gain assertion: the train-task validation keeps 100k, whose "
                          "held-out gain is +0.21 [-0.92, 1.36]; see the module docstring", strict=False)
def test_meld_adapts_on_held_out_nav2d_tasks_with_sparse_rewards(tmp_path):
    torch.set_num_threads(1)  # the recorded runs used one thread; float sums differ with two
    config = make_config(ENV, obs_mode="state", **LEARNING)
    run, kept = str(tmp_path / "nav2d_state"), str(tmp_path / "kept")

    def validate(agent):  # the train tasks, with reset seeds training never drew
        return summarize(run_trials(agent, ENV, "train", None, VALIDATION_TRIALS, "state", seed=VALIDATION_SEED))

    floor = validate(RandomAgent(2, seed=0))["eval/success"] + 0.3  # the first assertion's bar, on train tasks
    best = None
    for steps in range(CHUNK, STEPS + 1, CHUNK):  # the schedule of one uninterrupted run (meld_agent/train.py)
        train(config, steps, run, eval_every=CHUNK, resume=steps > CHUNK, progress=False)
        agent = load_run(run)
        key = validation_key(validate(agent), floor)
        agent.close()
        if best is None or key > best[0]:
            best = key, steps
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(os.path.join(run, CHECKPOINT), os.path.join(kept, CHECKPOINT))
            shutil.copy(os.path.join(run, "config.json"), kept)

    agent = load_run(kept)
    meld = summarize(run_trials(agent, ENV, "test", None, TRIALS, "state", seed=777))
    random = summarize(run_trials(RandomAgent(2, seed=0), ENV, "test", None, TRIALS, "state", seed=777))
    figure_dir = os.environ.get("MELD_FIGURE_DIR", os.path.join("runs", "agent_learning"))
    plot_learning_curves([run], os.path.join(figure_dir, "nav2d_state.png"), random["eval/success"],
                         "MELD, Nav2D (state), held-out tasks, sparse test reward",
                         [random["eval/return_ep1"], random["eval/return_ep2"]])
    print(f"kept the checkpoint at {best[1]} steps (train tasks: {best[0]})\nMELD: {meld}\nrandom: {random}")

    assert meld["eval/success"] >= random["eval/success"] + 0.3  # clearly above a random policy
    # the second episode uses what the first found: the paired gain's 95% interval lies above 0
    assert meld["eval/return_gain_low"] > 0, f"episode 2 - episode 1: {meld['eval/return_gain']:.2f} " \
        f"[{meld['eval/return_gain_low']:.2f}, {meld['eval/return_gain_high']:.2f}]"
