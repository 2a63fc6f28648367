"""How an agent of this repository is built: its config and ``EnvInfo`` from either a config object or the
protocol's ``EnvInfo``, and its torch device. The context, budget and trial runner are ``meld_envs.interface``'s.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from meld_envs.interface import EnvInfo, env_info, obs_mode_of


def trial_seed(seed: int, obs: Any) -> int:
    """A seed for a meta-test trial's noise: the agent's seed and the trial's first observation, hashed. An agent that
    seeds its test noise with it scores a checkpoint the same wherever it is evaluated, and evaluating leaves its
    training generators alone."""
    digest = hashlib.blake2b(np.ascontiguousarray(obs).tobytes(), digest_size=8, key=seed.to_bytes(8, "little", signed=True))
    return int.from_bytes(digest.digest(), "little") >> 1


def device_of(name: str) -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; otherwise the named device."""
    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)


def agent_config(spec: Any, seed: int | None, overrides: dict[str, Any], config_type: type,
                 make_config: Callable[..., Any], apply: Callable[[Any, dict[str, Any]], Any]) -> tuple[Any, EnvInfo]:
    """``(config, env info)`` of an agent built the two ways every agent here is: from its own config object
    (``spec`` a ``config_type``; ``apply(config, overrides)`` returns the checked copy, the env info comes from the
    registry) or as the protocol builds it (``spec`` an ``EnvInfo``: ``make_config(env_id, **overrides)`` with the
    observation mode its space implies). ``seed``, when given, overrides the config's."""
    seeded = {**overrides, **({"seed": seed} if seed is not None else {})}
    if isinstance(spec, config_type):
        config = apply(spec, seeded)
        return config, env_info(config.env_id, config.obs_mode)
    return make_config(spec.env_id, **{"obs_mode": obs_mode_of(spec.observation_space), **seeded}), spec
