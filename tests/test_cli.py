"""Smoke runs of the command line."""
import subprocess
import sys

import imageio.v2 as imageio


def run(*args):
    return subprocess.run([sys.executable, "-m", "meld_envs", *args], capture_output=True, text=True, timeout=300)


def video_frames(path) -> list:
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        return list(reader.iter_data())
    finally:
        reader.close()


def test_list_shows_every_id_with_shape_length_and_tasks():
    out = run("list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    cheetah = next(line for line in lines if line.startswith("meld/CheetahVel-v0"))
    assert "64x64x3" in cheetah and "50 steps" in cheetah and "30/10" in cheetah
    assert any(line.startswith("meld/Nav2D-v0") and "20 steps" in line for line in lines)


def test_video_writes_a_playable_file(tmp_path):
    out_file = tmp_path / "nav.mp4"
    out = run("video", "meld/Nav2D-v0", "--task", "2", "--split", "test", "--out", str(out_file), "--quiet")
    assert out.returncode == 0, out.stderr
    frames = video_frames(out_file)
    assert len(frames) == 21 and frames[0].shape == (256, 256, 3)
    assert "success per episode" in out.stdout
    assert not list(tmp_path.glob("*partial*"))


def test_video_gif_of_a_two_episode_trial(tmp_path):
    out_file = tmp_path / "cheetah.gif"
    out = run("video", "meld/CheetahVel-v0", "--episodes", "2", "--out", str(out_file), "--quiet")
    assert out.returncode == 0, out.stderr
    assert len(imageio.mimread(str(out_file))) == 101


def test_bad_arguments_are_clear_errors(tmp_path):
    out = run("video", "meld/Nav2D-v0", "--task", "12", "--split", "test", "--out", str(tmp_path / "x.mp4"))
    assert out.returncode == 2 and "task=12 out of range" in out.stderr
    out = run("video", "meld/Nope-v0", "--out", str(tmp_path / "x.mp4"))
    assert out.returncode == 2 and "unknown environment id 'meld/Nope-v0'" in out.stderr
    out = run("video", "meld/Nav2D-v0", "--out", str(tmp_path / "x.avi"))  # refused before rendering anything
    assert out.returncode == 2 and "--out" in out.stderr and "allowed: .mp4, .gif" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_video_line_gives_the_frame_rate_in_three_digits(tmp_path):
    out = run("video", "meld/WidowXCableSim-v0", "--out", str(tmp_path / "w.gif"), "--quiet")
    assert out.returncode == 0, out.stderr
    assert " at 3.33 fps;" in out.stdout


def test_video_of_a_two_camera_sawyer_task(tmp_path):
    out_file = tmp_path / "button.mp4"
    out = run("video", "meld/ButtonPress-v0", "--task", "1", "--split", "test", "--out", str(out_file), "--quiet")
    assert out.returncode == 0, out.stderr
    frames = video_frames(out_file)
    assert len(frames) == 41 and frames[0].shape == (256, 512, 3)  # the reset frame and 40 steps


def test_sheet_writes_one_png_per_env(tmp_path):
    out = run("sheet", "meld/Nav2D-v0", "meld/Reacher-v0", "--tasks", "2", "--colours", "0", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    nav, reacher = imageio.imread(tmp_path / "nav2d-v0.png"), imageio.imread(tmp_path / "reacher-v0.png")
    # two rows of an observation repeated 2x beside render() shrunk to its height, 4 white pixels between
    assert nav.shape == (2 * 128, 128 + 4 + 128, 3) and reacher.shape == (2 * 128, 256 + 4 + 256, 3)
    import gymnasium as gym

    env = gym.make("meld/Reacher-v0", task=1)
    obs, _ = env.reset(seed=0)
    env.close()
    assert (reacher[128::2, :256:2] == obs).all()  # the second task's observation, pixel for pixel
    assert run("sheet", "meld/Nope-v0", "--out", str(tmp_path)).returncode == 2
