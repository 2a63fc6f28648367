"""Trial (several episodes of one task) and TaskSchedule (task changes inside an episode)."""
import gymnasium as gym
import numpy as np
import pytest

import meld_envs
from meld_envs import TaskSchedule, Trial


def test_trial_runs_k_episodes_of_one_task_as_one_episode(make):
    env = Trial(make("meld/Nav2D-v0", task=4, split="test"), episodes=2)
    obs, info = env.reset(seed=0)
    assert info["episode_in_trial"] == 0
    task = info["task"]
    boundaries, steps, episode_ids = [], 0, []
    while True:
        obs, reward, terminated, truncated, info = env.step(np.array([1.0, 1.0]))
        steps += 1
        episode_ids.append(info["episode_in_trial"])
        assert info["task"] == task
        if info.get("episode_end"):
            boundaries.append(steps)
            assert info["final_info"]["episode_in_trial"] == 0
            assert info["final_observation"].shape == obs.shape
            # the new episode starts from the start again
            assert np.linalg.norm(env.unwrapped.position()) < 0.03
        if terminated or truncated:
            break
    assert steps == 40 and boundaries == [20]
    assert episode_ids == [0] * 19 + [1] * 21  # the boundary step already returns episode 1's first observation
    assert truncated and not terminated


def test_trial_is_deterministic_under_a_seed(make):
    def run():
        env = Trial(make("meld/CheetahVel-v0", task=1), episodes=2)
        env.reset(seed=7)
        env.action_space.seed(7)
        return [env.step(env.action_space.sample())[0] for _ in range(100)]

    assert all(np.array_equal(a, b) for a, b in zip(run(), run()))


def test_trial_rejects_bad_episode_counts(make):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="episodes="):
            Trial(make("meld/Nav2D-v0"), episodes=bad)


def test_trial_ends_at_once_on_a_physics_error(make, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo writes MUJOCO_LOG.TXT into the working directory
    env = Trial(make("meld/CheetahVel-v0", task=0), episodes=3)
    env.reset(seed=0)
    env.unwrapped.data.qvel[:] = np.nan
    _, _, terminated, truncated, info = env.step(np.zeros(6))
    assert truncated and info["physics_error"] and info["episode_in_trial"] == 0


def test_task_schedule_changes_cheetah_velocity_three_times(make):
    """Paper D.2: three target velocities in one Cheetah episode."""
    train = meld_envs.tasks("meld/CheetahVel-v0")
    env = TaskSchedule(make("meld/CheetahVel-v0", task=9), {0: 3, 17: 8, 34: train[21]})
    _, info = env.reset(seed=0)
    assert info["task"] == train[3] and not info["task_changed"]
    seen, changed_at, x = [], [], []
    for step in range(1, 51):
        _, reward, terminated, truncated, info = env.step(np.zeros(6))
        seen.append(info["task"].index)
        x.append(env.unwrapped.data.qpos[0])
        if info["task_changed"]:
            changed_at.append(step)
        assert info["target_velocity"] == info["task"].params["target_velocity"]
    assert seen == [3] * 17 + [8] * 17 + [21] * 16
    assert changed_at == [18, 35]  # the 18th step is the first under the new task
    assert truncated  # the TimeLimit still ends the episode at 50 steps
    assert np.max(np.abs(np.diff(x))) < 0.1  # no reset at a change: the cheetah moves on continuously


def test_task_schedule_rejects_bad_schedules(make):
    env = make("meld/CheetahVel-v0")
    with pytest.raises(ValueError, match="out of range"):
        TaskSchedule(env, {0: 1, 10: 99})
    with pytest.raises(ValueError, match="empty"):
        TaskSchedule(env, {})
    with pytest.raises(ValueError, match="non-negative"):
        TaskSchedule(env, {-3: 1})
    with pytest.raises(ValueError, match="chooses the task"):
        TaskSchedule(env, {0: 1}).reset(options={"task": 2})


def test_trial_of_a_task_schedule_composes(make):
    env = Trial(TaskSchedule(make("meld/CheetahVel-v0"), {0: 0, 25: 1}), episodes=2)
    env.reset(seed=0)
    indices = [env.step(np.zeros(6))[4]["task"].index for _ in range(100)]
    # the schedule restarts with each episode of the trial; the boundary step (index 49) shows episode 2's start
    assert indices == [0] * 25 + [1] * 24 + [0] * 26 + [1] * 25


def test_wrapped_env_is_still_a_gymnasium_env(make):
    env = Trial(make("meld/Nav2D-v0"), episodes=2)
    assert isinstance(env, gym.Env) and env.unwrapped.env_id == "meld/Nav2D-v0"
