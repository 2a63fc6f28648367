"""Meta-train RL² (RecurrentPPO) on an environment's train tasks, evaluating on held-out tasks.

    python -m baselines.rl2.train --env meld/Nav2D-v0 --steps 100000 --out runs/rl2_nav
    python -m baselines.rl2.train --out runs/rl2_nav --steps 100000 --resume       # after a kill

Run folder as every baseline's (``baselines/common/run.py``): config.json/.md, run.json,
metrics.csv and tb/ (sb3's train/ values as losses/, rollout/ and time/ as charts/; eval/),
checkpoint/ after every evaluation.
"""
from __future__ import annotations

import sys

from baselines.common import run
from baselines.rl2.agent import RL2


def main(argv: list[str] | None = None) -> int:
    return run.main("rl2", RL2, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
