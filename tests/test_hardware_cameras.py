"""Cameras: the newest-frame thread and the 64x128 pair, from fake cameras (files)."""

import time

import imageio.v3 as iio
import numpy as np
import pytest

from hardware.cameras import Camera, CameraPair, FFmpegSource, ImageFilesSource, resize_area
from hardware.errors import DeviceNotFoundError, HardwareError

pytestmark = pytest.mark.timeout(60)


def test_resize_area_by_hand():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2, :2] = 200
    np.testing.assert_array_equal(resize_area(image, 2)[..., 0], [[200, 0], [0, 0]])
    image = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    assert resize_area(image, 4).shape == (4, 4, 3)


def test_pair_from_image_files_is_64x128(tmp_path):
    red = np.zeros((480, 640, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((120, 160, 3), np.uint8)
    blue[..., 2] = 255
    iio.imwrite(tmp_path / "red.png", red)
    with CameraPair(ImageFilesSource([str(tmp_path / "red.png")]), ImageFilesSource([blue])) as cameras:
        obs = cameras.read()
    assert obs.shape == (64, 128, 3) and obs.dtype == np.uint8
    assert (obs[:, :64, 0] == 255).all() and (obs[:, 64:, 2] == 255).all() and (obs[:, 64:, 0] == 0).all()


def test_latest_frame_not_a_queued_one():
    frames = [np.full((64, 64, 3), i, np.uint8) for i in range(50)]
    camera = Camera(ImageFilesSource(frames, fps=100), "counter")
    try:
        camera.latest()
        time.sleep(0.3)  # the reader is slow: ~30 frames went by
        frame, t = camera.latest()
        assert frame[0, 0, 0] >= 20 and time.monotonic() - t < 0.1
    finally:
        camera.close()


def test_pair_from_video_files_through_ffmpeg(tmp_path):
    video = tmp_path / "scene.mp4"
    frames = np.zeros((10, 96, 128, 3), np.uint8)
    frames[:, :, :, 1] = 200
    iio.imwrite(video, frames, fps=20, codec="libx264", macro_block_size=16)
    with CameraPair(str(video), str(video)) as cameras:
        obs = cameras.read(timeout_s=10)
        assert obs.shape == (64, 128, 3)
        assert abs(int(obs[32, 32, 1]) - 200) < 10
        time.sleep(0.7)  # the file loops, like a live camera
        obs = cameras.read(timeout_s=10)
        assert cameras.fixed.frames_received > 10


def test_missing_camera_is_named():
    with pytest.raises(DeviceNotFoundError, match=r"/dev/video7"):
        CameraPair("/dev/video7", "/dev/video8")
    with pytest.raises(DeviceNotFoundError, match=r"no camera at '/dev/video8'"):
        FFmpegSource("/dev/video8")


def test_stale_camera_is_an_error():
    camera = Camera(ImageFilesSource([np.zeros((64, 64, 3), np.uint8)], fps=2), "slow")
    try:
        camera.latest()
        time.sleep(0.05)
        with pytest.raises(HardwareError, match=r"camera slow.*old"):
            camera.latest(timeout_s=0.1, max_age_s=0.01)
    finally:
        camera.close()
