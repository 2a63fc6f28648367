"""meld/WidowXCable-v0: the real WidowX Ethernet-cable insertion task, through ``hardware/`` (paper 5.3, E)."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from meld_envs.base import Measurement, MeldEnv
from meld_envs.envs.widowx_cable_sim import CONTROL_HZ, MAX_JOINT_SPEED_RAD_S, sample_cable_tasks
from meld_envs.tasks import Task

_TWIN_HINT = ("without a robot, use the MuJoCo twin gym.make('meld/WidowXCableSim-v0'), or run this environment "
              "against the simulated devices: `python -m hardware.sim dynamixel` and `python -m hardware.sim rig` "
              "print pseudo-terminal paths to pass as arm_port= and rig_port=, and cameras= takes image or video files")


class WidowXCableEnv(MeldEnv):
    """
    ## Description
    The real-world task of the MELD paper (section 5.3): a 5-DoF WidowX arm holds an Ethernet
    cable and must plug it into the correct port of a network switch that the task-reset rig of
    appendix E turns (16 degree range) and slides (2 cm range) between tasks. Everything goes
    through ``hardware/``: the arm's Dynamixel servos over serial (Protocol 2.0 for the X-series
    WidowX-200, 1.0 for the classic AX/MX arm) or the Interbotix ``xs_sdk`` over rosbridge, two
    webcams, and the rig's controller, which also reports which port has a link.

    ## Action Space
    ``Box(-1, 1, (5,), float32)``: joint velocities of waist, shoulder, elbow, wrist angle and
    wrist rotate, 0.5 rad/s at |a| = 1 (as the twin), sent through the hardware safety layer
    (joint limits, velocity cap, workspace box, watchdogs; see ``hardware.safety``). A NaN or
    infinite value is a ``ValueError`` before anything reaches the servos.

    ## Observation Space
    - ``obs_mode="pixels"`` (default): ``uint8 (64, 128, 3)``: the fixed and the wrist webcam,
      each resized to 64x64, side by side (paper Fig. 9).
    - ``obs_mode="state"``: ``float32 (13,)``: joint positions (5, rad), velocities (5, rad/s) and
      the gripper's position by forward kinematics (3, m).
    - ``obs_mode="pixels+state"``: ``Dict(pixels, state)``.

    ## Rewards
    ``sparse_reward = 1`` while the correct port's link is up (the rig controller reports it),
    else 0: the reward at meta-test time. ``shaped_reward`` ("in the lab", meta-training only) is
    minus the translational (m) plus rotational (rad) distance between the gripper's pose and the
    plug's goal pose in the correct port (paper 5.3), from forward kinematics and the rig's pose.
    ``info["safety/..."]`` entries report what the safety layer changed in the command.

    ## Starting State
    At reset the arm stops, the rig moves the switch to the task's pose (when the task changed),
    and the arm drives to its home pose.

    ## Episode End
    30 steps (9 s at 3.3 Hz, real time). A hardware fault (cable pulled, servo silent, corrupted
    packets beyond retries) stops the arm and raises ``hardware.errors.HardwareError`` from
    ``step``: nothing the caller has collected is touched.

    ## Task distribution
    The twin's: port uniform among 4, rotation uniform in [-8, 8] degrees, rail offset uniform in
    [-1, 1] cm; 20 train / 10 test tasks, and task ``i`` here is task ``i`` of
    ``meld/WidowXCableSim-v0``.

    ## Success
    The correct port's link is up; an episode succeeds if its last step does.

    ## Arguments
    ``gym.make("meld/WidowXCable-v0", task=0, split="train", arm_port="/dev/ttyUSB0", protocol=2,
    backend="dynamixel", robot_name="wx200", ros_host="127.0.0.1", ros_port=9090,
    rig_port="/dev/ttyACM0", cameras=("/dev/video0", "/dev/video2"), realtime=True, ...)``.
    ``realtime=False`` steps as fast as the devices answer (for simulated devices). Without a
    robot attached, construction fails with an error naming the device it looked for.

    ## Version History
    - v0: first release.
    """

    env_id: ClassVar[str] = "meld/WidowXCable-v0"
    action_dim: ClassVar[int] = 5
    image_shape: ClassVar[tuple[int, int, int]] = (64, 128, 3)
    state_dim: ClassVar[int] = 13
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(
        self,
        task: Task | int = 0,
        split: str = "train",
        *,
        arm_port: str | None = "/dev/ttyUSB0",
        protocol: int = 2,
        backend: str = "dynamixel",
        robot_name: str = "wx200",
        ros_host: str = "127.0.0.1",
        ros_port: int = 9090,
        rig_port: str = "/dev/ttyACM0",
        cameras: Sequence[str] = ("/dev/video0", "/dev/video2"),
        realtime: bool = True,
        safety: Any = None,
        **kwargs: Any,
    ) -> None:
        from hardware import CameraPair, HardwareError, ResetRig, SafetyConfig, WidowX

        super().__init__(task, split, **kwargs)
        if len(cameras) != 2:
            raise ValueError(f"cameras={cameras!r}: give two devices or files, the fixed camera and the wrist camera")
        self.realtime = realtime
        self._period_s = 1.0 / CONTROL_HZ
        self._arm = self._rig = self._cameras = None
        self._rig_task: Task | None = None
        self._last_step = 0.0
        self._frame: np.ndarray | None = None
        try:
            self._arm = WidowX(arm_port, protocol=protocol, backend=backend, robot_name=robot_name, host=ros_host,
                               ros_port=ros_port, safety=safety or SafetyConfig(control_period_s=self._period_s))
            self._rig = ResetRig(port=rig_port)
            self._cameras = CameraPair(cameras[0], cameras[1])
            self._rig.home()
        except HardwareError as e:
            self.close()
            raise type(e)(f"{self.env_id}: {e}; {_TWIN_HINT}") from e
        except BaseException:
            self.close()
            raise

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        return sample_cable_tasks(rng, num_tasks)

    def _apply_task(self, task: Task) -> None:
        pass  # the rig moves at reset: moving a switch under a plugged cable mid-episode would break it

    def _reset_state(self) -> None:
        self._arm.stop()
        if self._rig_task != self._task:
            p = self._task.params
            self._rig.set_task(p["rotation_deg"], p["translation_m"], target_port=p["port"])
            self._rig_task = self._task
        self._arm.home()
        self._state_now = self._arm.read_state()
        self._frame = self._cameras.read()
        self._last_step = time.monotonic()
        self._safety_info: dict[str, Any] = {}

    def _advance(self, action: np.ndarray) -> bool:
        report = self._arm.command_velocity(MAX_JOINT_SPEED_RAD_S * action)  # raises HardwareError, arm stopped
        self._safety_info = report.as_info()
        if self.realtime:  # hold the command for one control period (3.3 Hz)
            time.sleep(max(0.0, self._last_step + self._period_s - time.monotonic()))
        self._last_step = time.monotonic()
        self._state_now = self._arm.read_state()
        self._frame = self._cameras.read()
        return False

    def _measure(self, action: np.ndarray | None) -> Measurement:
        from hardware import shaped_distance

        link = self._rig.link_mask()
        port = int(self._task.params["port"])
        inserted = [i for i in range(4) if link >> i & 1]
        success = bool(link >> port & 1)
        distance = shaped_distance(self._arm.gripper_pose(self._state_now.q), self._rig.goal_pose())
        return Measurement(shaped_reward=-distance, sparse_reward=float(success), success=success,
                           extras={"inserted_port": inserted[0] if inserted else -1, "link_mask": link,
                                   **self._safety_info})

    def _pixels(self) -> np.ndarray:
        return self._frame.copy()

    def _state(self) -> np.ndarray:
        s = self._state_now
        return np.concatenate([s.q, s.qdot, self._arm.gripper_pose(s.q)[:3, 3]]).astype(np.float32)

    def _render_human(self) -> np.ndarray:
        return np.kron(self._frame, np.ones((4, 4, 1), dtype=np.uint8))  # the cameras, 4x larger

    def close(self) -> None:
        for device in (self._arm, self._cameras, self._rig):
            if device is not None:
                try:
                    device.close()
                except Exception:  # noqa: BLE001 - closing what is left after a fault
                    pass
        self._arm = self._rig = self._cameras = None
        super().close()
