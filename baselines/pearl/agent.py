"""The PEARL agent (Rakelly et al., ICML 2019) on meld-bench: meta-training (Algorithm 1) and
meta-testing (Algorithm 2: posterior sampling) behind the leaderboard's agent interface, as the
authors' code (oyster, github.com/katerakelly/oyster) runs them.

Meta-test (oyster ``MetaRLAlgorithm.collect_paths``; MELD paper 5.1 evaluates PEARL only after its
exploration phase): the agent declares ``exploration_episodes`` (``train.exploration_episodes``,
oyster ``num_exp_traj_eval``), which the protocol runs unscored on the trial's task before the scored
trial. The context accumulates every transition from ``reset`` on. Episodes before the last
exploration episode's end act with z from the prior (a new sample each episode); after the last
exploration episode, and after every later episode, the posterior q(z | context) is inferred and a
new z drawn, so every scored episode acts on the posterior. Actions at meta-test are the policy's
mean (oyster ``eval_deterministic=True``; ``meta_test_actions`` says so); z samples come from a
generator seeded per trial from the agent's seed and the trial's first observation, so evaluating
does not change the training stream.

Meta-training (oyster ``MetaRLAlgorithm.train`` / ``collect_data``, ``PEARLSoftActorCritic``): the
initial trials act with z from the prior; each iteration, for each of ``collect_tasks`` sampled
tasks, the task's encoder buffer is cleared, ``prior_steps`` of trials with z from the prior are
collected into both the replay and the encoder buffer, then ``posterior_steps`` with z from the posterior
of a context drawn from the encoder buffer into both (oyster ``num_steps_posterior``), then
``extra_posterior_steps`` with z from that posterior into the replay only (oyster
``num_extra_rl_steps_posterior``). Training contexts are drawn from each task's encoder buffer
(oyster ``enc_replay_buffer``: the task's data of its latest iteration that the encoder learns from); RL
batches from the whole replay.

Deviations from oyster, with the reason:

- Trials, not paths: collection runs whole trials (``episodes_per_trial`` episodes of the task, 2 on
  sparse environments) in the protocol's ``Trial`` envs, as many as cover each amount of env steps
  (rounded up: Nav2D's 100 prior steps are 3 trials of 40); the encoder buffer is a list of the
  replay's trial slots, not a second copy of the data (pixels twice would not fit in memory).
- Posterior trials draw z from a fresh encoder-buffer context at every episode start; oyster's first
  posterior path of a ``collect_data`` call still acts on the prior (it starts with ``clear_z``).
- A task whose encoder buffer is empty (its prior trial was cut short by a physics error, or
  overwritten in a replay too small to hold one iteration) has its extra-posterior trial collected with
  the prior instead, and its training contexts drawn from its whole replay.
- ``context.posterior_update_every`` (off by default; not in oyster) also re-infers z every N steps
  inside an episode after the exploration phase.
- SAC is MELD's twin-Q SAC on MELD's conv encoder (``update.py``), so the benchmark's agents differ
  only in how they infer the task; each task's replay holds MELD's 10,000 frames (oyster's 1e6).
"""
from __future__ import annotations

import ast
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
from meld_agent.context import agent_config, device_of, trial_seed
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
        self.act_generator = torch.Generator(device=self.device)  # z samples and policy noise while collecting
        self.act_generator.manual_seed(config.seed + 2)
        self.test_generator = torch.Generator(device=self.device)  # the same at meta-test, seeded per trial
        self.replay: TrialReplay | None = None
        self._enc_slots: list[list[int]] = []  # per train task: replay slots of its encoder buffer (oyster enc_replay_buffer)
        self.logger: Any = None  # callable (metrics, env_step) -> None
        self.counters: dict[str, float] = defaultdict(float)
        self._envs: dict[int, gym.Env] = {}
        self._ctx: TrainContext | None = None
        self.reset()

    # -- meta-testing (Algorithm 2) ----------------------------------------------------------
    @property
    def exploration_episodes(self) -> int:
        """Unscored episodes the protocol runs on a trial's task before the scored trial (oyster num_exp_traj_eval)."""
        return int(self.config.train.exploration_episodes)

    @property
    def meta_test_actions(self) -> str:
        """``"mean"`` with ``train.deterministic_test`` (oyster's evaluation), else ``"sampled"``."""
        return "mean" if self.config.train.deterministic_test else "sampled"

    def reset(self) -> None:
        """A trial on a new task: empty context, q(z) the prior N(0, I); z is drawn at the first ``act``
        (at meta-test from the trial's own generator)."""
        self._context: list[tuple[torch.Tensor, torch.Tensor, float]] = []
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None
        self._steps_in_episode = 0
        self._episode = 0  # episodes begun since reset, exploration episodes included, minus one
        self._mode = "test"  # "test" | "prior" (collecting, z ~ prior) | "posterior" (collecting, z ~ q(z | encoder buffer))
        self._train_task: int | None = None
        latent = self.config.context.latent_size
        self.z_mean = torch.zeros(1, latent, device=self.device)
        self.z_var = torch.ones(1, latent, device=self.device)
        self.z: torch.Tensor | None = None

    def _generator(self) -> torch.Generator:
        return self.test_generator if self._mode == "test" else self.act_generator

    def _prior_z(self) -> None:
        """q(z) back to the prior; a new z from it."""
        self.z_mean, self.z_var = torch.zeros_like(self.z_mean), torch.ones_like(self.z_var)
        self.z = self.learner.sample_z(self.z_mean, self.z_var, self._generator())

    @torch.no_grad()
    def infer(self) -> None:
        """Posterior over z from every transition since ``reset`` (oyster ``infer_posterior``); draws a new z from it."""
        if not self._context:
            return
        feats = torch.cat([c[0] for c in self._context]).unsqueeze(0)
        actions = torch.cat([c[1] for c in self._context]).unsqueeze(0)
        rewards = torch.tensor([[c[2] for c in self._context]], dtype=torch.float32, device=self.device)
        self.z_mean, self.z_var = self.learner.posterior(feats, actions, rewards)
        self.z = self.learner.sample_z(self.z_mean, self.z_var, self._generator())

    def _start_episode(self) -> None:
        """z for the episode beginning now (``self._episode``, 0-based since ``reset``)."""
        if self._mode == "prior":  # oyster collect_data(update_posterior_rate=inf): the prior, resampled every path
            self._prior_z()
        elif self._mode == "posterior":  # oyster: the posterior of an encoder-buffer context, re-inferred every path
            assert self._train_task is not None
            self.z_mean, self.z_var = self._enc_posterior(self._train_task)
            self.z = self.learner.sample_z(self.z_mean, self.z_var, self.act_generator)
        elif self._episode < max(self.exploration_episodes, 1):  # oyster collect_paths: the prior until num_exp_traj_eval paths
            self._prior_z()
        else:  # ... then the posterior of everything seen on the task, re-inferred after every path
            self.infer()

    @torch.no_grad()
    def _policy(self, obs: Any, reward: float, new_episode: bool, deterministic: bool) -> np.ndarray:
        feat = self.learner.features(torch.as_tensor(np.asarray(obs), device=self.device).unsqueeze(0))
        if self._pending is not None:  # the previous step's transition is complete now that its reward is known
            self._context.append((*self._pending, float(reward)))
        every = self.config.context.posterior_update_every
        if self.z is None:  # the first step after reset
            if self._mode == "test":
                self.test_generator.manual_seed(trial_seed(self.config.seed, obs))
            self._start_episode()
        elif new_episode:
            self._episode += 1
            self._steps_in_episode = 0
            self._start_episode()
        elif (self._mode == "test" and every and self._episode >= self.exploration_episodes
              and self._steps_in_episode and self._steps_in_episode % every == 0):
            self.infer()
        assert self.z is not None
        action, _ = self.learner.actor(torch.cat([feat, self.z], dim=-1), self._generator(), deterministic=deterministic)
        self._pending = (feat, action)
        self._steps_in_episode += 1
        return action[0].cpu().numpy().astype(np.float32)

    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        """The next action; ``reward`` (the previous step's) joins the context (paper Algorithm 2). A new episode
        (``info["episode_end"]``, exploration episodes included) draws a new z: from the prior during the
        exploration phase, from the posterior after it."""
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
            if self.counters["initial_trials"] < self._trials(t.initial_steps_per_task) * len(tasks):  # rlkit num_initial_steps, prior z
                task = int(self.counters["initial_trials"]) % len(tasks)
                used += self._collect(ctx, tasks, task, posterior=False, to_encoder=True)[0]  # rlkit: both buffers
                self.counters["initial_trials"] += 1
                continue
            started = time.perf_counter()
            chosen = self.rng.choice(len(tasks), size=min(t.collect_tasks, len(tasks)), replace=False)
            kinds = ([("prior", True)] * self._trials(t.prior_steps) + [("posterior", True)] * self._trials(t.posterior_steps)
                     + [("posterior", False)] * self._trials(t.extra_posterior_steps))
            plan = [(int(task), mode, to_encoder) for task in chosen for mode, to_encoder in kinds]
            plan = plan[: (budget - used) // self.trial_steps]
            returns, successes, collected, cleared = [], [], 0, set()
            for task, mode, to_encoder in plan:  # Algorithm 1, lines 3-7; rlkit MetaRLAlgorithm.train
                if mode == "prior" and task not in cleared:  # rlkit: enc_replay_buffer.task_buffers[idx].clear()
                    self._enc_slots[task] = []
                    cleared.add(task)
                posterior = mode == "posterior" and bool(self._enc_slots[task])
                n, ret, success = self._collect(ctx, tasks, task, posterior=posterior, to_encoder=to_encoder)
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
            self._enc_slots = [[] for _ in range(num_tasks)]
        elif self.replay.num_tasks != num_tasks:
            raise ValueError(f"this agent's replay holds {self.replay.num_tasks} train tasks; the context gives {num_tasks}")

    def _close_envs(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs = {}

    def _enc_context(self, tasks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``context_size`` transitions of each of ``tasks`` drawn uniformly from its encoder buffer (rlkit
        ``sample_context``; the whole replay of a task whose encoder buffer is empty): obs ``[T, C, *obs]``,
        actions ``[T, C, A]``, rewards ``[T, C]`` of the context reward."""
        assert self.replay is not None
        n = self.config.context.context_size
        slots = np.stack([self.rng.choice(self._enc_slots[k], size=n) if self._enc_slots[k]
                          else self.rng.integers(0, self.replay.size(k), size=n) for k in tasks])
        frames = self.rng.integers(0, self.trial_steps, size=(len(tasks), n))
        rows = np.asarray(tasks)[:, None]
        arrays = self.replay.arrays
        obs = torch.as_tensor(np.ascontiguousarray(arrays["obs"][rows, slots, frames]), device=self.device)
        actions = torch.as_tensor(np.ascontiguousarray(arrays["actions"][rows, slots, frames]), device=self.device)
        rewards = torch.as_tensor(np.ascontiguousarray(arrays[f"{self.context_reward}_reward"][rows, slots, frames + 1]),
                                  device=self.device)
        return obs, actions, rewards

    @torch.no_grad()
    def _enc_posterior(self, task: int) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | c) of a context drawn from ``task``'s encoder buffer (rlkit's extra-posterior collection)."""
        obs, actions, rewards = self._enc_context(np.array([task]))
        return self.learner.posterior(self.learner.features(obs), actions, rewards)

    def _trials(self, steps: int) -> int:
        """Whole trials that collect ``steps`` env steps (rounded up)."""
        return -(-int(steps) // self.trial_steps)

    def _collect(self, ctx: TrainContext, tasks: list, task: int, posterior: bool,
                 to_encoder: bool) -> tuple[int, float, float]:
        """One trial on ``tasks[task]``; stored when it ran its full length, and then also in the task's encoder
        buffer if ``to_encoder``. ``posterior=False``: z from the prior, resampled every episode; ``True``: z from
        the posterior of an encoder-buffer context at every episode."""
        assert self.replay is not None
        if posterior and not self._enc_slots[task]:
            raise ValueError(f"train task {task}: its encoder buffer is empty; collect a prior trial first")
        if task not in self._envs:
            self._envs[task] = ctx.make_env(tasks[task], reward_mode="shaped")
        env = self._envs[task]
        obs, info = env.reset(seed=int(self.rng.integers(2**31)))
        self.reset()
        self._mode, self._train_task = ("posterior" if posterior else "prior"), task
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
        self.reset()  # back to meta-test mode
        self.counters["env_steps"] += steps
        self.counters["trials"] += 1
        if len(frames) == self.trial_steps + 1:
            slot = int(self.replay.counts[task] % self.replay.capacity)
            self.replay.add(task, np.stack(frames), np.stack(actions), np.asarray(shaped, np.float32), np.asarray(sparse, np.float32))
            enc = self._enc_slots[task]
            if slot in enc:  # overwritten: the encoder buffer no longer holds that trial
                enc.remove(slot)
            if to_encoder:
                enc.append(slot)
        return steps, float(np.sum(shaped)), float(success)

    def sample_batch(self) -> TaskBatch:
        """``meta_batch`` tasks, each with an RL batch of transitions from its replay and a context from its
        encoder buffer (rlkit ``sample_sac`` / ``sample_context``)."""
        assert self.replay is not None
        b = self.config.train.batch_size
        raw = self.replay.sample(self.config.train.meta_batch, b, self.device)  # windows of 2 frames = transitions
        tasks = raw.obs.shape[0] // b
        obs = raw.obs.reshape(tasks, b, 2, *self.obs_shape)
        actions = raw.actions.reshape(tasks, b, self.action_size)
        rewards = raw.reward(self.config.sac.critic_reward)[:, 1].reshape(tasks, b)
        context = self._enc_context(raw.task.reshape(tasks, b)[:, 0].cpu().numpy())
        return TaskBatch(*context, obs[:, :, 0], actions, rewards, obs[:, :, 1])

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
        state = {**checkpoint.learner_state(self), "enc_slots": repr(self._enc_slots)}
        checkpoint.save_agent(path, self.config, state, self.replay, extra)

    def load(self, path: str) -> dict[str, Any]:
        """Restore what ``save`` wrote; a ``ValueError`` for a corrupt or foreign checkpoint. Returns ``extra``."""
        state = checkpoint.load_agent(path, self.config)
        with checkpoint.restoring(path):
            self.learner.load_state_dict(state["learner"])
            checkpoint.restore_learner_state(self, state, path)
            enc_slots = ast.literal_eval(state["enc_slots"])
            if self.replay is not None:
                self._enc_slots = enc_slots
            self._close_envs()
            self._ctx = None
            return checkpoint.extra_of(state)

    def close(self) -> None:
        self._close_envs()
        if self.replay is not None:
            self.replay.close()
