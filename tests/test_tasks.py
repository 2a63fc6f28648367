"""Task splits: deterministic, disjoint, extendable; tasks switch without rebuilding the simulator."""
import pickle
import subprocess
import sys

import numpy as np
import pytest

import meld_envs
from meld_envs import Task


def test_default_counts(env_id):
    e = meld_envs.entry(env_id)
    expected_test = 12 if env_id == "meld/ButtonPress-v0" else 10  # multiples of its 3 buttons
    expected_train = 20 if "WidowX" in env_id else 30  # paper 5.3: 20 meta-training tasks on the robot
    assert len(meld_envs.tasks(env_id, "train")) == e.num_train_tasks == expected_train
    assert len(meld_envs.tasks(env_id, "test")) == e.num_test_tasks == expected_test


def test_splits_are_disjoint_and_indexed(env_id):
    train, test = meld_envs.tasks(env_id, "train"), meld_envs.tasks(env_id, "test")
    assert not {t.params for t in train} & {t.params for t in test}
    assert [t.index for t in train] == list(range(len(train))) and {t.split for t in train} == {"train"}
    assert {t.split for t in test} == {"test"} and {t.env_id for t in train + test} == {env_id}
    assert len({t.params for t in train}) == len(train)


def test_splits_are_the_same_in_a_fresh_process(env_id):
    code = f"import meld_envs; print([repr(t) for t in meld_envs.tasks({env_id!r}, 'test')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == str([repr(t) for t in meld_envs.tasks(env_id, "test")])


def test_num_tasks_extends_a_split_without_changing_it(env_id):
    more = meld_envs.tasks(env_id, "train", num_tasks=100)
    default = meld_envs.tasks(env_id, "train")
    assert len(more) == 100 and more[: len(default)] == default
    assert not {t.params for t in more} & {t.params for t in meld_envs.tasks(env_id, "test", num_tasks=100)}


def test_task_distributions():
    velocities = [t.params["target_velocity"] for t in meld_envs.tasks("meld/CheetahVel-v0", num_tasks=500)]
    assert 0.0 <= min(velocities) < 0.1 and 2.9 < max(velocities) <= 3.0  # U[0, 3] m/s
    angles = [t.params["goal_angle"] for t in meld_envs.tasks("meld/Nav2D-v0", num_tasks=500)]
    assert 0.0 <= min(angles) < 0.05 and np.pi - 0.05 < max(angles) <= np.pi  # upper semicircle


def test_task_is_a_frozen_hashable_picklable_value():
    task = meld_envs.tasks("meld/Nav2D-v0", "test")[2]
    assert pickle.loads(pickle.dumps(task)) == task
    assert hash(pickle.loads(pickle.dumps(task))) == hash(task)
    with pytest.raises(AttributeError):
        task.index = 3
    with pytest.raises(TypeError):
        task.params["goal_angle"] = 0.0
    assert repr(task).startswith("Task('meld/Nav2D-v0', 'test', 2, {'goal_angle': ")
    assert Task("meld/Nav2D-v0", "test", 2, {"goal_angle": task.params["goal_angle"]}) == task


def test_make_with_split_and_task(make):
    test_task = meld_envs.tasks("meld/Nav2D-v0", "test")[3]
    env = make("meld/Nav2D-v0", task=3, split="test")
    assert env.reset(seed=0)[1]["task"] == test_task
    assert make("meld/Nav2D-v0", task=test_task).unwrapped.task == test_task


def test_set_task_keeps_the_simulator(make):
    env = make("meld/CheetahVel-v0", task=0)
    env.reset(seed=0)
    model, data = env.unwrapped.model, env.unwrapped.data
    qpos = data.qpos.copy()
    new = meld_envs.tasks("meld/CheetahVel-v0", "train")[1]
    env.unwrapped.set_task(new)
    assert env.unwrapped.model is model and env.unwrapped.data is data
    np.testing.assert_array_equal(data.qpos, qpos)  # the state is untouched
    _, _, _, _, info = env.step(np.zeros(6))
    assert info["task"] == new and info["target_velocity"] == new.params["target_velocity"]


def test_reset_option_switches_task(make):
    env = make("meld/Nav2D-v0", task=0)
    assert env.reset(seed=0, options={"task": 5})[1]["task"] == meld_envs.tasks("meld/Nav2D-v0")[5]
    t = meld_envs.tasks("meld/Nav2D-v0", "train")[7]
    assert env.reset(options={"task": t})[1]["task"] == t
    assert env.reset()[1]["task"] == t  # stays until changed


def test_custom_task_parameters(make):
    """Researchers may build their own Task values, e.g. a velocity outside the split."""
    env = make("meld/CheetahVel-v0", task=Task("meld/CheetahVel-v0", "train", 0, {"target_velocity": 1.5}))
    assert env.reset(seed=0)[1]["target_velocity"] == 1.5
