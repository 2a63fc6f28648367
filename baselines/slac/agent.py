"""SLAC = MELD with no reward evidence in the posterior (see ``baselines.slac``)."""
from __future__ import annotations

from typing import Any

from meld_agent.agent import MELD
from meld_agent.config import MELDConfig, make_config, resolve_key, with_overrides
from meld_envs.interface import EnvInfo

# Lee et al. 2019 (SLAC): q(z_t | x_t, z_{t-1}, a_{t-1}) infers state from images alone; MELD Eq. 5
# adds r_t as evidence. Everything else (architecture, presets, SAC, schedule) is MELD's.
SLAC_OVERRIDES: dict[str, Any] = {"model.reward_input": "none"}


def _refuse_reward_evidence(overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if resolve_key(key) == "model.reward_input" and value != "none":
            raise ValueError(f"{key}={value!r}: SLAC has no reward evidence (model.reward_input='none' is what makes it SLAC); "
                             f"use the meld agent for reward evidence")


def make_slac_config(env_id: str = "meld/Nav2D-v0", **overrides: Any) -> MELDConfig:
    """MELD's config for ``env_id`` (paper defaults, then its preset, then ``overrides``) without reward evidence."""
    _refuse_reward_evidence(overrides)
    return make_config(env_id, **{**overrides, **SLAC_OVERRIDES})


class SLAC(MELD):
    """MELD's agent built with ``SLAC_OVERRIDES``; constructed exactly as MELD is (a ``MELDConfig``,
    or the leaderboard's ``EnvInfo`` with ``seed`` and overrides).

    At meta-test it acts with the policy's mean action (``meta_test_actions = "mean"``), as SLAC's evaluation does
    (slac.pytorch evaluates with ``algo.exploit``, the tanh of the policy's mean); MELD samples."""

    meta_test_actions = "mean"

    def __init__(self, spec: MELDConfig | EnvInfo, seed: int | None = None, **config_overrides: Any) -> None:
        _refuse_reward_evidence(config_overrides)
        if isinstance(spec, MELDConfig):
            _refuse_reward_evidence({"model.reward_input": spec.model.reward_input})
            spec = with_overrides(spec, SLAC_OVERRIDES)
        super().__init__(spec, seed, **config_overrides, **{k.replace(".", "__"): v for k, v in SLAC_OVERRIDES.items()})
