"""Vector environments with a different task in each sub-environment."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from meld_envs.tasks import Task


def make_vec(
    env_id: str,
    tasks: Sequence[Task | int],
    split: str = "train",
    vectorization_mode: str = "async",
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """One sub-environment per entry of ``tasks`` (Tasks or indices into ``split``).

    ``vectorization_mode`` is ``"async"`` (one process each, Gymnasium's ``AsyncVectorEnv``) or
    ``"sync"`` (``SyncVectorEnv``). ``env_kwargs`` go to every ``gym.make``.
    """
    if vectorization_mode not in ("async", "sync"):
        raise ValueError(f"unknown vectorization_mode {vectorization_mode!r}; allowed: 'async', 'sync'")
    if not tasks:
        raise ValueError("tasks is empty; give one task per sub-environment")
    fns = [_Maker(env_id, task, split, env_kwargs) for task in tasks]
    for fn in fns:  # resolve now so that a bad index fails here, not in a worker process
        fn.check()
    if vectorization_mode == "sync":
        return gym.vector.SyncVectorEnv(fns)
    return gym.vector.AsyncVectorEnv(fns)


class _Maker:
    """A picklable ``gym.make`` call."""

    def __init__(self, env_id: str, task: Task | int, split: str, kwargs: dict[str, Any]) -> None:
        self.env_id, self.task, self.split, self.kwargs = env_id, task, split, dict(kwargs)

    def check(self) -> None:
        from meld_envs.tasks import resolve

        resolve(self.env_id, self.task, self.split, self.kwargs.get("num_tasks"))

    def __call__(self) -> gym.Env:
        import meld_envs  # noqa: F401  (registers the ids in a fresh worker process)

        return gym.make(self.env_id, task=self.task, split=self.split, **self.kwargs)
