"""PEARL: the product of Gaussians against a hand computation, the context encoder learning through
the critic, training contexts from the encoder buffer, meta-test posterior sampling after the exploration
episodes (oyster's collect_paths), the train command (resume exact), the leaderboard smoke."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from baselines.pearl import PEARL, SMALL, make_config, product_of_gaussians
from baselines.pearl.networks import kl_to_standard_normal
from leaderboards import agents
from leaderboards import run as lb_run
from meld_envs import interface
from meld_envs.interface import TrainContext, env_info

TINY = {"train.initial_steps_per_task": 0, "train.prior_steps": 40, "train.posterior_steps": 0,
        "train.extra_posterior_steps": 40, "train.collect_tasks": 2, "train.meta_batch": 2, "train.batch_size": 16,
        "train.train_ratio": 0.05, "context.context_size": 8, "context.hidden_sizes": [16, 16], "sac.hidden_sizes": [32, 32],
        "encoder.feature_size": 32, "encoder.state_hidden_size": 32, "train.num_train_tasks": 4,
        "train.capacity_frames_per_task": 400}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: a second thread only adds contention on 2 cores
    yield
    torch.set_num_threads(threads)


def test_product_of_gaussians_matches_a_hand_computation():
    # two factors in 1-D: N(1, 1) and N(3, 4): precision 1 + 1/4 = 5/4 -> var 0.8, mean 0.8 * (1/1 + 3/4) = 1.4
    mean, var = product_of_gaussians(torch.tensor([[1.0], [3.0]]), torch.tensor([[1.0], [4.0]]))
    assert torch.allclose(mean, torch.tensor([1.4])) and torch.allclose(var, torch.tensor([0.8]))
    # per dimension and per task: [T=2, C=3, Z=2]
    m = torch.tensor([[[0.0, 2.0], [2.0, 2.0], [4.0, 2.0]], [[1.0, -1.0], [1.0, -1.0], [1.0, -1.0]]])
    v = torch.tensor([[[2.0, 1.0], [2.0, 1.0], [1.0, 1.0]], [[3.0, 0.5], [3.0, 0.5], [3.0, 0.5]]])
    mean, var = product_of_gaussians(m, v)
    # task 0, dim 0: precisions 0.5 + 0.5 + 1 = 2 -> var 0.5; mean 0.5 * (0 + 1 + 4) = 2.5
    assert torch.allclose(mean, torch.tensor([[2.5, 2.0], [1.0, -1.0]]))
    assert torch.allclose(var, torch.tensor([[0.5, 1 / 3], [1.0, 0.5 / 3]]))
    # more evidence, more certainty; one factor is itself
    m1, v1 = product_of_gaussians(m[:, :1], v[:, :1])
    assert torch.equal(m1, m[:, 0]) and torch.equal(v1, v[:, 0])
    # KL(N(1, 2) || N(0, 1)) = 0.5 * (2 + 1 - 1 - ln 2)
    assert torch.allclose(kl_to_standard_normal(torch.tensor([1.0]), torch.tensor([2.0])), torch.tensor(0.5 * (2 - np.log(2)), dtype=torch.float32))


def test_paper_defaults_and_presets():
    config = make_config("meld/Reacher-v0")  # no preset: the paper's values
    assert config.context.latent_size == 5 and config.context.kl_weight == 0.1 and config.context.posterior_update_every is None
    assert config.encoder.conv_filters == (32, 64, 128, 256, 256) and config.train.meta_batch == 16
    assert config.train.exploration_episodes == 1 and config.train.deterministic_test  # oyster num_exp_traj_eval, eval_deterministic
    assert (config.train.initial_steps_per_task, config.train.prior_steps, config.train.posterior_steps,
            config.train.extra_posterior_steps, config.context.context_size) == (2000, 400, 0, 400, 64)  # default.py
    cheetah = make_config("meld/CheetahVel-v0")  # oyster configs/cheetah-vel.json
    assert cheetah.train.exploration_episodes == 2 and cheetah.train.extra_posterior_steps == 600
    assert cheetah.context.context_size == 100 and cheetah.train.train_ratio == 0.4
    nav = make_config("meld/Nav2D-v0")  # oyster configs/sparse-point-robot.json
    assert nav.train.exploration_episodes == 5 and (nav.train.prior_steps, nav.train.posterior_steps) == (100, 900)
    assert nav.context.context_size == 1024 and nav.context.kl_weight == 1.0 and nav.sac.gamma == 0.9
    assert nav.sac.initial_alpha == 0.01 and nav.sac.alpha_learning_rate == 0.0  # reward_scale 100, fixed
    small = make_config("meld/Nav2D-v0", **SMALL)  # the CPU-sized variant overrides every amount
    assert (small.train.meta_batch, small.train.batch_size, small.context.context_size) == (4, 64, 32)
    with pytest.raises(ValueError, match="context_reward='dense'"):
        make_config("meld/Nav2D-v0", context_reward="dense")
    with pytest.raises(ValueError, match=r"train.exploration_episodes=-1: must be an integer >= 0"):
        make_config("meld/Reacher-v0", exploration_episodes=-1)
    with pytest.raises(ValueError, match=r"train.prior_steps=0: must be a positive integer"):
        make_config("meld/Reacher-v0", prior_steps=0)
    with pytest.raises(ValueError, match=r"train.posterior_steps=-40: must be an integer >= 0"):
        make_config("meld/Reacher-v0", posterior_steps=-40)


def _agent(**extra):
    spec = env_info("meld/Nav2D-v0", "state")
    agent = PEARL(spec, seed=0, **{k.replace(".", "__"): v for k, v in {**TINY, **extra}.items()})
    return agent, spec


def test_context_encoder_learns_through_the_critic_loss_and_the_actor_does_not_touch_it():
    agent, spec = _agent()
    ctx = TrainContext(spec, "state")
    ctx.allow(160)
    agent.meta_train(ctx, 160)
    assert agent.counters["updates"] >= 1 and agent.context_reward == "sparse"  # Nav2D is sparse at test
    learner = agent.learner
    before = {n: p.detach().clone() for n, p in learner.context.named_parameters()}
    enc_before = [p.detach().clone() for p in learner.encoder.parameters()]
    metrics = learner.update(agent.sample_batch())
    assert {"losses/critic_loss", "losses/kl", "losses/actor_loss"} <= set(metrics)
    assert any(not torch.equal(p, before[n]) for n, p in learner.context.named_parameters())
    assert any(not torch.equal(p, q) for p, q in zip(learner.encoder.parameters(), enc_before))
    # the actor's loss sends no gradient into the context encoder or the observation encoder
    batch = agent.sample_batch()
    learner.context.zero_grad(set_to_none=True)
    learner.encoder.zero_grad(set_to_none=True)
    feats = learner.features(batch.obs[:, :1]).reshape(batch.obs.shape[0], -1)
    mean, var = learner.posterior(learner.features(batch.context_obs), batch.context_actions, batch.context_rewards)
    action, _ = learner.actor(torch.cat([feats.detach(), learner.sample_z(mean, var).detach()], -1))
    action.sum().backward()
    assert all(p.grad is None for p in learner.context.parameters())
    agent.close()


def test_meta_test_explores_with_the_prior_then_acts_with_the_posterior():
    agent, _ = _agent(**{"train.exploration_episodes": 2})
    assert agent.exploration_episodes == 2 and agent.meta_test_actions == "mean"
    obs = np.zeros(4, np.float32)
    zeros, ones = torch.zeros(1, 5), torch.ones(1, 5)
    agent.reset()
    agent.act(obs, 0.0, {"exploration": True, "exploration_episode": 0})
    first_z = agent.z.clone()
    for t in range(19):
        agent.act(obs, 0.0, {"exploration": True, "exploration_episode": 0})
        assert torch.equal(agent.z, first_z)  # one prior sample for the whole episode
    agent.act(obs, 1.0, {"exploration": True, "exploration_episode": 1, "episode_end": True})
    # oyster: the prior (a new sample) until num_exp_traj_eval paths are done
    assert not torch.equal(agent.z, first_z) and torch.equal(agent.z_mean, zeros) and torch.equal(agent.z_var, ones)
    for t in range(19):
        agent.act(obs, 0.0, {"exploration": True, "exploration_episode": 1})
    agent.act(obs, 0.0, {"episode_in_trial": 0, "episode_end": True})  # the scored trial: the posterior of all 40
    assert len(agent._context) == 40 and not torch.equal(agent.z_mean, zeros) and not torch.equal(agent.z_var, ones)
    agent.reset()
    assert agent._context == [] and agent.z is None and torch.equal(agent.z_mean, zeros)


def test_reacher_meta_test_acts_on_the_posterior_after_exploration_without_touching_the_training_stream():
    """On a one-episode task (Reacher) the scored episode acts with z from q(z | exploration episode), not the prior;
    the trial's noise comes from its own generator, so evaluating twice gives the same trial and training is unmoved."""
    env_id = "meld/Reacher-v0"
    spec = env_info(env_id, "state")
    agent = PEARL(spec, seed=0, **{k.replace(".", "__"): v for k, v in TINY.items()})
    assert agent.exploration_episodes == 1 and spec.episodes_per_trial == 1
    seen = []
    act = agent.act

    def recording_act(obs, reward=0.0, info=None):
        action = act(obs, reward, info)
        seen.append((bool(info.get("exploration")), agent.z.clone(), agent.z_mean.clone(), agent.z_var.clone()))
        return action

    agent.act = recording_act
    env = interface.make_test_env(env_id, obs_mode="state")
    act_state, rng_state = agent.act_generator.get_state(), agent.rng.bit_generator.state
    try:
        result = interface.run_trial(agent, env, 0, interface.eval_seed(0, 0))
        again = interface.run_trial(agent, env, 0, interface.eval_seed(0, 0))
    finally:
        env.close()
    T = spec.max_episode_steps
    assert result.exploration_steps == T and result.steps == T and len(seen) == 4 * T
    explore, scored = seen[:T], seen[T:2 * T]
    assert all(e for e, *_ in explore) and not any(e for e, *_ in scored)
    assert all(torch.equal(m, torch.zeros(1, 5)) and torch.equal(v, torch.ones(1, 5)) for _, _, m, v in explore)  # prior
    z, mean, var = scored[0][1:]
    assert not torch.equal(mean, torch.zeros(1, 5)) and bool((var < 1).all())  # the posterior of T transitions
    assert not torch.equal(z, explore[0][1]) and all(torch.equal(s[1], z) for s in scored)  # one posterior z all episode
    assert result.episode_returns == again.episode_returns and torch.equal(seen[2 * T][1], explore[0][1])
    assert torch.equal(agent.act_generator.get_state(), act_state) and agent.rng.bit_generator.state == rng_state
    agent.close()


def test_training_contexts_come_from_the_encoder_buffer_of_recent_prior_trials():
    agent, spec = _agent()
    ctx = TrainContext(spec, "state")
    steps = 4 * agent.trial_steps
    ctx.allow(steps)
    agent.meta_train(ctx, steps)  # one iteration: 2 tasks x (1 prior + 1 extra-posterior trial)
    replay = agent.replay
    held = [k for k in range(replay.num_tasks) if replay.size(k)]
    assert len(held) == 2 and all(replay.size(k) == 2 and len(agent._enc_slots[k]) == 1 for k in held)
    for k in held:
        assert agent._enc_slots[k] == [int((replay.counts[k] - 2) % replay.capacity)]  # this iteration's prior trial
    # a context holds transitions of encoder-buffer trials only
    task = held[0]
    slot = agent._enc_slots[task][0]
    obs, _, _ = agent._enc_context(np.array([task]))
    stored = torch.as_tensor(replay.arrays["obs"][task, slot])
    assert all(any(torch.equal(o, s) for s in stored) for o in obs[0])
    agent.close()


def test_posterior_trials_join_the_encoder_buffer_and_extra_posterior_trials_do_not():
    agent, spec = _agent(**{"train.prior_steps": 50, "train.posterior_steps": 40})  # 50 steps: 2 trials of 40
    assert (agent._trials(50), agent._trials(40), agent._trials(0)) == (2, 1, 0)
    ctx = TrainContext(spec, "state")
    steps = 2 * 4 * agent.trial_steps
    ctx.allow(steps)
    agent.meta_train(ctx, steps)  # one iteration: 2 tasks x (2 prior + 1 posterior + 1 extra-posterior trial)
    replay = agent.replay
    held = [k for k in range(replay.num_tasks) if replay.size(k)]
    assert len(held) == 2 and all(replay.size(k) == 4 for k in held)
    for k in held:  # the first three of the task's trials this iteration, not the last
        assert agent._enc_slots[k] == [int((replay.counts[k] - n) % replay.capacity) for n in (4, 3, 2)]
    agent.close()


def _cli(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def _weights(run_dir):
    state = torch.load(os.path.join(run_dir, "checkpoint", "state.pt"), weights_only=True)
    return torch.cat([v.flatten().float() for part in ("encoder", "context", "actor", "critic")
                      for _, v in sorted(state["learner"][part].items())])


def test_train_command_writes_a_run_and_resume_is_exact(tmp_path):
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={json.dumps(v)}")]

    def train(out, steps):
        return _cli("-m", "baselines.pearl.train", "--env", "meld/Nav2D-v0", "--obs-mode", "state", "--steps", str(steps),
                    "--out", str(out), "--eval-every", "120", "--eval-tasks", "1", "--no-progress", "--threads", "1", *sets)

    straight = train(tmp_path / "a", 240)
    assert straight.returncode == 0, straight.stderr
    tags = open(tmp_path / "a" / "metrics.csv").read()
    for tag in ("losses/critic_loss", "losses/kl", "charts/updates_per_second", "eval/success_ep2"):
        assert tag in tags
    assert train(tmp_path / "b", 120).returncode == 0
    resumed = _cli("-m", "baselines.pearl.train", "--out", str(tmp_path / "b"), "--steps", "240", "--resume", "--no-progress",
                   "--threads", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert torch.equal(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    shown = _cli("-m", "baselines.pearl.train", "--env", "meld/CheetahVel-v0", "--show-config")
    assert "| context.latent_size | 5 |" in shown.stdout and "| context.kl_weight | 0.1 |" in shown.stdout


def test_pearl_through_the_leaderboard_smoke_preset(tmp_path):
    assert agents.resolve_agent("pearl") is PEARL
    config = [f"{k.replace('.', '__')}={json.dumps(v)}" for k, v in TINY.items() if k != "encoder.feature_size"]
    code = lb_run.main(["--agent", "pearl", "--env", "meld/Nav2D-v0", "--preset", "smoke", "--results", str(tmp_path),
                        "--workers", "1", "--config", *config])
    assert code == 0
    lines = [json.loads(line) for line in open(tmp_path / "smoke" / "pearl" / "meld__Nav2D-v0" / "seed_0.jsonl")]
    assert [r["record"] for r in lines].count("eval") == 3 and lines[-1]["record"] == "end"
    assert lines[0]["agent"]["config"]["context"]["latent_size"] == 5
