"""The PEARL agent (Rakelly et al., ICML 2019) on meld-bench: meta-training (Algorithm 1) and
meta-testing (Algorithm 2: posterior sampling) behind the leaderboard's agent interface.

Meta-test, as the MELD paper evaluates PEARL (section 5.1): the first episode of a trial explores
with z drawn from the prior; at each episode boundary the posterior over z is inferred from every
transition of the trial so far and a new z drawn, so the last episode (the one the protocol scores)
acts with the posterior. ``context.posterior_update_every`` also re-infers z inside an episode,
for one-episode trials (CheetahVel), where the protocol gives no separate exploration episode.
"""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from baselines.pearl.config import PEARLConfig, check, make_config
from baselines.pearl.update import PEARLLearner, TaskBatch
from meld_agent import checkpoint
from meld_agent.config import ReplayConfig, override
from meld_agent.context import agent_config, device_of
from meld_agent.replay import TrialReplay
from meld_envs.interface import EnvInfo, TrainContext


class PEARL:
    """Probabilistic embeddings for actor-critic RL: a product-of-Gaussians context encoder over
    transitions (obs features, action, reward), SAC conditioned on (obs features, z).

    ``spec`` is a ``PEARLConfig`` or the leaderboard's ``EnvInfo``; ``config_overrides`` are
    ``section__field=value`` (or a unique ``field=value``) on top of the per-environment preset.
    """

    def __init__(self, spec: PEARLConfig | EnvInfo, seed: int | None = None, **config_overrides: Any) -> None:
        config, info = agent_config(spec, seed, config_overrides, PEARLConfig, make_config,
                                    lambda c, o: check(override(c, o)))
        self.config: PEARLConfig = config
        self.env_info = info
        self.device = device_of(config.device)
        self.obs_shape: tuple[int, ...] = tuple(info.observation_space.shape)
        self.action_size = int(np.prod(info.action_space.shape))
        self.trial_steps = int(info.max_episode_steps) * int(info.episodes_per_trial)
        self.context_reward = config.context.context_reward or ("sparse" if info.sparse_at_test else "shaped")
        self.learner = PEARLLearner(self.obs_shape, self.action_size, config, config.seed + 1000, self.device)
        self.rng = np.random.default_rng([config.seed, 0])  # tasks, env seeds, collection modes, contexts
        self.act_generator = torch.Generator(device=self.device)  # z samples and policy noise while acting
        self.act_generator.manual_seed(config.seed + 2)
        self.replay: TrialReplay | None = None
        self.logger: Any = None  # callable (metrics, env_step) -> None
        self.counters: dict[str, float] = defaultdict(float)
        self._envs: dict[int, gym.Env] = {}
        self._ctx: TrainContext | None = None
        self.reset()

    # -- meta-testing (Algorithm 2) ----------------------------------------------------------
    def reset(self) -> None:
        """A trial on a new task: empty context, z from the prior N(0, I)."""
        self._context: list[tuple[torch.Tensor, torch.Tensor, float]] = []
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None
        self._steps_in_episode = 0
        self.z = torch.randn(1, self.config.context.latent_size, generator=self.act_generator, device=self.device)
        self.fixed_z = False

    @torch.no_grad()
    def infer(self) -> None:
        """Posterior over z from the trial's transitions so far; draws a new z from it."""
        if not self._context:
            return
        feats = torch.cat([c[0] for c in self._context]).unsqueeze(0)
        actions = torch.cat([c[1] for c in self._context]).unsqueeze(0)
        rewards = torch.tensor([[c[2] for c in self._context]], dtype=torch.float32, device=self.device)
        mean, var = self.learner.posterior(feats, actions, rewards)
        self.z = self.learner.sample_z(mean, var, self.act_generator)

    @torch.no_grad()
    def _policy(self, obs: Any, reward: float, new_episode: bool, deterministic: bool) -> np.ndarray:
        feat = self.learner.features(torch.as_tensor(np.asarray(obs), device=self.device).unsqueeze(0))
        if self._pending is not None:  # the previous step's transition is complete now that its reward is known
            self._context.append((*self._pending, float(reward)))
        every = self.config.context.posterior_update_every
        if new_episode:
            self._steps_in_episode = 0
        if not self.fixed_z and (new_episode or (every and self._steps_in_episode and self._steps_in_episode % every == 0)):
            self.infer()
        action, _ = self.learner.actor(torch.cat([feat, self.z], dim=-1), self.act_generator, deterministic=deterministic)
        self._pending = (feat, action)
        self._steps_in_episode += 1
        return action[0].cpu().numpy().astype(np.float32)

    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        """The next action; ``reward`` (the previous step's) joins the context (paper Algorithm 2)."""
        new_episode = bool((info or {}).get("episode_end", False))
        return self._policy(obs, reward, new_episode, deterministic=self.config.train.deterministic_test)

    # -- meta-training (Algorithm 1) ---------------------------------------------------------
    def meta_train(self, ctx: TrainContext, steps: int | None = None) -> dict[str, float]:
        """Meta-train for at most ``steps`` env steps on ``ctx``'s train tasks (whole trials only)."""
        budget = int(steps if steps is not None else ctx.steps_remaining)
        if getattr(ctx, "steps_remaining", None) is not None:
            budget = min(budget, int(ctx.steps_remaining))
        tasks = list(ctx.train_tasks)[: self.config.train.num_train_tasks]
        self._ensure_replay(len(tasks))
        if ctx is not self._ctx:
            self._close_envs()
            self._ctx = ctx
        t = self.config.train
        used, metrics = 0, {}
        while budget - used >= self.trial_steps:
            if self.counters["initial_trials"] < t.initial_trials_per_task * len(tasks):  # rlkit num_initial_steps, prior z
                task = int(self.counters["initial_trials"]) % len(tasks)
                used += self._collect(ctx, tasks, task, posterior=False)[0]
                self.counters["initial_trials"] += 1
                continue
            started = time.perf_counter()
            chosen = self.rng.choice(len(tasks), size=min(t.collect_tasks, len(tasks)), replace=False)
            chosen = chosen[: (budget - used) // self.trial_steps]
            returns, successes, collected = [], [], 0
            for task in chosen:  # Algorithm 1, lines 3-7
                n, ret, success = self._collect(ctx, tasks, int(task), posterior=bool(self.rng.random() < t.posterior_trial_fraction))
                collected += n
                returns.append(ret)
                successes.append(success)
            used += collected
            collect_time = time.perf_counter() - started
            self.counters["credit"] += t.train_ratio * collected
            n_updates = int(self.counters["credit"])
            self.counters["credit"] -= n_updates
            started = time.perf_counter()
            metrics = self._train(n_updates)
            train_time = time.perf_counter() - started
            metrics.update({
                "charts/train_return": float(np.mean(returns)), "charts/train_success": float(np.mean(successes)),
                "charts/updates": self.counters["updates"], "charts/collect_steps_per_second": collected / max(collect_time, 1e-9),
                "charts/updates_per_second": n_updates / max(train_time, 1e-9) if n_updates else 0.0,
            })
            self.counters["iterations"] += 1
            if self.logger is not None:
                self.logger(metrics, int(self.counters["env_steps"]))
        return metrics

    def _ensure_replay(self, num_tasks: int) -> None:
        if self.replay is None:
            replay_config = ReplayConfig(capacity_frames_per_task=self.config.train.capacity_frames_per_task, sequence_length=2)
            self.replay = TrialReplay(num_tasks, self.trial_steps + 1, self.obs_shape, self.action_size, replay_config,
                                      seed=self.config.seed + 7)
        elif self.replay.num_tasks != num_tasks:
            raise ValueError(f"this agent's replay holds {self.replay.num_tasks} train tasks; the context gives {num_tasks}")

    def _close_envs(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs = {}

    @torch.no_grad()
    def _replay_context_z(self, task: int) -> torch.Tensor:
        """z from the posterior of a context drawn from ``task``'s replay (rlkit's extra posterior steps)."""
        assert self.replay is not None
        n = self.config.context.context_size
        slots = self.rng.integers(0, self.replay.size(task), size=n)
        frames = self.rng.integers(0, self.trial_steps, size=n)
        arrays = self.replay.arrays
        obs = torch.as_tensor(np.ascontiguousarray(arrays["obs"][task, slots, frames]), device=self.device)
        actions = torch.as_tensor(np.ascontiguousarray(arrays["actions"][task, slots, frames]), device=self.device)
        rewards = torch.as_tensor(arrays[f"{self.context_reward}_reward"][task, slots, frames + 1], device=self.device)
        mean, var = self.learner.posterior(self.learner.features(obs).unsqueeze(0), actions.unsqueeze(0), rewards.unsqueeze(0))
        return self.learner.sample_z(mean, var, self.act_generator)

    def _collect(self, ctx: TrainContext, tasks: list, task: int, posterior: bool) -> tuple[int, float, float]:
        """One trial on ``tasks[task]``; stored when it ran its full length. ``posterior``: act the whole
        trial with z from a replay context of the task, else as at meta-test (prior, then posteriors)."""
        assert self.replay is not None
        if task not in self._envs:
            self._envs[task] = ctx.make_env(tasks[task], reward_mode="shaped")
        env = self._envs[task]
        obs, info = env.reset(seed=int(self.rng.integers(2**31)))
        self.reset()
        if posterior and self.replay.size(task) > 0:
            self.z, self.fixed_z = self._replay_context_z(task), True
        frames, actions, shaped, sparse = [obs], [], [0.0], [0.0]
        reward_in, new_episode, success, steps = 0.0, False, False, 0
        while True:
            action = self._policy(obs, reward_in, new_episode, deterministic=False)
            obs, reward, terminated, truncated, info = env.step(action)
            steps += 1
            step_info = info["final_info"] if info.get("episode_end") else info  # Trial: the ended episode's step
            shaped.append(float(step_info.get("shaped_reward", reward)))
            sparse.append(float(step_info.get("sparse_reward", reward)))
            success = bool(step_info.get("success", False))
            frames.append(obs)
            actions.append(action)
            reward_in = shaped[-1] if self.context_reward == "shaped" else sparse[-1]
            new_episode = bool(info.get("episode_end", False))
            if terminated or truncated:
                break
        self.counters["env_steps"] += steps
        self.counters["trials"] += 1
        if len(frames) == self.trial_steps + 1:
            self.replay.add(task, np.stack(frames), np.stack(actions), np.asarray(shaped, np.float32), np.asarray(sparse, np.float32))
        return steps, float(np.sum(shaped)), float(success)

    def sample_batch(self) -> TaskBatch:
        """``meta_batch`` tasks, each with a context and an RL batch of transitions from its replay."""
        assert self.replay is not None
        t, c = self.config.train, self.config.context.context_size
        n = c + t.batch_size
        raw = self.replay.sample(t.meta_batch, n, self.device)  # windows of 2 frames = transitions
        tasks = raw.obs.shape[0] // n
        obs = raw.obs.reshape(tasks, n, 2, *self.obs_shape)
        actions = raw.actions.reshape(tasks, n, self.action_size)
        context_rewards = raw.reward(self.context_reward)[:, 1].reshape(tasks, n)
        rewards = raw.reward(self.config.sac.critic_reward)[:, 1].reshape(tasks, n)
        return TaskBatch(obs[:, :c, 0], actions[:, :c], context_rewards[:, :c], obs[:, c:, 0], actions[:, c:], rewards[:, c:], obs[:, c:, 1])

    def _train(self, n: int) -> dict[str, float]:
        sums: dict[str, float] = defaultdict(float)
        for _ in range(n):
            for k, v in self.learner.update(self.sample_batch()).items():
                sums[k] += v / n
            self.counters["updates"] += 1
        return dict(sums)

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str, extra: dict[str, Any] | None = None) -> None:
        """Networks, optimizers, replay, RNG states and counters into the folder ``path`` (atomic)."""
        checkpoint.save_agent(path, self.config, checkpoint.learner_state(self), self.replay, extra)

    def load(self, path: str) -> dict[str, Any]:
        """Restore what ``save`` wrote; a ``ValueError`` for a corrupt or foreign checkpoint. Returns ``extra``."""
        state = checkpoint.load_agent(path, self.config)
        with checkpoint.restoring(path):
            self.learner.load_state_dict(state["learner"])
            checkpoint.restore_learner_state(self, state, path)
            self._close_envs()
            self._ctx = None
            return checkpoint.extra_of(state)

    def close(self) -> None:
        self._close_envs()
        if self.replay is not None:
            self.replay.close()
