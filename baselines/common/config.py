"""Overrides of nested frozen dataclass configs, written as MELD's are: ``section.field=value``,
``section__field=value`` or a bare ``field=value`` when the name is unique.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

C = TypeVar("C")


def _sections(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if dataclasses.is_dataclass(getattr(config, f.name))}


def field_paths(config: Any) -> list[str]:
    """Every settable field of ``config`` as ``section.field`` (or ``field`` at the top)."""
    paths = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            paths += [f"{f.name}.{g.name}" for g in dataclasses.fields(value)]
        else:
            paths.append(f.name)
    return paths


def resolve_key(config: Any, key: str) -> str:
    """``section.field`` for ``key`` given as ``section.field``, ``section__field`` or a unique ``field``."""
    key = key.replace("__", ".")
    paths = field_paths(config)
    if key in paths:
        return key
    matches = [p for p in paths if p.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"config field {key!r} is ambiguous; write one of {', '.join(matches)}")
    raise ValueError(f"unknown config field {key!r}; allowed: {', '.join(sorted(paths))}")


def _coerce(old: Any, value: Any) -> Any:
    if isinstance(old, tuple) and isinstance(value, list):
        return tuple(value)
    return value


def with_overrides(config: C, overrides: dict[str, Any]) -> C:
    """A copy of ``config`` with ``overrides`` applied (keys as in ``resolve_key``)."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for raw, value in overrides.items():
        path = resolve_key(config, raw)
        if "." in path:
            section, _, name = path.partition(".")
            nested.setdefault(section, {})[name] = _coerce(getattr(getattr(config, section), name), value)
        else:
            top[path] = _coerce(getattr(config, path), value)
    for section, values in nested.items():
        top[section] = dataclasses.replace(getattr(config, section), **values)
    return dataclasses.replace(config, **top)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a config written by ``dataclasses.asdict`` (lists back to tuples)."""
    default = cls()
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        current = getattr(default, f.name)
        if dataclasses.is_dataclass(current):
            kwargs[f.name] = from_dict(type(current), value)
        else:
            kwargs[f.name] = _coerce(current, value)
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    return cls(**kwargs)


def to_json(config: Any) -> str:
    return json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True)


def table(config: Any) -> str:
    """The config as a two-column Markdown table, one row per field."""
    rows = ["| field | value |", "|---|---|"]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            rows += [f"| {f.name}.{g.name} | {getattr(value, g.name)} |" for g in dataclasses.fields(value)]
        else:
            rows.append(f"| {f.name} | {value} |")
    return "\n".join(rows)


def parse_override(text: str) -> tuple[str, Any]:
    """``"sac.batch_size=64"`` -> ``("sac.batch_size", 64)``; values are JSON, else strings."""
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"--set {text!r}: expected section.field=value")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value
