"""Run logs: one long-format CSV (``env_step,tag,value,wall_time``) and TensorBoard scalars under
``charts/``, ``losses/`` and ``eval/`` (CleanRL's layout)."""
from __future__ import annotations

import csv
import os
import time


class RunLogger:
    """Appends to ``<run>/metrics.csv`` and ``<run>/tb``.

    A resumed run reopens its logs where its checkpoint left them: ``keep_rows`` (``rows`` when the checkpoint was
    written) cuts the CSV back to that many rows, and ``purge_step`` hides TensorBoard events from that env step on,
    so nothing logged after the checkpoint appears twice.
    """

    def __init__(self, run_dir: str, tensorboard: bool = True, keep_rows: int | None = None,
                 purge_step: int | None = None) -> None:
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, "metrics.csv")
        if keep_rows is not None and os.path.exists(path):
            _truncate(path, keep_rows)
        new = not os.path.exists(path)
        self.rows = 0 if new else _count_rows(path)  # data rows in the CSV
        self._file = open(path, "a", newline="")
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(["env_step", "tag", "value", "wall_time"])
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(os.path.join(run_dir, "tb"), purge_step=purge_step)

    def __call__(self, metrics: dict[str, float], env_step: int) -> None:
        now = time.time()
        for tag, value in metrics.items():
            self._csv.writerow([env_step, tag, f"{value:.6g}", f"{now:.3f}"])
            self.rows += 1
            if self._tb is not None:
                self._tb.add_scalar(tag, value, env_step, walltime=now)
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _count_rows(path: str) -> int:
    with open(path, newline="") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


def _truncate(path: str, rows: int) -> None:
    """Keep the header and the first ``rows`` data rows of the CSV at ``path`` (rewritten atomically)."""
    with open(path, newline="") as f:
        kept = [row for _, row in zip(range(rows + 1), csv.reader(f))]
    with open(path + ".partial", "w", newline="") as f:
        csv.writer(f).writerows(kept)
    os.replace(path + ".partial", path)


def read_metrics(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(env_step, value), ...]}`` from a run's CSV."""
    out: dict[str, list[tuple[int, float]]] = {}
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        for row in csv.DictReader(f):
            out.setdefault(row["tag"], []).append((int(row["env_step"]), float(row["value"])))
    return out
