"""Reward formulas and success thresholds against hand computations."""
import mujoco
import numpy as np
import pytest

from meld_envs import Task


def cheetah_task(v):
    return Task("meld/CheetahVel-v0", "train", 0, {"target_velocity": v})


def test_cheetah_reward_is_negative_velocity_error_minus_control_cost(make):
    env = make("meld/CheetahVel-v0", task=cheetah_task(1.3))
    env.reset(seed=4)
    u = env.unwrapped
    rng = np.random.default_rng(0)
    for _ in range(20):
        action = rng.uniform(-1, 1, 6)
        com_before = u.data.subtree_com[1][0]
        _, reward, _, _, info = env.step(action)
        velocity = (u.data.subtree_com[1][0] - com_before) / (0.01 * 10)  # centre of mass, m/s over 0.1 s
        expected = -abs(velocity - 1.3) - 0.01 * np.sum(action**2)
        assert info["velocity"] == pytest.approx(velocity)
        assert reward == pytest.approx(expected) and info["shaped_reward"] == pytest.approx(expected)
        assert info["sparse_reward"] == float(abs(velocity - 1.3) <= 0.2)


def test_cheetah_actions_are_clipped_in_reward_and_physics(make):
    a, b = make("meld/CheetahVel-v0", task=0), make("meld/CheetahVel-v0", task=0)
    a.reset(seed=0), b.reset(seed=0)
    big = np.array([5.0, -7.0, 1.0, 0.3, -2.0, 9.0])
    oa, ra, *_ = a.step(big)
    ob, rb, *_ = b.step(np.clip(big, -1, 1))
    np.testing.assert_array_equal(oa, ob)
    assert ra == rb


@pytest.mark.parametrize("offset, success", [(0.19, True), (-0.19, True), (0.21, False), (-0.21, False)])
def test_cheetah_success_within_0_2_mps(make, offset, success):
    probe = make("meld/CheetahVel-v0", task=cheetah_task(0.0))
    probe.reset(seed=1)
    action = np.full(6, 0.5)
    velocity = probe.step(action)[4]["velocity"]
    env = make("meld/CheetahVel-v0", task=cheetah_task(velocity + offset), reward_mode="sparse")
    env.reset(seed=1)
    _, reward, _, _, info = env.step(action)
    assert info["velocity"] == velocity
    assert info["success"] is success and reward == float(success)


def place_robot(env, position):
    u = env.unwrapped
    u.data.qpos[:2] = position
    u.data.qvel[:] = 0
    mujoco.mj_forward(u.model, u.data)


@pytest.mark.parametrize("distance, reached", [(0.19, True), (0.21, False), (0.6, False)])
def test_nav2d_rewards_and_goal_radius(make, distance, reached):
    task = Task("meld/Nav2D-v0", "train", 0, {"goal_angle": 0.8})
    goal = np.array([np.cos(0.8), np.sin(0.8)])
    for mode in ("shaped", "sparse"):
        env = make("meld/Nav2D-v0", task=task, reward_mode=mode)
        env.reset(seed=0)
        place_robot(env, goal - distance * np.array([np.cos(0.3), np.sin(0.3)]))
        _, reward, _, _, info = env.step(np.zeros(2))  # no command: the robot stays put
        assert info["distance"] == pytest.approx(distance, abs=1e-9)
        assert info["shaped_reward"] == pytest.approx(-distance, abs=1e-9)
        assert info["sparse_reward"] == float(reached) and info["success"] is reached
        assert reward == (info["shaped_reward"] if mode == "shaped" else info["sparse_reward"])


def test_nav2d_scripted_controller_reaches_the_goal_and_stays(make):
    env = make("meld/Nav2D-v0", task=3, split="test", reward_mode="sparse")
    _, info = env.reset(seed=0)
    goal = env.unwrapped.goal_position(info["task"].params["goal_angle"])
    rewards = []
    for _ in range(20):
        command = np.clip((goal - env.unwrapped.position()) / 0.25, -1, 1)
        _, reward, _, _, info = env.step(command)
        rewards.append(reward)
    assert info["success"] and rewards[-1] == 1.0
    assert rewards.index(1.0) <= 6 and sum(rewards) >= 14  # ~4-5 steps to get there, then it stays


def test_nav2d_speed_is_capped_at_0_25_m_per_step(make):
    env = make("meld/Nav2D-v0", task=0)
    env.reset(seed=0)
    start = env.unwrapped.position()
    for _ in range(4):
        env.step(np.array([1.0, 0.0]))
    moved = env.unwrapped.position() - start
    assert 0.9 < moved[0] <= 1.0 and abs(moved[1]) < 1e-6
