"""Gymnasium vector envs with a different task in each sub-environment."""
import gymnasium as gym
import numpy as np
import pytest

import meld_envs


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_gives_each_sub_env_its_task(mode):
    envs = meld_envs.make_vec("meld/Nav2D-v0", tasks=[0, 4, 7], split="test", vectorization_mode=mode)
    try:
        obs, info = envs.reset(seed=0)
        assert obs.shape == (3, 64, 64, 3) and obs.dtype == np.uint8
        expected = meld_envs.tasks("meld/Nav2D-v0", "test")
        assert [t.index for t in info["task"]] == [0, 4, 7]
        assert list(info["task"]) == [expected[0], expected[4], expected[7]]
        for _ in range(25):  # across the autoreset at 20 steps
            obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert reward.shape == (3,) and obs.shape == (3, 64, 64, 3)
        assert {t.index for t in info["task"]} == {0, 4, 7}
    finally:
        envs.close()


def test_async_vector_env_from_plain_gymnasium():
    fns = [lambda i=i: gym.make("meld/CheetahVel-v0", task=i) for i in range(2)]
    envs = gym.vector.AsyncVectorEnv(fns)
    try:
        envs.reset(seed=[1, 2])
        _, _, _, _, info = envs.step(np.zeros((2, 6), dtype=np.float32))
        assert info["target_velocity"][0] != info["target_velocity"][1]
    finally:
        envs.close()


def test_async_vector_env_matches_single_envs():
    envs = meld_envs.make_vec("meld/CheetahVel-v0", tasks=[2, 5], vectorization_mode="async")
    try:
        obs, _ = envs.reset(seed=[3, 4])
        actions = np.random.default_rng(0).uniform(-1, 1, (5, 2, 6)).astype(np.float32)
        for a in actions:
            obs, *_ = envs.step(a)
    finally:
        envs.close()
    for k, (task, seed) in enumerate([(2, 3), (5, 4)]):
        env = gym.make("meld/CheetahVel-v0", task=task)
        single, _ = env.reset(seed=seed)
        for a in actions:
            single, *_ = env.step(a[k])
        env.close()
        np.testing.assert_array_equal(obs[k], single)


def test_make_vec_rejects_bad_input():
    with pytest.raises(ValueError, match="out of range"):
        meld_envs.make_vec("meld/Nav2D-v0", tasks=[0, 10], split="test")
    with pytest.raises(ValueError, match="vectorization_mode"):
        meld_envs.make_vec("meld/Nav2D-v0", tasks=[0], vectorization_mode="threads")
    with pytest.raises(ValueError, match="empty"):
        meld_envs.make_vec("meld/Nav2D-v0", tasks=[])
