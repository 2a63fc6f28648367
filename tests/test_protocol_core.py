"""One protocol core (``meld_envs.interface``): one step budget, one exception, one meta-test trial runner, shared by
the leaderboard's protocol and every agent's own evaluation."""
import dataclasses

import numpy as np
import pytest

import leaderboards.interface
import meld_envs
from leaderboards import protocol
from meld_envs import interface

TINY_PIXELS = dict(latent1_size=8, latent2_size=16, hidden_size=32, conv_filters=(8, 8, 8, 8, 8), feature_size=8,
                   sac__hidden_sizes=(32, 32), initial_random_trials=2, model_pretrain_ratio=0.02, collect_tasks=1,
                   tasks_per_update=1, model_batch_steps=51, model_train_ratio=0.02, ac_train_ratio=0.02, num_train_tasks=2,
                   capacity_frames_per_task=500, sac__batch_size=16)


def test_the_leaderboard_names_the_same_objects():
    for name in ("Agent", "BudgetExhausted", "EnvInfo", "TrainContext", "StepBudget", "RandomAgent", "TrialResult"):
        assert getattr(leaderboards.interface, name) is getattr(interface, name)
    assert protocol.TrainContext is interface.TrainContext and protocol.eval_seed is interface.eval_seed


def test_the_budget_counts_steps_below_every_wrapper_and_is_one_exception():
    info = interface.env_info("meld/Nav2D-v0", "state")
    ctx = interface.TrainContext(info, "state")
    env = ctx.make_env(0)
    try:
        assert isinstance(env, meld_envs.Trial) and isinstance(env.env, interface.StepBudget)
        env.reset(seed=0)
        ctx.allow(3)
        env.step(np.zeros(2, np.float32))
        env.unwrapped.step(np.zeros(2, np.float32))  # around every wrapper: still counted
        env.env.step(np.zeros(2, np.float32))
        assert ctx.steps_used == 3 and ctx.steps_remaining == 0
        with pytest.raises(interface.BudgetExhausted, match="allowance is used up"):
            env.unwrapped.step(np.zeros(2, np.float32))
        assert ctx.steps_used == 3
    finally:
        ctx.close()


def test_a_training_runs_logged_test_success_is_the_protocols_number(tmp_path):
    """``meld_agent.train`` evaluates with the protocol's trial runner, tasks and reset seeds: its logged ``eval/*``
    for a checkpoint are what ``leaderboards.protocol.evaluate`` measures for the same checkpoint."""
    from meld_agent import make_config
    from meld_agent.evaluate import load_run
    from meld_agent.train import train

    env_id = "meld/CheetahVel-v0"  # dense test reward: returns that differ with every action
    config = make_config(env_id, **TINY_PIXELS)
    logged = train(config, 150, str(tmp_path / "run"), eval_every=150, eval_trials=2, eval_tasks=2, progress=False)
    proto = dataclasses.replace(protocol.preset("smoke").for_env(env_id), test_tasks=(0, 1), trials_per_task=2)
    agent = load_run(str(tmp_path / "run"))
    env = protocol.make_test_env(proto)
    try:
        measured = protocol.evaluate(agent, proto, env)
    finally:
        env.close()
        agent.close()
    assert measured["success_rate"] == logged["eval/success"]
    assert measured["return_per_episode"] == pytest.approx([logged["eval/return_ep1"]], rel=1e-12)
    assert measured["eval_env_steps"] == 2 * 2 * 50 and logged["eval/return"] < 0


def test_run_trials_uses_the_protocols_seeds_unless_told_otherwise():
    class Recorder(interface.RandomAgent):
        def act(self, obs, reward=0.0, info=None):
            self.first = getattr(self, "first", None)
            if self.first is None:
                self.first = np.array(obs)
            return super().act(obs, reward, info)

        def reset(self):
            self.first = None

    info = interface.env_info("meld/Nav2D-v0", "state")
    env = interface.make_test_env("meld/Nav2D-v0", obs_mode="state")
    try:
        agent = Recorder(info, seed=0)
        interface.run_trial(agent, env, 3, interface.eval_seed(3, 1))
        by_protocol = agent.first
        agent.reset()
        interface.run_trials(agent, "meld/Nav2D-v0", "test", [3], 2, "state")  # trials 0 and 1 of task 3
        assert np.array_equal(agent.first, by_protocol)
    finally:
        env.close()
