"""Finding agent classes: built-in names, the ``meld_bench.agents`` entry points, ``module:Class``.

Built-in agents are imported lazily, only when asked for, so a missing optional dependency of one
agent (torch for ``meld``) never breaks another. A lab registers its agent in its own package::

    [project.entry-points."meld_bench.agents"]
    my-method = "my_pkg.agent:MyAgent"

or passes it directly: ``python -m leaderboards.run --agent my_pkg.agent:MyAgent``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import re
from dataclasses import asdict, is_dataclass
from typing import Any

ENTRY_POINT_GROUP = "meld_bench.agents"

# name -> "module:attribute"; a name whose module does not import (an optional dependency missing) is listed as not available
BUILTIN_AGENTS: dict[str, str] = {
    "random": "baselines.random:RandomAgent",
    "meld": "meld_agent:MELD",
    "pearl": "baselines.pearl:PEARL",
    "rl2": "baselines.rl2:RL2",
    "slac": "baselines.slac:SLAC",
}

_REQUIRED_METHODS = ("meta_train", "reset", "act", "save", "load")


class AgentNotFound(ValueError):
    """An agent name that names nothing usable; the message lists what exists."""


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_agents() -> dict[str, str]:
    """Every agent name that loads right now, with where it comes from (imports them)."""
    found = {}
    for name, target in BUILTIN_AGENTS.items():
        try:
            _import(target)
        except (ImportError, AttributeError):
            continue
        found[name] = target
    for name, ep in _entry_points().items():
        found.setdefault(name, ep.value)
    return found


def _not_found(spec: str, why: str) -> AgentNotFound:
    available = available_agents()
    pending = [n for n in BUILTIN_AGENTS if n not in available]
    listing = ", ".join(f"{n} ({t})" for n, t in available.items()) or "none"
    extra = f"; built in but not available yet: {', '.join(pending)}" if pending else ""
    return AgentNotFound(
        f"agent {spec!r} {why}. Available agents: {listing}{extra}. "
        f"Or pass 'my_pkg.module:MyAgent', or register an entry point in the group {ENTRY_POINT_GROUP!r}."
    )


def _import_hint(spec: str, error: BaseException) -> str:
    """What to do when the module of ``module:Class`` itself is not found (not a module it imports)."""
    module = spec.partition(":")[0]
    if not isinstance(error, ModuleNotFoundError) or not (module == error.name or module.startswith(f"{error.name}.")):
        return ""
    top = module.split(".")[0]
    return (f". Python looks for {module!r} on its path: run the command from the folder that holds {top}/ "
            f"(or {top}.py), or put that folder on PYTHONPATH (PYTHONPATH=/path/to/it python -m leaderboards.run ...), "
            "or pip install the package that provides it")


def resolve_agent(spec: str) -> type:
    """The agent class named by ``spec``: ``module:Class``, an entry point, or a built-in name."""
    if ":" in spec:
        try:
            cls = _import(spec)
        except (ImportError, AttributeError) as e:
            raise _not_found(spec, f"could not be imported ({type(e).__name__}: {e}){_import_hint(spec, e)}") from e
    elif spec in (eps := _entry_points()):
        cls = eps[spec].load()
    elif spec in BUILTIN_AGENTS:
        try:
            cls = _import(BUILTIN_AGENTS[spec])
        except (ImportError, AttributeError) as e:
            raise _not_found(spec, f"is not available yet ({BUILTIN_AGENTS[spec]}: {type(e).__name__}: {e})") from e
    else:
        raise _not_found(spec, "is unknown")
    missing = [m for m in _REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise AgentNotFound(f"agent {spec!r} ({cls!r}) lacks the protocol methods {', '.join(missing)}; "
                            f"an agent needs {', '.join(_REQUIRED_METHODS)} (leaderboards/interface.py)")
    return cls


def agent_name(spec: str) -> str:
    """A file-system-safe name for results folders: ``my_pkg.module:MyAgent`` -> ``my_pkg.module.MyAgent``."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", spec.replace(":", "."))


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def agent_config(agent: Any) -> Any:
    """The agent's full configuration as JSON-able data: its ``config`` attribute (a dataclass or
    mapping) or ``get_config()``, if it has one; else ``None``."""
    config = agent.get_config() if callable(getattr(agent, "get_config", None)) else getattr(agent, "config", None)
    if is_dataclass(config) and not isinstance(config, type):
        config = asdict(config)
    return _jsonable(config)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    return repr(value)
