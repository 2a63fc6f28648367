"""meld/WidowXCableSim-v0: the MuJoCo twin of the real WidowX Ethernet-cable insertion task (paper 5.3, E)."""
from __future__ import annotations

import os
from typing import Any, ClassVar

import mujoco
import numpy as np

from hardware.kinematics import pose_distance
from meld_envs import rendering
from meld_envs.base import Measurement, MujocoImageEnv
from meld_envs.kinematics import Pointing, solve_ik
from meld_envs.tasks import Task

_MODEL_PATH = os.path.join(os.path.dirname(__file__), "assets", "widowx_cable.xml")
CONTROL_HZ = 10 / 3  # paper 5.3: 3.3 Hz
_FRAME_SKIP = 150  # 0.002 s x 150 = 0.3 s
JOINTS = ("waist", "shoulder", "elbow", "wrist_angle", "wrist_rotate")
MAX_JOINT_SPEED_RAD_S = 0.5  # at |action| = 1
NUM_PORTS = 4
ROTATION_RANGE_DEG = 16.0  # appendix E: the housing turns within 16 degrees
TRANSLATION_RANGE_M = 0.02  # and the rail moves within 2 cm
_MOUNT_X_M = 0.44
_PORT_HALF_WIDTH_M, _PORT_HALF_HEIGHT_M, _PORT_DEPTH_M = 0.009, 0.007, 0.02
_INSERTED_DEPTH_M = 0.010  # the link comes up when the plug is 1 cm in (of 2 cm)
_START_TIP_M = np.array([0.33, 0.0, 0.26])  # plug tip at the start, pointing at the switch
_START_NOISE_RAD = 0.02


def sample_cable_tasks(rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
    """Port, rotation (deg) and rail offset (m) of ``num_tasks`` tasks; shared by the robot and its twin."""
    return [{"port": int(rng.integers(NUM_PORTS)),
             "rotation_deg": float(rng.uniform(-ROTATION_RANGE_DEG / 2, ROTATION_RANGE_DEG / 2)),
             "translation_m": float(rng.uniform(-TRANSLATION_RANGE_M / 2, TRANSLATION_RANGE_M / 2))}
            for _ in range(num_tasks)]


def _pose(position: np.ndarray, xmat: np.ndarray) -> np.ndarray:
    """The homogeneous transform float64 [4, 4] of a MuJoCo position [3] and rotation matrix [9]."""
    pose = np.eye(4)
    pose[:3, :3] = xmat.reshape(3, 3)
    pose[:3, 3] = position
    return pose


class WidowXCableSimEnv(MujocoImageEnv):
    """
    ## Description
    A MuJoCo twin of the real-world task of the MELD paper (section 5.3): a 5-DoF WidowX-200
    style arm holds an Ethernet plug and must insert it into the correct one of four ports of a
    network switch. The switch stands on the task-reset rig of appendix E, which turns it by up
    to +-8 degrees and slides it by up to +-1 cm; each task is a port and a rig pose. The twin has
    the real environment's spaces and task distribution (``meld/WidowXCable-v0``; its task ``i``
    is the same task), so agents can be built and tested before touching the robot.

    ## Action Space
    ``Box(-1, 1, (5,), float32)``: joint velocities of waist, shoulder, elbow, wrist angle and
    wrist rotate, 0.5 rad/s at |a| = 1, held for one control step (0.3 s) by velocity-mode
    servos of limited torque. Values outside [-1, 1] are clipped; NaN or infinite values are a
    ``ValueError``.

    ## Observation Space
    - ``obs_mode="pixels"`` (default): ``uint8 (64, 128, 3)``: a fixed ``scene`` camera (the whole
      arm, the plug and the switch, from the front left) and the ``wrist`` camera, 64x64 each, side
      by side (paper Fig. 9), against plain walls. The ports look alike.
    - ``obs_mode="state"``: ``float32 (13,)``: joint positions (5, rad), velocities (5, rad/s),
      plug tip position (3, m).
    - ``obs_mode="pixels+state"``: ``Dict(pixels, state)``.

    ## Rewards
    ``sparse_reward = 1`` while the plug is in the correct port (the link is up), else 0: the
    only reward at meta-test time. ``shaped_reward`` (meta-training, "in the lab") is minus the
    sum of the translational (m) and rotational (rad) distances between the plug's pose and its
    pose fully inserted in the correct port (paper 5.3). ``info["position_error"]``,
    ``info["rotation_error"]``, ``info["inserted_port"]`` (-1 when none).

    ## Starting State
    The plug 11 cm in front of the switch, pointing at it (joint pose by inverse kinematics),
    plus joint noise ``U(-0.02, 0.02)`` rad.

    ## Episode End
    30 steps (9 s at 3.3 Hz) by the ``TimeLimit`` of ``gym.make``; never terminates early.

    ## Task distribution
    Port uniform among 4 (1.8 x 1.4 cm openings, 2.2 cm apart, 2 cm deep; the plug is 1.2 x 1.0 cm),
    rotation of the switch about the vertical uniform in [-8, 8] degrees and rail offset uniform
    in [-1, 1] cm (appendix E's 16 degree and 2 cm ranges). 20 train / 10 test tasks (paper 5.3).

    ## Success
    The plug at least 1 cm into the correct port (the link comes up); an episode succeeds if its
    last step does. Like the real 5-DoF arm, the twin points the plug where its waist points, so
    a turned switch is entered at an angle of up to ~12 degrees: the openings leave room for that.

    ## Arguments
    ``gym.make("meld/WidowXCableSim-v0", task=0, split="train", reward_mode="shaped",
    obs_mode="pixels", num_tasks=None, render_mode=None)``. ``render_mode="rgb_array"``: 256x512
    frames with the correct port marked.

    ## Version History
    - v0: first release.
    """

    env_id: ClassVar[str] = "meld/WidowXCableSim-v0"
    action_dim: ClassVar[int] = 5
    image_shape: ClassVar[tuple[int, int, int]] = (64, 128, 3)
    state_dim: ClassVar[int] = 13
    frame_skip: ClassVar[int] = _FRAME_SKIP
    agent_cameras: ClassVar[tuple[str, ...]] = ("scene", "wrist")
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, task: Task | int = 0, split: str = "train", **kwargs: Any) -> None:
        super().__init__(mujoco.MjModel.from_xml_path(_MODEL_PATH), task, split, **kwargs)

    def _setup(self) -> None:
        super()._setup()
        model = self.model
        self._mount = model.body("mount").id
        self._switch = model.body("switch").id
        self._ports = np.array([model.site(f"port{i}").id for i in range(NUM_PORTS)])
        self._tip = model.site("plug_tip").id
        self._qpos_adr = np.array([model.jnt_qposadr[model.joint(j).id] for j in JOINTS])
        self._dof_adr = np.array([model.jnt_dofadr[model.joint(j).id] for j in JOINTS])
        self.start_qpos = solve_ik(model, model.qpos0.copy(), self._tip, self._qpos_adr, self._dof_adr, _START_TIP_M,
                                   Pointing(self._tip, 0, np.array([1.0, 0.0, 0.0])), iterations=200)

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        return sample_cable_tasks(rng, num_tasks)

    def _apply_task(self, task: Task) -> None:
        self._port = int(task.params["port"])
        angle = np.deg2rad(task.params["rotation_deg"])
        # the housing turns about the switch's centre, 6 cm behind its face (its gear, appendix E)
        pivot = np.array([0.06, 0.0, 0.0])
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        self.model.body_pos[self._mount] = np.array([_MOUNT_X_M, task.params["translation_m"], 0.0]) + pivot - rotation @ pivot
        self.model.body_quat[self._mount] = [np.cos(angle / 2), 0, 0, np.sin(angle / 2)]
        mujoco.mj_kinematics(self.model, self.data)

    # -- readouts ---------------------------------------------------------------------------
    def plug_tip(self) -> np.ndarray:
        return self.data.site_xpos[self._tip].copy()

    def plug_pose(self) -> np.ndarray:
        """The plug tip's pose, float64 [4, 4] (world frame, m)."""
        return _pose(self.data.site_xpos[self._tip], self.data.site_xmat[self._tip])

    def goal_pose(self) -> np.ndarray:
        """The plug tip's pose fully in the correct port, float64 [4, 4]: at the pocket's bottom,
        oriented as the switch."""
        return _pose(self.port_position(), self.data.xmat[self._switch])

    def port_position(self, port: int | None = None) -> np.ndarray:
        """Bottom centre (m) of ``port``'s pocket (default: the correct port)."""
        return self.data.site_xpos[self._ports[self._port if port is None else port]].copy()

    def port_axis(self) -> np.ndarray:
        """Unit vector (world) pointing into the ports."""
        return self.data.xmat[self._switch].reshape(3, 3)[:, 0].copy()

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qpos_adr].copy()

    def inserted_port(self) -> int:
        """The port the plug is at least 1 cm into, or -1."""
        frame = self.data.xmat[self._switch].reshape(3, 3)
        for i, site in enumerate(self._ports):
            local = frame.T @ (self.plug_tip() - self.data.site_xpos[site])  # x: depth beyond the pocket's bottom
            if (abs(local[1]) <= _PORT_HALF_WIDTH_M and abs(local[2]) <= _PORT_HALF_HEIGHT_M
                    and local[0] >= _INSERTED_DEPTH_M - _PORT_DEPTH_M - 1e-3):
                return i
        return -1

    # -- dynamics ---------------------------------------------------------------------------
    def _apply_action(self, action: np.ndarray) -> None:
        self.data.ctrl[:] = MAX_JOINT_SPEED_RAD_S * action

    def _reset_state(self) -> None:
        mujoco.mj_resetData(self.model, self.data)
        noise = self.np_random.uniform(-_START_NOISE_RAD, _START_NOISE_RAD, size=len(JOINTS))
        self.data.qpos[self._qpos_adr] = self.start_qpos + noise
        mujoco.mj_forward(self.model, self.data)

    def _measure(self, action: np.ndarray | None) -> Measurement:
        # the robot's shaped distance (hardware.kinematics), as the real environment computes it
        position_error, rotation_error = pose_distance(self.plug_pose(), self.goal_pose())
        inserted = self.inserted_port()
        success = inserted == self._port
        return Measurement(shaped_reward=-(position_error + rotation_error), sparse_reward=float(success),
                           success=success, extras={"position_error": position_error, "rotation_error": rotation_error,
                                                    "inserted_port": inserted})

    def _state(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[self._qpos_adr], self.data.qvel[self._dof_adr], self.plug_tip()]).astype(np.float32)

    def scripted_action(self, target: np.ndarray, max_step_m: float = 0.02) -> np.ndarray:
        """The action moving the plug tip towards ``target`` (m) in a straight line, the plug
        pointing into the switch (inverse kinematics). For tests and demonstrations."""
        here = self.plug_tip()
        offset = np.asarray(target, float) - here
        offset *= min(1.0, max_step_m / max(np.linalg.norm(offset), 1e-9))
        # a 5-DoF arm points the plug where its waist points: keep it level, radial from the base
        goal = here + offset
        radial = np.array([goal[0], goal[1], 0.0]) / max(np.hypot(goal[0], goal[1]), 1e-9)
        q = solve_ik(self.model, self.data.qpos.copy(), self._tip, self._qpos_adr, self._dof_adr, goal,
                     Pointing(self._tip, 0, radial))
        speed = (q - self.joint_positions()) / (self.dt * MAX_JOINT_SPEED_RAD_S)
        return speed / max(1.0, float(np.max(np.abs(speed))))

    # -- people's frames ----------------------------------------------------------------------
    def _decorate(self, scene: mujoco.MjvScene, camera_index: int) -> None:
        mouth = self.port_position() - _PORT_DEPTH_M * self.port_axis()
        rendering.add_marker(scene, mujoco.mjtGeom.mjGEOM_SPHERE, (0.006,) * 3, mouth - 0.005 * self.port_axis(),
                             (0.1, 0.9, 0.2, 0.9))

    def _overlay_text(self) -> list[tuple[str, str]]:
        t = self._task
        inserted = self.inserted_port()
        plug = "in no port" if inserted < 0 else f"in port {inserted}" + (" (correct)" if inserted == self._port else " (wrong)")
        return [(f"{t.split} task\ncorrect port\nplug\nrig", f"{t.index}\n{self._port}\n{plug}\n"
                 f"{t.params['rotation_deg']:+.1f} deg {100 * t.params['translation_m']:+.1f} cm")]
