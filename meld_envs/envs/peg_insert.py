"""meld/PegInsert-v0: insert the held peg into the right one of four look-alike boxes (paper 5.1, B.1)."""
from __future__ import annotations

from typing import Any, ClassVar

import mujoco
import numpy as np

from meld_envs import rendering
from meld_envs.base import Measurement
from meld_envs.envs.sawyer import GROUP_BOTH, SawyerEnv, episode_reward
from meld_envs.tasks import Task

_NUM_BOXES = 4
# box geometry (m): a square block with a square hole from the top
_BOX_HALF_WIDTH = 0.05
_BOX_HEIGHT = 0.08
_HOLE_HALF_WIDTH = 0.022
_HOLE_DEPTH = 0.06
_PEG_HALF_WIDTH = 0.012
_PEG_LENGTH = 0.11  # along the fingers; its tip is 6 cm past the fingertips
_INSERTED_WITHIN_M = 0.02  # "fully inserted": the tip within 2 cm of the hole's bottom (4 of 6 cm in)
# where box centres may be (m); centres at least _MIN_SPACING apart so that boxes never touch
_BOX_LOW = np.array([-0.28, 0.45])
_BOX_HIGH = np.array([0.28, 0.80])
_MIN_SPACING_M = 0.14
_BOX_RGBA = (0.45, 0.5, 0.6, 1.0)


class PegInsertEnv(SawyerEnv):
    """
    ## Description
    The Sawyer holds a square peg (rigidly attached to its hand: there is no gripper action).
    Four identical boxes with a square hole each stand on the table; each task moves all four
    and makes one of them the correct one, which the agent must find from the rewards alone
    (MELD paper, section 5.1, Fig. 4c; appendix F for the real-robot version).

    ## Action Space
    ``Box(-1, 1, (7,), float32)``: joint delta-positions, +-0.04 rad per step at |a| = 1 (see
    ``meld/Reacher-v0``). The peg collides with the boxes and the table; the position servos'
    force limits make a blocked arm stop rather than push through.

    ## Observation Space
    - ``obs_mode="pixels"`` (default): ``uint8 (64, 128, 3)``, scene + wrist cameras. The four
      boxes look alike; nothing marks the correct one.
    - ``obs_mode="state"``: ``float32 (28,)``: the arm's 17 (see Reacher), the peg tip (3, m)
      and the four boxes' centres x, y (8, m), in box order (not telling which is correct).
    - ``obs_mode="pixels+state"``: ``Dict(pixels, state)``.

    ## Rewards
    Eq. 7 with ``d`` the distance (m) from the peg's tip to the bottom centre of the correct
    hole: ``shaped_reward = -(d^2 + log(d + 1e-5))``. ``sparse_reward = 1`` while the peg is
    inserted in the correct hole, else 0: a wrong hole never pays. ``info["distance"]``,
    ``info["inserted_box"]`` (index of the box the peg is in, or -1).

    ## Starting State
    End effector at (0, 0.55, 0.25) m, fingers and peg pointing down; joint noise
    ``U(-start_noise_rad, start_noise_rad)`` (default 0.01 rad).

    ## Episode End
    40 steps (10 s at 4 Hz); never terminates early.

    ## Task distribution
    Four box centres uniform in x in [-0.28, 0.28], y in [0.45, 0.80] m, at least 14 cm apart
    (boxes are 10 cm wide, 8 cm tall, holes 4.4 cm wide and 6 cm deep; the peg is 2.4 cm wide);
    the correct box uniform among the four. 30 train / 10 test tasks by default.

    ## Success
    The peg fully inserted into the correct hole: its tip inside the hole's opening and within
    2 cm of the hole's bottom (at least 4 of the 6 cm in; paper B.1 allows 5 cm of variation
    inside the goal site). An episode succeeds if its last step does.

    ## Arguments
    ``gym.make("meld/PegInsert-v0", task=0, split="train", reward_mode="shaped",
    obs_mode="pixels", num_tasks=None, render_mode=None, start_noise_rad=0.01)``.
    ``render_mode="rgb_array"``: 256x512 frames with the correct hole marked in green.

    ## Version History
    - v0: first release.
    """

    env_id: ClassVar[str] = "meld/PegInsert-v0"
    state_dim: ClassVar[int] = 28

    def _setup(self) -> None:
        super()._setup()
        self._boxes = np.array([self.model.body(f"box{i}").id for i in range(_NUM_BOXES)])
        self._holes = np.array([self.model.site(f"hole{i}").id for i in range(_NUM_BOXES)])
        self._tip = self.model.site("peg_tip").id

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        tasks = []
        for _ in range(num_tasks):
            centres: list[np.ndarray] = []
            while len(centres) < _NUM_BOXES:  # rejection sampling; 4 boxes fit easily
                c = rng.uniform(_BOX_LOW, _BOX_HIGH)
                if all(np.linalg.norm(c - other) >= _MIN_SPACING_M for other in centres):
                    centres.append(c)
            tasks.append({"correct_box": int(rng.integers(_NUM_BOXES)),
                          "box_positions": tuple(tuple(round(float(v), 6) for v in c) for c in centres)})
        return tasks

    @classmethod
    def _add_objects(cls, spec: mujoco.MjSpec) -> None:
        hand = spec.body("hand")
        peg = hand.add_body(name="peg", pos=[0.0, 0.0, 0.0])  # along the hand's x axis: the fingers' direction
        peg.add_geom(name="peg", type=mujoco.mjtGeom.mjGEOM_BOX, size=[_PEG_LENGTH / 2, _PEG_HALF_WIDTH, _PEG_HALF_WIDTH],
                     pos=[_PEG_LENGTH / 2 - 0.01, 0, 0], rgba=[0.9, 0.75, 0.1, 1], group=GROUP_BOTH, mass=0.05,
                     contype=1, conaffinity=1, condim=3, friction=[0.3, 0.005, 0.0001])
        peg.add_site(name="peg_tip", pos=[_PEG_LENGTH - 0.01, 0, 0], size=[0.005] * 3)
        wall = (_BOX_HALF_WIDTH - _HOLE_HALF_WIDTH) / 2  # half-thickness of the walls around the hole
        bottom = _BOX_HEIGHT - _HOLE_DEPTH
        for i in range(_NUM_BOXES):
            box = spec.worldbody.add_body(name=f"box{i}", pos=[0, 0.6, 0])
            common = dict(type=mujoco.mjtGeom.mjGEOM_BOX, rgba=_BOX_RGBA, group=GROUP_BOTH, contype=1, conaffinity=1,
                          condim=3, friction=[0.3, 0.005, 0.0001])
            box.add_geom(size=[_BOX_HALF_WIDTH, _BOX_HALF_WIDTH, bottom / 2], pos=[0, 0, bottom / 2], **common)
            for sign in (-1, 1):
                offset = _HOLE_HALF_WIDTH + wall
                box.add_geom(size=[wall, _BOX_HALF_WIDTH, _HOLE_DEPTH / 2], pos=[sign * offset, 0, bottom + _HOLE_DEPTH / 2], **common)
                box.add_geom(size=[_HOLE_HALF_WIDTH, wall, _HOLE_DEPTH / 2], pos=[0, sign * offset, bottom + _HOLE_DEPTH / 2], **common)
            box.add_site(name=f"hole{i}", pos=[0, 0, bottom], size=[0.005] * 3)

    def _apply_task(self, task: Task) -> None:
        self._correct = int(task.params["correct_box"])
        for body, (x, y) in zip(self._boxes, task.params["box_positions"]):
            self.model.body_pos[body] = (x, y, 0.0)
        mujoco.mj_kinematics(self.model, self.data)

    def peg_tip(self) -> np.ndarray:
        return self.data.site_xpos[self._tip].copy()

    def inserted_box(self) -> int:
        """Index of the box whose hole the peg is fully inserted in, or -1."""
        tip = self.peg_tip()
        for i, site in enumerate(self._holes):
            hole = self.data.site_xpos[site]
            if np.all(np.abs(tip[:2] - hole[:2]) <= _HOLE_HALF_WIDTH) and hole[2] - 0.005 <= tip[2] <= hole[2] + _INSERTED_WITHIN_M:
                return i
        return -1

    def hole_position(self, box: int | None = None) -> np.ndarray:
        """Bottom centre (m) of ``box``'s hole (default: the correct box)."""
        return self.data.site_xpos[self._holes[self._correct if box is None else box]].copy()

    def _measure(self, action: np.ndarray | None) -> Measurement:
        distance = float(np.linalg.norm(self.peg_tip() - self.hole_position()))
        inserted = self.inserted_box()
        success = inserted == self._correct
        return Measurement(shaped_reward=episode_reward(distance), sparse_reward=float(success), success=success,
                           extras={"distance": distance, "inserted_box": inserted})

    def _object_state(self) -> np.ndarray:
        return np.concatenate([self.peg_tip(), self.model.body_pos[self._boxes, :2].ravel()])

    def _decorate(self, scene: mujoco.MjvScene, camera_index: int) -> None:
        top = self.hole_position() + np.array([0, 0, _HOLE_DEPTH + 0.004])
        rendering.add_marker(scene, mujoco.mjtGeom.mjGEOM_CYLINDER, (_HOLE_HALF_WIDTH + 0.012, 0, 0.003), top,
                             (0.1, 0.9, 0.2, 0.8))

    def _overlay_text(self) -> list[tuple[str, str]]:
        t = self._task
        inserted = self.inserted_box()
        peg = "in no hole" if inserted < 0 else f"in box {inserted}" + (" (correct)" if inserted == self._correct else " (wrong)")
        return [(f"{t.split} task\ncorrect box\npeg", f"{t.index}\n{self._correct}\n{peg}")]
