"""meld/Nav2D-v0: find a hidden goal on a semicircle from sparse rewards (paper appendix D.1)."""
from __future__ import annotations

import os
from typing import Any, ClassVar

import mujoco
import numpy as np

from meld_envs import rendering
from meld_envs.base import Measurement, MujocoImageEnv
from meld_envs.tasks import Task

_MODEL_PATH = os.path.join(os.path.dirname(__file__), "assets", "nav2d.xml")
_CONTROL_HZ = 10
_GOAL_DISTANCE_M = 1.0  # goals lie on a semicircle of this radius around the start
_GOAL_RADIUS_M = 0.2  # the goal counts as reached within this distance
_START_NOISE_M = 0.02
_TRACE_Z_M = 0.06


class Nav2DEnv(MujocoImageEnv):
    """
    ## Description
    A didactic meta-RL problem (MELD paper, appendix D.1): a point robot starts at the origin of
    a walled square arena, seen from above; each task hides a goal somewhere on the upper
    semicircle of radius 1 m around the start. At meta-test time only a sparse reward says
    when the goal is reached, so a good agent sweeps the semicircle until it finds the goal and,
    in the next episode of the trial, drives straight there (use ``Trial(env, episodes=2)``).

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: commanded velocity along x and y, 2.5 m/s per unit (motors
    on damped slide joints settle within one step): at most 0.25 m per axis per step. Values
    outside [-1, 1] are clipped; a NaN or infinite value is a ``ValueError``.

    ## Observation Space
    - ``obs_mode="pixels"`` (default): ``uint8 (64, 64, 3)``, an orthographic top view of the
      2.8 m x 2.8 m arena (4.4 cm per pixel). The goal is never drawn in it.
    - ``obs_mode="state"``: ``float32 (4,)``: robot position x, y (m) and velocity (m/s).
    - ``obs_mode="pixels+state"``: ``Dict(pixels, state)``.

    ## Rewards
    ``sparse_reward = 1`` while the robot is within 0.2 m of the goal, else 0: this is what a
    meta-test agent sees. ``shaped_reward = -d``, the distance (m) to the goal, for
    meta-training (paper appendix C). ``reward_mode`` picks the returned one ("shaped" by
    default; the leaderboard protocol uses "sparse" at meta-test). ``info["distance"]`` too.

    ## Starting State
    The robot at rest at the origin, displaced by ``U(-0.02, 0.02)`` m per axis.

    ## Episode End
    20 steps (2 s at 10 Hz) by the ``TimeLimit`` of ``gym.make``: enough to reach the
    semicircle (4 steps) and sweep all of it (13 steps). Reaching the goal does not end the
    episode; staying there keeps earning.

    ## Task distribution
    Goal angle ``theta ~ U[0, pi]``; the goal is at ``(cos theta, sin theta)`` m. 30 train and
    10 test tasks by default from a fixed seed; ``num_tasks=`` for more.

    ## Success
    The robot is within 0.2 m of the goal (the goal is reached); an episode succeeds if its
    last step does.

    ## Arguments
    ``gym.make("meld/Nav2D-v0", task=0, split="train", reward_mode="shaped", obs_mode="pixels",
    num_tasks=None, render_mode=None)``. ``render_mode="rgb_array"`` renders 256x256 frames with
    the semicircle of possible goals, the goal region (green) and the robot's trace drawn.

    ## Version History
    - v0: first release.
    """

    env_id: ClassVar[str] = "meld/Nav2D-v0"
    action_dim: ClassVar[int] = 2
    image_shape: ClassVar[tuple[int, int, int]] = (64, 64, 3)
    state_dim: ClassVar[int] = 4
    frame_skip: ClassVar[int] = 10
    agent_cameras: ClassVar[tuple[str, ...]] = ("top",)
    # the robot is a 15-pixel disc: drawn as finely as in people's frames (one sphere costs nothing)
    agent_quality: ClassVar[rendering.Quality] = rendering.REFERENCE_QUALITY
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": _CONTROL_HZ}

    def __init__(self, task: Task | int = 0, split: str = "train", **kwargs: Any) -> None:
        self._goal = np.zeros(2)
        self._trace: list[np.ndarray] = []
        super().__init__(mujoco.MjModel.from_xml_path(_MODEL_PATH), task, split, **kwargs)

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        return [{"goal_angle": float(rng.uniform(0.0, np.pi))} for _ in range(num_tasks)]

    @staticmethod
    def goal_position(goal_angle: float) -> np.ndarray:
        """The goal (m) of a task with ``goal_angle`` (rad)."""
        return _GOAL_DISTANCE_M * np.array([np.cos(goal_angle), np.sin(goal_angle)])

    def _apply_task(self, task: Task) -> None:
        self._goal = self.goal_position(float(task.params["goal_angle"]))

    def position(self) -> np.ndarray:
        """The robot's (x, y) position in metres."""
        return self.data.qpos[:2].copy()

    def goal_distance(self) -> float:
        return float(np.linalg.norm(self.position() - self._goal))

    def _reset_state(self) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:2] = self.np_random.uniform(-_START_NOISE_M, _START_NOISE_M, size=2)
        mujoco.mj_forward(self.model, self.data)
        self._trace = [self.position()]

    def _advance(self, action: np.ndarray) -> bool:
        unstable = super()._advance(action)
        self._trace.append(self.position())
        return unstable

    def _measure(self, action: np.ndarray | None) -> Measurement:
        distance = self.goal_distance()
        reached = distance <= _GOAL_RADIUS_M
        return Measurement(shaped_reward=-distance, sparse_reward=float(reached), success=reached,
                           extras={"distance": distance})

    def _state(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[:2], self.data.qvel[:2]]).astype(np.float32)

    def _decorate(self, scene: mujoco.MjvScene, camera_index: int) -> None:
        arc = [self.goal_position(a) for a in np.linspace(0.0, np.pi, 25)]
        for a, b in zip(arc[:-1], arc[1:]):
            rendering.add_segment(scene, [*a, 0.005], [*b, 0.005], 0.01, (0.3, 0.6, 0.3, 0.6))
        rendering.add_marker(scene, mujoco.mjtGeom.mjGEOM_CYLINDER, (_GOAL_RADIUS_M, _GOAL_RADIUS_M, 0.004),
                             [*self._goal, 0.004], (0.1, 0.8, 0.2, 0.55))
        for a, b in zip(self._trace[:-1], self._trace[1:]):
            rendering.add_segment(scene, [*a, _TRACE_Z_M], [*b, _TRACE_Z_M], 0.015, (0.9, 0.2, 0.2, 0.9))

    def _overlay_text(self) -> list[tuple[str, str]]:
        t = self._task
        return [(f"{t.split} task\nreached", f"{t.index}\n{'yes' if self.goal_distance() <= _GOAL_RADIUS_M else 'no'}")]
