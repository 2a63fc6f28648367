"""Bad input gets a clear error naming the bad value and what is allowed."""
import gymnasium as gym
import numpy as np
import pytest

import meld_envs


def test_task_index_out_of_range(make):
    with pytest.raises(ValueError, match=r"task=40 out of range for meld/CheetahVel-v0 split 'train' \(30 tasks: 0\.\.29"):
        make("meld/CheetahVel-v0", task=40)
    with pytest.raises(ValueError, match=r"task=10 out of range for meld/Nav2D-v0 split 'test' \(10 tasks: 0\.\.9"):
        make("meld/Nav2D-v0", task=10, split="test")
    with pytest.raises(ValueError, match="task=-1 out of range"):
        make("meld/Nav2D-v0", task=-1)
    env = make("meld/Nav2D-v0")
    with pytest.raises(ValueError, match="task=30 out of range"):
        env.unwrapped.set_task(30)
    with pytest.raises(ValueError, match="task=31 out of range"):
        env.reset(options={"task": 31})
    with pytest.raises(ValueError, match="must be a Task or an integer"):
        make("meld/Nav2D-v0", task="3")


def test_more_tasks_with_num_tasks(make):
    assert make("meld/Nav2D-v0", task=40, num_tasks=50).reset(seed=0)[1]["task"].index == 40


def test_task_of_another_environment(make):
    nav = meld_envs.tasks("meld/Nav2D-v0")[0]
    with pytest.raises(ValueError, match="belongs to meld/Nav2D-v0, not meld/CheetahVel-v0"):
        make("meld/CheetahVel-v0").unwrapped.set_task(nav)


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "validation"}, "unknown split 'validation'; allowed: 'train', 'test'"),
    ({"reward_mode": "dense"}, "unknown reward_mode 'dense'; allowed: 'shaped', 'sparse'"),
    ({"obs_mode": "rgb"}, "unknown obs_mode 'rgb'; allowed: 'pixels', 'state', 'pixels\\+state'"),
    ({"render_mode": "ansi"}, "unknown render_mode 'ansi'; allowed: None, 'rgb_array'"),
    ({"num_tasks": 0}, "num_tasks=0 for meld/Nav2D-v0: must be a positive integer"),
])
def test_unknown_modes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("meld/Nav2D-v0", **kwargs)


def test_tasks_function_errors():
    with pytest.raises(ValueError, match="unknown environment id 'meld/Nope-v0'; known: meld/CheetahVel-v0"):
        meld_envs.tasks("meld/Nope-v0")
    with pytest.raises(ValueError, match="unknown split 'val'"):
        meld_envs.tasks("meld/Nav2D-v0", split="val")
    with pytest.raises(ValueError, match="num_tasks=2.5"):
        meld_envs.tasks("meld/Nav2D-v0", num_tasks=2.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions(make, bad):
    env = make("meld/CheetahVel-v0")
    env.reset(seed=0)
    action = np.zeros(6)
    action[2] = bad
    with pytest.raises(ValueError, match=r"is not finite; allowed: finite values in \[-1, 1\]"):
        env.step(action)


def test_wrong_action_shape(make):
    env = make("meld/Nav2D-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action of shape \(3,\) for meld/Nav2D-v0; expected shape \(2,\)"):
        env.unwrapped.step(np.zeros(3))


def test_out_of_range_actions_are_clipped(make):
    a, b = make("meld/Nav2D-v0", obs_mode="state"), make("meld/Nav2D-v0", obs_mode="state")
    a.reset(seed=0), b.reset(seed=0)
    np.testing.assert_array_equal(a.step(np.array([30.0, -4.0]))[0], b.step(np.array([1.0, -1.0]))[0])


def test_unknown_reset_option(make):
    with pytest.raises(ValueError, match=r"unknown reset options \['goal'\]; allowed: 'task'"):
        make("meld/Nav2D-v0").reset(options={"goal": 1})


def test_unstable_simulation_truncates_instead_of_crashing(make, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo writes MUJOCO_LOG.TXT into the working directory
    env = make("meld/CheetahVel-v0", task=0)
    env.reset(seed=0)
    env.unwrapped.data.qvel[:] = 1e12  # blows up the integrator
    obs, reward, terminated, truncated, info = env.step(np.zeros(6))
    assert truncated and not terminated and info["physics_error"] is True
    assert np.isfinite(reward) and obs.dtype == np.uint8
    assert np.all(np.isfinite(env.unwrapped.data.qpos))
    env.reset(seed=0)  # and the env is usable again
    assert "physics_error" not in env.step(np.zeros(6))[4]


def test_unusable_gl_backend_is_a_clear_error():
    from meld_envs import _gl

    with pytest.raises(ValueError, match="MUJOCO_GL='wgl' is not usable on Linux; allowed: egl, osmesa"):
        _gl.gl_context_class("wgl")


def test_every_environment_rejects_bad_tasks_and_actions(env_id, make):
    n = meld_envs.entry(env_id).num_test_tasks
    with pytest.raises(ValueError, match=rf"task={n} out of range for {env_id} split 'test' \({n} tasks: 0\.\.{n - 1}"):
        make(env_id, task=n, split="test")
    env = make(env_id, task=0)
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape)
    action[-1] = np.nan
    with pytest.raises(ValueError, match="is not finite"):
        env.step(action)
