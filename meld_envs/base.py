"""The machinery every meld-bench environment shares: tasks, reward modes, observation modes,
action checks and the ``info`` contract (docs/design.md, "The environment contract").

``MeldEnv`` knows nothing of MuJoCo, so the real robot's environment stands on it too;
``MujocoImageEnv`` adds the simulator and the fast pixel renderer.
"""
from __future__ import annotations

import functools
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle

from meld_envs import rendering
from meld_envs.tasks import Task, check_split, resolve

OBS_MODES = ("pixels", "state", "pixels+state")
REWARD_MODES = ("shaped", "sparse")
RENDER_MODES = ("rgb_array",)

ObsType = np.ndarray | dict[str, np.ndarray]


class Measurement(NamedTuple):
    """What one step (or a reset) earns; every env reports all of it in ``info``."""

    shaped_reward: float
    sparse_reward: float
    success: bool
    extras: dict[str, Any]


class MeldEnv(gym.Env[ObsType, np.ndarray], EzPickle):
    """Base of every meld-bench environment.

    Subclasses set ``env_id``, ``action_dim``, ``image_shape``, ``state_dim`` and implement
    ``sample_task_params``, ``_apply_task``, ``_reset_state``, ``_advance``, ``_measure``,
    ``_pixels``, ``_state`` (and ``_render_human`` for videos).

    Actions are clipped to [-1, 1]; a NaN or infinite action is a ``ValueError``. A closed env refuses to step,
    reset or render. Envs pickle and deep-copy the Gymnasium way (``EzPickle``): the copy is made anew from the
    constructor's arguments and is on the current task, at the start of an episode.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def recorded(self: MeldEnv, *args: Any, **kw: Any) -> None:
            if "_ezpickle_args" not in self.__dict__:  # the outermost constructor's arguments make the copy
                EzPickle.__init__(self, *args, **kw)
            init(self, *args, **kw)

        cls.__init__ = recorded

    def __getstate__(self) -> dict[str, Any]:
        return {**EzPickle.__getstate__(self), "task": self._task}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        task = state.pop("task")
        EzPickle.__setstate__(self, state)
        self.set_task(task)

    env_id: ClassVar[str]
    action_dim: ClassVar[int]
    image_shape: ClassVar[tuple[int, int, int]]
    state_dim: ClassVar[int]
    metadata: ClassVar[dict[str, Any]] = {"render_modes": list(RENDER_MODES), "render_fps": 10}

    def __init__(
        self,
        task: Task | int = 0,
        split: str = "train",
        *,
        reward_mode: str = "shaped",
        obs_mode: str = "pixels",
        num_tasks: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"unknown reward_mode {reward_mode!r}; allowed: 'shaped', 'sparse'")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; allowed: 'pixels', 'state', 'pixels+state'")
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"unknown render_mode {render_mode!r}; allowed: None, 'rgb_array'")
        self.split = task.split if isinstance(task, Task) else check_split(split)  # a Task brings its split
        self.num_tasks = num_tasks
        self.reward_mode = reward_mode
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        self._closed = False
        self._task = resolve(self.env_id, task, self.split, num_tasks)

        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.action_dim,), dtype=np.float32)
        pixels = spaces.Box(0, 255, shape=self.image_shape, dtype=np.uint8)
        state = spaces.Box(-np.inf, np.inf, shape=(self.state_dim,), dtype=np.float32)
        self.observation_space = {
            "pixels": pixels,
            "state": state,
            "pixels+state": spaces.Dict({"pixels": pixels, "state": state}),
        }[obs_mode]

    # -- tasks -------------------------------------------------------------------------------
    @property
    def task(self) -> Task:
        """The current task."""
        return self._task

    def set_task(self, task: Task | int) -> None:
        """Switch to ``task`` (a ``Task`` or an index into this env's split) without rebuilding
        the simulator. Takes effect at once, also in the middle of an episode (paper D.2)."""
        self._task = resolve(self.env_id, task, self.split, self.num_tasks)
        self._apply_task(self._task)

    @classmethod
    def sample_task_params(cls, rng: np.random.Generator, num_tasks: int) -> list[dict[str, Any]]:
        """``num_tasks`` task parameter dicts, drawn one task after the other from ``rng``."""
        raise NotImplementedError

    # -- gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[ObsType, dict]:
        """Start an episode. ``options={"task": t}`` switches task first (a ``Task`` or an index)."""
        self._check_open()
        super().reset(seed=seed)
        options = dict(options or {})
        if "task" in options:
            self.set_task(options.pop("task"))
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; allowed: 'task'")
        self._apply_task(self._task)
        self._reset_state()
        return self._observe(), self._info(self._measure(None))

    def step(self, action: np.ndarray) -> tuple[ObsType, float, bool, bool, dict]:
        self._check_open()
        action = self._check_action(action)
        physics_error = self._advance(action)
        m = self._measure(action)
        info = self._info(m)
        if physics_error:
            info["physics_error"] = True
        reward = m.shaped_reward if self.reward_mode == "shaped" else m.sparse_reward
        return self._observe(), float(reward), bool(self._terminated(m)), bool(physics_error), info

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"``: a larger, human-facing frame in which goals are drawn."""
        self._check_open()
        if self.render_mode is None:
            gym.logger.warn(f"render() called on {self.env_id} without a render_mode; pass render_mode='rgb_array' to gym.make")
            return None
        return self._render_human()

    def close(self) -> None:
        self._closed = True
        super().close()

    # -- shared pieces -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"this {self.env_id} env is closed; make a new one (gym.make) to go on")

    def _check_action(self, action: Any) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action of shape {a.shape} for {self.env_id}; expected shape {self.action_space.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action {np.array2string(a, precision=3)} for {self.env_id} is not finite; "
                             "allowed: finite values in [-1, 1] (larger ones are clipped)")
        return np.clip(a, -1.0, 1.0)

    def _observe(self) -> ObsType:
        if self.obs_mode == "pixels":
            return self._pixels()
        if self.obs_mode == "state":
            return self._state()
        return {"pixels": self._pixels(), "state": self._state()}

    def _info(self, m: Measurement) -> dict[str, Any]:
        return {
            "task": self._task,
            "success": bool(m.success),
            "shaped_reward": float(m.shaped_reward),
            "sparse_reward": float(m.sparse_reward),
            **m.extras,
        }

    def _terminated(self, m: Measurement) -> bool:
        return False  # fixed-length episodes, as in the paper; the TimeLimit ends them

    # -- for subclasses ----------------------------------------------------------------------
    def _apply_task(self, task: Task) -> None:
        raise NotImplementedError

    def _reset_state(self) -> None:
        raise NotImplementedError

    def _advance(self, action: np.ndarray) -> bool:
        """Apply ``action`` for one control step; True when the simulation went unstable."""
        raise NotImplementedError

    def _measure(self, action: np.ndarray | None) -> Measurement:
        raise NotImplementedError

    def _pixels(self) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> np.ndarray:
        raise NotImplementedError

    def _render_human(self) -> np.ndarray:
        raise NotImplementedError


_INSTABILITY = (mujoco.mjtWarning.mjWARN_BADQACC, mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL)


class MujocoImageEnv(MeldEnv):
    """A ``MeldEnv`` simulated in MuJoCo and seen through ``agent_cameras`` side by side.

    Subclasses pass the compiled model and set ``frame_skip``, ``agent_cameras``, ``camera_size``
    (H, W of each camera) and ``human_camera_size``; they look up their ids in ``_setup``, add
    goal markers to human frames in ``_decorate`` and an overlay text in ``_overlay_text``.
    """

    frame_skip: ClassVar[int]
    agent_cameras: ClassVar[tuple[str, ...]]
    camera_size: ClassVar[tuple[int, int]] = (64, 64)
    human_camera_size: ClassVar[tuple[int, int]] = (256, 256)
    agent_geomgroups: ClassVar[tuple[int, ...]] = (1, 1, 1, 0, 0, 0)
    agent_quality: ClassVar[rendering.Quality] = rendering.AGENT_QUALITY
    # the agent's view with full-resolution meshes in place of simplified ones (None: the agent's groups)
    reference_geomgroups: ClassVar[tuple[int, ...] | None] = None
    # bodies whose geoms are backdrop (floor, walls, table top), not robot or objects
    backdrop_bodies: ClassVar[tuple[str, ...]] = ("world",)
    human_geomgroups: ClassVar[tuple[int, ...]] = (1, 1, 1, 0, 0, 0)

    def __init__(self, model: mujoco.MjModel, task: Task | int = 0, split: str = "train", **kwargs: Any) -> None:
        super().__init__(task, split, **kwargs)
        self.model = model
        self.data = mujoco.MjData(model)
        self._setup()
        self._gl = rendering.GLContext()
        h, w = self.camera_size
        self._agent_view = rendering.MultiCameraRenderer(
            model, self._gl, self.agent_cameras, h, w, quality=self.agent_quality, geomgroups=self.agent_geomgroups,
            context_model=getattr(self, "_context_model", None))
        if self._agent_view.frame_shape != self.image_shape:
            raise AssertionError(f"{self.env_id}: cameras give {self._agent_view.frame_shape}, image_shape says {self.image_shape}")
        self._human_view: rendering.MultiCameraRenderer | None = None
        self._apply_task(self._task)

    def _setup(self) -> None:
        """Called once ``model`` and ``data`` exist, before the first ``_apply_task``: look up the
        ids of bodies, sites and joints here (as dm_control builds its Physics before the Task)."""

    @property
    def dt(self) -> float:
        """Seconds of simulated time per control step."""
        return float(self.model.opt.timestep) * self.frame_skip

    def _advance(self, action: np.ndarray) -> bool:
        self._apply_action(action)
        before = [int(self.data.warning[w].number) for w in _INSTABILITY]
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        after = [int(self.data.warning[w].number) for w in _INSTABILITY]
        unstable = after != before or not (np.all(np.isfinite(self.data.qpos)) and np.all(np.isfinite(self.data.qvel)))
        if unstable:
            # MuJoCo already reset the state it could not integrate; make sure nothing non-finite is left
            mujoco.mj_resetData(self.model, self.data)
            mujoco.mj_forward(self.model, self.data)
        return unstable

    def _apply_action(self, action: np.ndarray) -> None:
        self.data.ctrl[:] = action

    def _pixels(self) -> np.ndarray:
        return self._agent_view.render(self.data)

    def _render_human(self) -> np.ndarray:
        if self._human_view is None:
            h, w = self.human_camera_size
            self._human_view = rendering.MultiCameraRenderer(
                self.model, self._gl, self.agent_cameras, h, w, quality=rendering.HUMAN_QUALITY, fast=False,
                geomgroups=self.human_geomgroups)
        return self._human_view.render(self.data, decorate=self._decorate, text=self._overlay_text())

    def agent_view_reference(self) -> rendering.MultiCameraRenderer:
        """A renderer of the agent's view (same cameras, size and settings) from full-resolution
        geometry: the original meshes where the agent's are simplified, finely tessellated
        primitives. For checking the agent's geometry (tests/test_rendering.py); close it after use."""
        h, w = self.camera_size
        return rendering.MultiCameraRenderer(
            self.model, self._gl, self.agent_cameras, h, w, quality=rendering.REFERENCE_QUALITY,
            geomgroups=self.reference_geomgroups or self.agent_geomgroups,
            context_model=getattr(self, "_context_model", None))

    def _decorate(self, scene: mujoco.MjvScene, camera_index: int) -> None:
        """Draw goals into human-facing frames (never into the agent's)."""

    def _overlay_text(self) -> list[tuple[str, str]] | None:
        return None

    def close(self) -> None:
        if self._closed:
            return
        for view in (self._agent_view, self._human_view):
            if view is not None:
                view.close()
        self._gl.free()
        super().close()
