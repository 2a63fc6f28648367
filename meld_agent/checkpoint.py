"""Atomic, verified checkpoints: a folder with ``state.pt`` (networks, optimizers, RNG states,
counters), the replay's arrays, and ``manifest.json`` listing every file's size and SHA-256.

Written into ``<path>.partial`` and renamed into place (the previous one moved aside to ``<path>.old``
first), so a kill mid-write leaves a complete checkpoint behind; ``recover`` puts the newest complete
one back in place. On load every file is checked against the manifest and anything amiss is a
``ValueError`` that says which file and why.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import torch

from meld_agent.config import config_from_dict, config_to_json

FORMAT = "meld_agent-checkpoint"
VERSION = 1
_CHUNK = 1 << 22


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def save(path: str, state: dict[str, Any], write_extra: Callable[[str], list[str]] | None = None) -> None:
    """Write ``state`` (torch-serialisable) and whatever ``write_extra(folder)`` writes to ``path``."""
    path = os.path.abspath(path.rstrip("/"))
    recover(path)  # a save a kill interrupted may have left the only complete copy in .partial or .old
    partial = path + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    torch.save(state, os.path.join(partial, "state.pt"))
    names = ["state.pt"] + (write_extra(partial) if write_extra else [])
    files = {n: {"bytes": os.path.getsize(os.path.join(partial, n)), "sha256": _sha256(os.path.join(partial, n))} for n in names}
    with open(os.path.join(partial, "manifest.json"), "w") as f:
        json.dump({"format": FORMAT, "version": VERSION, "files": files}, f, indent=1)
    old = path + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(path):
        os.replace(path, old)
    os.replace(partial, path)
    shutil.rmtree(old, ignore_errors=True)


def recover(path: str) -> bool:
    """Whether a complete checkpoint is at ``path``, after finishing a save that a kill interrupted between its
    renames: when ``path`` is missing, the newest complete copy (``.partial``, else ``.old``) is moved into place."""
    path = os.path.abspath(path.rstrip("/"))
    if os.path.isdir(path):
        return True
    for candidate in (path + ".partial", path + ".old"):
        try:
            verify(candidate)
        except (FileNotFoundError, ValueError):
            continue
        os.replace(candidate, path)
        return True
    return False


def verify(path: str) -> dict[str, Any]:
    """The manifest of the checkpoint at ``path`` after checking every file; ``ValueError`` if corrupt."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no checkpoint at {path!r} (expected a folder with manifest.json)")
    manifest_path = os.path.join(path, "manifest.json")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"checkpoint {path!r} is corrupt: manifest.json unreadable ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise ValueError(f"checkpoint {path!r} is corrupt: manifest.json is not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(f"checkpoint {path!r} has format version {manifest.get('version')!r}; this code reads version {VERSION}")
    for name, meta in manifest["files"].items():
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            raise ValueError(f"checkpoint {path!r} is corrupt: {name} is missing")
        size = os.path.getsize(file)
        if size != meta.get("bytes"):
            raise ValueError(f"checkpoint {path!r} is corrupt: {name} has {size} bytes, the manifest says {meta.get('bytes')}")
        if _sha256(file) != meta.get("sha256"):
            raise ValueError(f"checkpoint {path!r} is corrupt: {name} fails its SHA-256 check")
    return manifest


def load_state(path: str) -> dict[str, Any]:
    """``state.pt`` of a verified checkpoint, on the CPU."""
    recover(path)
    verify(path)
    with open(os.path.join(path, "state.pt"), "rb") as f:
        data = f.read()
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # a file that matches its checksum but not our format
        raise ValueError(f"checkpoint {path!r} is corrupt: state.pt does not load ({type(e).__name__}: {e})") from None


# -- an agent's checkpoint: its config, state and extra, for every agent of this repository ----------------------------
def save_agent(path: str, config: Any, state: dict[str, Any], replay: Any = None, extra: dict[str, Any] | None = None) -> None:
    """An agent's checkpoint at ``path``: its config (as JSON, checked by ``load_agent``), ``state`` (torch-serialisable),
    ``extra`` (a JSON-like dict given back by ``extra_of``) and, with a ``replay``, the files its ``save`` writes."""
    save(path, {"config": config_to_json(config), **state, "extra": repr(extra or {})},
         replay.save if replay is not None else None)


def load_agent(path: str, config: Any) -> dict[str, Any]:
    """The state of the checkpoint at ``path``, written by an agent built with ``config``; a ``ValueError`` when it
    is corrupt or was written under another config."""
    state = load_state(path)
    with restoring(path):
        if config_from_dict(type(config), json.loads(state["config"])) != config:
            raise ValueError(f"checkpoint {path!r} was written by an agent with another config; "
                             f"build the agent from its config.json")
    return state


def extra_of(state: dict[str, Any]) -> dict[str, Any]:
    """The ``extra`` dict given to ``save_agent``."""
    return ast.literal_eval(state.get("extra", "{}"))


@contextlib.contextmanager
def restoring(path: str) -> Iterator[None]:
    """Turns what a checkpoint of another layout raises while an agent restores it into a ``ValueError`` naming it."""
    try:
        yield
    except (KeyError, TypeError, RuntimeError, SyntaxError) as e:
        raise ValueError(f"checkpoint {path!r} is corrupt or from another version: {type(e).__name__}: {e}") from None


def learner_state(agent: Any) -> dict[str, Any]:
    """What MELD and PEARL keep besides their config: networks and optimizers (``learner``), counters, the numpy
    generator of tasks and actions (``rng``) and the torch generator of acting (``act_generator``)."""
    return {"learner": agent.learner.state_dict(), "counters": {k: float(v) for k, v in agent.counters.items()},
            "rng": repr(agent.rng.bit_generator.state), "act_generator": agent.act_generator.get_state()}


def restore_learner_state(agent: Any, state: dict[str, Any], path: str) -> None:
    """Undo ``learner_state`` (the learner's own ``load_state_dict`` excepted) and refill the replay from ``path``."""
    agent.counters = defaultdict(float, state["counters"])
    agent.rng.bit_generator.state = ast.literal_eval(state["rng"])
    agent.act_generator.set_state(state["act_generator"])
    if os.path.exists(os.path.join(path, "replay.json")):
        with open(os.path.join(path, "replay.json")) as f:
            agent._ensure_replay(len(json.load(f)["counts"]))
        agent.replay.load(path)
