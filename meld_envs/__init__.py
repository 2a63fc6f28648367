"""meld-bench environments: meta-RL from images (MELD, CoRL 2020), registered under ``meld/``.

    import gymnasium as gym, meld_envs
    env = gym.make("meld/CheetahVel-v0", task=3)                 # train task 3
    env = gym.make("meld/Nav2D-v0", task=1, split="test")        # held-out task 1
    meld_envs.tasks("meld/Nav2D-v0", split="test")               # -> list[Task]
"""
from meld_envs import _gl

_gl.configure()  # before anything imports mujoco
renderer_info = _gl.renderer_info

from meld_envs.registry import ENVIRONMENTS, EnvEntry, entry, register_all  # noqa: E402
from meld_envs.tasks import SPLITS, Task, TaskParams, tasks  # noqa: E402
from meld_envs.vector import make_vec  # noqa: E402
from meld_envs.wrappers import TaskSchedule, Trial  # noqa: E402

register_all()

__all__ = ["ENVIRONMENTS", "EnvEntry", "SPLITS", "Task", "TaskParams", "TaskSchedule", "Trial", "entry", "make_vec",
           "renderer_info", "tasks"]
__version__ = "0.1.0"
