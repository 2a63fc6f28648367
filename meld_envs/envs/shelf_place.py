"""meld/ShelfPlace-v0: bring a held mug of unknown mass to a hidden target on a shelf (paper 5.1, B.1)."""
from __future__ import annotations

from typing import Any, ClassVar

import mujoco
import numpy as np

from meld_envs import rendering
from meld_envs.base import Measurement
from meld_envs.envs.sawyer import GROUP_BOTH, SawyerEnv, episode_reward
from meld_envs.kinematics import xyaxes_quat
from meld_envs.tasks import Task

_MUG_RADIUS_M = 0.035
_MUG_HALF_HEIGHT_M = 0.045
_MUG_CENTRE_IN_HAND_M = 0.075  # along the fingers, from the hand's origin
_MASS_RANGE_KG = (0.1, 2.5)
_SHELF_Y_M = 0.84
_SHELF_TOP_Z_M = 0.10  # the board's upper surface
_SHELF_HALF_LENGTH_M = 0.32
_TARGET_X_RANGE_M = (-0.22, 0.22)
_TARGET_Y_JITTER_M = 0.02
_SUCCESS_RADIUS_M = 0.05  # paper B.1
_FINGER_BODIES = ("rightclaw", "rightpad", "leftclaw", "leftpad")


class ShelfPlaceEnv(SawyerEnv):
    """
    ## Description
    The Sawyer holds a mug (rigidly, in its hand) and must bring it to a target on a shelf at
    the back of the table. Each task changes both the mug's **mass** (the dynamics: the arm's
    position servos have limited force and the arm is gravity-compensated but the mug is not,
    so a heavy mug sags and lags under the same actions) and the **target** along the shelf
    (the reward). Neither is visible: both must be inferred from experience (MELD paper,
    section 5.1, Fig. 4d).

    ## Action Space
    ``Box(-1, 1, (7,), float32)``: joint delta-positions, +-0.04 rad per step at |a| = 1 (see
    ``meld/Reacher-v0``). The mug collides with the shelf and the table.

    ## Observation Space
    - ``obs_mode="pixels"`` (default): ``uint8 (64, 128, 3)``, scene + wrist cameras; the target
      is never drawn.
    - ``obs_mode="state"``: ``float32 (20,)``: the arm's 17 (see Reacher) and the mug's centre
      (3, m). Neither the mass nor the target.
    - ``obs_mode="pixels+state"``: ``Dict(pixels, state)``.

    ## Rewards
    Eq. 7 with ``d`` the distance (m) from the mug's centre to the target:
    ``shaped_reward = -(d^2 + log(d + 1e-5))``; ``sparse_reward = 1`` within 5 cm, else 0.
    ``info["distance"]``.

    ## Starting State
    End effector at (0, 0.55, 0.25) m, fingers down; joint noise ``U(-start_noise_rad,
    start_noise_rad)`` (default 0.01 rad). The mug hangs below the fingers.

    ## Episode End
    40 steps (10 s at 4 Hz); never terminates early.

    ## Task distribution
    Mug mass uniform in [0.1, 2.5] kg; target (the mug's centre resting on the shelf board, whose
    top is 10 cm above the table at y = 0.84 m) with x uniform in [-0.22, 0.22] m and y jittered by
    +-2 cm. 30 train / 10 test tasks by default.

    ## Success
    The mug's centre within 5 cm of the target (paper B.1); an episode succeeds if its last step does.

    ## Arguments
    ``gym.make("meld/ShelfPlace-v0", task=0, split="train", reward_mode="shaped",
    obs_mode="pixels", num_tasks=None, render_mode=None, start_noise_rad=0.01)``.
    ``render_mode="rgb_array"``: 256x512 frames with the target and its 5 cm sphere drawn.

    ## Version History
    - v0: first release.
    """

    env_id: ClassVar[str] = "meld/ShelfPlace-v0"
    state_dim: ClassVar[int] = 20

    def _setup(self) -> None:
        super()._setup()
        self._mug = self.model.body("mug").id
        self._mug_centre = self.model.site("mug_centre").id
        self._unit_inertia = self.model.body_inertia[self._mug] / self.model.body_mass[self._mug]

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        tasks = []
        for _ in range(num_tasks):
            mass = float(rng.uniform(*_MASS_RANGE_KG))
            x = float(rng.uniform(*_TARGET_X_RANGE_M))
            y = _SHELF_Y_M + float(rng.uniform(-_TARGET_Y_JITTER_M, _TARGET_Y_JITTER_M))
            tasks.append({"mug_mass": mass, "target": (x, y, _SHELF_TOP_Z_M + _MUG_HALF_HEIGHT_M)})
        return tasks

    @classmethod
    def _add_objects(cls, spec: mujoco.MjSpec) -> None:
        # the mug's axis is the world's vertical when the fingers point down: mug z = -hand x
        mug = spec.body("hand").add_body(name="mug", pos=[_MUG_CENTRE_IN_HAND_M, 0, 0],
                                         quat=xyaxes_quat(np.array([0, 1, 0, 0, 0, -1])))
        # a solid cylinder of 1 kg; each task scales mass and inertia (Meta-World's compiler takes
        # inertia only from geoms in groups 4-5, so it is given explicitly)
        mug.explicitinertial = True
        mug.mass = 1.0
        side = (3 * _MUG_RADIUS_M**2 + (2 * _MUG_HALF_HEIGHT_M) ** 2) / 12
        mug.inertia = [side, side, _MUG_RADIUS_M**2 / 2]
        common = dict(group=GROUP_BOTH, contype=1, conaffinity=1, condim=3)
        mug.add_geom(name="mug", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[_MUG_RADIUS_M, _MUG_HALF_HEIGHT_M, 0],
                     rgba=[0.95, 0.95, 0.9, 1], **common)
        mug.add_geom(name="mug_handle", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.006, 0.012, 0.025],
                     pos=[0, -_MUG_RADIUS_M - 0.01, 0], rgba=[0.95, 0.95, 0.9, 1], **common)
        mug.add_site(name="mug_centre", size=[0.005] * 3)
        for finger in _FINGER_BODIES:  # the mug sits between the fingers: they hold it, not push it
            spec.add_exclude(bodyname1="mug", bodyname2=finger)
        shelf = spec.worldbody.add_body(name="shelf", pos=[0, _SHELF_Y_M, 0])
        wood = dict(type=mujoco.mjtGeom.mjGEOM_BOX, rgba=[0.35, 0.25, 0.18, 1], group=GROUP_BOTH, contype=1,
                    conaffinity=1, condim=3)
        board = 0.01
        shelf.add_geom(name="shelf_board", size=[_SHELF_HALF_LENGTH_M, 0.07, board], pos=[0, 0, _SHELF_TOP_Z_M - board], **wood)
        for sign in (-1, 1):  # side posts, and a low lip at the back: the scene camera looks over it
            shelf.add_geom(size=[0.01, 0.07, 0.12], pos=[sign * (_SHELF_HALF_LENGTH_M + 0.01), 0, 0.12], **wood)
        shelf.add_geom(size=[_SHELF_HALF_LENGTH_M + 0.02, 0.01, 0.02], pos=[0, 0.08, _SHELF_TOP_Z_M + 0.01], **wood)
        shelf.add_geom(size=[_SHELF_HALF_LENGTH_M, 0.07, (_SHELF_TOP_Z_M - 2 * board) / 2],
                       pos=[0, 0, (_SHELF_TOP_Z_M - 2 * board) / 2], rgba=[0.3, 0.22, 0.16, 1], type=mujoco.mjtGeom.mjGEOM_BOX,
                       group=GROUP_BOTH, contype=1, conaffinity=1, condim=3)  # the cabinet under the board

    def _apply_task(self, task: Task) -> None:
        self._target_pos = np.array(task.params["target"], dtype=float)
        mass = float(task.params["mug_mass"])
        self.model.body_mass[self._mug] = mass
        self.model.body_inertia[self._mug] = mass * self._unit_inertia

    @property
    def target(self) -> np.ndarray:
        return self._target_pos.copy()

    def mug_position(self) -> np.ndarray:
        """The mug's centre (m)."""
        return self.data.site_xpos[self._mug_centre].copy()

    def _measure(self, action: np.ndarray | None) -> Measurement:
        distance = float(np.linalg.norm(self.mug_position() - self._target_pos))
        success = distance <= _SUCCESS_RADIUS_M
        return Measurement(shaped_reward=episode_reward(distance), sparse_reward=float(success), success=success,
                           extras={"distance": distance})

    def _object_state(self) -> np.ndarray:
        return self.mug_position()

    def _decorate(self, scene: mujoco.MjvScene, camera_index: int) -> None:
        rendering.add_marker(scene, mujoco.mjtGeom.mjGEOM_CYLINDER, (_MUG_RADIUS_M + 0.01, 0, 0.002),
                             self._target_pos - np.array([0, 0, _MUG_HALF_HEIGHT_M - 0.003]), (0.1, 0.85, 0.2, 0.9))
        rendering.add_marker(scene, mujoco.mjtGeom.mjGEOM_SPHERE, (_SUCCESS_RADIUS_M,) * 3, self._target_pos,
                             (0.1, 0.85, 0.2, 0.15))

    def _overlay_text(self) -> list[tuple[str, str]]:
        t = self._task
        distance = np.linalg.norm(self.mug_position() - self._target_pos)
        return [(f"{t.split} task\nmug mass\ndistance", f"{t.index}\n{t.params['mug_mass']:.2f} kg\n{distance:.3f} m")]
