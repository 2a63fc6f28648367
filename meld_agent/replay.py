"""Per-task replay of whole trials (MELD Algorithm 1, line 2: one buffer B_i per train task).

Every frame is stored once, as uint8, inside the trial it belongs to: a trial of ``E`` episodes of
``T`` steps is ``L = E*T + 1`` frames (what the agent saw, the last episode's final frame included),
``L - 1`` actions and ``L`` rewards of each kind (reward ``t`` is the one received on arriving at
frame ``t``; frame 0 has reward 0). Sampled sequences therefore never cross a trial boundary.

The memory need is checked before anything is allocated; ``storage="disk"`` keeps the arrays in
numpy memmap files instead (e.g. 30 tasks x 1e5 frames of 64x128x3 = 69 GiB, which no 24 GiB
machine holds in RAM).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, NamedTuple

import numpy as np
import torch

from meld_agent.config import ReplayConfig

_GIB = 2.0**30


class TrialBatch(NamedTuple):
    """A batch of ``B`` sequences of ``L`` frames, on the learner's device."""

    obs: torch.Tensor  # uint8 [B, L, H, W, 3] or float32 [B, L, S]
    actions: torch.Tensor  # float32 [B, L-1, A]
    shaped_reward: torch.Tensor  # float32 [B, L]
    sparse_reward: torch.Tensor  # float32 [B, L]
    task: torch.Tensor  # int64 [B], index into the train tasks
    episode_start: torch.Tensor | None = None  # float32 [B, L]: 1 on the first frame of a later episode of the trial

    def reward(self, kind: str) -> torch.Tensor:
        """``shaped_reward`` or ``sparse_reward`` by name."""
        return self.shaped_reward if kind == "shaped" else self.sparse_reward

    def rows(self, index: torch.Tensor | np.ndarray | list[int]) -> TrialBatch:
        """The batch of sequences ``index`` (in that order)."""
        index = torch.as_tensor(index if isinstance(index, torch.Tensor) else np.asarray(index), dtype=torch.long)
        index = index.to(self.task.device)
        return TrialBatch(*(None if x is None else x.index_select(0, index) for x in self))


def available_memory_bytes() -> int:
    """Memory the OS can give us now (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


class TrialReplay:
    """``num_tasks`` ring buffers of whole trials sharing one set of arrays ``[task, slot, ...]``.

    ``obs_shape``: ``(H, W, 3)`` images (stored uint8) or ``(S,)`` states (stored float32).
    Sampling draws from an owned ``np.random.Generator`` seeded with ``seed``. With
    ``episode_steps`` (the steps of each of a trial's episodes) batches carry ``episode_start``,
    the frames where a later episode begins: every stored trial ran its full length, so they sit
    at multiples of ``episode_steps``.
    """

    def __init__(self, num_tasks: int, trial_frames: int, obs_shape: tuple[int, ...], action_size: int,
                 config: ReplayConfig, seed: int, directory: str | None = None, episode_steps: int | None = None) -> None:
        if trial_frames < 2:
            raise ValueError(f"trial_frames={trial_frames}: a trial needs at least 2 frames")
        if episode_steps is not None and (episode_steps < 1 or (trial_frames - 1) % episode_steps):
            raise ValueError(f"episode_steps={episode_steps}: must divide the trial's {trial_frames - 1} steps")
        self.episode_steps = episode_steps
        self._episode_start: np.ndarray | None = None  # [L] flags, the same for every stored trial
        if episode_steps is not None:
            self._episode_start = np.zeros(trial_frames, np.float32)
            self._episode_start[episode_steps:trial_frames - 1:episode_steps] = 1.0
        self.config = config
        self.num_tasks = int(num_tasks)
        self.trial_frames = int(trial_frames)
        self.obs_shape = tuple(obs_shape)
        self.obs_dtype = np.dtype(np.uint8 if len(self.obs_shape) == 3 else np.float32)
        self.action_size = int(action_size)
        self.capacity = max(1, config.capacity_frames_per_task // self.trial_frames)  # trials per task
        self.rng = np.random.default_rng(seed)
        self.counts = np.zeros(self.num_tasks, dtype=np.int64)  # trials ever added per task
        self.directory: str | None = None
        self._owns_directory = False
        shapes = self._shapes()
        need = self.nbytes_needed(shapes)
        if config.storage == "memory":
            self._check(need, available_memory_bytes(), "memory", "use replay.storage='disk' (numpy memmap files)")
            self.arrays = {k: np.zeros(s, dtype=d) for k, (s, d) in shapes.items()}
        else:
            directory = directory or config.directory
            if directory is None:
                directory = tempfile.mkdtemp(prefix="meld-replay-")
                self._owns_directory = True
            os.makedirs(directory, exist_ok=True)
            self._check(need, shutil.disk_usage(directory).free, f"free disk at {directory}", "set replay.directory to a larger disk")
            self.directory = directory
            self.arrays = {k: np.lib.format.open_memmap(os.path.join(directory, f"{k}.npy"), mode="w+", dtype=d, shape=s)
                           for k, (s, d) in shapes.items()}

    # -- sizing ------------------------------------------------------------------------------
    def _shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        n, c, length = self.num_tasks, self.capacity, self.trial_frames
        return {
            "obs": ((n, c, length, *self.obs_shape), self.obs_dtype),
            "actions": ((n, c, length - 1, self.action_size), np.dtype(np.float32)),
            "shaped_reward": ((n, c, length), np.dtype(np.float32)),
            "sparse_reward": ((n, c, length), np.dtype(np.float32)),
        }

    @staticmethod
    def nbytes_needed(shapes: dict[str, tuple[tuple[int, ...], np.dtype]]) -> int:
        return int(sum(np.prod(s, dtype=np.int64) * d.itemsize for s, d in shapes.values()))

    def _check(self, need: int, have: int, where: str, remedy: str) -> None:
        allowed = have * self.config.memory_headroom
        if need > allowed:
            frame = "x".join(map(str, self.obs_shape))
            raise MemoryError(
                f"replay needs {need / _GIB:.1f} GiB ({self.num_tasks} tasks x {self.capacity * self.trial_frames} frames "
                f"of {frame} {self.obs_dtype.name}, plus actions and rewards) but only {have / _GIB:.1f} GiB of {where} is "
                f"available ({self.config.memory_headroom:.0%} usable): {remedy}, or lower replay.capacity_frames_per_task "
                f"(now {self.config.capacity_frames_per_task})")

    # -- writing -----------------------------------------------------------------------------
    def size(self, task: int) -> int:
        """Trials of ``task`` currently held."""
        return int(min(self.counts[task], self.capacity))

    @property
    def sizes(self) -> np.ndarray:
        return np.minimum(self.counts, self.capacity)

    def add(self, task: int, obs: np.ndarray, actions: np.ndarray, shaped_reward: np.ndarray, sparse_reward: np.ndarray) -> None:
        """Store one trial of ``task``: ``obs [L, *obs_shape]``, ``actions [L-1, A]``, rewards ``[L]``."""
        if not 0 <= task < self.num_tasks:
            raise ValueError(f"task={task} out of range (0..{self.num_tasks - 1})")
        length = self.trial_frames
        for name, arr, shape in (("obs", obs, (length, *self.obs_shape)), ("actions", actions, (length - 1, self.action_size)),
                                 ("shaped_reward", shaped_reward, (length,)), ("sparse_reward", sparse_reward, (length,))):
            if tuple(np.shape(arr)) != shape:
                raise ValueError(f"{name} of shape {np.shape(arr)}; expected {shape}")
        slot = int(self.counts[task] % self.capacity)
        self.arrays["obs"][task, slot] = obs
        self.arrays["actions"][task, slot] = actions
        self.arrays["shaped_reward"][task, slot] = shaped_reward
        self.arrays["sparse_reward"][task, slot] = sparse_reward
        self.counts[task] += 1

    # -- sampling ----------------------------------------------------------------------------
    def sample(self, num_tasks: int, trials_per_task: int, device: torch.device | str = "cpu", replace: bool = False,
               offline: TrialReplay | None = None, offline_ratio: float = 0.0) -> TrialBatch:
        """``num_tasks`` tasks, distinct (fewer if fewer hold data) or with ``replace`` drawn with replacement among those
        holding data, and ``trials_per_task`` trials of each (with replacement), grouped by task: whole trials or
        windows of ``config.sequence_length`` inside one trial.

        With ``offline`` (a buffer of single-episode trials of the same tasks, ``episode_steps`` long: appendix C's stage
        1 data) each episode of each drawn trial is replaced, with probability ``offline_ratio``, by a random episode of
        the same task from ``offline`` (the reference's ``concat_episodes``); whole trials only."""
        held = np.flatnonzero(self.counts > 0)
        if held.size == 0:
            raise RuntimeError("replay is empty: collect trials before sampling")
        tasks = self.rng.choice(held, size=num_tasks if replace else min(num_tasks, held.size), replace=replace)
        task_idx = np.repeat(tasks, trials_per_task)
        slot_idx = self.rng.integers(0, self.sizes[task_idx])
        length = self.trial_frames
        window = self.config.sequence_length
        if window is None or window >= length:
            obs = self.arrays["obs"][task_idx, slot_idx]
            actions = self.arrays["actions"][task_idx, slot_idx]
            shaped = self.arrays["shaped_reward"][task_idx, slot_idx]
            sparse = self.arrays["sparse_reward"][task_idx, slot_idx]
            frames = np.broadcast_to(np.arange(length), (task_idx.size, length))
            if offline is not None and offline_ratio > 0:
                self._mix_offline(offline, offline_ratio, task_idx, obs, actions, shaped, sparse)
        else:
            if offline is not None and offline_ratio > 0:
                raise ValueError("offline data is mixed into whole trials only (replay.sequence_length=None)")
            start = self.rng.integers(0, length - window + 1, size=task_idx.size)
            frames = start[:, None] + np.arange(window)
            t, s = task_idx[:, None], slot_idx[:, None]
            obs = self.arrays["obs"][t, s, frames]
            actions = self.arrays["actions"][t, s, frames[:, :-1]]
            shaped = self.arrays["shaped_reward"][t, s, frames]
            sparse = self.arrays["sparse_reward"][t, s, frames]
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
        starts = None if self._episode_start is None else as_t(self._episode_start[frames])
        return TrialBatch(as_t(obs), as_t(actions), as_t(shaped), as_t(sparse), torch.from_numpy(task_idx).to(device), starts)

    def _mix_offline(self, offline: TrialReplay, ratio: float, task_idx: np.ndarray, obs: np.ndarray, actions: np.ndarray,
                     shaped: np.ndarray, sparse: np.ndarray) -> None:
        """Replace, in place, each episode of the drawn trials with probability ``ratio`` by one of ``offline``'s. Episode
        ``e`` of a trial owns frames ``e*T .. e*T+T-1`` (and the final frame, for the last), actions ``e*T .. e*T+T-1``
        and rewards ``e*T+1 .. e*T+T`` (those of its steps); an offline trial is one episode, ``T + 1`` frames."""
        steps = self.episode_steps or self.trial_frames - 1
        if offline.trial_frames != steps + 1 or offline.num_tasks != self.num_tasks:
            raise ValueError(f"offline data of {offline.num_tasks} tasks x {offline.trial_frames}-frame trials does not fit "
                             f"{self.num_tasks} tasks x {steps}-step episodes")
        episodes = (self.trial_frames - 1) // steps
        chosen = self.rng.random((task_idx.size, episodes)) < ratio
        rows, eps = np.nonzero(chosen & (offline.counts[task_idx] > 0)[:, None])
        if rows.size == 0:
            return
        slots = self.rng.integers(0, offline.sizes[task_idx[rows]])
        for row, e, slot in zip(rows.tolist(), eps.tolist(), slots.tolist()):
            task, a = int(task_idx[row]), e * steps
            last = e == episodes - 1
            obs[row, a:a + steps + last] = offline.arrays["obs"][task, slot, :steps + last]
            actions[row, a:a + steps] = offline.arrays["actions"][task, slot]
            shaped[row, a + 1:a + steps + 1] = offline.arrays["shaped_reward"][task, slot, 1:]
            sparse[row, a + 1:a + steps + 1] = offline.arrays["sparse_reward"][task, slot, 1:]

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str) -> list[str]:
        """Write the filled slots and the counters to ``directory``; returns the file names written."""
        os.makedirs(directory, exist_ok=True)
        filled = int(self.sizes.max()) if self.num_tasks else 0
        names = []
        for key, arr in self.arrays.items():
            np.save(os.path.join(directory, f"replay_{key}.npy"), np.ascontiguousarray(arr[:, :filled]))
            names.append(f"replay_{key}.npy")
        meta = {"counts": self.counts.tolist(), "rng": self.rng.bit_generator.state, "capacity": self.capacity,
                "trial_frames": self.trial_frames, "obs_shape": list(self.obs_shape), "num_tasks": self.num_tasks}
        with open(os.path.join(directory, "replay.json"), "w") as f:
            json.dump(meta, f)
        names.append("replay.json")
        return names

    def load(self, directory: str) -> None:
        """Restore what ``save`` wrote (shapes must agree with this buffer's)."""
        with open(os.path.join(directory, "replay.json")) as f:
            meta: dict[str, Any] = json.load(f)
        mine = {"capacity": self.capacity, "trial_frames": self.trial_frames, "obs_shape": list(self.obs_shape), "num_tasks": self.num_tasks}
        theirs = {k: meta[k] for k in mine}
        if theirs != mine:
            raise ValueError(f"replay in {directory} has layout {theirs}; this agent's is {mine}")
        for key, arr in self.arrays.items():
            data = np.load(os.path.join(directory, f"replay_{key}.npy"), mmap_mode="r")
            arr[:, : data.shape[1]] = data
        self.counts = np.asarray(meta["counts"], dtype=np.int64)
        self.rng.bit_generator.state = meta["rng"]

    def close(self) -> None:
        """Drop the arrays; remove the memmap folder if this buffer made it."""
        self.arrays = {}
        if self._owns_directory and self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
