"""The reference MELD agent (Zhao et al., CoRL 2020): a latent state model whose posterior takes
rewards as evidence (SLAC's two-layer latents), and SAC on its belief.

    from meld_agent import MELD, make_config
    agent = MELD(make_config("meld/Nav2D-v0", obs_mode="state"))
    agent.meta_train(steps=20_000)
    agent.reset(); action = agent.act(obs, reward)

Command line: ``python -m meld_agent.train`` and ``python -m meld_agent.evaluate``. The SLAC
baseline is the same agent with ``model__reward_input="none"`` (no reward evidence).

As the authors' code (github.com/tonyzhaozh/meld) does it: each update draws ``train.tasks_per_update`` tasks (with
replacement) x ``train.update_trials_per_task`` trials; the model trains on ``train.model_batch_steps // trial frames``
of them, the actor-critic on ``sac.batch_size`` transitions of all of them, never one that crosses into a later episode;
meta-test actions are sampled (``MELD.meta_test_actions``); on tasks sparse at test, appendix C runs stage 1 on
single-episode trials, and stage 2 on the env's trials as a fresh run (random trials, pre-training) whose batches take
each episode from stage 1's data with probability ``train.offline_ratio``. The model's networks use leaky ReLU
(slope 0.2) and, on two-camera 64x128 frames, conv filters twice as wide as high (the reference's (10, 5), (6, 3), ...
on its frames stacked the other way); paper A's text (ReLU, its sizes) is ``meld_agent.presets.PAPER_TEXT_WIDTHS``.

Deviations from the authors' code, with their reasons (per-environment settings: ``meld_agent.presets.DEVIATIONS``):

- One batch of trials per update serves the model step and the actor-critic step, which alternate (one image
  encoding per update); the reference draws a batch for each step and runs an iteration's model steps before its
  actor-critic steps. ``extensions.ac_batch_trials`` gives the actor-critic batches of its own.
- The model's trials are distinct trials of the batch, evenly spaced over its tasks; the reference draws them with
  replacement. When ``model_batch_steps // trial frames`` exceeds the batch's trials, the model trains on all of them
  (fewer frames than ``model_batch_steps``); the reference refuses such configs.
- A stored trial is ``E*T + 1`` frames: the belief at meta-test goes from an episode's last step straight to the next
  episode's first frame (``run_trial`` hands over no final frame), and training filters the same sequences. The
  reference keeps each episode's final frame (``E*(T + 1)`` frames) and drops the step from it to the next episode's
  first; here the step that crosses, which the critic never learns from, is an earlier episode's last one.
- Appendix C runs both stages at the env's episode length (ButtonPress: 40 steps, the benchmark's contract); the
  reference's stage 1 runs 40-step episodes and keeps their first 30 steps as offline data for its 30-step stage 2
  (its ButtonPress model batches: 8 trials of 62 frames; here 6 of 81). Stage 1's data needs no relabelling (both rewards are stored
  as the env gave them; the reference recomputes them from the stored states). Stage 2 draws distinct tasks; the
  reference takes every train task once (it requires ``num_tasks_per_train`` = the number of train tasks).
- The reference divides the actor, critic and model losses by ``num_tasks_per_train``; Adam's steps do not depend on
  a constant scale of the loss (up to its epsilon), so the losses here are not divided.
"""
from meld_agent.agent import MELD
from meld_agent.config import PRESETS, MELDConfig, ModelConfig, ReplayConfig, SACConfig, TrainConfig, make_config
from meld_agent.replay import TrialBatch, TrialReplay
from meld_envs.interface import EnvInfo, TrainContext, env_info

__all__ = ["MELD", "MELDConfig", "ModelConfig", "SACConfig", "ReplayConfig", "TrainConfig", "PRESETS", "make_config",
           "EnvInfo", "TrainContext", "env_info", "TrialReplay", "TrialBatch"]
