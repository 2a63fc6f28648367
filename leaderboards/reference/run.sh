#!/usr/bin/env bash
# The reference results of the state track: random, PEARL, RL², MELD and SLAC on four environments, three seeds each,
# with the same `python -m leaderboards.run` commands a lab runs. Resumable: run it again after an interruption and
# every unfinished run goes on from its last evaluation point; finished runs are skipped. Extra arguments go to
# every run command (e.g. --workers 1 --threads 1). Run it from the repository root; the report comes last.
set -uo pipefail
ENVS=(meld/Nav2D-v0 meld/CheetahVel-v0 meld/Reacher-v0 meld/PegInsert-v0)
RESULTS=${RESULTS:-leaderboards/reference}  # another folder: RESULTS=/elsewhere bash leaderboards/reference/run.sh
status=0
for agent in random pearl rl2 meld slac; do  # a failed run is recorded in its file; the other agents still run
  python -m leaderboards.run --agent "$agent" --env "${ENVS[@]}" --preset state --seeds 0 1 2 --results "$RESULTS" \
    --no-progress "$@" || status=1
done
python -m leaderboards.report "$RESULTS" --preset state --out "$RESULTS/report/state" || status=1
exit $status
