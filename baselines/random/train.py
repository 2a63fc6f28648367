"""Run the random baseline as a train run: random steps on train tasks, evaluations on held-out tasks.

    python -m baselines.random.train --env meld/Nav2D-v0 --steps 20000 --out runs/random_nav

Same run folder as every baseline (``baselines/common/run.py``): config, metrics, checkpoint, ``--resume``.
"""
from __future__ import annotations

import sys

from baselines.common import run
from baselines.random import RandomAgent


def main(argv: list[str] | None = None) -> int:
    return run.main("random", RandomAgent, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
