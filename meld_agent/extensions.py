"""Additions to the paper's algorithm (``ExtensionsConfig``), one named function or class each, called by the core
only when its option is on. docs/nav2d_learning.md ("Extensions") says what each did on Nav2D.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from meld_agent.config import ExtensionsConfig
from meld_agent.replay import TrialBatch


def sparse_critic_reward(batch: TrialBatch, shaped_weight: float) -> Tensor:
    """``extensions.stage2_sparse_critic``: the critic's reward ``[B, L]`` is the sparse reward plus ``shaped_weight``
    x the shaped one."""
    return batch.sparse_reward + shaped_weight * batch.shaped_reward if shaped_weight else batch.sparse_reward


def opening_mask(episode_start: Tensor, steps: int, opening_steps: int) -> Tensor:
    """``[B, steps]``: True on the first ``opening_steps`` steps of each later episode, from the batch's
    ``episode_start [B, L]`` flags."""
    start = episode_start[:, :steps] > 0
    opening = start.clone()
    for j in range(1, min(opening_steps, steps)):
        opening[:, j:] |= start[:, :-j]
    return opening


def draw_openings(idx: Tensor, batch: TrialBatch, steps: int, config: ExtensionsConfig,
                  generator: torch.Generator) -> Tensor:
    """``extensions.opening_fraction``: the last ``opening_fraction`` share of the drawn ``idx [N]`` (flat indices
    into the batch's ``[B, steps]`` transitions) redrawn from the openings of later episodes. Batches of
    single-episode trials have none and keep their uniform draw."""
    count = idx.numel()
    m = round(config.opening_fraction * count)
    if not m or batch.episode_start is None:
        return idx
    opening = opening_mask(batch.episode_start, steps, config.opening_steps)
    if not opening.any():
        return idx
    drawn = torch.multinomial(opening.flatten().float(), m, replacement=True, generator=generator)
    return torch.cat([idx[:count - m], drawn])


def n_step_transitions(belief: Tensor, reward: Tensor, trial: Tensor, t: Tensor, n: int, gamma: float,
                       episode_start: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``extensions.n_step``: for the sampled transitions ``(trial [N], t [N])`` of ``reward [B, steps]`` and
    ``belief [B, steps + 1, D]``, the discounted sum r_{t+1} + ... + gamma^(k-1) r_{t+k}, the belief b_{t+k} it
    bootstraps from and its discount gamma^k, with k = n shortened at the end of the episode: never past the last frame
    before the first frame of a later episode (``episode_start [B, steps + 1]``), nor past the trial's end. The sampled
    transitions are ones that do not cross (``update.boundary_free``), so k >= 1."""
    steps = reward.shape[1]
    frames = steps + 1
    if episode_start is None:
        end = torch.full_like(t, steps)
    else:  # the first later-episode start after t, minus one; the trial's last frame when there is none
        position = torch.arange(frames, device=t.device).expand(episode_start.shape[0], frames)
        starts = torch.where(episode_start[:, :frames] > 0, position, torch.full_like(position, frames))
        next_start = torch.flip(torch.cummin(torch.flip(starts, [1]), 1).values, [1])  # [B, frames]: first start >= s
        end = next_start[trial, t + 1] - 1
    k = torch.clamp(end - t, min=1, max=n)
    padded = torch.nn.functional.pad(reward, (0, n - 1))  # zeros past the end
    summed = sum(gamma ** j * padded[trial, t + j] * (j < k).to(reward.dtype) for j in range(n))
    return summed, belief[trial, t + k], gamma ** k.to(reward.dtype)


class RandomOpenings:
    """``extensions.random_opening_*``: a ``random_opening_fraction`` share of collected trials open each later
    episode with ``random_opening_steps`` uniform random actions instead of the policy's (one action held for them
    with ``random_opening_hold``; ending at the first sparse reward with ``random_opening_until_reward``).

    Per trial: ``start_trial(rng)`` draws whether it explores; then, every step, ``action(step)`` is the opening's
    action or None, and ``observe(sparse_reward)`` sees the step's sparse reward.
    """

    def __init__(self, config: ExtensionsConfig, episode_steps: int, uniform_action: Callable[[], np.ndarray]) -> None:
        self.config = config
        self.episode_steps = episode_steps
        self.uniform_action = uniform_action
        self.active = False
        self.rewarded = False  # the current opening has met a sparse reward
        self.held: np.ndarray | None = None

    def start_trial(self, rng: np.random.Generator) -> bool:
        """Draw whether the trial about to be collected explores; returns it."""
        self.active = bool(rng.random() < self.config.random_opening_fraction)
        return self.active

    def action(self, step: int) -> np.ndarray | None:
        """The action at the trial's step ``step`` (0-based) if it is in an opening of a later episode, else None."""
        into = step % self.episode_steps
        if into == 0:
            self.rewarded = False
        c = self.config
        if not self.active or step < self.episode_steps or into >= c.random_opening_steps or self.rewarded:
            return None
        if into == 0 or not c.random_opening_hold:  # held: one draw per opening
            self.held = self.uniform_action()
        return self.held

    def observe(self, sparse_reward: float) -> None:
        self.rewarded |= self.config.random_opening_until_reward and sparse_reward > 0
