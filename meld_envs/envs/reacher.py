"""meld/Reacher-v0: move the Sawyer's end effector to a hidden goal position (paper 5.1, B.1)."""
from __future__ import annotations

from typing import Any, ClassVar

import mujoco
import numpy as np

from meld_envs import rendering
from meld_envs.base import Measurement
from meld_envs.envs.sawyer import SawyerEnv, episode_reward
from meld_envs.tasks import Task

# the box of goals in front of the robot (m, world frame; the table top is at z = 0)
_GOAL_LOW = np.array([-0.25, 0.45, 0.05])
_GOAL_HIGH = np.array([0.25, 0.80, 0.30])
_SUCCESS_RADIUS_M = 0.10  # paper B.1


class ReacherEnv(SawyerEnv):
    """
    ## Description
    The 7-DoF Sawyer (Meta-World's model, position-controlled joints) must bring its end
    effector to a goal position that the task sets and the agent never sees: it must infer it
    from the rewards (MELD paper, section 5.1, Fig. 4b).

    ## Action Space
    ``Box(-1, 1, (7,), float32)``: joint delta-positions, +-0.04 rad per step at |a| = 1, added
    to the position servos' targets (clipped to the joint limits). Values outside [-1, 1] are
    clipped; NaN or infinite values are a ``ValueError``.

    ## Observation Space
    - ``obs_mode="pixels"`` (default): ``uint8 (64, 128, 3)``: the fixed ``scene`` camera and the
      ``wrist`` camera, 64x64 each, side by side (paper Fig. 11b). The goal is never drawn.
    - ``obs_mode="state"``: ``float32 (17,)``: arm joint positions (7, rad), velocities (7,
      rad/s), end-effector position (3, m).
    - ``obs_mode="pixels+state"``: ``Dict(pixels, state)``.

    ## Rewards
    Eq. 7: ``shaped_reward = -(d^2 + log(d + 1e-5))`` with ``d`` the end-effector's distance to
    the goal (m); ``sparse_reward = 1`` within 10 cm of the goal, else 0. ``reward_mode`` picks
    the returned one ("shaped" by default); ``info["distance"]`` too.

    ## Starting State
    End effector at (0, 0.55, 0.25) m, fingers down (joint pose solved by inverse kinematics),
    plus joint noise ``U(-start_noise_rad, start_noise_rad)`` (default 0.01 rad).

    ## Episode End
    40 steps (10 s at 4 Hz) by the ``TimeLimit`` of ``gym.make``; never terminates early.

    ## Task distribution
    Goal position uniform in the box x in [-0.25, 0.25], y in [0.45, 0.80], z in [0.05, 0.30] m
    (in front of the robot, above the table). 30 train / 10 test tasks by default.

    ## Success
    The end effector within 10 cm of the goal (paper B.1); an episode succeeds if its last step does.

    ## Arguments
    ``gym.make("meld/Reacher-v0", task=0, split="train", reward_mode="shaped", obs_mode="pixels",
    num_tasks=None, render_mode=None, start_noise_rad=0.01)``. ``render_mode="rgb_array"``:
    256x512 frames with the goal (green) and the 10 cm success sphere drawn.

    ## Timing
    Simulation step 0.0025 s x 100 substeps: 4 Hz control (paper Table 2).

    ## Version History
    - v0: first release. Unlike the reference implementation, the goal is not in the images.
    """

    env_id: ClassVar[str] = "meld/Reacher-v0"
    state_dim: ClassVar[int] = 17

    def __init__(self, task: Task | int = 0, split: str = "train", **kwargs: Any) -> None:
        self._goal = np.zeros(3)
        super().__init__(task, split, **kwargs)

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        return [{"goal": tuple(float(x) for x in rng.uniform(_GOAL_LOW, _GOAL_HIGH))} for _ in range(num_tasks)]

    def _apply_task(self, task: Task) -> None:
        self._goal = np.array(task.params["goal"], dtype=float)

    @property
    def goal(self) -> np.ndarray:
        return self._goal.copy()

    def _measure(self, action: np.ndarray | None) -> Measurement:
        distance = float(np.linalg.norm(self.ee_position() - self._goal))
        success = distance <= _SUCCESS_RADIUS_M
        return Measurement(shaped_reward=episode_reward(distance), sparse_reward=float(success), success=success,
                           extras={"distance": distance})

    def _decorate(self, scene: mujoco.MjvScene, camera_index: int) -> None:
        rendering.add_marker(scene, mujoco.mjtGeom.mjGEOM_SPHERE, (0.02,) * 3, self._goal, (0.1, 0.85, 0.2, 1.0))
        rendering.add_marker(scene, mujoco.mjtGeom.mjGEOM_SPHERE, (_SUCCESS_RADIUS_M,) * 3, self._goal, (0.1, 0.85, 0.2, 0.15))

    def _overlay_text(self) -> list[tuple[str, str]]:
        t = self._task
        distance = np.linalg.norm(self.ee_position() - self._goal)
        return [(f"{t.split} task\ndistance", f"{t.index}\n{distance:.3f} m")]
