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
