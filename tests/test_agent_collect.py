"""Batched collection (``train.collect_envs``, meld_agent/collect.py) collects the trials that one-at-a-time collection
collects for the same seed: the same replay (bit for bit with ``collect_exact``, to float rounding with one batched
forward), the same generator states and counters after it, in this process or in worker processes, within the step
budget."""
import numpy as np
import pytest
import torch

from meld_agent import MELD, TrainContext, make_config

TINY = dict(latent1_size=8, latent2_size=16, hidden_size=32, state_hidden_size=32, feature_size=32,
            sac__hidden_sizes=(32, 32), initial_random_trials=5, model_pretrain_ratio=0.01, collect_tasks=3,
            trials_per_task=2, tasks_per_update=2, model_batch_steps=41, model_train_ratio=0.01, ac_train_ratio=0.01,
            num_train_tasks=4, capacity_frames_per_task=2000, sac__batch_size=16)
# the learning test's extensions that act while collecting: random openings (held, until a reward) and the flag input
OPENINGS = dict(episode_start_input=True, random_opening_fraction=0.5, random_opening_hold=True, random_opening_steps=6,
                random_opening_until_reward=True)
SMALL_CONV = dict(conv_filters=(4, 4, 8, 8, 8), feature_size=8)


def _run(env_id: str, obs_mode: str, steps: int, **kw):
    """Replay contents, generator states and counters after ``steps`` env steps of meta-training."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        agent = MELD(make_config(env_id, obs_mode=obs_mode, **{**TINY, **kw}))
        ctx = TrainContext(agent.env_info, obs_mode, 4)
        ctx.allow(steps)
        agent.meta_train(ctx, steps)
        replays = [r for r in (agent.offline, agent.replay) if r is not None]
        data = [{**{k: v.copy() for k, v in r.arrays.items()}, "counts": r.counts.copy()} for r in replays]
        state = (agent.rng.bit_generator.state, agent.act_generator.get_state(), dict(agent.counters), ctx.steps_used)
        agent.close()
        return data, state
    finally:
        torch.set_num_threads(threads)


def _same(a, b, exact: bool):
    (data_a, (rng_a, gen_a, counters_a, used_a)), (data_b, (rng_b, gen_b, counters_b, used_b)) = a, b
    assert rng_a == rng_b and torch.equal(gen_a, gen_b) and counters_a == counters_b and used_a == used_b
    assert len(data_a) == len(data_b)
    for x, y in zip(data_a, data_b):
        assert np.array_equal(x["counts"], y["counts"]) and x["counts"].sum() > 0
        for key in ("obs", "actions", "shaped_reward", "sparse_reward"):
            if exact or key == "sparse_reward":
                assert np.array_equal(x[key], y[key]), key
            elif x[key].dtype == np.uint8:  # a state 1e-6 away lands a few pixels on the other side of a grey level
                diff = np.abs(x[key].astype(np.int16) - y[key])
                assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-5 * diff.size, key
            else:  # a batched matrix product rounds differently from a one-row one in the last bits
                np.testing.assert_allclose(x[key], y[key], rtol=0, atol=1e-5, err_msg=key)


# 5 random trials and iterations of 3 tasks x 2 trials: groups of 4 leave partial groups and hold a task twice; the
# two-stage run switches at 160 steps from single-episode trials to 2-episode ones (their random trials, offline data)
NAV2D = dict(two_stage=True, stage1_env_steps=160, **OPENINGS)


@pytest.mark.parametrize("batched", [dict(collect_exact=True), dict(collect_exact=True, collect_async=True), dict()],
                         ids=["exact", "exact-async", "batched"])
def test_nav2d_state_batched_collection_gives_the_sequential_trials(batched):
    sequential = _run("meld/Nav2D-v0", "state", 800, **NAV2D)
    _same(sequential, _run("meld/Nav2D-v0", "state", 800, collect_envs=4, **NAV2D, **batched),
          exact=batched.get("collect_exact", False))


@pytest.mark.parametrize("batched", [dict(collect_exact=True), dict(collect_exact=True, collect_async=True), dict()],
                         ids=["exact", "exact-async", "batched"])
def test_pixel_batched_collection_gives_the_sequential_trials(batched):
    kw = dict(SMALL_CONV, initial_random_trials=2, collect_tasks=2, trials_per_task=1, capacity_frames_per_task=82)
    sequential = _run("meld/Reacher-v0", "pixels", 160, **kw)  # 2 random trials, one iteration of 2 trials
    _same(sequential, _run("meld/Reacher-v0", "pixels", 160, collect_envs=3, **kw, **batched),
          exact=batched.get("collect_exact", False))


@pytest.mark.parametrize("collect_async", [False, True])
def test_batched_collection_stays_within_the_budget(collect_async):
    agent = MELD(make_config("meld/Nav2D-v0", obs_mode="state", **{**TINY, "two_stage": False, "collect_envs": 4,
                                                                    "collect_async": collect_async}))
    ctx = TrainContext(agent.env_info, "state", 4)
    ctx.allow(130)  # 3 of the 5 random trials fit in one group of 4
    agent.meta_train(ctx, 130)
    assert ctx.steps_used == agent.counters["env_steps"] == 120 and agent.counters["random_trials"] == 3
    ctx.allow(250)  # the 2 random trials left, then 4 of an iteration's 6 trials (10 steps left unused)
    agent.meta_train(ctx, 250)
    assert ctx.steps_used == agent.counters["env_steps"] == 120 + 80 + 160 and agent.replay.sizes.sum() == 9
    agent.close()


def test_openings_that_end_at_a_reward_need_one_trial_at_a_time():
    agent = MELD(make_config("meld/Nav2D-v0", obs_mode="state", **{**TINY, **OPENINGS, "two_stage": False,
                                                                    "random_opening_hold": False, "collect_envs": 2}))
    with pytest.raises(ValueError, match="collect_envs=1"):
        agent.meta_train(steps=800)
    agent.close()


@pytest.mark.parametrize("collect_async", [False, True])
def test_a_resumed_run_collects_what_an_unbroken_one_does(tmp_path, collect_async):
    config = make_config("meld/Nav2D-v0", obs_mode="state", **{**TINY, "two_stage": False, "collect_envs": 4,
                                                                "collect_exact": True, "collect_async": collect_async})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        unbroken = MELD(config)
        ctx = TrainContext(unbroken.env_info, "state", 4)
        for steps in (300, 300):
            ctx.allow(steps)
            unbroken.meta_train(ctx, steps)
        first = MELD(config)
        ctx = TrainContext(first.env_info, "state", 4)
        ctx.allow(300)
        first.meta_train(ctx, 300)
        first.save(str(tmp_path / "ckpt"))
        first.close()
        resumed = MELD(config)
        resumed.load(str(tmp_path / "ckpt"))
        ctx.allow(300)
        resumed.meta_train(ctx, 300)
        assert resumed.counters == unbroken.counters
        for key, value in unbroken.replay.arrays.items():
            assert np.array_equal(resumed.replay.arrays[key], value), key
        assert torch.equal(torch.cat([p.flatten() for p in resumed.learner.actor.parameters()]),
                           torch.cat([p.flatten() for p in unbroken.learner.actor.parameters()]))
        resumed.close()
        unbroken.close()
    finally:
        torch.set_num_threads(threads)
