"""MUJOCO_GL is chosen automatically unless the user set it."""
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
