"""The MELD agent: meta-training (Algorithm 1) and meta-testing (Algorithm 2) of MELD (Zhao et al.,
CoRL 2020), with appendix C's two-stage procedure for tasks that are sparse at test time.

It implements the leaderboard's agent interface by duck typing (``meta_train``, ``reset``, ``act``,
``save``, ``load``); it is built from its own config or as the leaderboard builds it::

    agent = MELD(make_config("meld/Nav2D-v0", obs_mode="state"))   # from a config
    agent = MELD(env_info, seed=0, **overrides)                      # as the leaderboard builds it
    agent.meta_train(steps=20_000)                                   # local train tasks
    agent.reset(); action = agent.act(obs, reward)                   # one test trial
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from meld_agent import checkpoint, collect
from meld_agent.config import MELDConfig, make_config, with_overrides
from meld_agent.context import agent_config, device_of, trial_seed
from meld_agent.extensions import RandomOpenings
from meld_agent.replay import TrialBatch, TrialReplay
from meld_agent.update import Learner
from meld_envs.interface import EnvInfo, TrainContext, env_info
from meld_envs.wrappers import Trial

StepLogger = Callable[[dict[str, float], int], None]  # (metrics, env_step) -> None


class MELD:
    """Meta-RL from images via a latent state model whose posterior sees rewards (paper section 4).

    ``spec`` is a ``MELDConfig`` (the environment is then looked up in the meld_envs registry) or
    an ``EnvInfo``-like object (``env_id``, ``observation_space``, ``action_space``,
    ``max_episode_steps``, ``episodes_per_trial``, ``sparse_at_test``), as the leaderboard passes.
    ``config_overrides`` are ``section__field=value`` (or unique ``field=value``), on top of the
    per-environment preset.

    ``meta_test_actions`` says how it acts at meta-test: ``"sampled"`` (MELD: Algorithm 2 samples its actions, as the
    reference's policy does) or ``"mean"``; ``sac.deterministic_test`` overrides the class's way for one agent.
    """

    meta_test_actions: str = "sampled"

    def __init__(self, spec: MELDConfig | EnvInfo, seed: int | None = None, **config_overrides: Any) -> None:
        config, info = agent_config(spec, seed, config_overrides, MELDConfig, make_config, with_overrides)
        self.config: MELDConfig = config
        self.env_info: EnvInfo = info
        self.device = device_of(config.device)
        self.obs_shape: tuple[int, ...] = tuple(info.observation_space.shape)
        self.action_size = int(np.prod(info.action_space.shape))
        self.episode_steps = int(info.max_episode_steps)
        self.two_stage = self.is_two_stage(config, info)
        self.stage = 1
        self._set_trial_shape()
        if config.sac.deterministic_test is not None:
            self.meta_test_actions = "mean" if config.sac.deterministic_test else "sampled"
        self.learner = self._make_learner(self.stage)
        self.rng = np.random.default_rng([config.seed, 0])  # tasks, env seeds, random actions
        self.act_generator = torch.Generator(device=self.device)  # latent and policy noise while collecting
        self.act_generator.manual_seed(config.seed + 2)
        self.test_generator = torch.Generator(device=self.device)  # the same at meta-test, seeded anew by each trial
        x = config.extensions
        self.random_openings = RandomOpenings(x, self.episode_steps, self._uniform_action) if x.random_opening_fraction > 0 else None
        self.replay: TrialReplay | None = None  # this stage's trials
        self.offline: TrialReplay | None = None  # stage 2 of appendix C: stage 1's trials, mixed into batches
        self.replay_directory: str | None = None
        self.logger: StepLogger | None = None
        self.counters: dict[str, float] = defaultdict(float)  # env_steps, trials, updates, ...
        self._envs: dict[int | tuple[int, int], gym.Env] = {}  # envs of the current context, by task (and copy)
        self._vector: collect.VectorEnvs | None = None  # train.collect_async's worker envs
        self._ctx: TrainContext | None = None
        self._filter: tuple[torch.Tensor, torch.Tensor] | None = None  # (z2 sample, last action) in a trial
        self.record_predictions = False  # keep predicted reward mean/std of each act() (Figure 6 view)
        self.predictions: list[tuple[float, float]] = []

    # -- construction helpers ----------------------------------------------------------------
    @classmethod
    def from_config(cls, config: MELDConfig) -> MELD:
        """``MELD(config)``, spelled out."""
        return cls(config)

    @staticmethod
    def is_two_stage(config: MELDConfig, info: EnvInfo) -> bool:
        """Whether appendix C's two-stage procedure runs: ``train.two_stage``, or by default when the env is sparse at
        test; never without reward evidence (SLAC)."""
        return bool(info.sparse_at_test if config.train.two_stage is None else config.train.two_stage) \
            and config.model.reward_input != "none"

    @staticmethod
    def random_phase_steps(config: MELDConfig) -> int:
        """Env steps of appendix A's random-data phase (``train.initial_random_trials`` trials, of one episode in
        stage 1 of appendix C's procedure): no update happens before a run has taken them."""
        info = env_info(config.env_id, config.obs_mode)
        episodes = 1 if MELD.is_two_stage(config, info) else int(info.episodes_per_trial)
        return config.train.initial_random_trials * int(info.max_episode_steps) * episodes

    def _set_trial_shape(self) -> None:
        """The current stage's trials: appendix C's stage 1 collects single episodes (the reference's 1-episode
        configs), every other stage the env's trials of ``episodes_per_trial`` episodes."""
        self.trial_episodes = 1 if self.two_stage and self.stage == 1 else int(self.env_info.episodes_per_trial)
        self.trial_steps = self.episode_steps * self.trial_episodes
        self.trial_frames = self.trial_steps + 1  # L = E*T + 1 frames per stored trial

    def stage_config(self, stage: int) -> MELDConfig:
        """The config of a stage: appendix C's stage 1 reads shaped rewards, stage 2 sparse ones (and still
        reconstructs shaped rewards and trains the critic on them, unless ``extensions.stage2_sparse_critic``)."""
        if not self.two_stage:
            return self.config
        if stage == 1:
            return with_overrides(self.config, {"model.reward_input": "shaped"})
        sparse_critic = self.config.extensions.stage2_sparse_critic is not None
        critic = "sparse" if sparse_critic else self.config.sac.critic_reward
        return with_overrides(self.config, {"model.reward_input": "sparse", "sac.critic_reward": critic})

    def _make_learner(self, stage: int) -> Learner:
        return Learner(self.obs_shape, self.action_size, self.stage_config(stage), self.config.seed + 1000 * stage, self.device)

    @property
    def reward_input(self) -> str:
        return self.learner.config.model.reward_input

    # -- meta-testing (Algorithm 2) ----------------------------------------------------------
    def reset(self) -> None:
        """A trial on a new task begins: the belief restarts from the first-step posterior."""
        self._filter = None
        self.predictions = []

    @torch.no_grad()
    def _policy(self, obs: Any, reward: float, deterministic: bool, generator: torch.Generator,
                episode_start: bool = False) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs), device=self.device).unsqueeze(0)
        z1, z2, action = self.learner.policy_step(
            obs_t, torch.tensor([reward], dtype=torch.float32, device=self.device), self._filter,
            torch.tensor([float(episode_start)], device=self.device), generator, deterministic)
        self._filter = (z2, action)
        if self.record_predictions:
            mean, std = self.learner.model.decode_reward(torch.cat([z1, z2], dim=-1))
            self.predictions.append((float(mean), float(std)))
        return action[0].cpu().numpy().astype(np.float32)

    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        """Update the belief with ``obs`` and the previous step's ``reward`` (0.0 at trial start) and
        return the next action (Algorithm 2); the belief carries over episode boundaries of a trial
        (``info["episode_end"]`` marks the first frame of a later episode).

        The trial's noise (latent samples, and actions when ``meta_test_actions`` is ``"sampled"``) is drawn from a generator
        seeded at its first step from the agent's seed and that first observation, so a meta-test result is a
        function of the weights and the trials alone: the same checkpoint scores the same in the training run's own
        evaluation, in ``meld_agent.evaluate`` and in the leaderboard, and evaluating never changes training."""
        if self._filter is None:
            self.test_generator.manual_seed(trial_seed(self.config.seed, obs))
        evidence_reward = 0.0 if self.reward_input == "none" else float(reward)
        return self._policy(obs, evidence_reward, deterministic=self.meta_test_actions == "mean",
                            generator=self.test_generator, episode_start=bool((info or {}).get("episode_end", False)))

    # -- meta-training (Algorithm 1) ---------------------------------------------------------
    def meta_train(self, ctx: TrainContext | None = None, steps: int | None = None) -> dict[str, float]:
        """Meta-train for at most ``steps`` env steps on ``ctx``'s train tasks (a local context on the
        config's environment when ``ctx`` is None). Collects whole trials only; returns the last
        iteration's metrics. Can be called repeatedly; state carries over (and into checkpoints)."""
        if ctx is None:
            ctx = TrainContext(self.env_info, self.config.obs_mode, self.config.train.num_train_tasks)
            if steps is None:
                raise ValueError("meta_train(steps=None) without a context: give steps=, the env-step budget")
            ctx.allow(steps)
        budget = int(ctx.steps_remaining if steps is None else min(steps, ctx.steps_remaining))
        tasks = list(ctx.train_tasks)
        if self.config.train.num_train_tasks is not None:
            tasks = tasks[: self.config.train.num_train_tasks]
        self._ensure_replay(len(tasks))
        if ctx is not self._ctx:
            self._close_envs()
            self._ctx = ctx
        t = self.config.train
        used = 0
        metrics: dict[str, float] = {}
        while True:
            left = budget - used
            if self.counters["random_trials"] < t.initial_random_trials:  # appendix A: random-policy data first
                if left < self.trial_steps:
                    break
                done = int(self.counters["random_trials"])
                n = min(t.collect_envs, t.initial_random_trials - done, left // self.trial_steps)
                order = [(done + j) % len(tasks) for j in range(n)]
                used += sum(r[0] for r in self._collect_trials(ctx, tasks, order, random=True))
                self.counters["random_trials"] += n
                continue
            if not self.counters["pretrained"]:  # appendix A: model pre-training on the random data (of this stage)
                n = int(round(t.model_pretrain_ratio * (self.counters["env_steps"] - self.counters["stage_start_steps"])))
                metrics = self._train(n, 0, phase="pretrain")
                self.counters["pretrained"] = 1
                self.counters["pretrain_updates"] = n
            if self.two_stage and self.stage == 1 and self.counters["env_steps"] >= t.stage1_env_steps:
                self._next_stage()
                continue  # stage 2 starts as a run does: random trials, then pre-training
            n_trials = min(t.collect_tasks * t.trials_per_task, left // self.trial_steps)
            if n_trials <= 0:
                break
            started = time.perf_counter()
            chosen = self.rng.choice(len(tasks), size=min(t.collect_tasks, len(tasks)), replace=False)
            order = np.tile(chosen, t.trials_per_task)[:n_trials]
            results = self._collect_trials(ctx, tasks, [int(task) for task in order], random=False)  # Algorithm 1, lines 4-12
            collected = sum(r[0] for r in results)
            returns, successes = [r[1] for r in results], [r[2] for r in results]
            used += collected
            collect_time = time.perf_counter() - started
            self.counters["model_credit"] += t.model_train_ratio * collected
            self.counters["ac_credit"] += t.ac_train_ratio * collected
            n_model, n_ac = int(self.counters["model_credit"]), int(self.counters["ac_credit"])
            self.counters["model_credit"] -= n_model
            self.counters["ac_credit"] -= n_ac
            started = time.perf_counter()
            metrics = self._train(n_model, n_ac, phase="train")  # Algorithm 1, lines 13-22
            train_time = time.perf_counter() - started
            metrics.update({
                "charts/train_return": float(np.mean(returns)), "charts/train_success": float(np.mean(successes)),
                "charts/stage": float(self.stage), "charts/updates": self.counters["updates"],
                "charts/collect_steps_per_second": collected / max(collect_time, 1e-9),
                "charts/updates_per_second": max(n_model, n_ac) / max(train_time, 1e-9) if max(n_model, n_ac) else 0.0,
            })
            self.counters["iterations"] += 1
            self._log(metrics)
        return metrics

    def _make_replay(self, num_tasks: int, stage: int) -> TrialReplay:
        """The replay of ``stage``'s trials (stage 2's in a folder of its own when stored on disk)."""
        episodes = 1 if self.two_stage and stage == 1 else int(self.env_info.episodes_per_trial)
        directory = self.replay_directory or self.config.replay.directory
        if directory is not None and stage == 2 and self.two_stage:
            directory = os.path.join(directory, "stage2")
        return TrialReplay(num_tasks, self.episode_steps * episodes + 1, self.obs_shape, self.action_size,
                           self.config.replay, seed=self.config.seed + 7 + 100 * (stage - 1), directory=directory,
                           episode_steps=self.episode_steps)

    def _ensure_replay(self, num_tasks: int) -> None:
        if self.replay is None:
            self.replay = self._make_replay(num_tasks, self.stage)
        elif self.replay.num_tasks != num_tasks:
            raise ValueError(f"this agent's replay holds {self.replay.num_tasks} train tasks; the context gives {num_tasks}")

    def _env(self, ctx: TrainContext, tasks: list, task: int, copy: int = 0) -> gym.Env:
        """The env of ``tasks[task]`` (``copy`` > 0: another one, for batched collection's second trial of a task)."""
        key = task if copy == 0 else (task, copy)
        if key not in self._envs:
            self._envs[key] = ctx.make_env(tasks[task], reward_mode="shaped")
        return self._envs[key]

    def _collect_envs(self, ctx: TrainContext, tasks: list) -> collect.LocalEnvs | collect.VectorEnvs:
        """Batched collection's envs: in this process, or with ``train.collect_async`` worker processes (made once per
        context and trial shape)."""
        if not self.config.train.collect_async:
            return collect.LocalEnvs(self, ctx, tasks)
        if self._vector is None or self._vector.episodes != self.trial_episodes:
            if self._vector is not None:
                self._vector.close()
            self._vector = collect.VectorEnvs(self, ctx, tasks, self.config.train.collect_envs)
        return self._vector

    def _close_envs(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs = {}
        if self._vector is not None:
            self._vector.close()
            self._vector = None

    def _collect_trials(self, ctx: TrainContext, tasks: list, order: list[int], random: bool) -> list[tuple[int, float, float]]:
        """Trials on ``order`` (indices into ``tasks``), one at a time or ``train.collect_envs`` together
        (``meld_agent.collect``: the same trials); (env steps, shaped return, success) of each."""
        if self.config.train.collect_envs == 1:
            return [self._collect(ctx, tasks, task, random) for task in order]
        return collect.collect(self, ctx, tasks, order, random)

    def _collect(self, ctx: TrainContext, tasks: list, task: int, random: bool) -> tuple[int, float, float]:
        """One trial on ``tasks[task]`` (Algorithm 1, lines 5-11); stored when it ran its full length.
        Returns env steps taken, the trial's shaped return and whether its last step succeeded."""
        env = self._env(ctx, tasks, task)
        if self.trial_episodes == 1 and isinstance(env, Trial):  # appendix C's stage 1: single episodes
            env = env.env
        obs, info = env.reset(seed=int(self.rng.integers(2**31)))
        frames, actions, shaped, sparse = [obs], [], [0.0], [0.0]
        self.reset()
        reward_in, success, steps, new_episode = 0.0, False, 0, False
        openings = self.random_openings  # extensions.random_opening_*: whether this trial explores is drawn here
        if random or openings is None or not openings.start_trial(self.rng):
            openings = None
        while True:
            if random:
                action = self._uniform_action()
            else:
                action = self._policy(obs, reward_in, deterministic=False, generator=self.act_generator,
                                      episode_start=new_episode)
                if openings is not None:
                    action = self._opening_action(openings, steps, action)
            obs, reward, terminated, truncated, info = env.step(action)
            steps += 1
            step_shaped, step_sparse, success, new_episode = collect.step_outcome(reward, info)
            shaped.append(step_shaped)
            sparse.append(step_sparse)
            if openings is not None:
                openings.observe(sparse[-1])
            frames.append(obs)
            actions.append(action)
            reward_in = {"shaped": shaped[-1], "sparse": sparse[-1], "none": 0.0}[self.reward_input]
            if terminated or truncated:
                break
        self._store_trial(task, frames, actions, shaped, sparse)
        return steps, float(np.sum(shaped)), float(success)

    def _store_trial(self, task: int, frames: list, actions: list, shaped: list[float], sparse: list[float]) -> None:
        """Count a collected trial's steps; store it in the replay when it ran its full length."""
        self.counters["env_steps"] += len(actions)
        self.counters["trials"] += 1
        if len(frames) == self.trial_frames:
            assert self.replay is not None
            self.replay.add(task, np.stack(frames), np.stack(actions), np.asarray(shaped, np.float32), np.asarray(sparse, np.float32))

    def _uniform_action(self) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.action_size).astype(np.float32)

    def _opening_action(self, openings: RandomOpenings, step: int, action: np.ndarray) -> np.ndarray:
        """``extensions.random_opening_*``: the opening's action at ``step`` in place of the policy's, which the belief
        then reads as the action taken."""
        chosen = openings.action(step)
        if chosen is None:
            return action
        self._filter = (self._filter[0], torch.as_tensor(chosen, device=self.device).unsqueeze(0))
        return chosen

    def model_batch_trials(self) -> int:
        """Trials of each model step: ``train.model_batch_steps // trial frames``, the reference's
        ``model_bs_in_steps // real_env_steps_per_trial``, at least 1 and at most the batch's
        ``train.tasks_per_update x train.update_trials_per_task`` trials (the reference refuses configs with more)."""
        t = self.config.train
        return min(max(1, t.model_batch_steps // self.trial_frames), t.tasks_per_update * t.update_trials_per_task)

    def _train(self, n_model: int, n_ac: int, phase: str) -> dict[str, float]:
        """``max(n_model, n_ac)`` update steps, the first ``min(n_model, n_ac)`` both a model and an actor-critic step; the
        actor-critic-only steps after the model's last step share their posterior passes (``Learner.actor_critic_steps``).
        Returns the metrics' means, read from the device once."""
        assert self.replay is not None
        per_task, model_trials = self.config.train.update_trials_per_task, self.model_batch_trials()
        own_ac = self.config.extensions.ac_batch_trials is not None
        step = self._train_step_own_ac_batch if own_ac else self._train_step
        rows: dict[str, list[torch.Tensor]] = defaultdict(list)
        n = max(n_model, n_ac)
        for i in range(n_model):
            for k, v in step(per_task, model_trials, model=True, actor_critic=i < n_ac).items():
                rows[k].append(v)
            self.counters["updates"] += 1
        ac_per_task = self._ac_trials_per_task() if own_ac else per_task
        group = max(1, self.learner.posterior_pass_frames // (self.config.train.tasks_per_update * ac_per_task * self.trial_frames))
        left = n - n_model
        while left > 0:  # actor-critic-only steps: the model does not change between them
            batches = [self._sample(ac_per_task) for _ in range(min(group, left))]
            for metrics in self.learner.actor_critic_steps(batches):
                for k, v in metrics.items():
                    rows[k].append(v)
            left -= len(batches)
            self.counters["updates"] += len(batches)
        keys = list(rows)  # each metric's mean over the steps that made it (model steps, actor-critic steps)
        means = dict(zip(keys, torch.stack([torch.stack(rows[k]).double().mean() for k in keys]).tolist())) if keys else {}
        if n and phase == "pretrain":
            self._log({f"{k}_pretrain": v for k, v in means.items()})
        return means

    def _ac_trials_per_task(self) -> int:
        """``extensions.ac_batch_trials`` spread over ``train.tasks_per_update`` tasks (rounded up)."""
        return max(1, -(-self.config.extensions.ac_batch_trials // self.config.train.tasks_per_update))

    def _sample(self, trials_per_task: int) -> TrialBatch:
        """``train.tasks_per_update`` tasks drawn with replacement, as the reference draws them; in stage 2 of appendix
        C distinct ones (the reference then takes every train task once), each episode of a trial replaced by one of
        stage 1's with probability ``train.offline_ratio``."""
        assert self.replay is not None
        t = self.config.train
        mixing = self.offline is not None and t.offline_ratio > 0
        return self.replay.sample(t.tasks_per_update, trials_per_task, self.device, replace=not mixing,
                                  offline=self.offline if mixing else None, offline_ratio=t.offline_ratio)

    def _train_step(self, trials_per_task: int, model_trials: int, model: bool, actor_critic: bool) -> dict[str, torch.Tensor]:
        """One batch of trials serves both updates (Algorithm 1, lines 13-21): the model's step on ``model_trials`` of
        them, the actor-critic's on transitions of all of them."""
        return self.learner.train_step(self._sample(trials_per_task), model=model, actor_critic=actor_critic,
                                       model_trials=model_trials)

    def _train_step_own_ac_batch(self, trials_per_task: int, model_trials: int, model: bool,
                                 actor_critic: bool) -> dict[str, torch.Tensor]:
        """``extensions.ac_batch_trials``: the actor-critic draws its own batch of trials, with its own posterior pass."""
        metrics = self.learner.train_step(self._sample(trials_per_task), model=True, actor_critic=False,
                                          model_trials=model_trials) if model else {}
        if actor_critic:
            metrics.update(self.learner.train_step(self._sample(self._ac_trials_per_task()), model=False, actor_critic=True))
        return metrics

    def _next_stage(self) -> None:
        """Appendix C, as the reference runs it: a second agent, whose model reads sparse rewards, starts as a run does
        (random trials, then pre-training) on trials of the env's episodes, with stage 1's single-episode trials kept
        as offline data that batches mix in (``train.offline_ratio``). Stage 1's trials hold the sparse reward the env
        gave with the shaped one, so they need no relabelling (the reference recomputes its rewards)."""
        stage2 = self._make_learner(2)
        if self.config.extensions.stage2_init_from_stage1:
            stage2.load_state_dict({**self.learner.state_dict(), "generator": stage2.generator.get_state()})
        self.learner = stage2
        self.stage = 2
        self._set_trial_shape()
        assert self.replay is not None
        self.offline, self.replay = self.replay, None
        self._ensure_replay(self.offline.num_tasks)
        self.counters["random_trials"] = 0
        self.counters["pretrained"] = 0
        self.counters["stage_start_steps"] = self.counters["env_steps"]

    def _log(self, metrics: dict[str, float]) -> None:
        if self.logger is not None and metrics:
            self.logger(metrics, int(self.counters["env_steps"]))

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str, extra: dict[str, Any] | None = None) -> None:
        """Write everything needed to continue exactly (networks, optimizers, replay, RNG states,
        counters) to the folder ``path``, atomically. ``extra`` (JSON-like) is stored alongside."""
        replays = _Replays(self.replay, self.offline) if self.replay is not None or self.offline is not None else None
        checkpoint.save_agent(path, self.config, {"stage": self.stage, **checkpoint.learner_state(self)}, replays, extra)

    def load(self, path: str, weights_only: bool = False) -> dict[str, Any]:
        """Restore what ``save`` wrote (``weights_only``: networks only, no replay or optimizers, e.g.
        for evaluation). A ``ValueError`` names what is wrong with a corrupt checkpoint. Returns the
        ``extra`` dict given to ``save``."""
        state = checkpoint.load_agent(path, self.config)
        with checkpoint.restoring(path):
            if int(state["stage"]) != self.stage:
                self.stage = int(state["stage"])
                self.learner = self._make_learner(self.stage)
                self._set_trial_shape()
                for replay in (self.replay, self.offline):
                    if replay is not None:
                        replay.close()
                self.replay = self.offline = None
            self.learner.load_state_dict(state["learner"], weights_only=weights_only)
            if not weights_only:
                checkpoint.restore_learner_state(self, state, path)
                offline = os.path.join(path, _Replays.OFFLINE)
                if os.path.exists(os.path.join(offline, "replay.json")):
                    if self.offline is None:
                        self.offline = self._make_replay(len(checkpoint_counts(offline)), 1)
                    self.offline.load(offline)
            return checkpoint.extra_of(state)

    def close(self) -> None:
        self._close_envs()
        for replay in (self.replay, self.offline):
            if replay is not None:
                replay.close()


def checkpoint_counts(folder: str) -> list[int]:
    """The per-task trial counts a saved replay in ``folder`` holds."""
    with open(os.path.join(folder, "replay.json")) as f:
        return list(json.load(f)["counts"])


class _Replays:
    """What a MELD checkpoint stores of its replays: this stage's in the checkpoint folder, and in stage 2 of
    appendix C stage 1's (the offline data) in its ``offline/`` subfolder."""

    OFFLINE = "offline"

    def __init__(self, replay: TrialReplay | None, offline: TrialReplay | None) -> None:
        self.replay, self.offline = replay, offline

    def save(self, folder: str) -> list[str]:
        names = self.replay.save(folder) if self.replay is not None else []
        if self.offline is not None:
            names += [f"{self.OFFLINE}/{n}" for n in self.offline.save(os.path.join(folder, self.OFFLINE))]
        return names
