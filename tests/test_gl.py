"""MUJOCO_GL is chosen automatically unless the user set it; rendering leaves other libraries' GL contexts alone."""
import subprocess
import sys

from meld_envs import _gl


def test_choice_of_backend():
    assert _gl.choose_backend("Linux", has_gpu=True, has_egl=True) == "egl"
    assert _gl.choose_backend("Linux", has_gpu=True, has_egl=False) == "osmesa"
    assert _gl.choose_backend("Linux", has_gpu=False, has_egl=True) == "osmesa"
    assert _gl.choose_backend("Darwin") is None and _gl.choose_backend("Windows") is None


def test_gpu_detection(tmp_path):
    assert not _gl.gpu_present(str(tmp_path))
    (tmp_path / "dri").mkdir()
    (tmp_path / "dri" / "renderD128").touch()
    assert _gl.gpu_present(str(tmp_path))


def _env_after_import(env):
    code = "import os, meld_envs; print(os.environ.get('MUJOCO_GL'), os.environ.get('LP_NUM_THREADS'))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()


def test_import_sets_the_backend_unless_the_user_did(monkeypatch):
    import os

    base = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "LP_NUM_THREADS", "PYOPENGL_PLATFORM")}
    expected = _gl.choose_backend()
    gl, threads = _env_after_import(base)
    assert gl == expected and threads == ("0" if expected == "osmesa" else "None")
    assert _env_after_import({**base, "MUJOCO_GL": "osmesa", "LP_NUM_THREADS": "2"}) == ["osmesa", "2"]


def test_meld_envs_leave_other_renderers_alone():
    """Gymnasium's renderer makes its GL context current once, when made; rendering a meld env must
    leave that context current again, or HalfCheetah's later frames come out black (no error)."""
    import gymnasium as gym
    import numpy as np

    from meld_envs.registry import SIMULATED

    cheetah = gym.make("HalfCheetah-v5", render_mode="rgb_array", width=64, height=64)
    cheetah.reset(seed=0)
    before = cheetah.render()
    current = _gl.current_context_address()
    envs = []
    for entry in SIMULATED:
        env = gym.make(entry.id, task=0, render_mode="rgb_array")
        env.reset(seed=0)
        env.step(env.action_space.sample())
        env.render()
        envs.append(env)
        assert _gl.current_context_address() == current
    np.testing.assert_array_equal(cheetah.render(), before)
    for env in envs:
        env.close()
        assert _gl.current_context_address() == current
    after = cheetah.render()
    assert before.mean() > 10
    np.testing.assert_array_equal(after, before)
    cheetah.close()


def test_an_env_leaves_the_current_context_as_it_was_and_close_frees_its_own():
    import gymnasium as gym

    current = _gl.current_context_address()  # none, in a fresh process
    env = gym.make("meld/Nav2D-v0", task=0)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert _gl.current_context_address() == current
    context = env.unwrapped._gl
    assert context._context is not None
    env.close()
    assert context._context is None and _gl.current_context_address() == current
