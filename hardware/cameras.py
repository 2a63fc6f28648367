"""The two webcams of the WidowX task: a background thread per camera that always holds the newest
frame, each resized to 64x64, side by side into the agent's 64x128 observation (paper, Fig. 9).

Reader: imageio-ffmpeg (`imageio_ffmpeg.read_frames`) on the V4L2 device, not OpenCV, because
- it is already a core dependency of meld-bench (`imageio[ffmpeg]`, used for videos), with a
  static, pinned ffmpeg binary that has V4L2 input; OpenCV would add a ~60 MB wheel with its own
  ffmpeg copy and a Qt/GUI variant that clashes with headless MuJoCo setups;
- the resize happens inside ffmpeg (`scale=64:64:flags=area`) before frames cross the pipe, so the
  thread moves 12 kB per frame instead of 900 kB, and no Python-side resize is needed;
- fake cameras from video files go through the very same code path (`-re -stream_loop -1`).
Either reader would buffer frames if nobody reads them (ffmpeg's pipe, OpenCV's V4L2 buffer
queue), which is why a thread drains the camera continuously and keeps only the newest frame.

    cameras = CameraPair("/dev/video0", "/dev/video2")      # fixed view, wrist view
    obs = cameras.read()                                   # uint8 [64, 128, 3]
    CameraPair("scene.mp4", "wrist.mp4")                   # fake cameras from files
    CameraPair(ImageFilesSource(["a.png"]), ImageFilesSource(["b.png"]))
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np

from hardware.errors import SIM_HINT, ConnectionLostError, DeviceNotFoundError, HardwareError

FRAME_SIZE = 64  # pixels, each camera (paper, Fig. 9: 64x128 for two)


def resize_area(image: np.ndarray, size: int = FRAME_SIZE) -> np.ndarray:
    """Resize uint8 [H, W, 3] to [size, size, 3] by averaging (nearest when upscaling)."""
    h, w = image.shape[:2]
    ys = np.linspace(0, h, size + 1).astype(int)
    xs = np.linspace(0, w, size + 1).astype(int)
    if h >= size and w >= size:
        # sum over blocks with cumulative sums: exact area averaging for any H, W
        c = np.cumsum(np.cumsum(np.pad(image.astype(np.float64), ((1, 0), (1, 0), (0, 0))), 0), 1)
        area = (ys[1:] - ys[:-1])[:, None] * (xs[1:] - xs[:-1])[None, :]
        total = c[ys[1:]][:, xs[1:]] - c[ys[:-1]][:, xs[1:]] - c[ys[1:]][:, xs[:-1]] + c[ys[:-1]][:, xs[:-1]]
        return np.clip(np.round(total / area[..., None]), 0, 255).astype(np.uint8)
    return image[np.minimum(ys[:-1], h - 1)][:, np.minimum(xs[:-1], w - 1)]


class FFmpegSource:
    """Frames from a V4L2 device (`/dev/videoN`) or a video file, scaled to 64x64 by ffmpeg.

    Files are paced at their own frame rate and looped, like a camera."""

    def __init__(self, path: str, *, size: int = FRAME_SIZE, fps: int = 30, capture_size: str = "640x480") -> None:
        if not os.path.exists(path):
            raise DeviceNotFoundError(
                f"no camera at {path!r}: the device or file does not exist (list cameras with "
                f"`v4l2-ctl --list-devices`). Fake cameras: pass video or image files instead. {SIM_HINT}"
            )
        self.path = path
        self.size = size
        self.is_device = path.startswith("/dev/")
        if self.is_device:
            self.input_params = ["-f", "v4l2", "-framerate", str(fps), "-video_size", capture_size]
        else:
            self.input_params = ["-re", "-stream_loop", "-1"]
        self.output_params = ["-vf", f"scale={size}:{size}:flags=area", "-an"]

    def frames(self) -> Iterator[np.ndarray]:
        import imageio_ffmpeg

        gen = imageio_ffmpeg.read_frames(self.path, input_params=self.input_params, output_params=self.output_params)
        try:
            meta = next(gen)
            w, h = meta["size"]
            for raw in gen:
                yield np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
        finally:
            gen.close()  # terminates ffmpeg


class ImageFilesSource:
    """Fake camera: images (files or uint8 [H, W, 3] arrays) shown in a loop at `fps`."""

    def __init__(self, images: Sequence[str | np.ndarray], *, fps: float = 30.0, size: int = FRAME_SIZE) -> None:
        if not images:
            raise ValueError("ImageFilesSource needs at least one image")
        import imageio.v3 as iio

        loaded = []
        for image in images:
            if isinstance(image, str):
                if not os.path.exists(image):
                    raise DeviceNotFoundError(f"fake camera image {image!r} does not exist")
                image = iio.imread(image)
            image = np.asarray(image)
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=2)
            loaded.append(resize_area(image[..., :3].astype(np.uint8), size))
        self.images = loaded
        self.period_s = 1.0 / fps
        self.path = f"{len(loaded)} image(s)"

    def frames(self) -> Iterator[np.ndarray]:
        i = 0
        next_t = time.monotonic()
        while True:
            yield self.images[i % len(self.images)]
            i += 1
            next_t += self.period_s
            time.sleep(max(0.0, next_t - time.monotonic()))


class Camera:
    """Drains a source on a background thread; `latest()` is the newest frame, never a queued one."""

    def __init__(self, source: FFmpegSource | ImageFilesSource | str, name: str = "camera") -> None:
        self.source = FFmpegSource(source) if isinstance(source, str) else source
        self.name = name
        self._frame: np.ndarray | None = None
        self._time = 0.0
        self.frames_received = 0
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        frames = self.source.frames()
        try:
            for frame in frames:
                with self._cond:
                    self._frame, self._time = frame, time.monotonic()
                    self.frames_received += 1
                    self._cond.notify_all()
                if self._quit.is_set():
                    break
            else:
                raise ConnectionLostError(f"camera {self.name} ({self.source.path}) stopped sending frames")
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            frames.close()

    def latest(self, *, timeout_s: float = 5.0, max_age_s: float = 0.5) -> tuple[np.ndarray, float]:
        """(newest frame uint8 [64, 64, 3], its monotonic time); waits for the first frame."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if self._error is not None and not self._quit.is_set():
                    raise HardwareError(f"camera {self.name} ({self.source.path}) failed: {self._error}") from self._error
                if self._frame is not None and time.monotonic() - self._time <= max_age_s:
                    return self._frame, self._time
                left = deadline - time.monotonic()
                if left <= 0:
                    age = "no frame yet" if self._frame is None else f"newest frame {time.monotonic() - self._time:.2f} s old"
                    raise HardwareError(f"camera {self.name} ({self.source.path}): {age} after {timeout_s} s")
                self._cond.wait(left)

    def close(self) -> None:
        self._quit.set()
        self._thread.join(timeout=3.0)


class CameraPair:
    """The fixed and the wrist camera, side by side: `read()` -> uint8 [64, 128, 3]."""

    def __init__(self, fixed: FFmpegSource | ImageFilesSource | str, wrist: FFmpegSource | ImageFilesSource | str,
                 *, max_age_s: float = 0.5) -> None:
        self.max_age_s = max_age_s
        self.fixed = Camera(fixed, "fixed")
        try:
            self.wrist = Camera(wrist, "wrist")
        except BaseException:
            self.fixed.close()
            raise

    def read(self, timeout_s: float = 5.0) -> np.ndarray:
        left, _ = self.fixed.latest(timeout_s=timeout_s, max_age_s=self.max_age_s)
        right, _ = self.wrist.latest(timeout_s=timeout_s, max_age_s=self.max_age_s)
        return np.concatenate([left, right], axis=1)

    def close(self) -> None:
        self.fixed.close()
        self.wrist.close()

    def __enter__(self) -> "CameraPair":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
