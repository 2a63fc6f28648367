"""Meta-train PEARL on an environment's train tasks, evaluating on held-out tasks as it goes.

    python -m baselines.pearl.train --env meld/Nav2D-v0 --steps 100000 --out runs/pearl_nav
    python -m baselines.pearl.train --out runs/pearl_nav --steps 100000 --resume      # after a kill
    python -m baselines.pearl.train --env meld/CheetahVel-v0 --show-config

Run folder as every baseline's (``baselines/common/run.py``): config.json/.md, run.json,
metrics.csv and tb/ (charts/, losses/, eval/), checkpoint/ after every evaluation.
"""
from __future__ import annotations

import sys

from baselines.common import run
from baselines.pearl.agent import PEARL
from baselines.pearl.config import presets_table


def main(argv: list[str] | None = None) -> int:
    return run.main("pearl", PEARL, __doc__, argv, show_config_extra=lambda: "Per-environment presets:\n\n" + presets_table())


if __name__ == "__main__":
    sys.exit(main())
