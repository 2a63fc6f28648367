"""meld/CheetahVel-v0: the half-cheetah runs at a task-specific target velocity (paper 5.1, B.2)."""
from __future__ import annotations

import os
from typing import Any, ClassVar

import mujoco
import numpy as np

from meld_envs import rendering
from meld_envs.base import Measurement, MujocoImageEnv
from meld_envs.tasks import Task

_MODEL_PATH = os.path.join(os.path.dirname(__file__), "assets", "half_cheetah.xml")
_CONTROL_HZ = 10
_TIMESTEP_S = 0.01  # paper Table 2
_MAX_TARGET_VELOCITY_MPS = 3.0
_SUCCESS_TOLERANCE_MPS = 0.2  # paper B.1
_CONTROL_COST_WEIGHT = 0.01
_RESET_NOISE = 0.1  # as Gymnasium's HalfCheetah-v5


def _model() -> mujoco.MjModel:
    spec = mujoco.MjSpec.from_file(_MODEL_PATH)
    spec.option.timestep = _TIMESTEP_S
    return spec.compile()


class CheetahVelEnv(MujocoImageEnv):
    """
    ## Description
    The planar half-cheetah of Gymnasium's ``HalfCheetah`` (its MuJoCo model, shipped beside this
    file as ``assets/half_cheetah.xml``), seen from a camera that tracks its centre of mass.
    Each task asks it to run forward at a different target velocity, which the agent must infer
    from the rewards it receives (MELD paper, section 5.1 and appendix B.2).

    ## Action Space
    ``Box(-1, 1, (6,), float32)``: torques of the back thigh, shin, foot and front thigh, shin,
    foot (gears 120, 90, 60, 120, 60, 30 N m). Values outside [-1, 1] are clipped; a NaN or
    infinite value is a ``ValueError``.

    ## Observation Space
    - ``obs_mode="pixels"`` (default): ``uint8 (64, 64, 3)`` from the tracking camera ``track``.
    - ``obs_mode="state"``: ``float32 (17,)``: joint positions without the x position (8) and joint
      velocities (9). The target velocity is never part of an observation.
    - ``obs_mode="pixels+state"``: ``Dict(pixels, state)``.

    ## Rewards
    ``shaped_reward = -|v - v*| - 0.01 ||a||^2`` with ``v`` the forward velocity (m/s) of the
    cheetah's centre of mass averaged over the control step and ``v*`` the target. The paper's
    Eq. 6 prints ``+ 0.01 ||a||``; the text calls it a control cost, so it is subtracted here.
    ``sparse_reward = 1`` while the velocity is within 0.2 m/s of the target, else 0.
    ``reward_mode`` ("shaped" by default, or "sparse") picks which one ``step`` returns; both
    are in ``info`` together with ``velocity`` and ``target_velocity``.

    ## Starting State
    Gymnasium's: joint positions ``U(-0.1, 0.1)`` around the initial pose and velocities
    ``0.1 N(0, 1)``, drawn from the env's seeded generator.

    ## Episode End
    50 steps (5 s) by the ``TimeLimit`` of ``gym.make``; never terminates early. A simulation
    that becomes unstable ends the episode with ``truncated=True`` and ``info["physics_error"]``.

    ## Task distribution
    Target velocity ``v* ~ U[0, 3]`` m/s. 30 train and 10 test tasks by default, drawn from a
    fixed seed (``meld_envs.tasks("meld/CheetahVel-v0", split)``); ``num_tasks=`` for more.

    ## Success
    ``|v - v*| <= 0.2`` m/s at the step (paper B.1); an episode succeeds if its last step does.

    ## Arguments
    ``gym.make("meld/CheetahVel-v0", task=0, split="train", reward_mode="shaped",
    obs_mode="pixels", num_tasks=None, render_mode=None)``; ``task`` is an index into the split
    or a ``Task``. ``render_mode="rgb_array"`` renders 256x256 frames with the target (green)
    and actual (orange) velocity drawn as arrows.

    ## Timing
    Simulation step 0.01 s x 10 substeps: 10 Hz control (paper Table 2).

    ## Version History
    - v0: first release.
    """

    env_id: ClassVar[str] = "meld/CheetahVel-v0"
    action_dim: ClassVar[int] = 6
    image_shape: ClassVar[tuple[int, int, int]] = (64, 64, 3)
    state_dim: ClassVar[int] = 17
    frame_skip: ClassVar[int] = 10
    agent_cameras: ClassVar[tuple[str, ...]] = ("track",)
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": _CONTROL_HZ}

    def __init__(self, task: Task | int = 0, split: str = "train", **kwargs: Any) -> None:
        self._target_velocity = 0.0
        self._velocity = 0.0
        super().__init__(_model(), task, split, **kwargs)

    def _setup(self) -> None:
        super()._setup()
        self._torso = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "torso")

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        return [{"target_velocity": float(rng.uniform(0.0, _MAX_TARGET_VELOCITY_MPS))} for _ in range(num_tasks)]

    def _apply_task(self, task: Task) -> None:
        self._target_velocity = float(task.params["target_velocity"])

    # physics readouts
    def com_x(self) -> float:
        """x position (m) of the cheetah's centre of mass."""
        return float(self.data.subtree_com[self._torso][0])

    def com_velocity(self) -> float:
        """Instantaneous forward velocity (m/s) of the centre of mass."""
        mujoco.mj_subtreeVel(self.model, self.data)
        return float(self.data.subtree_linvel[self._torso][0])

    def _reset_state(self) -> None:
        mujoco.mj_resetData(self.model, self.data)
        rng = self.np_random
        self.data.qpos[:] = self.model.qpos0 + rng.uniform(-_RESET_NOISE, _RESET_NOISE, size=self.model.nq)
        self.data.qvel[:] = _RESET_NOISE * rng.standard_normal(self.model.nv)
        mujoco.mj_forward(self.model, self.data)
        self._velocity = self.com_velocity()

    def _advance(self, action: np.ndarray) -> bool:
        x_before = self.com_x()
        unstable = super()._advance(action)
        self._velocity = 0.0 if unstable else (self.com_x() - x_before) / self.dt
        return unstable

    def _measure(self, action: np.ndarray | None) -> Measurement:
        error = abs(self._velocity - self._target_velocity)
        control_cost = 0.0 if action is None else _CONTROL_COST_WEIGHT * float(np.sum(np.square(action)))
        success = error <= _SUCCESS_TOLERANCE_MPS
        return Measurement(
            shaped_reward=-error - control_cost,
            sparse_reward=float(success),
            success=success,
            extras={"velocity": self._velocity, "target_velocity": self._target_velocity, "control_cost": control_cost},
        )

    def _state(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[1:], self.data.qvel]).astype(np.float32)

    def _decorate(self, scene: mujoco.MjvScene, camera_index: int) -> None:
        base = self.data.xpos[self._torso] + np.array([0.0, 0.0, 0.55])
        scale = 0.4  # metres of arrow per m/s
        for velocity, height, rgba in ((self._target_velocity, 0.0, (0.1, 0.8, 0.2, 0.9)),
                                       (self._velocity, 0.12, (1.0, 0.55, 0.1, 0.9))):
            start = base + np.array([0.0, 0.0, height])
            rendering.add_segment(scene, start, start + np.array([scale * velocity, 0.0, 0.0]), 0.03, rgba,
                                  geom_type=mujoco.mjtGeom.mjGEOM_ARROW)

    def _overlay_text(self) -> list[tuple[str, str]]:
        t = self._task
        return [(f"target\nspeed\n{t.split} task", f"{self._target_velocity:.2f} m/s\n{self._velocity:.2f} m/s\n{t.index}")]
