"""``python -m leaderboards.validate their_results/``: may these results join the leaderboard?

Checks every ``*.jsonl`` under the folder (recursively): each line complete JSON (a truncated
line from a killed write is refused), the schema (fields and types of header, evaluation and end
records), the protocol version, the task-split hash against this installation's environments,
the protocol settings against the named preset's,
evaluation points consecutive and once each at the protocol's budgets, steps within budget, the
run complete, and no (preset, agent, env, seed) twice. Prints every problem; exit status 0 when
all files pass, 1 otherwise, 2 when there is nothing to check.
"""
from __future__ import annotations

import argparse
import os
import sys

from leaderboards import protocol, results


def validate_file(path: str, require_complete: bool = True) -> list[str]:
    """Every problem of one results file (empty when it passes)."""
    try:
        records = results.read_records(path)
    except results.ResultsError as e:
        return [str(e).removeprefix(f"{path}: ")]
    return results.check_records(records, protocol_version=protocol.PROTOCOL_VERSION,
                                 split_hash=protocol.task_split_hash, expected_params=protocol.expected_params,
                                 require_complete=require_complete)


def validate_dir(folder: str, require_complete: bool = True) -> dict[str, list[str]]:
    """``{path: problems}`` for every results file under ``folder``."""
    paths = results.find_results(folder)
    out = {p: validate_file(p, require_complete) for p in paths}
    seen: dict[tuple, str] = {}
    for p in paths:
        if out[p]:
            continue
        h = results.read_records(p)[0]
        key = (h["preset"], h["agent"]["name"], h["env_id"], h["seed"])
        if key in seen:
            out[p].append(f"duplicate of {seen[key]} (same preset, agent, env and seed)")
        else:
            seen[key] = p
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m leaderboards.validate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="a results folder or one .jsonl file")
    p.add_argument("--allow-incomplete", action="store_true", help="accept runs without an end record")
    args = p.parse_args(argv)
    if os.path.isfile(args.results):
        report = {args.results: validate_file(args.results, not args.allow_incomplete)}
    elif os.path.isdir(args.results):
        report = validate_dir(args.results, not args.allow_incomplete)
    else:
        print(f"error: {args.results} is neither a folder nor a file", file=sys.stderr)
        return 2
    if not report:
        print(f"error: no *.jsonl results files under {args.results}", file=sys.stderr)
        return 2
    bad = 0
    for path, problems in report.items():
        if problems:
            bad += 1
            print(f"FAIL {path}\n  " + "\n  ".join(problems))
        else:
            print(f"ok   {path}")
    print(f"{len(report) - bad}/{len(report)} file(s) valid for protocol {protocol.PROTOCOL_VERSION}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
