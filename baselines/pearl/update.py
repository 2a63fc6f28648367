"""PEARL's update (Rakelly et al. 2019, Algorithm 1): SAC on (obs features, z) whose critic loss,
plus the KL of the posterior, trains the context encoder (and the shared observation encoder).

Pieces from ``meld_agent``: the conv encoder, the tanh-Gaussian actor, the twin critic, the soft
Bellman target. Deviation from rlkit, stated: SAC here is MELD's (twin Q with a target copy) rather
than rlkit's V-network, so the agents of the benchmark share one SAC and differ in task inference;
the temperature is rlkit's (fixed 0.2 = its reward_scale 5 at unit temperature; ``sac.alpha_learning_rate``
> 0 learns it as MELD does).
"""
from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from baselines.pearl.config import PEARLConfig
from baselines.pearl.networks import ContextEncoder, kl_to_standard_normal
from meld_agent.losses import sac_critic_target
from meld_agent.networks import Actor, ConvEncoder, StateEncoder, TwinCritic
from meld_agent.update import actor_and_temperature_step, polyak_update


class TaskBatch(NamedTuple):
    """One gradient step's data: ``T`` tasks, ``C`` context and ``B`` RL transitions each."""

    context_obs: Tensor  # uint8 [T, C, H, W, 3] or float32 [T, C, S]
    context_actions: Tensor  # [T, C, A]
    context_rewards: Tensor  # [T, C] (the reward the agent sees at test)
    obs: Tensor  # [T, B, *obs]
    actions: Tensor  # [T, B, A]
    rewards: Tensor  # [T, B] (shaped: the critic's reward during meta-training)
    next_obs: Tensor  # [T, B, *obs]


class PEARLLearner:
    """Networks, optimizers and the update of one PEARL agent.

    Parameters are initialised from ``seed`` inside a forked global RNG; sampling during updates
    uses the owned ``generator``.
    """

    def __init__(self, obs_shape: tuple[int, ...], action_size: int, config: PEARLConfig, seed: int, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.obs_shape = tuple(obs_shape)
        e, c, s = config.encoder, config.context, config.sac
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if len(self.obs_shape) == 3:
                self.encoder: torch.nn.Module = ConvEncoder(self.obs_shape, e.conv_filters, e.conv_kernels)
            else:
                self.encoder = StateEncoder(self.obs_shape[0], e.state_hidden_size, e.feature_size)
            self.encoder.to(device)
            feat = self.encoder.out_size
            self.context = ContextEncoder(feat, action_size, c.latent_size, c.hidden_sizes).to(device)
            self.actor = Actor(feat + c.latent_size, action_size, s.hidden_sizes).to(device)
            self.critic = TwinCritic(feat + c.latent_size, action_size, s.hidden_sizes).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed + 1)
        self.log_alpha = torch.tensor(math.log(s.initial_alpha), device=device, requires_grad=True)
        self.target_entropy = -float(action_size) if s.target_entropy is None else s.target_entropy
        self.context_optimizer = torch.optim.Adam(self.context.parameters(), lr=c.learning_rate)
        self.encoder_optimizer = torch.optim.Adam(self.encoder.parameters(), lr=e.learning_rate)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=s.actor_learning_rate)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=s.critic_learning_rate)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=s.alpha_learning_rate)

    # -- inference --------------------------------------------------------------------------
    def features(self, obs: Tensor) -> Tensor:
        """``[..., *obs_shape]`` -> ``[..., F]`` in one encoder call."""
        lead = obs.shape[: obs.dim() - len(self.obs_shape)]
        return self.encoder(obs.reshape(-1, *self.obs_shape)).reshape(*lead, -1)

    def posterior(self, features: Tensor, actions: Tensor, rewards: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | c) from context transitions ``[..., C, *]`` -> ``mean, var [..., Z]``."""
        return self.context(features, actions, rewards)

    def sample_z(self, mean: Tensor, var: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(mean.shape, generator=generator or self.generator, device=mean.device)
        return mean + var.sqrt() * noise

    # -- update -----------------------------------------------------------------------------
    def update(self, batch: TaskBatch) -> dict[str, float]:
        """One step of Algorithm 1 (lines 8-14) on ``T`` tasks."""
        cfg = self.config
        t, b = batch.rewards.shape
        c = batch.context_rewards.shape[1]
        # one encoder call for context and RL observations; the critic's loss trains it
        feats = self.features(torch.cat([batch.context_obs, batch.obs], dim=1))  # [T, C+B, F]
        ctx_feats, obs_feats = feats[:, :c], feats[:, c:]
        mean, var = self.posterior(ctx_feats, batch.context_actions, batch.context_rewards)  # [T, Z]
        z = self.sample_z(mean, var)  # reparameterised: gradients reach the context encoder
        kl = kl_to_standard_normal(mean, var).sum()  # rlkit: summed over the meta-batch
        z_rl = z.unsqueeze(1).expand(t, b, z.shape[-1]).reshape(t * b, -1)
        obs_feats = obs_feats.reshape(t * b, -1)
        actions = batch.actions.reshape(t * b, -1)
        rewards = batch.rewards.reshape(t * b)
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_feats = self.features(batch.next_obs).reshape(t * b, -1)
            next_state = torch.cat([next_feats, z_rl.detach()], dim=-1)
            next_action, next_log_prob = self.actor(next_state, self.generator)
            next_q1, next_q2 = self.critic_target(next_state, next_action)
            target = sac_critic_target(rewards, next_q1, next_q2, next_log_prob, alpha, cfg.sac.gamma)
        q1, q2 = self.critic(torch.cat([obs_feats, z_rl], dim=-1), actions)
        critic_loss = 0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean())
        for opt in (self.critic_optimizer, self.context_optimizer, self.encoder_optimizer):
            opt.zero_grad(set_to_none=True)
        (critic_loss + cfg.context.kl_weight * kl).backward()  # paper 4.2: the encoder learns through the critic
        for opt in (self.critic_optimizer, self.context_optimizer, self.encoder_optimizer):
            opt.step()

        state = torch.cat([obs_feats.detach(), z_rl.detach()], dim=-1)  # the actor trains neither encoder
        actor_loss, _, log_prob = actor_and_temperature_step(
            self.actor, self.critic, self.actor_optimizer, self.log_alpha, self.alpha_optimizer, self.target_entropy,
            state, alpha, self.generator)
        polyak_update(self.critic, self.critic_target, cfg.sac.tau)
        return {
            "losses/critic_loss": critic_loss.item(), "losses/kl": kl.item() / t, "losses/actor_loss": actor_loss.item(),
            "losses/alpha": alpha.item(), "losses/q_mean": q1.mean().item(), "losses/entropy": -log_prob.mean().item(),
            "losses/z_var": var.mean().item(),
        }

    # -- persistence ------------------------------------------------------------------------
    _MODULES = ("encoder", "context", "actor", "critic", "critic_target")
    _OPTIMIZERS = ("context_optimizer", "encoder_optimizer", "actor_optimizer", "critic_optimizer", "alpha_optimizer")

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {name: getattr(self, name).state_dict() for name in self._MODULES + self._OPTIMIZERS}
        state["log_alpha"] = self.log_alpha.detach().clone()
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self._MODULES + self._OPTIMIZERS:
            value = state[name]
            if name == "critic_optimizer":  # a checkpoint of separate q1/q2 networks: their state, stacked
                value = self.critic.stack_optimizer_state(value)
            getattr(self, name).load_state_dict(value)
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.generator.set_state(state["generator"])
