"""Environments refuse what would silently mix splits or revive a closed env, and pickle the Gymnasium way."""
import gymnasium as gym
import numpy as np
import pytest

import meld_envs
from meld_envs.interface import TrainContext, env_info


def test_a_train_env_refuses_a_test_task():
    test_task = meld_envs.tasks("meld/Nav2D-v0", "test")[0]
    env = gym.make("meld/Nav2D-v0", task=0, split="train", obs_mode="state")
    try:
        with pytest.raises(ValueError, match="from the 'test' split; this env is on the 'train' split"):
            env.unwrapped.set_task(test_task)
        with pytest.raises(ValueError, match="from the 'test' split"):
            env.reset(options={"task": test_task})
        assert env.unwrapped.task.split == "train"
    finally:
        env.close()
    ctx = TrainContext(env_info("meld/Nav2D-v0", "state"), "state")
    try:
        env = ctx.make_env(0)
        with pytest.raises(ValueError, match="from the 'test' split"):
            env.reset(options={"task": test_task})  # the protocol's training envs too
    finally:
        ctx.close()
    env = gym.make("meld/Nav2D-v0", task=test_task, obs_mode="state")  # a Task brings its split
    assert env.unwrapped.split == "test"
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    env.close()


@pytest.mark.parametrize("env_id", [e.id for e in meld_envs.registry.SIMULATED])
def test_envs_pickle_and_deep_copy_onto_their_current_task(env_id):
    import copy
    import pickle

    env = gym.make(env_id, task=2, obs_mode="pixels", render_mode="rgb_array")
    env.reset(seed=0)
    env.render()  # a renderer exists now, which pickle cannot copy
    env.unwrapped.set_task(5)
    try:
        for clone in (pickle.loads(pickle.dumps(env)), copy.deepcopy(env)):
            assert clone.unwrapped.task == env.unwrapped.task and clone.unwrapped is not env.unwrapped
            a, b = clone.reset(seed=3)[0], env.reset(seed=3)[0]
            np.testing.assert_array_equal(a, b)
            action = np.full(env.action_space.shape, 0.3, np.float32)
            np.testing.assert_array_equal(clone.step(action)[0], env.step(action)[0])
            clone.close()
    finally:
        env.close()


def test_a_closed_env_refuses_to_step_reset_or_render():
    env = gym.make("meld/Nav2D-v0", render_mode="rgb_array")
    env.reset(seed=0)
    env.close()
    env.close()  # twice is fine
    for call in (lambda: env.step(np.zeros(2, np.float32)), lambda: env.reset(seed=0), env.render):
        with pytest.raises(RuntimeError, match="env is closed; make a new one"):
            call()
