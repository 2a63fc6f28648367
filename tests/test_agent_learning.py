"""Evidence that MELD learns (slow): Nav2D with 2-episode trials and sparse test rewards.

Budget: 100,000 env steps of meta-training in obs_mode="state" (the MLP-encoder path of the same
agent: latent model, reward evidence, SAC on the belief, appendix C's two stages with the switch at
12,000 steps), 0.2 model and 0.8 actor-critic updates per env step, gamma 0.95 and the episode-start flag
(the preset since run F of BENCHMARKS.md "Learning"): 1 h 39 min on one core of a 2-CPU AMD EPYC.
NOT YET SEEN TO PASS AT 100,000 STEPS, so marked xfail with the measured numbers. This run (seed 0, one
thread, evaluated with this test's protocol at each 10,000) climbed from success 0.20 at 20,000 to 0.47, 0.50
and 0.47 at 70,000-90,000, which meet both assertions (episode 2 above episode 1: 7.2/6.2, 8.0/7.5, 7.1/6.8).
At 100,000, success is 0.43 against the random policy's 0.00, but episode 2 falls below episode 1 (7.8 against 9.1).
The earlier preset (gamma 0.99, no flag) ended at 0.20 and was unstable, as were four other configurations.
For scale, a scripted sweep-and-remember policy scores success
1.00 and episode 1/2 returns 12.1/17.3 (benchmarks/nav2d_reference.py; BENCHMARKS.md, "Agent",
"Learning", which also has the diagnosis). The learning curve is drawn to ``runs/agent_learning/nav2d_state.png`` (or ``$MELD_FIGURE_DIR``).
"""
import os

import pytest
import torch

from meld_agent.config import make_config
from meld_agent.evaluate import load_run
from meld_agent.evaluation import RandomAgent, run_trials, summarize
from meld_agent.plots import plot_learning_curves
from meld_agent.train import train

STEPS = 100_000
LEARNING: dict = {}  # the meld/Nav2D-v0 preset as it is (config.PRESETS, cpu-sized, stage switch at 12,000 steps)


@pytest.mark.slow
@pytest.mark.xfail(reason="not yet seen to pass at 100,000 steps: success 0.43 vs random 0.00, episode 2 below episode 1 "
                          "(7.8 vs 9.1), though 70,000-90,000 passed; see the module docstring and BENCHMARKS.md", strict=False)
def test_meld_adapts_on_held_out_nav2d_tasks_with_sparse_rewards(tmp_path):
    torch.set_num_threads(1)  # the recorded runs used one thread; float sums differ with two
    config = make_config("meld/Nav2D-v0", obs_mode="state", **LEARNING)
    run = str(tmp_path / "nav2d_state")
    train(config, STEPS, run, eval_every=10_000, progress=False)

    agent = load_run(run)
    meld = summarize(run_trials(agent, "meld/Nav2D-v0", "test", None, 3, "state", seed=777))
    random = summarize(run_trials(RandomAgent(2, seed=0), "meld/Nav2D-v0", "test", None, 3, "state", seed=777))
    figure_dir = os.environ.get("MELD_FIGURE_DIR", os.path.join("runs", "agent_learning"))
    plot_learning_curves([run], os.path.join(figure_dir, "nav2d_state.png"), random["eval/success"],
                         "MELD, Nav2D (state), held-out tasks, sparse test reward",
                         [random["eval/return_ep1"], random["eval/return_ep2"]])
    print(f"MELD: {meld}\nrandom: {random}")

    assert meld["eval/success"] >= random["eval/success"] + 0.3  # clearly above a random policy
    assert meld["eval/return_ep2"] > meld["eval/return_ep1"]  # the second episode uses what the first found
