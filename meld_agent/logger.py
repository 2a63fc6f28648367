"""Run logs: one long-format CSV (``env_step,tag,value,wall_time``) and TensorBoard scalars under
``charts/``, ``losses/`` and ``eval/`` (CleanRL's layout)."""
from __future__ import annotations

import csv
import os
import time


class RunLogger:
    """Appends to ``<run>/metrics.csv`` and ``<run>/tb``; safe to reopen on ``--resume``."""

    def __init__(self, run_dir: str, tensorboard: bool = True) -> None:
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, "metrics.csv")
        new = not os.path.exists(path)
        self._file = open(path, "a", newline="")
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(["env_step", "tag", "value", "wall_time"])
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(os.path.join(run_dir, "tb"))

    def __call__(self, metrics: dict[str, float], env_step: int) -> None:
        now = time.time()
        for tag, value in metrics.items():
            self._csv.writerow([env_step, tag, f"{value:.6g}", f"{now:.3f}"])
            if self._tb is not None:
                self._tb.add_scalar(tag, value, env_step, walltime=now)
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(env_step, value), ...]}`` from a run's CSV."""
    out: dict[str, list[tuple[int, float]]] = {}
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        for row in csv.DictReader(f):
            out.setdefault(row["tag"], []).append((int(row["env_step"]), float(row["value"])))
    return out
