"""Evidence that MELD learns (slow): Nav2D with 2-episode trials and sparse test rewards.

Budget: 100,000 env steps of meta-training in obs_mode="state" (the MLP-encoder path of the same
agent: latent model, reward evidence, SAC on the belief, appendix C's two stages with the switch at
12,000 steps), 0.2 model and 0.8 actor-critic updates per env step, gamma 0.95 and the episode-start flag
(the preset since run F of BENCHMARKS.md "Learning"): 1 h 39 min on one core of a 2-CPU AMD EPYC.

Protocol: 10 trials on each of the 10 held-out test tasks (reset seeds 777...), MELD's mean action, the
random policy on the same starts. Episode 2 must beat episode 1 with the *paired* gain's 95% bootstrap
interval above 0 (``evaluation.episode_gain``). Until 2026-12-02 the test compared the two means over 3 trials
per task; at that size the noise is as large as the effect, and run F's checkpoints at 70k-90k "passed" (episode 1 /
episode 2: 6.2/7.2, 7.5/8.0, 6.8/7.1) while 100 trials of the same checkpoints give gains of -0.75 [-1.81, 0.27],
+0.35 [-0.87, 1.63], +0.01 [-0.45, 0.47].

NOT YET SEEN TO PASS, so marked xfail with the measured numbers. Run F (this config, seed 0, one thread) at
100,000 steps: success 0.49 against the random policy's 0.00 (the first assertion holds from 50k on), but the gain
is -0.77 [-1.27, -0.31]. The policy has learned to search 50-95 degrees and stop on the goal; when episode 1 found it, episode 2
goes back (success 0.9), but not faster, and when it did not, episode 2 repeats the search instead of looking
elsewhere. Continued to 200,000 steps, F reaches success 0.42-0.68, and its gain is above 0 only at 110k and 120k.
With ``train.stage2_critic_reward="sparse"`` (run I), success climbs faster, 0.71 at 70k. Its gain swings from
-2.42 at 70k to +0.93 [0.21, 1.70] at 100k. That is one passing checkpoint between failing ones, so neither setting is
adopted yet. Adding ``sac.gamma=0.99`` to it (run J, seeds 0 and 1) gives success 0.52-0.63 from 80k and no robust gain
(seed 0 at 100k: -0.39 [-0.91, 0.14]): episode 2 heads for a goal found in episode 1 sooner, but stops on the near
edge of its region, where the reward starts, and drifts out of it. Continued from its 100k checkpoint with
``sac.critic_shaped_weight=0.2`` (sparse + 0.2 x shaped critic reward), it reaches success 0.76 and a gain of +3.40
[2.45, 4.42] at 120k, going straight back to found goals and searching elsewhere after a miss; at 130k the gain
is +0.45 [-0.16, 1.07]. Whole runs with it from the start (run M, 2026-12-02): seed 0 shows the same behaviour at
70k (success 0.76, gain +1.72 [1.11, 2.32]) and falls to -1.13 at 80k (+0.48 [-0.12, 1.05] at 100k); seed 1's gain is
below 0 from 60k to 120k; with stage 1 to 40k (KM0) it is +0.51 [-0.24, 1.26] at 100k. What drifts between
checkpoints is where episode 1 searches (BENCHMARKS.md, run M; benchmarks/nav2d_learning.py reruns it). With
actor-critic batches from 32 trials as well (run N), seed 0's gain is above 0 at 60k and 70k (+0.96 [0.58, 1.37],
+0.59 [0.10, 1.07]) and -1.11 at 80k; seed 1's only at 100k (+1.37 [0.82, 1.97], after -0.78 at 90k). A probe
(nav2d_learning.py probe) shows the belief at episode 2's first frame holds the goal's direction (held-out R² 0.78-0.90),
while episode 2's first steps go the same way for every goal. Runs P (N + ``sac.n_step=5``) and O (N +
``sac.target_entropy=0``, 2026-12-03) give no steady gain either. O searches 10-90° without P's bang-bang moves, and its
model predicts episode 2's rewards from the goal episode 1 found (error 0.08-0.14 for the own goal, 0.19-0.26 for the
others), while episode 2 still opens the same way for every goal. Branches of O at 50k (runs Q-T, 2026-12-03) with
half of each actor-critic batch from episode 2's first steps (``sac.opening_fraction=0.5``), alone or with n-step targets,
a near-uniform exploration noise or a faster actor, give no steady gain either: the replay holds no episode 2 that sets off
towards the goal episode 1 found (``nav2d_learning.py openings``), and the critic's Q at the opening does not depend on it.
Runs V-Z (2026-12-03) give episode 2 random openings (``train.random_opening_fraction``, also held:
``random_opening_hold``), a critic paid for approaching a known goal (``sac.later_shaped_weight=1.0``) or a frozen model:
gains above 0 at single checkpoints (V0 and W0 at 70k: +0.68 [0.06, 1.23], +1.25 [0.38, 2.19]) between failing ones,
and episode 2's opening still the same for every goal.
For scale, a scripted
sweep-and-remember policy scores success 1.00 and episode 1/2 returns 12.1/17.3
(benchmarks/nav2d_reference.py; BENCHMARKS.md, "Agent", "Learning", which also has the diagnosis). The learning
curve is drawn to ``runs/agent_learning/nav2d_state.png`` (or ``$MELD_FIGURE_DIR``).
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
LEARNING: dict = {}  # the meld/Nav2D-v0 preset as it is (config.PRESETS, cpu-sized, stage switch at 12,000 steps)


@pytest.mark.slow
@pytest.mark.xfail(reason="not yet seen to pass: run F at 100,000 steps has success 0.49 vs random 0.00 but an "
                          "episode-2 gain of -0.77 [-1.27, -0.31]; see the module docstring and BENCHMARKS.md", strict=False)
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
