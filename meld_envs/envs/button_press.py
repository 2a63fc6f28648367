"""meld/ButtonPress-v0: find and press the right one of three buttons from a sparse reward (paper 5.2)."""
from __future__ import annotations

from typing import Any, ClassVar

import mujoco
import numpy as np

from meld_envs import rendering
from meld_envs.base import Measurement
from meld_envs.envs.sawyer import GROUP_BOTH, SawyerEnv, episode_reward
from meld_envs.tasks import Task

_NUM_BUTTONS = 3
_BUTTON_RGBA = ((0.85, 0.15, 0.15, 1.0), (0.15, 0.7, 0.2, 1.0), (0.15, 0.3, 0.9, 1.0))  # red, green, blue
_BUTTON_SPACING_M = 0.16
_CAP_RADIUS_M = 0.055  # wider than the 9.4 cm between the finger pads: both fingertips press it
_CAP_HALF_HEIGHT_M = 0.01
_PANEL_HALF_SIZE_M = (0.26, 0.08, 0.015)
_TRAVEL_M = 0.02  # how far a button goes down
_PRESS_DEPTH_M = 0.01  # a press: the button moved down past this
_SPRING_N_PER_M = 300.0
_PANEL_LOW = np.array([-0.15, 0.55])
_PANEL_HIGH = np.array([0.15, 0.75])


class ButtonPressEnv(SawyerEnv):
    """
    ## Description
    A panel with three buttons (red, green, blue) lies on the table; each task moves the panel
    and names one button as the correct one. At meta-test time the agent gets only a sparse
    reward when the correct button is pressed, so it must explore the buttons in the first
    episode of a trial and press the right one straight away in the second (MELD paper,
    section 5.2, Fig. 6; use ``Trial(env, episodes=2)``).

    ## Action Space
    ``Box(-1, 1, (7,), float32)``: joint delta-positions, +-0.04 rad per step at |a| = 1 (see
    ``meld/Reacher-v0``). The fingertips press the buttons: each is a spring-loaded slide joint
    (2 cm of travel, 300 N/m).

    ## Observation Space
    - ``obs_mode="pixels"`` (default): ``uint8 (64, 128, 3)``, scene + wrist cameras. Nothing
      marks the correct button.
    - ``obs_mode="state"``: ``float32 (22,)``: the arm's 17 (see Reacher), the panel's centre x, y
      (2, m) and the three buttons' depressions (3, m; 0 = up).
    - ``obs_mode="pixels+state"``: ``Dict(pixels, state)``.

    ## Rewards
    ``sparse_reward = 1`` while the correct button is pressed (down by more than 1 cm), else 0;
    pressing a wrong button gives nothing. ``shaped_reward`` is Eq. 7,
    ``-(d^2 + log(d + 1e-5))`` with ``d`` the distance (m) from the end effector to the pressed-in
    position of the correct button's top, for meta-training only (paper appendix C).
    ``info["distance"]``, ``info["pressed_button"]`` (index of the pressed button, or -1).

    ## Starting State
    End effector at (0, 0.55, 0.25) m, fingers down; joint noise ``U(-start_noise_rad,
    start_noise_rad)`` (default 0.01 rad). All buttons up.

    ## Episode End
    40 steps (10 s at 4 Hz), as the other Sawyer tasks; never terminates early. The authors' code runs 30-step
    episodes in its 2-episode trials (2_sawyerButtons_2episodes_sparse.gin, ``max_episode_len_override=30``) and 40 in
    its single-episode shaped run; the benchmark keeps one length for training and test.

    ## Task distribution
    The panel's centre uniform in x in [-0.15, 0.15], y in [0.55, 0.75] m; the buttons 16 cm
    apart along x. The correct button is task index mod 3, so every split holds each button
    equally often: 30 train / 12 test tasks by default.

    ## Success
    The correct button pressed (paper 5.2); an episode succeeds if its last step does.

    ## Arguments
    ``gym.make("meld/ButtonPress-v0", task=0, split="train", reward_mode="shaped",
    obs_mode="pixels", num_tasks=None, render_mode=None, start_noise_rad=0.01)``.
    ``render_mode="rgb_array"``: 256x512 frames with a ring around the correct button.

    ## Version History
    - v0: first release.
    """

    env_id: ClassVar[str] = "meld/ButtonPress-v0"
    state_dim: ClassVar[int] = 22

    def _setup(self) -> None:
        super()._setup()
        self._panel = self.model.body("panel").id
        self._buttons = np.array([self.model.jnt_qposadr[self.model.joint(f"button{i}").id] for i in range(_NUM_BUTTONS)])
        self._caps = np.array([self.model.site(f"button{i}_top").id for i in range(_NUM_BUTTONS)])

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        return [{"correct_button": i % _NUM_BUTTONS,
                 "panel_position": tuple(float(v) for v in rng.uniform(_PANEL_LOW, _PANEL_HIGH))}
                for i in range(num_tasks)]

    @classmethod
    def _add_objects(cls, spec: mujoco.MjSpec) -> None:
        panel = spec.worldbody.add_body(name="panel", pos=[0, 0.65, 0])
        hx, hy, hz = _PANEL_HALF_SIZE_M
        panel.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, hz], pos=[0, 0, hz], rgba=[0.25, 0.25, 0.28, 1],
                       group=GROUP_BOTH, contype=1, conaffinity=1, condim=3)
        for i in range(_NUM_BUTTONS):
            x = (i - 1) * _BUTTON_SPACING_M
            button = panel.add_body(name=f"button{i}", pos=[x, 0, 2 * hz], gravcomp=1.0)
            button.explicitinertial = True
            button.mass = 0.05
            button.inertia = [4e-5, 4e-5, 7e-5]
            button.add_joint(name=f"button{i}", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, 1],
                             range=[-_TRAVEL_M, 0], limited=True, stiffness=_SPRING_N_PER_M, springref=0, damping=5)
            button.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[_CAP_RADIUS_M, _CAP_HALF_HEIGHT_M, 0],
                            pos=[0, 0, _CAP_HALF_HEIGHT_M], rgba=_BUTTON_RGBA[i], group=GROUP_BOTH, contype=1,
                            conaffinity=1, condim=3)
            button.add_site(name=f"button{i}_top", pos=[0, 0, 2 * _CAP_HALF_HEIGHT_M], size=[0.005] * 3)
            # the panel has no joint, so MuJoCo counts it as the world and would not filter this pair
            spec.add_exclude(bodyname1="panel", bodyname2=f"button{i}")

    def _apply_task(self, task: Task) -> None:
        self._correct = int(task.params["correct_button"])
        x, y = task.params["panel_position"]
        self.model.body_pos[self._panel] = (x, y, 0.0)
        mujoco.mj_kinematics(self.model, self.data)

    def button_top(self, button: int | None = None) -> np.ndarray:
        """Centre (m) of ``button``'s top when it is up (default: the correct button)."""
        site = self._caps[self._correct if button is None else button]
        i = list(self._caps).index(site)
        return self.data.site_xpos[site] - np.array([0, 0, self.data.qpos[self._buttons[i]]])

    def depressions(self) -> np.ndarray:
        """How far (m) each button is pushed down, (3,)."""
        return -self.data.qpos[self._buttons].copy()

    def pressed_button(self) -> int:
        pressed = np.flatnonzero(self.depressions() > _PRESS_DEPTH_M)
        return int(pressed[np.argmax(self.depressions()[pressed])]) if len(pressed) else -1

    def _measure(self, action: np.ndarray | None) -> Measurement:
        goal = self.button_top() - np.array([0, 0, _PRESS_DEPTH_M + 0.004])
        distance = float(np.linalg.norm(self.ee_position() - goal))
        success = bool(self.depressions()[self._correct] > _PRESS_DEPTH_M)
        return Measurement(shaped_reward=episode_reward(distance), sparse_reward=float(success), success=success,
                           extras={"distance": distance, "pressed_button": self.pressed_button()})

    def _object_state(self) -> np.ndarray:
        return np.concatenate([self.model.body_pos[self._panel, :2], self.depressions()])

    def _decorate(self, scene: mujoco.MjvScene, camera_index: int) -> None:
        top = self.data.site_xpos[self._caps[self._correct]]
        rendering.add_marker(scene, mujoco.mjtGeom.mjGEOM_CYLINDER, (_CAP_RADIUS_M + 0.012, 0, 0.002),
                             top - np.array([0, 0, 2 * _CAP_HALF_HEIGHT_M - 0.001]), (1.0, 0.85, 0.1, 0.9))

    def _overlay_text(self) -> list[tuple[str, str]]:
        t = self._task
        names = ("red", "green", "blue")
        pressed = self.pressed_button()
        return [(f"{t.split} task\ncorrect\npressed", f"{t.index}\n{names[self._correct]}\n{names[pressed] if pressed >= 0 else '-'}")]
