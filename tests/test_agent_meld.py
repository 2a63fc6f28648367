"""The MELD agent as the leaderboard drives it: interface, budget, exact resume, corrupt checkpoints,
the appendix C two-stage switch, configs and presets."""
import os

import numpy as np
import pytest
import torch

from meld_agent import MELD, TrainContext, env_info, make_config
from meld_agent.config import PRESETS, parse_override
from meld_agent.extensions import opening_mask

TINY = dict(obs_mode="state", latent1_size=8, latent2_size=16, hidden_size=32, state_hidden_size=32, feature_size=32,
            sac__hidden_sizes=(32, 32), initial_random_trials=4, model_pretrain_ratio=0.02, collect_tasks=2,
            tasks_per_update=2, model_batch_steps=82, model_train_ratio=0.02, ac_train_ratio=0.02, num_train_tasks=4,
            capacity_frames_per_task=2000, sac__batch_size=32)


def tiny(**kw):
    return make_config("meld/Nav2D-v0", **{**TINY, **kw})


def _params(agent):
    return torch.cat([p.detach().flatten() for p in agent.learner.model.parameters()] +
                     [p.detach().flatten() for p in agent.learner.actor.parameters()])


def test_implements_the_leaderboard_interface_by_duck_typing():
    from leaderboards.interface import Agent, EnvInfo

    spec = env_info("meld/Nav2D-v0", "state")
    info = EnvInfo(spec.env_id, spec.observation_space, spec.action_space, spec.max_episode_steps,
                   spec.episodes_per_trial, spec.sparse_at_test)
    agent = MELD(info, seed=3, **{k: v for k, v in TINY.items() if k != "obs_mode"})
    assert isinstance(agent, Agent)
    assert agent.config.seed == 3 and agent.config.obs_mode == "state" and agent.two_stage
    agent.reset()
    action = agent.act(np.zeros(4, np.float32), 0.0, {"episode_in_trial": 0})
    assert action.shape == (2,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
    action = agent.act(np.ones(4, np.float32), 1.0, {"episode_in_trial": 1, "episode_end": True})
    assert np.all(np.isfinite(action))


def test_meld_package_does_not_import_leaderboards():
    import subprocess
    import sys

    code = "import sys, meld_agent, meld_agent.train, meld_agent.evaluate; print('leaderboards' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_meta_train_respects_the_step_budget_and_collects_whole_trials():
    agent = MELD(tiny(two_stage=False))
    ctx = TrainContext(agent.env_info, "state", 4)
    ctx.allow(250)  # 6 trials of 40 steps fit; the 10 steps left are not used
    agent.meta_train(ctx, 250)
    assert ctx.steps_used == 240 and agent.counters["env_steps"] == 240
    assert agent.replay.sizes.sum() == 6 and agent.replay.trial_frames == 41
    ctx.allow(30)
    agent.meta_train(ctx, 30)  # not even one trial fits
    assert ctx.steps_used == 240
    agent.close()


def test_actor_critic_can_draw_its_own_larger_batch_of_trials():
    """By default one batch of trials (one posterior pass) serves the model and the actor-critic;
    with ``ac_batch_trials`` the actor-critic's steps draw their own, larger batches."""
    counts = {}
    for ac_batch_trials in (None, 6):
        agent = MELD(tiny(ac_batch_trials=ac_batch_trials, model_train_ratio=0.01, ac_train_ratio=0.03, two_stage=False))
        ctx = TrainContext(agent.env_info, "state", 4)
        ctx.allow(160)
        agent.meta_train(ctx, 160)  # the random trials and the model's pre-training
        sizes, original = [], agent.replay.sample
        agent.replay.sample = lambda tasks, per_task, device, **kw: sizes.append(tasks * per_task) or original(tasks, per_task, device, **kw)
        ctx.allow(400)
        agent.meta_train(ctx, 400)  # ~4 model and ~12 actor-critic updates
        counts[ac_batch_trials] = {size: sizes.count(size) for size in set(sizes)}
        agent.close()
    assert set(counts[None]) == {2} and counts[None][2] >= 10  # shared batches of the model's 2 trials
    assert counts[6][6] == counts[None][2]  # as many actor-critic steps, each on 6 trials
    assert 1 <= counts[6][2] < counts[6][6]  # the model's own (fewer) batches


def test_stored_trials_hold_both_rewards_and_keep_the_belief_across_episodes():
    agent = MELD(tiny())
    agent.meta_train(steps=160)
    r = agent.replay
    held = np.flatnonzero(r.sizes)
    shaped = r.arrays["shaped_reward"][held, 0]
    sparse = r.arrays["sparse_reward"][held, 0]
    assert (shaped[:, 0] == 0).all() and (shaped[:, 1:] < 0).all()  # frame 0 has reward 0; -distance after
    assert set(np.unique(sparse)) <= {0.0, 1.0}
    agent.close()


@pytest.mark.parametrize("flag", [False, True])
def test_episode_start_reaches_the_belief_only_when_configured(flag):
    """``extensions.episode_start_input``: the first frame of a trial's later episode (info["episode_end"]
    at meta-test, the replay's episode structure in training) enters the model's transitions."""
    agent = MELD(tiny(episode_start_input=flag, two_stage=False))
    agent.meta_train(steps=200)  # random trials, pre-training and one collected iteration with the flag
    assert (agent.replay.sample(2, 1).episode_start.sum(1) == 1).all()  # one later episode per 2-episode trial
    agent.reset()
    agent.act(np.zeros(4, np.float32), 0.0, {"episode_in_trial": 0})
    saved = agent._filter, agent.test_generator.get_state()
    actions = []
    for info in ({"episode_in_trial": 1, "episode_end": True}, {"episode_in_trial": 1}):
        agent._filter = saved[0]
        agent.test_generator.set_state(saved[1])
        actions.append(agent.act(np.ones(4, np.float32), 0.0, info))
    assert (not np.array_equal(actions[0], actions[1])) == flag
    agent.close()


def test_two_stage_runs_single_episodes_then_the_envs_trials_with_stage_1s_data_offline():
    """Appendix C as the reference runs it: stage 1 collects 1-episode trials (shaped evidence); stage 2 starts as a run
    does (random trials of the env's 2-episode trials, then pre-training) with sparse evidence, and stage 1's trials
    become the offline buffer whose episodes batches mix in."""
    agent = MELD(tiny(stage1_env_steps=160))
    assert agent.reward_input == "shaped" and agent.stage == 1 and agent.trial_frames == 21
    agent.meta_train(steps=160)  # 4 random trials, pre-training, 2 iterations of 2 trials, all of 20 steps
    assert agent.stage == 2 and agent.offline is not None and agent.offline.trial_frames == 21
    assert agent.offline.sizes.sum() == 8 and agent.replay.trial_frames == 41 and agent.replay.sizes.sum() == 0
    assert agent.reward_input == "sparse" and agent.counters["random_trials"] == 0 and not agent.counters["pretrained"]
    assert agent.learner.config.model.reward_target == "shaped" and agent.learner.config.sac.critic_reward == "shaped"
    pretrain = []
    agent.logger = lambda metrics, step: pretrain.append(step) if "losses/model_loss_pretrain" in metrics else None
    agent.meta_train(steps=240)  # stage 2: 4 random trials of 40 steps, its pre-training, then one iteration
    assert agent.counters["random_trials"] == 4 and agent.replay.sizes.sum() == 6 and pretrain == [320]
    assert agent.counters["pretrain_updates"] == round(agent.config.train.model_pretrain_ratio * 160)
    agent.close()


def test_stage_2_batches_mix_in_stage_1_episodes_at_the_offline_ratio():
    """Each episode of a stage-2 batch's trials is one of stage 1's (the same task's) with probability
    ``train.offline_ratio``: frames, actions and the rewards of its steps; the rest are stage 2's own."""
    agent = MELD(tiny(stage1_env_steps=160))
    agent.meta_train(steps=320)
    online, offline, half = agent.replay, agent.offline, agent.episode_steps
    held_online = {t: online.arrays["obs"][t, :online.size(t)] for t in range(4)}
    held_offline = {t: offline.arrays["obs"][t, :offline.size(t)] for t in range(4)}
    for ratio, expected in ((0.0, 0.0), (1.0, 1.0), (0.3, 0.3)):
        sources = []
        for _ in range(40):
            batch = online.sample(4, 2, offline=offline, offline_ratio=ratio)
            for row in range(8):
                task = int(batch.task[row])
                for e, (a, b) in enumerate(((0, half), (half, 2 * half + 1))):
                    frames = batch.obs[row, a:b].numpy()
                    from_offline = any(np.array_equal(frames, trial[:b - a]) for trial in held_offline[task])
                    from_online = any(np.array_equal(frames, trial[a:b]) for trial in held_online[task])
                    assert from_offline != from_online  # one whole episode of one source
                    sources.append(from_offline)
                    if from_offline:  # the episode's own rewards: its steps' at frames a+1 .. a+T
                        slot = next(i for i, trial in enumerate(held_offline[task]) if np.array_equal(frames, trial[:b - a]))
                        np.testing.assert_array_equal(batch.sparse_reward[row, a + 1:a + half + 1].numpy(),
                                                      offline.arrays["sparse_reward"][task, slot, 1:])
                        np.testing.assert_array_equal(batch.actions[row, a:a + half].numpy(),
                                                      offline.arrays["actions"][task, slot])
        assert np.mean(sources) == pytest.approx(expected, abs=0.08)
    assert batch.sparse_reward[:, 0].eq(0).all()
    agent.close()


def test_stage2_sparse_critic_applies_to_stage_2_only():
    agent = MELD(tiny(stage2_sparse_critic=0.5))
    assert agent.learner.config.sac.critic_reward == "shaped"  # stage 1 learns from the shaped reward
    assert agent.stage_config(2).sac.critic_reward == "sparse" and agent.stage_config(2).model.reward_input == "sparse"
    assert MELD(tiny()).stage_config(2).sac.critic_reward == "shaped"  # default: appendix C as written
    agent.close()
    with pytest.raises(ValueError, match="extensions.stage2_sparse_critic=-1.0"):
        tiny(stage2_sparse_critic=-1.0)


def test_stage2_sparse_critic_adds_the_shaped_reward_to_the_sparse_critic_reward():
    from meld_agent.config import with_overrides

    agent = MELD(tiny(stage2_sparse_critic=0.5))
    agent.meta_train(steps=120)
    learner = agent.learner
    batch = agent.replay.sample(2, 1)
    post = learner.model_update.posterior(batch)
    start = learner.generator.get_state()
    rewards = {}
    for name, kind, weight in (("mixed", "sparse", 0.5), ("sparse", "sparse", 0.0), ("shaped", "shaped", 0.5),
                               ("plain sparse", "sparse", None)):
        learner.config = with_overrides(learner.config, {"sac.critic_reward": kind, "extensions.stage2_sparse_critic": weight})
        learner.generator.set_state(start)  # the same transitions each time
        rewards[name] = learner.transitions(post, batch)[2]
    assert (rewards["shaped"] < 0).all()  # the shaped reward (-distance) is there to add
    torch.testing.assert_close(rewards["mixed"], rewards["sparse"] + 0.5 * rewards["shaped"])
    torch.testing.assert_close(rewards["plain sparse"], rewards["sparse"])
    agent.close()


def test_n_step_transitions_sum_the_discounted_rewards_up_to_the_belief_they_bootstrap_from():
    """``extensions.n_step=3`` against a loop over the same sampled (trial, step) pairs: r_{t+1} + g r_{t+2} + g^2 r_{t+3},
    b_{t+3} and g^3, with fewer terms near an episode's end (the last frame before episode 2's first, or the trial's
    last); n_step=1 is SAC's one-step transition."""
    agent = MELD(tiny(n_step=3, critic_reward="sparse", sac__batch_size=500, two_stage=False))
    agent.meta_train(steps=120)
    learner = agent.learner
    batch = agent.replay.sample(2, 1)
    with torch.no_grad():  # as for an actor-critic step
        post = learner.model_update.posterior(batch)
    start = learner.generator.get_state()
    now, actions, reward, nxt, discount = learner.transitions(post, batch)
    gamma = learner.config.sac.gamma
    belief = post.belief()
    r = batch.sparse_reward[:, 1:]
    steps, half = r.shape[1], agent.episode_steps
    learner.generator.set_state(start)
    allowed = [j for j in range(r.numel()) if j % steps != half - 1]  # all but the step into episode 2's first frame
    idx = torch.randint(0, len(allowed), (min(500, len(allowed)),), generator=learner.generator)
    checked = [allowed[i] % steps for i in idx.tolist()]
    assert steps - 1 in checked and half - 2 in checked  # the trial's and episode 1's last-but-one (one reward, g^1)
    for i, j in enumerate(allowed[i] for i in idx.tolist()):
        b, t = divmod(j, steps)
        end = half - 1 if t < half else steps  # the last frame of t's episode
        k = min(3, end - t)
        torch.testing.assert_close(reward[i], sum(gamma ** m * r[b, t + m] for m in range(k)))
        torch.testing.assert_close(nxt[i], belief[b, t + k])
        torch.testing.assert_close(now[i], belief[b, t])
        torch.testing.assert_close(actions[i], batch.actions[b, t])
        assert discount[i].item() == pytest.approx(gamma ** k)
    metrics = learner.sac_update.update(now, actions, reward, nxt, discount)  # the update takes them as they are
    assert np.isfinite(metrics["losses/critic_loss"])
    agent.close()
    with pytest.raises(ValueError, match="extensions.n_step=0: must be a positive integer"):
        tiny(n_step=0)


def _trained_batch(**overrides):
    """An agent after 120 steps, a batch of 2 trials from its replay, their posterior and beliefs, and the steps."""
    agent = MELD(tiny(**overrides))
    agent.meta_train(steps=120)
    batch = agent.replay.sample(2, 1)
    with torch.no_grad():
        post = agent.learner.model_update.posterior(batch)
    belief = post.belief()
    return agent, agent.learner, batch, post, belief, belief.shape[1] - 1


def test_critic_transitions_never_cross_into_a_later_episode():
    """As the reference (meld_agent.py ``_train_ac``) drops the transitions across episode and trial boundaries: no
    one-step transition goes from episode 1's last stored frame to episode 2's first (the reset), every other step of
    the trial is drawn, the trial's last included."""
    agent, learner, batch, post, belief, steps = _trained_batch(two_stage=False, sac__batch_size=5000)
    half = agent.episode_steps
    drawn = set()
    for _ in range(20):  # each draw is min(batch_size, the 2 x 39 allowed transitions), with replacement
        now, actions, _, nxt, _ = learner.transitions(post, batch)
        t = torch.cdist(now, belief[:, :steps].reshape(-1, belief.shape[-1])).argmin(1) % steps
        after = torch.cdist(nxt, belief.reshape(-1, belief.shape[-1])).argmin(1) % (steps + 1)
        assert (after == t + 1).all() and not (after == half).any()
        drawn |= set(t.tolist())
    assert drawn == set(range(steps)) - {half - 1}
    agent.close()


def test_opening_fraction_draws_that_share_of_transitions_from_the_first_steps_of_later_episodes():
    """``extensions.opening_fraction=0.5, opening_steps=3``: half of each actor-critic batch comes from the first 3 steps of
    episode 2 (the reset frame and the 2 after it), the rest uniformly; with 0 the draw is the uniform one."""
    agent, learner, batch, post, belief, steps = _trained_batch(opening_fraction=0.5, opening_steps=3,
                                                                sac__batch_size=400, two_stage=False)
    episode = agent.episode_steps
    opening = opening_mask(batch.episode_start, steps, 3)
    assert opening.sum(1).tolist() == [3, 3] and opening[:, episode:episode + 3].all()
    now = learner.transitions(post, batch)[0]
    flat = belief[:, :steps].reshape(-1, belief.shape[-1])
    t = torch.cdist(now, flat).argmin(1) % steps  # the step each sampled belief came from
    in_opening = ((t >= episode) & (t < episode + 3)).float()
    half = len(now) // 2
    assert half == min(400, 2 * (steps - 1)) // 2  # the step into episode 2's first frame is never drawn
    assert in_opening[half:].all()  # the drawn half
    assert in_opening[:half].mean().item() < 0.25  # the uniform half: 3 of 2 x episode steps
    agent.close()
    with pytest.raises(ValueError, match="extensions.opening_fraction=1.5: must be in"):
        tiny(opening_fraction=1.5)
    with pytest.raises(ValueError, match="extensions.opening_steps=0: must be a positive integer"):
        tiny(opening_steps=0)


def test_slac_variant_is_a_configuration():
    agent = MELD(tiny(reward_input="none"))
    assert not agent.two_stage and agent.learner.model.reward_repeat == 0
    agent.reset()
    a1 = agent.act(np.zeros(4, np.float32), 0.0)
    agent2 = MELD(tiny(reward_input="none"))
    agent2.reset()
    assert np.allclose(agent2.act(np.zeros(4, np.float32), 5.0), a1)  # the reward is not seen


def test_same_seed_same_run_other_seed_other_run():
    runs = []
    for seed in (0, 0, 1):
        agent = MELD(tiny(seed=seed))
        agent.meta_train(steps=320)
        runs.append(_params(agent))
        agent.close()
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_save_load_continues_exactly(tmp_path):
    """A checkpoint in stage 2 of appendix C holds both replays (stage 2's and stage 1's offline data)."""
    straight = MELD(tiny(stage1_env_steps=160))
    straight.meta_train(steps=400)
    straight.meta_train(steps=160)

    first = MELD(tiny(stage1_env_steps=160))
    first.meta_train(steps=400)
    assert first.stage == 2 and first.offline is not None and first.replay.sizes.sum() == 6
    first.save(str(tmp_path / "ck"), extra={"budget_spent": 400})
    first.close()
    resumed = MELD(tiny(stage1_env_steps=160))
    assert resumed.load(str(tmp_path / "ck")) == {"budget_spent": 400}
    assert resumed.stage == 2 and resumed.trial_frames == 41
    assert np.array_equal(resumed.offline.counts, straight.offline.counts)
    resumed.meta_train(steps=160)
    assert resumed.stage == straight.stage == 2
    assert torch.equal(_params(straight), _params(resumed))
    assert np.array_equal(straight.replay.counts, resumed.replay.counts)
    assert not os.path.exists(str(tmp_path / "ck.partial"))


@pytest.mark.parametrize("damage", ["flip_state", "truncate_replay", "delete_manifest", "garbage_manifest"])
def test_corrupted_checkpoint_is_a_clear_error(tmp_path, damage):
    agent = MELD(tiny())
    agent.meta_train(steps=160)
    path = str(tmp_path / "ck")
    agent.save(path)
    if damage == "flip_state":
        with open(os.path.join(path, "state.pt"), "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
        match = "state.pt fails its SHA-256 check"
    elif damage == "truncate_replay":
        with open(os.path.join(path, "replay_obs.npy"), "r+b") as f:
            f.truncate(10)
        match = "replay_obs.npy has 10 bytes"
    elif damage == "delete_manifest":
        os.remove(os.path.join(path, "manifest.json"))
        match = "manifest.json unreadable"
    else:
        with open(os.path.join(path, "manifest.json"), "w") as f:
            f.write("{not json")
        match = "manifest.json unreadable"
    with pytest.raises(ValueError, match=f"is corrupt: {match}"):
        MELD(tiny()).load(path)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    agent = MELD(tiny())
    agent.save(str(tmp_path / "ck"))
    with pytest.raises(ValueError, match="another config"):
        MELD(tiny(latent1_size=4)).load(str(tmp_path / "ck"))


def test_config_overrides_presets_and_errors():
    cfg = make_config("meld/CheetahVel-v0", model__latent2_size=64)
    assert cfg.model.latent1_size == PRESETS["meld/CheetahVel-v0"]["model.latent1_size"] and cfg.model.latent2_size == 64
    assert make_config("meld/Nav2D-v0").model.conv_filters == (32, 64, 128, 256, 256)
    assert parse_override("model.latent1_size=64") == ("model.latent1_size", 64)
    assert parse_override("reward_input=none") == ("model.reward_input", "none")
    with pytest.raises(ValueError, match="model.reward_input='dense'; allowed: 'shaped', 'sparse', 'none'"):
        make_config(reward_input="dense")
    with pytest.raises(ValueError, match="unknown config field 'model.latent_size'"):
        make_config(**{"model.latent_size": 3})
    with pytest.raises(ValueError, match="unknown config field 'lr'"):
        make_config(lr=1.0)
    table = make_config().table()
    assert "| model.latent2_size | 256 |" in table


def test_loaded_optimizers_take_the_learning_rates_of_the_loading_config():
    """A torch optimizer's saved state carries its learning rate; loading it into an agent whose config has another
    (a branched run: ``nav2d_learning.py branch --set sac.actor_learning_rate=...``) must not bring the old one back."""
    agent = MELD(tiny())
    agent.meta_train(steps=120)
    state = agent.learner.state_dict()
    agent.close()
    other = MELD(tiny(sac__actor_learning_rate=1e-3, sac__critic_learning_rate=2e-3))
    other.learner.load_state_dict(state)
    sac = other.learner.sac_update
    assert [g["lr"] for g in sac.actor_optimizer.param_groups] == [1e-3]
    assert [g["lr"] for g in sac.critic_optimizer.param_groups] == [2e-3]
    other.close()


def test_random_opening_takes_random_actions_only_at_the_start_of_later_episodes():
    """``extensions.random_opening_fraction=1, random_opening_steps=2``: with the policy's action fixed at 0.5, every
    policy trial stores 0.5 except episode 2's first 2 actions, which are uniform draws; the belief reads the action
    taken. With the fraction at 0 every stored action is the policy's. With ``random_opening_hold`` the 2 draws are one,
    held."""
    for fraction, hold in ((1.0, False), (1.0, True), (0.0, False)):
        agent = MELD(tiny(initial_random_trials=0, random_opening_fraction=fraction, random_opening_steps=2,
                          random_opening_hold=hold, model_pretrain_ratio=0.0, model_train_ratio=0.0, ac_train_ratio=0.0,
                          two_stage=False))
        taken = []

        def fixed(obs, reward, deterministic, generator, episode_start=False, agent=agent):
            if agent._filter is not None:
                taken.append(agent._filter[1].clone())  # what the belief reads as the previous action
            agent._filter = (None, torch.full((1, agent.action_size), 0.5))
            return np.full(agent.action_size, 0.5, np.float32)

        agent._policy = fixed
        agent.meta_train(steps=2 * agent.trial_steps)
        replay, half = agent.replay, agent.episode_steps
        actions = replay.arrays["actions"][:, 0][replay.counts > 0]  # [trials, L-1, A]
        assert len(actions) == 2
        random_steps = np.zeros(actions.shape[1], bool)
        if fraction:
            random_steps[half:half + 2] = True
        assert (actions[:, ~random_steps] == 0.5).all()
        assert (actions[:, random_steps] != 0.5).all() and (np.abs(actions) <= 1).all()
        if fraction:  # the belief's previous action after a random step is that random action
            torch.testing.assert_close(taken[half], torch.as_tensor(actions[0, half])[None])
            assert (actions[:, half] == actions[:, half + 1]).all() == hold
        agent.close()
    with pytest.raises(ValueError, match="extensions.random_opening_fraction=2"):
        tiny(random_opening_fraction=2)


def test_random_opening_until_reward_hands_over_to_the_policy_at_the_first_reward():
    """``extensions.random_opening_until_reward``: a held opening of 3 steps whose first step earns a sparse reward ends there;
    the policy's actions follow. Without the option the opening runs its 3 steps."""
    for until in (True, False):
        agent = MELD(tiny(initial_random_trials=0, random_opening_fraction=1.0, random_opening_steps=3, random_opening_hold=True,
                          random_opening_until_reward=until, model_pretrain_ratio=0.0, model_train_ratio=0.0, ac_train_ratio=0.0,
                          two_stage=False))
        half, make = agent.episode_steps, agent._env

        def fixed(obs, reward, deterministic, generator, episode_start=False, agent=agent):
            agent._filter = (None, torch.full((1, agent.action_size), 0.5))
            return np.full(agent.action_size, 0.5, np.float32)

        def rewarding_env(ctx, tasks, task):  # episode 2's first step earns a sparse reward
            env = make(ctx, tasks, task)
            if not hasattr(env, "calls"):
                env.calls, step = 0, env.step

                def step_and_reward(action, env=env, step=step):
                    obs, reward, terminated, truncated, info = step(action)
                    env.calls += 1
                    if env.calls % agent.trial_steps == half + 1:
                        info = {**info, "sparse_reward": 1.0}
                    return obs, reward, terminated, truncated, info
                env.step = step_and_reward
            return env

        agent._policy, agent._env = fixed, rewarding_env
        agent.meta_train(steps=agent.trial_steps)
        actions = agent.replay.arrays["actions"][:, 0][agent.replay.counts > 0][0]  # [L-1, A]
        assert (actions[half] != 0.5).all()
        assert (actions[half + 1:half + 3] == 0.5).all() == until
        assert (actions[half + 3:] == 0.5).all() and (actions[:half] == 0.5).all()
        agent.close()


def test_a_meta_test_trial_depends_on_the_weights_and_the_trial_alone():
    """Acting at meta-test draws from a generator seeded by the trial's first observation: the same trial gives the
    same actions whatever the agent did before (collecting, other trials), and evaluating leaves training's stream be."""
    agent = MELD(tiny(sac__deterministic_test=False))
    agent.meta_train(steps=160)
    obs = [np.full(4, 0.1 * k, np.float32) for k in range(5)]

    def trial():
        agent.reset()
        return [agent.act(o, 0.0, {"episode_in_trial": 0}) for o in obs]

    before = agent.act_generator.get_state()
    first = trial()
    agent.reset()
    agent.act(np.ones(4, np.float32), 1.0)  # another trial in between
    assert all(np.array_equal(a, b) for a, b in zip(trial(), first))
    assert torch.equal(agent.act_generator.get_state(), before)  # training's noise is untouched
    agent.close()


def test_batches_have_the_references_shape():
    """Each update draws ``tasks_per_update`` tasks with replacement x ``update_trials_per_task`` trials (the reference's
    num_tasks_per_train x train_trials_per_task): the actor-critic learns from all of them, the model from
    ``model_batch_steps // trial frames`` of them (its model_bs_in_steps // real_env_steps_per_trial)."""
    agent = MELD(tiny(two_stage=False, tasks_per_update=4, model_batch_steps=90, model_train_ratio=0.01, ac_train_ratio=0.01))
    agent.meta_train(steps=160)  # random trials and pre-training
    calls, model_rows, ac_rows = [], [], []
    sample, update, transitions = agent.replay.sample, agent.learner.model_update.update, agent.learner.transitions
    agent.replay.sample = lambda *a, **kw: calls.append((a[:2], kw["replace"])) or sample(*a, **kw)
    agent.learner.model_update.update = lambda batch: model_rows.append(batch.task.shape[0]) or update(batch)
    agent.learner.transitions = lambda post, batch: ac_rows.append((post.z1.shape[0], batch.task.shape[0])) or transitions(post, batch)
    agent.meta_train(steps=400)
    assert agent.model_batch_trials() == 2 and calls and set(calls) == {((4, 1), True)}
    assert set(model_rows) == {2} and set(ac_rows) == {(4, 4)}
    agent.close()
    # more model trials than the batch holds: all of them (the reference refuses such configs)
    assert MELD(tiny(two_stage=False, tasks_per_update=2, model_batch_steps=205)).model_batch_trials() == 2
    assert MELD(tiny(two_stage=False, tasks_per_update=2, update_trials_per_task=3, model_batch_steps=205)).model_batch_trials() == 5


def test_meld_samples_its_meta_test_actions_and_slac_takes_the_mean():
    """Algorithm 2 samples (the reference's policy does, meld_policy.py); SLAC acts with the mean, as slac.pytorch's
    evaluation does. ``sac.deterministic_test`` sets either way for one agent."""
    from baselines.slac import SLAC

    assert MELD.meta_test_actions == "sampled" and SLAC.meta_test_actions == "mean"
    assert MELD(tiny()).meta_test_actions == "sampled" and SLAC(tiny(reward_input="none")).meta_test_actions == "mean"
    assert MELD(tiny(deterministic_test=True)).meta_test_actions == "mean"
    assert SLAC(tiny(reward_input="none", deterministic_test=False)).meta_test_actions == "sampled"
    for mode, expected in ((None, False), (True, True)):  # what act() asks of the policy
        agent = MELD(tiny(deterministic_test=mode))
        asked = []
        policy = agent._policy
        agent._policy = lambda *a, deterministic, **kw: asked.append(deterministic) or policy(*a, deterministic=deterministic, **kw)
        agent.reset()
        agent.act(np.zeros(4, np.float32), 0.0, {"episode_in_trial": 0})
        assert asked == [expected]
    agent = MELD(tiny())  # on one belief and one generator state the sampled action is not the mean one
    agent.reset()
    agent.act(np.zeros(4, np.float32), 0.0, {"episode_in_trial": 0})
    state, generator = agent._filter, agent.test_generator.get_state()
    actions = []
    for deterministic in (False, True):
        agent._filter = state
        agent.test_generator.set_state(generator)
        actions.append(agent._policy(np.zeros(4, np.float32), 0.0, deterministic, agent.test_generator))
    assert not np.array_equal(*actions)
