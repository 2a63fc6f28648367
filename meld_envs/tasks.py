"""Tasks and the deterministic train/test splits of every environment.

A task is a frozen value: which environment, which split, its index there, and the parameters
that make it a task (a target velocity, a goal angle, ...). Splits are drawn from a fixed
per-environment seed with one random stream per split, so

* every machine gets the same tasks, and train and test are disjoint;
* ``num_tasks=`` only extends a split: the first 30 of ``num_tasks=100`` are the default 30.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meld_envs import registry

SPLITS = ("train", "test")
_SPLIT_STREAM = {"train": 0, "test": 1}


class TaskParams(Mapping[str, Any]):
    """An immutable, hashable, picklable mapping of task parameter names to values."""

    __slots__ = ("_items",)

    def __init__(self, params: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        merged = {**(params or {}), **kwargs}
        self._items = tuple((str(k), _freeze(v)) for k, v in merged.items())

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TaskParams):
            return self._items == other._items
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __reduce__(self):
        return (TaskParams, (dict(self._items),))

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self._items) + "}"


def _freeze(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class Task:
    """One task of one environment: ``Task('meld/Nav2D-v0', 'test', 2, {'goal_angle': 1.93})``."""

    env_id: str
    split: str
    index: int
    params: TaskParams = field(default_factory=TaskParams)

    def __post_init__(self) -> None:
        if not isinstance(self.params, TaskParams):
            object.__setattr__(self, "params", TaskParams(self.params))

    def __repr__(self) -> str:
        return f"Task({self.env_id!r}, {self.split!r}, {self.index}, {self.params!r})"


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: 'train', 'test'")
    return split


def tasks(env_id: str, split: str = "train", num_tasks: int | None = None) -> list[Task]:
    """The tasks of ``env_id``'s ``split``, deterministic; ``num_tasks`` overrides the default count."""
    e = registry.entry(env_id)
    check_split(split)
    default = e.num_train_tasks if split == "train" else e.num_test_tasks
    if num_tasks is None:
        num_tasks = default
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
        raise ValueError(f"num_tasks={num_tasks!r} for {env_id}: must be a positive integer (default {default})")
    drawn = _draw(env_id, split, int(num_tasks))
    other = "test" if split == "train" else "train"
    other_default = e.num_test_tasks if other == "test" else e.num_train_tasks
    if set(drawn) & set(_draw(env_id, other, max(int(num_tasks), other_default))):
        raise RuntimeError(f"{env_id}: a {split} task equals a {other} task; its task sampler draws too few distinct tasks")
    return [Task(env_id, split, i, p) for i, p in enumerate(drawn)]


@functools.lru_cache(maxsize=256)
def _draw(env_id: str, split: str, num_tasks: int) -> tuple[TaskParams, ...]:
    e = registry.entry(env_id)
    rng = np.random.default_rng([e.task_seed, _SPLIT_STREAM[split]])
    return tuple(TaskParams(p) for p in e.env_class().sample_task_params(rng, num_tasks))


def resolve(env_id: str, task: Task | int, split: str = "train", num_tasks: int | None = None) -> Task:
    """A ``Task`` from a task or an index into ``split``, with a clear error when out of range."""
    if isinstance(task, Task):
        if task.env_id != env_id:
            raise ValueError(f"task {task!r} belongs to {task.env_id}, not {env_id}")
        if task.split != split:
            raise ValueError(f"task {task!r} is from the {task.split!r} split; this env is on the {split!r} split "
                             f"(make an env with split={task.split!r} for it)")
        return task
    if isinstance(task, bool) or not isinstance(task, (int, np.integer)):
        raise ValueError(f"task={task!r} for {env_id}: must be a Task or an integer index")
    available = tasks(env_id, split, num_tasks)
    if not 0 <= task < len(available):
        raise ValueError(
            f"task={task} out of range for {env_id} split {split!r} "
            f"({len(available)} tasks: 0..{len(available) - 1}; pass num_tasks= for more)"
        )
    return available[int(task)]
