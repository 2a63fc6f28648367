"""PEARL's context encoder and its product of Gaussians (Rakelly et al. 2019, section 4.1).

Shapes: ``T`` tasks, ``C`` context transitions per task, ``Z`` latent size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from meld_agent.networks import mlp

_MIN_VAR = 1e-7  # rlkit clamps the factors' variances here


def product_of_gaussians(mean: Tensor, var: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 3: q(z | c_1:N) ∝ Π_n N(z; mu_n, sigma_n^2).
    ``mean, var [..., C, Z]`` -> posterior ``mean, var [..., Z]``: precisions add, the mean is the
    precision-weighted mean of the factors' means."""
    var = var.clamp(min=_MIN_VAR)
    precision = var.reciprocal().sum(-2)
    post_var = precision.reciprocal()
    return post_var * (mean / var).sum(-2), post_var


def kl_to_standard_normal(mean: Tensor, var: Tensor) -> Tensor:
    """KL(N(mean, var) || N(0, I)) summed over the last dim: ``[..., Z] -> [...]``."""
    return 0.5 * (var + mean.pow(2) - 1.0 - var.log()).sum(-1)


class ContextEncoder(nn.Module):
    """One factor Ψ(z | c_n) per transition c_n = (obs features, action, reward): an MLP giving a
    mean and a variance (softplus), as rlkit's ``MlpEncoder`` with the information bottleneck."""

    def __init__(self, feature_size: int, action_size: int, latent_size: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.latent_size = latent_size
        self.net = mlp([feature_size + action_size + 1, *hidden, 2 * latent_size])

    def forward(self, features: Tensor, actions: Tensor, rewards: Tensor) -> tuple[Tensor, Tensor]:
        """``features [..., C, F]``, ``actions [..., C, A]``, ``rewards [..., C]`` -> posterior ``mean, var [..., Z]``."""
        out = self.net(torch.cat([features, actions, rewards.unsqueeze(-1)], dim=-1))
        mean, raw = out.chunk(2, dim=-1)
        return product_of_gaussians(mean, F.softplus(raw))
