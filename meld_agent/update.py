"""The updates of MELD: the latent model's ELBO step (Eq. 5 / Eq. 8) and SAC on the belief.

``Learner`` composes the networks with both updates (Algorithm 1, lines 13-21): one posterior pass
over a batch of trials serves the model loss and, detached, the actor-critic batch, so images are
encoded once per update and no actor-critic gradient reaches the model (paper appendix A).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from meld_agent import extensions
from meld_agent.config import MELDConfig, ModelConfig, SACConfig
from meld_agent.losses import ElboTerms, elbo_terms, gaussian_log_prob, sac_critic_target
from meld_agent.networks import Actor, LatentModel, Posterior, TwinCritic
from meld_agent.replay import TrialBatch

Metrics = dict[str, Tensor]  # name -> 0-dim tensor on the learner's device (no host sync inside a step); float() to log


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with its fused kernel (one per step for all parameters, CPU and CUDA) where this torch has one,
    otherwise the multi-tensor (foreach) one. Same update as the per-parameter loop up to float order."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, foreach=True)


def compiled(fn, mode: str):
    """``fn`` itself for ``mode == "none"``, else ``torch.compile(fn, mode=...)`` (static shapes: a new batch shape
    compiles once more)."""
    if mode == "none":
        return fn
    return torch.compile(fn, mode=mode, dynamic=False)


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

    def __init__(self, model: LatentModel, config: ModelConfig, generator: torch.Generator, compile_mode: str = "none") -> None:
        self.model = model
        self.config = config
        self.generator = generator
        self.optimizer = adam(model.parameters(), config.learning_rate)
        self._loss = compiled(self._loss_eager, compile_mode)
        self._posterior = compiled(self._posterior_eager, compile_mode)

    def noise(self, batch: TrialBatch) -> tuple[Tensor, Tensor]:
        """The posterior pass's latent noise for ``batch`` (``LatentModel.posterior_noise``), from the owned generator."""
        b, length = batch.shaped_reward.shape
        return self.model.posterior_noise(b, length, self.generator, batch.shaped_reward.device)

    def transition_actions(self, batch: TrialBatch) -> Tensor:
        """a_{t-1} as the model's transitions read it ``[B, L-1, A(+1)]``."""
        start = None if batch.episode_start is None else batch.episode_start[:, 1:]
        return self.model.transition_input(batch.actions, start)

    def posterior(self, batch: TrialBatch) -> Posterior:
        """The posterior over the batch alone (no decoding), e.g. for an actor-critic-only step."""
        return Posterior(*self._posterior(batch, self.noise(batch)))

    def _posterior_eager(self, batch: TrialBatch, noise: tuple[Tensor, Tensor]) -> tuple[Tensor, ...]:
        evidence = self.model.evidence(batch.obs, reward_evidence(batch, self.config.reward_input))
        return self.model.posterior_from_noise(evidence, self.transition_actions(batch), *noise)

    def terms(self, batch: TrialBatch) -> tuple[ElboTerms, Posterior, dict[str, Tensor]]:
        """ELBO terms per sequence, the posterior, and diagnostics, from one pass over the batch."""
        _, terms, post, extra = self._loss(batch, self.noise(batch))
        return terms, post, extra

    def _loss_eager(self, batch: TrialBatch, noise: tuple[Tensor, Tensor]) -> tuple[Tensor, ElboTerms, Posterior, dict[str, Tensor]]:
        """-ELBO (the loss), its terms, the posterior and diagnostics: a pure function of the batch and the noise."""
        model = self.model
        b, length = batch.shaped_reward.shape
        actions = self.transition_actions(batch)
        evidence = model.evidence(batch.obs, reward_evidence(batch, self.config.reward_input))
        post = Posterior(*model.posterior_from_noise(evidence, actions, *noise))
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
        return -terms.elbo(self.config.reward_weight).mean(), terms, post, extra

    def update(self, batch: TrialBatch) -> tuple[Metrics, Posterior]:
        """One step; returns metrics and the posterior with gradients cut (for the actor-critic)."""
        loss, terms, post, extra = self._loss(batch, self.noise(batch))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
        self.optimizer.step()
        metrics = {
            "losses/model_loss": loss.detach(),
            "losses/observation_log_prob": terms.observation_log_prob.detach().mean(),
            "losses/reward_log_prob": terms.reward_log_prob.detach().mean(),
            "losses/kl": terms.kl.detach().mean(),
            "losses/reconstruction_mse": extra["reconstruction_mse"],
            "losses/reward_abs_error": extra["reward_abs_error"],
        }
        return metrics, Posterior(*(t.detach() for t in post))


def actor_loss_of(actor: Actor, critic: torch.nn.Module, state: Tensor, alpha: Tensor,
                  noise: Tensor) -> tuple[Tensor, Tensor]:
    """SAC's actor loss on ``state [N, D]`` with the policy's standard normal ``noise [N, A]``, and the log-probabilities
    ``[N]``. The critic is called on detached parameters: the loss's gradient reaches the actor (through the action)
    and never the critic's weights, whose gradients no step would use."""
    new_action, log_prob = actor(state, noise=noise)
    params = {name: p.detach() for name, p in critic.named_parameters()}
    q1_pi, q2_pi = torch.func.functional_call(critic, params, (state, new_action))
    return (alpha * log_prob - torch.min(q1_pi, q2_pi)).mean(), log_prob


def actor_and_temperature_step(actor: Actor, critic: TwinCritic, actor_optimizer: torch.optim.Optimizer,
                               log_alpha: Tensor, alpha_optimizer: torch.optim.Optimizer, target_entropy: float,
                               state: Tensor, alpha: Tensor, generator: torch.Generator | None,
                               noise: Tensor | None = None, loss_fn=actor_loss_of) -> tuple[Tensor, Tensor, Tensor]:
    """SAC's actor step on ``state [N, D]`` (detached from any encoder by the caller), then its
    temperature step; returns (actor loss, temperature loss, log-probabilities [N]). ``noise`` is the policy's draw
    (from ``generator`` when None); ``loss_fn`` is ``actor_loss_of`` or a compiled version of it."""
    if noise is None:
        noise = torch.randn(state.shape[0], actor.net[-1].out_features // 2, generator=generator, device=state.device)
    actor_loss, log_prob = loss_fn(actor, critic, state, alpha, noise)
    actor_optimizer.zero_grad(set_to_none=True)
    actor_loss.backward()
    actor_optimizer.step()
    alpha_loss = -(log_alpha * (log_prob.detach() + target_entropy)).mean()
    alpha_optimizer.zero_grad(set_to_none=True)
    alpha_loss.backward()
    alpha_optimizer.step()
    return actor_loss, alpha_loss, log_prob


@torch.no_grad()
def polyak_update(source: torch.nn.Module, target: torch.nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau source, parameter by parameter."""
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


class SACUpdate:
    """Soft actor-critic (Haarnoja et al. 2018) on beliefs: twin critics with a Polyak-averaged
    target, tanh-Gaussian actor, learned temperature with target entropy -|A| (paper A)."""

    def __init__(self, actor: Actor, critic: TwinCritic, action_size: int, config: SACConfig, generator: torch.Generator,
                 compile_mode: str = "none") -> None:
        self.actor = actor
        self.critic = critic
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        self.config = config
        self.generator = generator
        device = next(critic.parameters()).device
        self.log_alpha = torch.tensor(math.log(config.initial_alpha), device=device, requires_grad=True)
        self.target_entropy = -float(action_size) if config.target_entropy is None else config.target_entropy
        self.action_size = action_size
        self.actor_optimizer = adam(actor.parameters(), config.actor_learning_rate)
        self.critic_optimizer = adam(critic.parameters(), config.critic_learning_rate)
        self.alpha_optimizer = adam([self.log_alpha], config.alpha_learning_rate)
        self._critic_loss = compiled(self._critic_loss_eager, compile_mode)
        self._actor_loss = compiled(actor_loss_of, compile_mode)

    def _critic_loss_eager(self, belief: Tensor, action: Tensor, reward: Tensor, next_belief: Tensor, gamma: Tensor | float,
                           alpha: Tensor, next_noise: Tensor) -> tuple[Tensor, Tensor]:
        """The critic loss and Q1 ``[N]``: a pure function of the transitions and the next action's noise."""
        with torch.no_grad():
            next_action, next_log_prob = self.actor(next_belief, noise=next_noise)
            next_q1, next_q2 = self.critic_target(next_belief, next_action)
            target = sac_critic_target(reward, next_q1, next_q2, next_log_prob, alpha, gamma)
        q1, q2 = self.critic(belief, action)
        return 0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean()), q1

    def update(self, belief: Tensor, action: Tensor, reward: Tensor, next_belief: Tensor,
               discount: Tensor | None = None) -> Metrics:
        """One step on transitions ``(b_t [N, D], a_t [N, A], r_{t+1} [N], b_{t+1} [N, D])``; with ``discount [N]``
        (n-step targets), ``reward`` is the discounted sum up to the belief bootstrapped from, and ``discount``
        multiplies its soft value instead of ``gamma``."""
        cfg = self.config
        alpha = self.log_alpha.exp().detach()
        # the policy's noise for the next action, then for the actor step: drawn in the order the steps use it
        next_noise = torch.randn(next_belief.shape[0], self.action_size, generator=self.generator, device=belief.device)
        noise = torch.randn(belief.shape[0], self.action_size, generator=self.generator, device=belief.device)
        gamma = cfg.gamma if discount is None else discount
        critic_loss, q1 = self._critic_loss(belief, action, reward, next_belief, gamma, alpha, next_noise)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        actor_loss, alpha_loss, log_prob = actor_and_temperature_step(
            self.actor, self.critic, self.actor_optimizer, self.log_alpha, self.alpha_optimizer, self.target_entropy,
            belief, alpha, None, noise, self._actor_loss)
        polyak_update(self.critic, self.critic_target, cfg.tau)
        return {
            "losses/critic_loss": critic_loss.detach(),
            "losses/actor_loss": actor_loss.detach(),
            "losses/alpha_loss": alpha_loss.detach(),
            "losses/alpha": alpha,
            "losses/q_mean": q1.detach().mean(),
            "losses/entropy": -log_prob.detach().mean(),
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
        self.model_update = ModelUpdate(self.model, config.model, self.generator, config.train.compile)
        self.sac_update = SACUpdate(self.actor, self.critic, action_size, config.sac, self.generator, config.train.compile)
        self._allowed: dict[tuple[int, int, bool], Tensor] = {}  # (trials, steps, layout known) -> boundary_free indices

    @torch.no_grad()
    def policy_step(self, obs: Tensor, reward: Tensor, prev: tuple[Tensor, Tensor] | None, episode_start: Tensor,
                    generator: torch.Generator | Sequence[torch.Generator], deterministic: bool = False
                    ) -> tuple[Tensor, Tensor, Tensor]:
        """One step of Algorithm 2 for ``B`` trials: the filter updated with ``obs [B, ...]`` and the reward evidence
        ``reward [B]``, from ``prev`` = (z2 ``[B, z2]``, action ``[B, A]``) of the step before (None at a trial's first
        step; ``episode_start [B]`` flags a later episode's first frame), then the actor on the belief. ``generator``
        draws the latent and action noise, or one generator per trial draws that trial's. Returns z1, z2 and the
        action ``[B, A]``."""
        model = self.model
        evidence = model.evidence(obs, reward)
        prev_z2, prev_action = (None, None) if prev is None else prev
        if prev_action is not None and model.episode_start_input:
            prev_action = model.transition_input(prev_action, episode_start)
        (z1_mean, z1_std, z1), (z2_mean, z2_std, z2) = model.filter_step(evidence, prev_z2, prev_action, generator)
        belief = torch.cat([z1_mean, z1_std, z2_mean, z2_std], dim=-1)
        action, _ = self.actor(belief, generator, deterministic=deterministic)
        return z1, z2, action

    # the most frames one no-grad posterior pass of ``actor_critic_steps`` reads (its batches are split into passes
    # of at most this many; at least one batch each): larger matrices in the recurrence, bounded memory for images
    posterior_pass_frames = 4096

    def actor_critic_steps(self, batches: list[TrialBatch]) -> list[Metrics]:
        """Actor-critic steps, one per batch, with no model step between them: the model is the same for all, so
        their beliefs come from one posterior pass without gradients over all their trials (in passes of at most
        ``posterior_pass_frames`` frames), drawn as each batch's own pass would draw them. Then each batch's SAC step
        on its transitions, in order. Returns each step's metrics."""
        out: list[Metrics] = []
        start = 0
        while start < len(batches):
            frames = batches[start].shaped_reward.numel()
            stop = start + max(1, self.posterior_pass_frames // max(1, frames))
            group = batches[start:stop]
            joined = group[0] if len(group) == 1 else TrialBatch(
                *(None if xs[0] is None else torch.cat(xs) for xs in zip(*group)))
            with torch.no_grad():
                post = self.model_update.posterior(joined)
            row = 0
            for batch in group:
                size = batch.task.shape[0]
                part = Posterior(*(x[row:row + size] for x in post))
                row += size
                out.append(self.sac_update.update(*self.transitions(part, batch)))
            start = stop
        return out

    def train_step(self, batch: TrialBatch, model: bool = True, actor_critic: bool = True,
                   model_trials: int | None = None) -> Metrics:
        """Algorithm 1, lines 14-21: a model step on ``model_trials`` of the batch's trials (all when None; evenly
        spaced rows, so spread over the batch's tasks) and/or an actor-critic step on transitions of all of them. The
        posterior the actor-critic reads comes from the model before its step: the model's trials' from its own pass,
        the others' from one more pass without gradients. Metrics are 0-dim tensors on the device (``Metrics``)."""
        metrics: Metrics = {}
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
        allowed = self.allowed_transitions(batch, steps)
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

    def allowed_transitions(self, batch: TrialBatch, steps: int) -> Tensor:
        """Flat indices into ``[B, steps]`` of the transitions a critic may learn from (``boundary_free``). Every stored
        trial has one episode layout (``TrialReplay``), so they depend on the batch's shape alone: computed once per
        shape, they cost no host synchronisation (``nonzero``'s) in later steps on a GPU."""
        key = (int(batch.actions.shape[0]), int(steps), batch.episode_start is not None)
        if key not in self._allowed:
            self._allowed[key] = torch.nonzero(boundary_free(batch, steps).flatten()).flatten()
        return self._allowed[key]

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
        self.critic.load_state_dict(state["critic"])  # separate q1/q2 networks' state converts on load
        s.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            s.log_alpha.copy_(state["log_alpha"])
        if weights_only:
            return
        self.model_update.optimizer.load_state_dict(state["model_optimizer"])
        s.actor_optimizer.load_state_dict(state["actor_optimizer"])
        s.critic_optimizer.load_state_dict(self.critic.stack_optimizer_state(state["critic_optimizer"]))
        s.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
        # an optimizer's state carries its learning rate; this learner's config decides it (a branched run may change it)
        cfg = self.config
        for optimizer, lr in ((self.model_update.optimizer, cfg.model.learning_rate), (s.actor_optimizer, cfg.sac.actor_learning_rate),
                              (s.critic_optimizer, cfg.sac.critic_learning_rate), (s.alpha_optimizer, cfg.sac.alpha_learning_rate)):
            for group in optimizer.param_groups:
                group["lr"] = lr
        self.generator.set_state(state["generator"])
