"""RL² on RecurrentPPO: the trial is one episode, the hidden state survives an episode boundary
inside a trial and resets between trials, the budget is kept, the train command and the leaderboard."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from baselines.rl2 import RL2, TrialTaskEnv
from leaderboards import agents
from leaderboards import run as lb_run
from meld_envs.interface import TrainContext, env_info

TINY = {"ppo.n_steps": 40, "ppo.batch_size": 40, "ppo.n_epochs": 2, "ppo.lstm_hidden_size": 16, "ppo.net_arch": [16],
        "encoder.feature_size": 16, "encoder.state_hidden_size": 16}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: a second thread only adds contention
    yield
    torch.set_num_threads(threads)


def _agent(obs_mode="state", **extra):
    spec = env_info("meld/Nav2D-v0", obs_mode)
    return RL2(spec, seed=0, **{k.replace(".", "__"): v for k, v in {**TINY, **extra}.items()}), spec


def test_a_whole_trial_is_one_gymnasium_episode_with_the_rl2_inputs():
    spec = env_info("meld/Nav2D-v0", "state")
    ctx = TrainContext(spec, "state")
    ctx.allow(100)
    env = TrialTaskEnv(ctx, input_reward="sparse", train_reward="shaped", seed=0)
    obs, _ = env.reset()
    assert set(obs) == {"image", "prev_action", "reward", "done"} and obs["done"][0] == 0 and not obs["prev_action"].any()
    dones, ends = [], []
    for t in range(40):
        action = np.full(2, 0.5, np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        dones.append(obs["done"][0])
        ends.append(terminated or truncated)
        assert np.allclose(obs["prev_action"], action) and reward <= 0.0  # shaped reward to PPO
        assert obs["reward"][0] in (0.0, 1.0)  # the sparse reward the agent will see at test
    assert dones.index(1.0) == 19 and sum(dones) == 1  # the boundary between the trial's 2 episodes
    assert ends == [False] * 39 + [True]  # the trial, not the episode, ends the Gymnasium episode


def test_hidden_state_survives_an_episode_boundary_and_resets_between_trials():
    agent, _ = _agent()
    rng = np.random.default_rng(0)
    observations = [rng.normal(size=4).astype(np.float32) for _ in range(21)]
    agent.reset()
    first = None
    for t, obs in enumerate(observations[:20]):
        agent.act(obs, 0.0, {"episode_in_trial": 0})
        if t == 0:
            first = [h.copy() for h in agent.hidden]
    before_boundary = [h.copy() for h in agent.hidden]
    agent.act(observations[20], 1.0, {"episode_in_trial": 1, "episode_end": True})
    carried = [h.copy() for h in agent.hidden]
    # the same boundary step from a zero state gives another hidden state: the trial's history is kept
    fresh, _ = _agent()
    fresh.reset()
    fresh._prev_action = agent._prev_action  # irrelevant to the check below, which compares hidden states
    fresh.act(observations[20], 1.0, {"episode_in_trial": 1, "episode_end": True})
    assert not np.allclose(carried[0], fresh.hidden[0]) and not np.allclose(carried[0], before_boundary[0])
    # a new trial starts from zeros: its first hidden state is the first trial's first one
    agent.reset()
    assert agent.hidden is None and not agent._prev_action.any()
    agent.act(observations[0], 0.0, {"episode_in_trial": 0})
    assert all(np.allclose(a, b) for a, b in zip(agent.hidden, first))


def test_meta_train_learns_in_whole_rollouts_within_the_allowance():
    agent, spec = _agent()
    ctx = TrainContext(spec, "state")
    ctx.allow(100)
    agent.meta_train(ctx, 100)  # two rollouts of 40; 20 steps stay unused
    assert ctx.steps_used == 80 and agent.counters["env_steps"] == 80 and agent.counters["updates"] == 4
    ctx.allow(30)
    agent.meta_train(ctx, 30)  # below one rollout: nothing
    assert ctx.steps_used == 80


def test_hidden_state_in_the_learner_resets_only_at_trial_starts():
    """RecurrentPPO resets the LSTM where ``episode_starts`` is 1: with trial episodes that is once per 40 steps."""
    agent, spec = _agent()
    ctx = TrainContext(spec, "state")
    ctx.allow(80)
    agent.meta_train(ctx, 80)
    starts = agent.model.rollout_buffer.episode_starts[:, 0]
    assert starts.sum() == 1 and starts[0] == 1  # the second rollout's 40 steps are one whole trial


def _cli(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_train_command_smoke_and_resume(tmp_path):
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    out = _cli("-m", "baselines.rl2.train", "--env", "meld/Nav2D-v0", "--obs-mode", "state", "--steps", "80", "--out",
               str(tmp_path / "r"), "--eval-every", "40", "--eval-tasks", "1", "--no-progress", "--threads", "1", *sets)
    assert out.returncode == 0, out.stderr
    tags = open(tmp_path / "r" / "metrics.csv").read()
    for tag in ("losses/value_loss", "losses/approx_kl", "charts/fps", "eval/success_ep2"):
        assert tag in tags
    out = _cli("-m", "baselines.rl2.train", "--out", str(tmp_path / "r"), "--steps", "120", "--resume", "--no-progress",
               "--threads", "1")
    assert out.returncode == 0, out.stderr
    state = torch.load(os.path.join(tmp_path, "r", "checkpoint", "state.pt"), weights_only=True)
    assert state["num_timesteps"] == 120 and state["counters"]["updates"] == 6


def test_checkpoint_round_trip_restores_the_policy(tmp_path):
    agent, spec = _agent()
    ctx = TrainContext(spec, "state")
    ctx.allow(40)
    agent.meta_train(ctx, 40)
    agent.save(str(tmp_path / "ck"))
    other, _ = _agent()
    other.load(str(tmp_path / "ck"))
    for p, q in zip(agent.model.policy.parameters(), other.model.policy.parameters()):
        assert torch.equal(p, q)
    assert other.counters["env_steps"] == 40
    with open(tmp_path / "ck" / "state.pt", "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match="corrupt"):
        other.load(str(tmp_path / "ck"))


def test_rl2_through_the_leaderboard_smoke_preset(tmp_path):
    assert agents.resolve_agent("rl2") is RL2
    config = [f"{k.replace('.', '__')}={json.dumps(v)}" for k, v in TINY.items()]
    code = lb_run.main(["--agent", "rl2", "--env", "meld/Nav2D-v0", "--preset", "smoke", "--results", str(tmp_path),
                        "--workers", "1", "--config", *config])
    assert code == 0
    lines = [json.loads(line) for line in open(tmp_path / "smoke" / "rl2" / "meld__Nav2D-v0" / "seed_0.jsonl")]
    evals = [r for r in lines if r["record"] == "eval"]
    assert len(evals) == 3 and lines[-1]["record"] == "end" and evals[-1]["env_steps"] == 160  # 2 x 2 rollouts of 40


def test_training_does_not_depend_on_the_callers_global_torch_rng():
    """sb3 samples from torch's global RNG in learn(); the agent gives it its own state instead."""
    params = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        agent, spec = _agent()
        ctx = TrainContext(spec, "state")
        ctx.allow(80)
        agent.meta_train(ctx, 80)
        params.append(torch.cat([p.detach().flatten() for p in agent.model.policy.parameters()]))
        agent.trial_env.close()
    assert torch.equal(params[0], params[1])


def test_initial_action_std_comes_from_the_config_and_the_cheetah_preset():
    spec = env_info("meld/CheetahVel-v0", "state")
    small = {k.replace(".", "__"): v for k, v in TINY.items()}
    agent = RL2(spec, seed=0, **small)
    assert agent.config.ppo.log_std_init == -1.0  # the CheetahVel preset
    assert torch.allclose(agent.model.policy.log_std.detach(), torch.full((6,), -1.0))
    other = RL2(spec, seed=0, **small, ppo__log_std_init=-0.5)
    assert torch.allclose(other.model.policy.log_std.detach(), torch.full((6,), -0.5))
