"""Meta-train the SLAC baseline: ``python -m meld_agent.train`` with ``model.reward_input=none``.

    python -m baselines.slac.train --env meld/CheetahVel-v0 --steps 100000 --out runs/slac_cheetah
    python -m baselines.slac.train --out runs/slac_cheetah --steps 100000 --resume

Every option of ``python -m meld_agent.train`` applies (``--help`` lists them); the run folder is
MELD's (config.json, metrics.csv, tb/, checkpoint/), with ``model.reward_input = none`` in its config.
"""
from __future__ import annotations

import json
import os
import sys

from baselines.slac.agent import SLAC_OVERRIDES, _refuse_reward_evidence
from meld_agent import train as meld_train
from meld_agent.config import parse_override


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        sets = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--set"]
        _refuse_reward_evidence(dict(parse_override(s) for s in sets))
        if "--resume" in argv and "--out" in argv:
            config_path = os.path.join(argv[argv.index("--out") + 1], "config.json")
            if os.path.exists(config_path):
                with open(config_path) as f:
                    reward_input = json.load(f)["model"]["reward_input"]
                if reward_input != "none":
                    raise ValueError(f"{config_path} is a MELD run (model.reward_input={reward_input!r}), not SLAC; "
                                     f"resume it with python -m meld_agent.train")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    forced = [x for k, v in SLAC_OVERRIDES.items() for x in ("--set", f"{k}={v}")]
    return meld_train.main(argv + forced)


if __name__ == "__main__":
    sys.exit(main())
