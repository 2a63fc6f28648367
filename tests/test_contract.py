"""The environment contract (docs/design.md), for every registered id."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import meld_envs
from conftest import ENV_IDS, HIDDEN_GOAL, random_actions, rollout

# the paper's frame sizes: the agent's image, uint8 (H, W, 3)
IMAGE_SHAPES = {
    "meld/CheetahVel-v0": (64, 64, 3),
    "meld/Reacher-v0": (64, 128, 3),
    "meld/PegInsert-v0": (64, 128, 3),
    "meld/ShelfPlace-v0": (64, 128, 3),
    "meld/ButtonPress-v0": (64, 128, 3),
    "meld/Nav2D-v0": (64, 64, 3),
    "meld/WidowXCableSim-v0": (64, 128, 3),
}


def test_every_id_is_registered_under_meld():
    assert ENV_IDS == ["meld/CheetahVel-v0", "meld/Reacher-v0", "meld/PegInsert-v0", "meld/ShelfPlace-v0",
                       "meld/ButtonPress-v0", "meld/Nav2D-v0", "meld/WidowXCableSim-v0"]
    assert set(HIDDEN_GOAL) == set(ENV_IDS)
    for env_id in ENV_IDS:
        assert env_id in gym.registry
        assert gym.spec(env_id).namespace == "meld"
        assert gym.spec(env_id).max_episode_steps == meld_envs.entry(env_id).max_episode_steps


def test_episode_lengths_from_the_paper():
    assert gym.spec("meld/CheetahVel-v0").max_episode_steps == 50  # paper B.2
    for name in ("Reacher", "PegInsert", "ShelfPlace", "ButtonPress"):
        assert gym.spec(f"meld/{name}-v0").max_episode_steps == 40


def test_image_sizes_from_the_design_table(env_id):
    assert meld_envs.entry(env_id).obs_shape == IMAGE_SHAPES[env_id]


def test_spaces_match_the_table(env_id, make):
    entry = meld_envs.entry(env_id)
    env = make(env_id, task=0)
    assert env.observation_space.dtype == np.uint8
    assert env.observation_space.shape == entry.obs_shape
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == entry.obs_shape
    assert env.unwrapped.dt == pytest.approx(1.0 / entry.control_hz)
    assert env.metadata["render_fps"] == entry.control_hz


@pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning")  # state bounds are infinite, as in Gymnasium's MuJoCo envs
def test_gymnasium_env_checker(env_id, make):
    for obs_mode in ("pixels", "state", "pixels+state"):
        check_env(make(env_id, task=1, obs_mode=obs_mode).unwrapped, skip_render_check=True)


def test_episode_runs_the_full_length_and_info_has_the_contract(env_id, make):
    env = make(env_id, task=2)
    observations, rewards, infos = rollout(env, random_actions(env, 1000))
    assert len(rewards) == meld_envs.entry(env_id).max_episode_steps
    for info in infos:
        assert {"task", "success", "shaped_reward", "sparse_reward"} <= set(info)
        assert info["task"] == meld_envs.tasks(env_id)[2]
        assert isinstance(info["success"], bool)
        assert np.isfinite(info["shaped_reward"]) and info["sparse_reward"] in (0.0, 1.0)
    assert rewards == [i["shaped_reward"] for i in infos[1:]]  # shaped is the default reward_mode


def test_same_seed_and_actions_give_identical_frames(env_id, make):
    actions = random_actions(make(env_id), 60, seed=3)
    a = rollout(make(env_id, task=4), actions, seed=11)
    b = rollout(make(env_id, task=4), actions, seed=11)
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))
    assert a[1] == b[1]


def test_a_seeded_reset_replays_an_episode_whatever_came_before(env_id, make):
    """An env that already ran an episode, reset with a seed, gives the frames and rewards of a
    fresh env reset with that seed."""
    actions = random_actions(make(env_id), 20, seed=1)
    used = make(env_id, task=0)
    rollout(used, actions, seed=0)
    a = rollout(used, actions, seed=7)
    b = rollout(make(env_id, task=0), actions, seed=7)
    assert len(a[0]) == len(b[0]) and all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))
    assert a[1] == b[1]


def test_the_test_split_gives_other_tasks(env_id, make):
    _, train_info = make(env_id, task=0).reset(seed=0)
    _, test_info = make(env_id, task=0, split="test").reset(seed=0)
    assert test_info["task"] == meld_envs.tasks(env_id, "test")[0]
    assert test_info["task"].params != train_info["task"].params


def test_start_state_is_randomized_by_the_seed(env_id, make):
    env = make(env_id, task=0, obs_mode="state")
    starts = [env.reset(seed=s)[0] for s in range(3)]
    assert not np.allclose(starts[0], starts[1]) and not np.allclose(starts[1], starts[2])


def test_observations_change_during_an_episode(env_id, make):
    env = make(env_id, task=0)
    observations, _, _ = rollout(env, random_actions(env, 1000))
    stack = np.stack(observations).astype(np.int16)
    assert stack.std(axis=0).max() > 10, "the image hardly changes under random actions"


def test_state_and_dict_observation_modes(env_id, make):
    entry = meld_envs.entry(env_id)
    state_env = make(env_id, task=0, obs_mode="state")
    obs, _ = state_env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == state_env.observation_space.shape
    both = make(env_id, task=0, obs_mode="pixels+state")
    obs2, _ = both.reset(seed=0)
    assert set(obs2) == {"pixels", "state"} and obs2["pixels"].shape == entry.obs_shape
    np.testing.assert_array_equal(obs2["state"], obs)
    pixels, _ = make(env_id, task=0).reset(seed=0)
    np.testing.assert_array_equal(obs2["pixels"], pixels)


def test_the_goal_is_never_in_the_agents_image(env_id, make):
    """Two tasks differing only in the hidden goal, same seed and actions: the agent's frames are
    identical; the human frames, which draw the goal, are not."""
    key = HIDDEN_GOAL[env_id]
    base = meld_envs.tasks(env_id)[0]
    other = next(t for t in meld_envs.tasks(env_id) if t.params[key] != base.params[key])
    moved = meld_envs.Task(env_id, "train", 0, {**base.params, key: other.params[key]})
    actions = random_actions(make(env_id), 12, seed=5)
    a = make(env_id, task=base, render_mode="rgb_array")
    b = make(env_id, task=moved, render_mode="rgb_array")
    obs_a, _, _ = rollout(a, actions, seed=2)
    obs_b, _, _ = rollout(b, actions, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(obs_a, obs_b))
    assert not np.array_equal(a.render(), b.render())


def test_human_frames_are_larger_and_drawn_per_task(env_id, make):
    env = make(env_id, task=0, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    h, w, _ = meld_envs.entry(env_id).obs_shape
    assert frame.dtype == np.uint8 and frame.shape == (4 * h, 4 * w, 3)
    plain = make(env_id, task=0)
    plain.reset(seed=0)
    with pytest.warns(UserWarning, match="without a render_mode"):
        assert plain.render() is None

