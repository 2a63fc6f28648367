"""Pure loss functions of MELD: the ELBO of Eq. 5 (Eq. 8 for sparse inputs) and SAC's targets.

Every function takes tensors and returns tensors; nothing here owns parameters or optimizers.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(x: Tensor, mean: Tensor, std: Tensor | float, event_dims: int = 0) -> Tensor:
    """log N(x; mean, std^2), summed over the last ``event_dims`` dimensions."""
    std_t = torch.as_tensor(std, dtype=mean.dtype, device=mean.device)
    lp = -0.5 * ((x - mean) / std_t) ** 2 - torch.log(std_t) - 0.5 * _LOG_2PI
    return lp.sum(dim=tuple(range(-event_dims, 0))) if event_dims else lp


def gaussian_kl(mean_q: Tensor, std_q: Tensor, mean_p: Tensor, std_p: Tensor) -> Tensor:
    """KL(N(mean_q, std_q^2) || N(mean_p, std_p^2)) of diagonal Gaussians, summed over the last dim."""
    var_ratio = (std_q / std_p) ** 2
    return 0.5 * (var_ratio + ((mean_q - mean_p) / std_p) ** 2 - 1.0 - torch.log(var_ratio)).sum(-1)


class ElboTerms(NamedTuple):
    """Per-sequence terms of Eq. 5, each ``[B]``, averaged over the sequence's frames (reference)."""

    observation_log_prob: Tensor  # mean_t log p(x_t | z_t)
    reward_log_prob: Tensor  # mean_t log p(r_t | z_t)
    kl: Tensor  # mean_t KL(q(z1_t | ...) || p(z1_t | ...)), t = 1 against N(0, I)

    def elbo(self, reward_weight: float) -> Tensor:
        """ELBO per sequence ``[B]`` (Eq. 5, reward term weighted as in the reference)."""
        return self.observation_log_prob + reward_weight * self.reward_log_prob - self.kl


def elbo_terms(obs_log_prob: Tensor, reward_log_prob: Tensor, z1_mean: Tensor, z1_std: Tensor,
               prior_mean: Tensor, prior_std: Tensor) -> ElboTerms:
    """Assemble Eq. 5 from per-frame pieces.

    ``obs_log_prob``, ``reward_log_prob``: ``[B, L]``; ``z1_mean``, ``z1_std``: posterior of z1, ``[B, L, z1]``;
    ``prior_mean``, ``prior_std``: p(z1_t | z2_{t-1}, a_{t-1}) for t = 2..L, ``[B, L-1, z1]``. The first
    step's prior is p(z1_1) = N(0, I). Only the first latent layer has a KL: the second layer's
    posterior *is* its prior (SLAC), so its KL is 0.
    """
    kl_first = gaussian_kl(z1_mean[:, :1], z1_std[:, :1], torch.zeros_like(z1_mean[:, :1]), torch.ones_like(z1_std[:, :1]))
    kl_rest = gaussian_kl(z1_mean[:, 1:], z1_std[:, 1:], prior_mean, prior_std)
    kl = torch.cat([kl_first, kl_rest], dim=1)
    return ElboTerms(obs_log_prob.mean(1), reward_log_prob.mean(1), kl.mean(1))


def sac_critic_target(reward: Tensor, next_q1: Tensor, next_q2: Tensor, next_log_prob: Tensor,
                      alpha: Tensor | float, gamma: float, done: Tensor | None = None) -> Tensor:
    """Soft Bellman target y = r + gamma * (1 - done) * (min(Q1', Q2') - alpha * log pi(a'|b'))."""
    soft_value = torch.min(next_q1, next_q2) - alpha * next_log_prob
    not_done = 1.0 if done is None else 1.0 - done.float()
    return reward + gamma * not_done * soft_value
