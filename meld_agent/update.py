"""The updates of MELD: the latent model's ELBO step (Eq. 5 / Eq. 8) and SAC on the belief.

``Learner`` composes the networks with both updates (Algorithm 1, lines 13-21): one posterior pass
over a batch of trials serves the model loss and, detached, the actor-critic batch, so images are
encoded once per update and no actor-critic gradient reaches the model (paper appendix A).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor

from meld_agent import extensions
from meld_agent.config import MELDConfig, ModelConfig, SACConfig
from meld_agent.losses import ElboTerms, elbo_terms, gaussian_log_prob, sac_critic_target
from meld_agent.networks import Actor, LatentModel, Posterior, TwinCritic
from meld_agent.replay import TrialBatch


def boundary_free(batch: TrialBatch, steps: int) -> Tensor:
    """``[B, steps]``: True for the transitions ``t -> t+1`` a critic may learn from: all but those into the first
    frame of a later episode (``batch.episode_start``), whose next belief has seen the reset. The reference drops the
    transitions that cross an episode or trial boundary (meld_agent.py ``_train_ac``: its trials keep each episode's
    final frame, and it drops the step from that frame to the next episode's first); a stored trial here lacks the final
    frame of its earlier episodes, so the step that crosses is an earlier episode's last one."""
    if batch.episode_start is None:
        return torch.ones(batch.actions.shape[0], steps, dtype=torch.bool, device=batch.actions.device)
    return batch.episode_start[:, 1:steps + 1] == 0


def reward_evidence(batch: TrialBatch, reward_input: str) -> Tensor:
    """The reward the posterior sees ``[B, L]`` (zeros when there is none: SLAC)."""
    if reward_input == "none":
        return torch.zeros_like(batch.shaped_reward)
    return batch.reward(reward_input)


class ModelUpdate:
    """Gradient step on -ELBO of the latent model (Eq. 5; Eq. 8 with sparse inputs, shaped targets)."""

    def __init__(self, model: LatentModel, config: ModelConfig, generator: torch.Generator) -> None:
        self.model = model
        self.config = config
        self.generator = generator
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    def transition_actions(self, batch: TrialBatch) -> Tensor:
        """a_{t-1} as the model's transitions read it ``[B, L-1, A(+1)]``."""
        start = None if batch.episode_start is None else batch.episode_start[:, 1:]
        return self.model.transition_input(batch.actions, start)

    def posterior(self, batch: TrialBatch, actions: Tensor | None = None) -> Posterior:
        """The posterior over the batch alone (no decoding), e.g. for an actor-critic-only step;
        ``actions`` are ``transition_actions(batch)`` when the caller has them already."""
        evidence = self.model.evidence(batch.obs, reward_evidence(batch, self.config.reward_input))
        return self.model.posterior(evidence, self.transition_actions(batch) if actions is None else actions, self.generator)

    def terms(self, batch: TrialBatch) -> tuple[ElboTerms, Posterior, dict[str, Tensor]]:
        """ELBO terms per sequence, the posterior, and diagnostics, from one pass over the batch."""
        model = self.model
        b, length = batch.shaped_reward.shape
        actions = self.transition_actions(batch)
        post = self.posterior(batch, actions)
        latent = post.latent()
        mean = model.decode_observation(latent.reshape(b * length, -1))  # all B*L frames in one call
        if model.pixels:
            target = batch.obs.reshape(b * length, *model.obs_shape).permute(0, 3, 1, 2).float().div_(255.0)
            obs_lp = gaussian_log_prob(target, mean, self.config.observation_std, event_dims=3)
        else:
            target = batch.obs.reshape(b * length, -1).float()
            obs_lp = gaussian_log_prob(target, mean, self.config.observation_std, event_dims=1)
        reward_target = batch.reward(self.config.reward_target)
        r_mean, r_std = model.decode_reward(latent)
        r_lp = gaussian_log_prob(reward_target, r_mean, r_std)
        prior_mean, prior_std = model.prior_z1(post, actions)
        terms = elbo_terms(obs_lp.reshape(b, length), r_lp, post.z1_mean, post.z1_std, prior_mean, prior_std)
        with torch.no_grad():
            extra = {"reconstruction_mse": (mean - target).pow(2).mean(), "reward_abs_error": (r_mean - reward_target).abs().mean()}
        return terms, post, extra

    def update(self, batch: TrialBatch) -> tuple[dict[str, float], Posterior]:
        """One step; returns metrics and the posterior with gradients cut (for the actor-critic)."""
        terms, post, extra = self.terms(batch)
        loss = -terms.elbo(self.config.reward_weight).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
        self.optimizer.step()
        metrics = {
            "losses/model_loss": loss.item(),
            "losses/observation_log_prob": terms.observation_log_prob.mean().item(),
            "losses/reward_log_prob": terms.reward_log_prob.mean().item(),
            "losses/kl": terms.kl.mean().item(),
            "losses/reconstruction_mse": extra["reconstruction_mse"].item(),
            "losses/reward_abs_error": extra["reward_abs_error"].item(),
        }
        return metrics, Posterior(*(t.detach() for t in post))


def actor_and_temperature_step(actor: Actor, critic: TwinCritic, actor_optimizer: torch.optim.Optimizer,
                               log_alpha: Tensor, alpha_optimizer: torch.optim.Optimizer, target_entropy: float,
                               state: Tensor, alpha: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """SAC's actor step on ``state [N, D]`` (detached from any encoder by the caller), then its
    temperature step; returns (actor loss, temperature loss, log-probabilities [N])."""
    new_action, log_prob = actor(state, generator)
    q1_pi, q2_pi = critic(state, new_action)
    actor_loss = (alpha * log_prob - torch.min(q1_pi, q2_pi)).mean()
    actor_optimizer.zero_grad(set_to_none=True)
    actor_loss.backward()  # critic grads from this are cleared by the next critic step's zero_grad
    actor_optimizer.step()
    alpha_loss = -(log_alpha * (log_prob.detach() + target_entropy)).mean()
    alpha_optimizer.zero_grad(set_to_none=True)
    alpha_loss.backward()
    alpha_optimizer.step()
    return actor_loss, alpha_loss, log_prob


@torch.no_grad()
def polyak_update(source: torch.nn.Module, target: torch.nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau source, parameter by parameter."""
    for p, p_target in zip(source.parameters(), target.parameters()):
        p_target.lerp_(p, tau)


class SACUpdate:
    """Soft actor-critic (Haarnoja et al. 2018) on beliefs: twin critics with a Polyak-averaged
    target, tanh-Gaussian actor, learned temperature with target entropy -|A| (paper A)."""

    def __init__(self, actor: Actor, critic: TwinCritic, action_size: int, config: SACConfig, generator: torch.Generator) -> None:
        self.actor = actor
        self.critic = critic
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        self.config = config
        self.generator = generator
        device = next(critic.parameters()).device
        self.log_alpha = torch.tensor(math.log(config.initial_alpha), device=device, requires_grad=True)
        self.target_entropy = -float(action_size) if config.target_entropy is None else config.target_entropy
        self.actor_optimizer = torch.optim.Adam(actor.parameters(), lr=config.actor_learning_rate)
        self.critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.critic_learning_rate)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=config.alpha_learning_rate)

    def update(self, belief: Tensor, action: Tensor, reward: Tensor, next_belief: Tensor,
               discount: Tensor | None = None) -> dict[str, float]:
        """One step on transitions ``(b_t [N, D], a_t [N, A], r_{t+1} [N], b_{t+1} [N, D])``; with ``discount [N]``
        (n-step targets), ``reward`` is the discounted sum up to the belief bootstrapped from, and ``discount``
        multiplies its soft value instead of ``gamma``."""
        cfg = self.config
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_action, next_log_prob = self.actor(next_belief, self.generator)
            next_q1, next_q2 = self.critic_target(next_belief, next_action)
            gamma = cfg.gamma if discount is None else discount
            target = sac_critic_target(reward, next_q1, next_q2, next_log_prob, alpha, gamma)
        q1, q2 = self.critic(belief, action)
        critic_loss = 0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean())
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        actor_loss, alpha_loss, log_prob = actor_and_temperature_step(
            self.actor, self.critic, self.actor_optimizer, self.log_alpha, self.alpha_optimizer, self.target_entropy,
            belief, alpha, self.generator)
        polyak_update(self.critic, self.critic_target, cfg.tau)
        return {
            "losses/critic_loss": critic_loss.item(),
            "losses/actor_loss": actor_loss.item(),
            "losses/alpha_loss": alpha_loss.item(),
            "losses/alpha": alpha.item(),
            "losses/q_mean": q1.mean().item(),
            "losses/entropy": -log_prob.mean().item(),
        }


class Learner:
    """Networks + updates of one MELD agent (one stage of appendix C's procedure).

    Parameters are initialised from ``seed`` inside a forked global RNG, so the caller's global
    torch state is neither used nor changed; sampling during updates uses an owned generator.
    """

    def __init__(self, obs_shape: tuple[int, ...], action_size: int, config: MELDConfig, seed: int, device: torch.device) -> None:
        self.config = config
        self.device = device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = LatentModel(obs_shape, action_size, config.model, config.extensions.episode_start_input).to(device)
            self.actor = Actor(self.model.belief_size, action_size, config.sac.hidden_sizes).to(device)
            self.critic = TwinCritic(self.model.belief_size, action_size, config.sac.hidden_sizes).to(device)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed + 1)
        self.model_update = ModelUpdate(self.model, config.model, self.generator)
        self.sac_update = SACUpdate(self.actor, self.critic, action_size, config.sac, self.generator)

    def train_step(self, batch: TrialBatch, model: bool = True, actor_critic: bool = True,
                   model_trials: int | None = None) -> dict[str, float]:
        """Algorithm 1, lines 14-21: a model step on ``model_trials`` of the batch's trials (all when None; evenly
        spaced rows, so spread over the batch's tasks) and/or an actor-critic step on transitions of all of them. The
        posterior the actor-critic reads comes from the model before its step: the model's trials' from its own pass,
        the others' from one more pass without gradients."""
        metrics: dict[str, float] = {}
        size = batch.task.shape[0]
        m = size if model_trials is None else min(int(model_trials), size)
        if model and m < size:
            chosen = (torch.arange(m) * size) // m
            rest = torch.ones(size, dtype=torch.bool)
            rest[chosen] = False
            batch = batch.rows(torch.cat([chosen, torch.nonzero(rest).flatten()]))  # the model's trials first
            others = None
            if actor_critic:
                with torch.no_grad():
                    others = self.model_update.posterior(batch.rows(torch.arange(m, size)))
            metrics, post = self.model_update.update(batch.rows(torch.arange(m)))
            if others is not None:
                post = Posterior(*(torch.cat([a, b]) for a, b in zip(post, others)))
        elif model:
            metrics, post = self.model_update.update(batch)
        elif actor_critic:
            with torch.no_grad():
                post = self.model_update.posterior(batch)
        if actor_critic:
            metrics.update(self.sac_update.update(*self.transitions(post, batch)))
        return metrics

    def critic_reward(self, batch: TrialBatch) -> Tensor:
        """The reward the critic learns from ``[B, L]``: ``sac.critic_reward`` (appendix C: shaped), or in stage 2 with
        ``extensions.stage2_sparse_critic`` the sparse reward plus that weight x the shaped one."""
        weight = self.config.extensions.stage2_sparse_critic
        if weight is not None and self.config.sac.critic_reward == "sparse":
            return extensions.sparse_critic_reward(batch, weight)
        return batch.reward(self.config.sac.critic_reward)

    def transitions(self, post: Posterior, batch: TrialBatch) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """``sac.batch_size`` transitions ``(b_t, a_t, r_{t+1}, b_{t+1}, None)`` drawn uniformly from the batch's
        sequences, gathering only the sampled frames, and never one into the first frame of a later episode (its belief
        is the reset's; ``boundary_free``). With ``extensions.opening_fraction`` a share is drawn from the openings of
        later episodes; with ``extensions.n_step`` the reward is an n-step sum inside the episode, the belief the one it
        bootstraps from and the last element its discount."""
        belief = post.belief()
        b, length, _ = belief.shape
        steps = length - 1
        x = self.config.extensions
        reward = self.critic_reward(batch)[:, 1:]  # [B, L-1]: r_{t+1} of transition t
        allowed = torch.nonzero(boundary_free(batch, steps).flatten()).flatten()  # flat indices into [B, steps]
        pick = torch.randint(0, allowed.numel(), (min(self.config.sac.batch_size, allowed.numel()),),
                             generator=self.generator, device=self.device)
        idx = allowed[pick]
        if x.opening_fraction:
            idx = extensions.draw_openings(idx, batch, steps, x, self.generator)
        trial, t = idx // steps, idx % steps
        if x.n_step > 1:
            summed, next_belief, discount = extensions.n_step_transitions(belief, reward, trial, t, x.n_step, self.config.sac.gamma,
                                                                          batch.episode_start)
            return belief[trial, t], batch.actions[trial, t], summed, next_belief, discount
        return belief[trial, t], batch.actions[trial, t], reward[trial, t], belief[trial, t + 1], None

    def state_dict(self) -> dict[str, Any]:
        s = self.sac_update
        return {
            "model": self.model.state_dict(), "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "critic_target": s.critic_target.state_dict(), "log_alpha": s.log_alpha.detach().clone(),
            "model_optimizer": self.model_update.optimizer.state_dict(), "actor_optimizer": s.actor_optimizer.state_dict(),
            "critic_optimizer": s.critic_optimizer.state_dict(), "alpha_optimizer": s.alpha_optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        s = self.sac_update
        self.model.load_state_dict(state["model"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        s.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            s.log_alpha.copy_(state["log_alpha"])
        if weights_only:
            return
        self.model_update.optimizer.load_state_dict(state["model_optimizer"])
        s.actor_optimizer.load_state_dict(state["actor_optimizer"])
        s.critic_optimizer.load_state_dict(state["critic_optimizer"])
        s.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
        # an optimizer's state carries its learning rate; this learner's config decides it (a branched run may change it)
        cfg = self.config
        for optimizer, lr in ((self.model_update.optimizer, cfg.model.learning_rate), (s.actor_optimizer, cfg.sac.actor_learning_rate),
                              (s.critic_optimizer, cfg.sac.critic_learning_rate), (s.alpha_optimizer, cfg.sac.alpha_learning_rate)):
            for group in optimizer.param_groups:
                group["lr"] = lr
        self.generator.set_state(state["generator"])
