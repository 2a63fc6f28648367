"""Results files: one JSON-lines file per (agent, env, seed), written atomically, checked on read.

Layout under a results folder::

    <results>/<preset>/<agent>/<env id with '/' as '__'>/seed_<seed>.jsonl
    <results>/<preset>/<agent>/<env ...>/seed_<seed>.ckpt/          # while the run is unfinished
    <results>/<preset>/<agent>/<env ...>/.seed_<seed>.lock          # held by the process running it

A file holds one ``header`` line (its ``agent`` with ``exploration_episodes`` and ``meta_test_actions``,
read as 0 and unstated where an older file lacks them), one ``eval`` line per evaluation point (``index`` 0, 1, ...,
consecutive) and, once the run is complete, an ``end`` line; a run that raised ends with a ``failed``
line instead (its error; running it again drops that line and resumes). Every write replaces the whole file
through a temporary file and ``os.replace``, so a kill leaves the old or the new file, never half
a line. A file that has one anyway (copied while being written, edited by hand) is refused:
a line that is not complete JSON ending in a newline is never counted.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from meld_envs.interface import ACTION_MODES

SCHEMA_VERSION = 1

HEADER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "record": str, "schema": int, "protocol": str, "preset": str, "env_id": str, "seed": int,
    "agent": dict, "package_version": str, "task_split_hash": str, "protocol_params": dict, "created": str,
}
AGENT_FIELDS: dict[str, type | tuple[type, ...]] = {"name": str, "class": str, "overrides": dict}
PROTOCOL_PARAM_FIELDS: dict[str, type | tuple[type, ...]] = {
    "env_id": str, "budget_steps": int, "eval_points": int, "episodes_per_trial": int, "sparse_at_test": bool,
    "trials_per_task": int, "test_tasks": list, "max_episode_steps": int,
}
# protocol settings a file may lack: it was written before presets had them, with these values
PROTOCOL_PARAM_DEFAULTS: dict[str, Any] = {"obs_mode": "pixels", "track_version": 1}
EVAL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "record": str, "index": int, "budget_steps": int, "env_steps": int, "eval_env_steps": int,
    "wall_clock_s": (int, float), "success_rate": (int, float), "success_per_episode": list,
    "return_per_episode": list, "per_task": list,
}
# written by this version's runner, checked when present: a file without them was written before agents could
# ask for exploration episodes (so it had none) or state their action mode ("unstated")
AGENT_OPTIONAL_FIELDS = ("exploration_episodes", "meta_test_actions")
EVAL_OPTIONAL_FIELDS = ("exploration_env_steps",)
END_FIELDS: dict[str, type | tuple[type, ...]] = {"record": str, "env_steps": int, "wall_clock_s": (int, float)}
FAILED_FIELDS: dict[str, type | tuple[type, ...]] = {**END_FIELDS, "error": str}


def exploration_episodes(header: dict[str, Any]) -> int:
    """Unscored exploration episodes the agent of ``header`` got before each meta-test trial (0 when not recorded)."""
    return int(header.get("agent", {}).get("exploration_episodes", 0) or 0)


def protocol_params(header: dict[str, Any]) -> dict[str, Any]:
    """The protocol settings of ``header``, with ``PROTOCOL_PARAM_DEFAULTS`` for those it does not record."""
    return {**PROTOCOL_PARAM_DEFAULTS, **header.get("protocol_params", {})}


def meta_test_actions(header: dict[str, Any]) -> str:
    """``"sampled"``, ``"mean"`` or ``"unstated"``: what the agent of ``header`` said it does at meta-test."""
    return header.get("agent", {}).get("meta_test_actions") or "unstated"


class ResultsError(ValueError):
    """A results file that must not be counted; the message says which file, line and why."""


def find_results(folder: str) -> list[str]:
    """Every results file under ``folder`` (recursively), sorted; checkpoint folders and hidden
    (temporary, lock) files are not results."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.endswith(".ckpt") and not d.startswith("."))
        found += [os.path.join(root, f) for f in files if f.endswith(".jsonl") and not f.startswith(".")]
    return sorted(found)


def env_slug(env_id: str) -> str:
    return env_id.replace("/", "__")


def run_path(results_dir: str, preset: str, agent: str, env_id: str, seed: int) -> str:
    """The JSON-lines file of one protocol run."""
    return os.path.join(results_dir, preset, agent, env_slug(env_id), f"seed_{seed}.jsonl")


def dumps(record: dict[str, Any]) -> str:
    """One line of JSON; NaN and infinities are refused (they are not JSON)."""
    return json.dumps(record, sort_keys=True, allow_nan=False, separators=(",", ":"))


def atomic_write_text(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` all at once (temporary file in the same folder, fsync, rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def write_records(path: str, records: Iterable[dict[str, Any]]) -> None:
    """Atomically replace ``path`` with ``records``, one JSON object per line."""
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in records))


def read_records(path: str) -> list[dict[str, Any]]:
    """The records of ``path``; ``ResultsError`` on a truncated or malformed line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: cannot be read: {e}") from e
    if not text:
        raise ResultsError(f"{path}: empty file (no header line)")
    lines = text.split("\n")
    if lines[-1] != "":
        raise ResultsError(f"{path}: line {len(lines)} is truncated (no final newline: killed mid-write?); "
                           "the file is refused")
    records = []
    for number, line in enumerate(lines[:-1], start=1):
        try:
            record = json.loads(line, parse_constant=_refuse_constant)
        except ValueError as e:
            raise ResultsError(f"{path}: line {number} is truncated or not valid JSON ({e}); the file is refused") from e
        if not isinstance(record, dict):
            raise ResultsError(f"{path}: line {number} is not a JSON object")
        records.append(record)
    return records


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in results")


def _check_fields(where: str, record: dict, fields: dict[str, Any]) -> list[str]:
    problems = []
    for key, kind in fields.items():
        if key not in record:
            problems.append(f"{where}: missing field {key!r}")
        elif isinstance(record[key], bool) and kind in (int, (int, float)):
            problems.append(f"{where}: field {key!r} is a boolean, expected {_kind_name(kind)}")
        elif not isinstance(record[key], kind):
            problems.append(f"{where}: field {key!r} is {type(record[key]).__name__}, expected {_kind_name(kind)}")
    return problems


def _kind_name(kind: Any) -> str:
    return " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


def check_records(
    records: list[dict[str, Any]],
    *,
    protocol_version: str,
    split_hash: Callable[[str], str] | None = None,
    expected_params: Callable[[str, str], dict[str, Any]] | None = None,
    require_complete: bool = False,
) -> list[str]:
    """Every reason ``records`` may not join a leaderboard (empty when they may).

    ``split_hash(env_id)`` gives the current task-split hash of an environment (raising
    ``ValueError`` for an unknown one); records whose header differs are refused.
    ``expected_params(preset, env_id)`` gives the protocol's settings of that preset and
    environment (``ValueError`` for an unknown preset); a header with other settings is refused.
    """
    if not records:
        return ["no records"]
    header, problems = records[0], []
    if header.get("record") != "header":
        return ["the first line is not a header record"]
    problems += _check_fields("header", header, HEADER_FIELDS)
    if problems:
        return problems
    if header["schema"] != SCHEMA_VERSION:
        problems.append(f"schema {header['schema']} is not the supported schema {SCHEMA_VERSION}")
    if header["protocol"] != protocol_version:
        problems.append(f"protocol version {header['protocol']!r} is not {protocol_version!r}; "
                        "results of different protocol versions are not comparable")
    problems += _check_fields("header.agent", header["agent"], AGENT_FIELDS)
    problems += _check_agent_declarations(header["agent"])
    params = protocol_params(header)
    problems += _check_fields("header.protocol_params", params,
                              {**PROTOCOL_PARAM_FIELDS, **{k: type(v) for k, v in PROTOCOL_PARAM_DEFAULTS.items()}})
    if split_hash is not None:
        try:
            current = split_hash(header["env_id"])
        except ValueError as e:
            problems.append(f"environment {header['env_id']!r} is not registered here ({e})")
        else:
            if header["task_split_hash"] != current:
                problems.append(f"task split hash {header['task_split_hash']} differs from this installation's "
                                f"{current} for {header['env_id']}: the train/test tasks are not the same")
    if expected_params is not None and not problems:
        try:
            expected = expected_params(header["preset"], header["env_id"])
        except ValueError as e:
            problems.append(f"preset {header['preset']!r} of {header['env_id']!r} is not known here ({e})")
        else:
            differ = sorted(k for k in set(expected) | set(params) if expected.get(k) != params.get(k))
            if differ:
                problems.append(f"protocol settings {', '.join(f'{k}={params.get(k)!r}' for k in differ)} differ from "
                                f"those of preset {header['preset']!r} ({', '.join(f'{k}={expected.get(k)!r}' for k in differ)})")
    if problems:
        return problems

    E = params["episodes_per_trial"]
    expected_steps = [params["budget_steps"] * k // params["eval_points"] for k in range(params["eval_points"] + 1)]
    evals, ends, failed = [], [], []
    for number, r in enumerate(records[1:], start=2):
        kind = r.get("record")
        if kind == "eval":
            field_problems = _check_fields(f"line {number}", r, EVAL_FIELDS)
            problems += field_problems
            if not field_problems:
                evals.append((number, r))
        elif kind == "end":
            problems += _check_fields(f"line {number}", r, END_FIELDS)
            ends.append(number)
        elif kind == "failed":
            problems += _check_fields(f"line {number}", r, FAILED_FIELDS)
            failed.append(number)
        else:
            problems.append(f"line {number}: unknown record type {kind!r}")
    if problems:
        return problems
    indices = [r["index"] for _, r in evals]
    if indices != list(range(len(evals))):
        problems.append(f"evaluation indices {indices} are not 0, 1, 2, ... once each (duplicated or lost points)")
    for number, r in evals:
        if r["index"] < len(expected_steps) and r["budget_steps"] != expected_steps[r["index"]]:
            problems.append(f"line {number}: budget_steps {r['budget_steps']} != the protocol's {expected_steps[r['index']]}")
        if r["env_steps"] > r["budget_steps"] or r["env_steps"] < 0:
            problems.append(f"line {number}: env_steps {r['env_steps']} outside 0..budget_steps {r['budget_steps']}")
        if not (0.0 <= r["success_rate"] <= 1.0):
            problems.append(f"line {number}: success_rate {r['success_rate']} outside [0, 1]")
        if len(r["success_per_episode"]) != E or len(r["return_per_episode"]) != E:
            problems.append(f"line {number}: per-episode lists must have episodes_per_trial={E} entries")
        elif any(not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)
                 for v in r["success_per_episode"] + r["return_per_episode"]):
            problems.append(f"line {number}: per-episode values must be finite numbers")
        problems += _check_per_task(number, r["per_task"], params)
        problems += _check_exploration_steps(number, r, header, params)
    if len(evals) > len(expected_steps):
        problems.append(f"{len(evals)} evaluation points, the protocol has {len(expected_steps)}")
    if failed:
        if failed != [len(records)] or ends:
            problems.append("a failed record must be the single last line, with no end record")
        elif require_complete:
            problems.append(f"failed run: {records[-1]['error']}")
    elif ends:
        if ends != [len(records)]:
            problems.append("an end record must be the single last line")
        elif len(evals) != len(expected_steps):
            problems.append(f"complete run with {len(evals)} evaluation points, the protocol has {len(expected_steps)}")
    elif require_complete:
        problems.append(f"incomplete run: {len(evals)} of {len(expected_steps)} evaluation points and no end record")
    return problems


def _check_agent_declarations(agent: dict[str, Any]) -> list[str]:
    """``exploration_episodes`` an integer >= 0 and ``meta_test_actions`` one of ``ACTION_MODES`` or null, where present."""
    problems = []
    n = agent.get("exploration_episodes", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        problems.append(f"header.agent: exploration_episodes={n!r}, expected an integer >= 0")
    mode = agent.get("meta_test_actions")
    if mode is not None and mode not in ACTION_MODES:
        problems.append(f"header.agent: meta_test_actions={mode!r}, expected one of {', '.join(map(repr, ACTION_MODES))} or null")
    return problems


def _check_exploration_steps(number: int, r: dict[str, Any], header: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """An eval record's ``exploration_env_steps``, where present: an integer within what the header's exploration
    episodes allow (none without them) and within ``eval_env_steps``."""
    if "exploration_env_steps" not in r:
        return []
    steps = r["exploration_env_steps"]
    n = exploration_episodes(header)
    most = n * params["max_episode_steps"] * params["trials_per_task"] * len(params["test_tasks"])
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= min(most, r["eval_env_steps"]):
        return [f"line {number}: exploration_env_steps {steps!r} outside 0..{min(most, r['eval_env_steps'])} "
                f"({n} exploration episode(s) per trial of at most {params['max_episode_steps']} steps)"]
    return []


def _check_per_task(number: int, per_task: list, params: dict[str, Any]) -> list[str]:
    """``per_task``: one ``{"task", "success", "return"}`` per test task, with ``trials_per_task``
    trials of ``episodes_per_trial`` booleans / finite numbers each."""
    E, trials = params["episodes_per_trial"], params["trials_per_task"]
    if not all(isinstance(t, dict) for t in per_task):
        return [f"line {number}: per_task entries must be objects"]
    tasks = [t.get("task") for t in per_task]
    if sorted(tasks, key=repr) != sorted(params["test_tasks"], key=repr):
        return [f"line {number}: per_task covers test tasks {tasks}, the protocol's are {params['test_tasks']}"]
    for t in per_task:
        success, returns = t.get("success"), t.get("return")
        shape_ok = (isinstance(success, list) and isinstance(returns, list) and len(success) == len(returns) == trials
                    and all(isinstance(x, list) and len(x) == E for x in success + returns))
        if not shape_ok:
            return [f"line {number}: per_task task {t['task']}: 'success' and 'return' must be {trials} trial(s) "
                    f"of {E} episode(s) each"]
        if not all(isinstance(v, bool) for x in success for v in x):
            return [f"line {number}: per_task task {t['task']}: successes must be true/false"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for x in returns for v in x):
            return [f"line {number}: per_task task {t['task']}: returns must be finite numbers"]
    return []
