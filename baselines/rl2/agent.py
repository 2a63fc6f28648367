"""The RL² agent (Duan et al. 2016) on sb3-contrib's ``RecurrentPPO``.

What sb3-contrib does: the recurrent policy (LSTM after our features extractor), on-policy PPO
with sequence minibatches, resetting the LSTM state where an *episode* starts. What we add, because
RecurrentPPO cannot: (1) ``TrialTaskEnv``, which makes a whole trial one Gymnasium episode, so the
LSTM state survives episode boundaries inside a trial and resets between trials; (2) the step
budget: ``learn`` only in whole rollouts (``n_steps``) that fit the protocol's allowance; (3) acting
in the protocol's ``act(obs, reward, info)`` loop with our own hidden state and our own
``torch.Generator`` for action noise (``model.predict`` would sample from torch's global RNG).
During ``learn``, sb3 samples from torch's global RNG: the agent swaps in its own RNG state (seeded
from the config's seed, saved in checkpoints) for the call and restores the caller's after, so
training does not depend on what else the process drew from torch's global RNG.
"""
from __future__ import annotations

import ast
import os
import tempfile
from collections import defaultdict
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from baselines.rl2.config import RL2Config, check, make_config
from baselines.rl2.policy import TrialFeatures
from baselines.rl2.wrappers import TrialTaskEnv, trial_observation
from meld_agent import checkpoint
from meld_agent.config import override
from meld_agent.context import agent_config, device_of
from meld_envs.interface import EnvInfo, TrainContext


class _Forward(KVWriter):
    """sb3's logger output -> the agent's logger, under MELD's ``charts/`` and ``losses/`` tags."""

    def __init__(self, agent: RL2) -> None:
        self.agent = agent

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        metrics = {}
        for key, value in key_values.items():
            if not isinstance(value, (int, float, np.floating, np.integer)):
                continue
            section, _, name = key.partition("/")
            tag = {"train": "losses", "rollout": "charts", "time": "charts"}.get(section, "charts")
            metrics[f"{tag}/{name}"] = float(value)
        if self.agent.logger is not None and metrics:
            self.agent.logger(metrics, int(self.agent.model.num_timesteps))

    def close(self) -> None:
        pass


class _NullContext:
    """Stands in for a ``TrainContext`` until ``meta_train`` gives one (the policy needs the spaces)."""

    def __init__(self, info: EnvInfo) -> None:
        self.env_info = info
        self.train_tasks = [0]
        self.steps_remaining = 0

    def make_env(self, task: Any, reward_mode: str = "shaped") -> gym.Env:
        raise RuntimeError("RL2: meta_train(ctx, steps) gives the train tasks; none yet")


class RL2:
    """A recurrent policy over (image features, previous action, reward, done flag), hidden state
    carried across the episodes of a trial, trained on-policy with PPO (RecurrentPPO)."""

    def __init__(self, spec: RL2Config | EnvInfo, seed: int | None = None, **config_overrides: Any) -> None:
        config, info = agent_config(spec, seed, config_overrides, RL2Config, make_config, lambda c, o: check(override(c, o)))
        self.config: RL2Config = config
        self.env_info = info
        self.input_reward = config.input_reward or ("sparse" if info.sparse_at_test else "shaped")
        self.action_size = int(np.prod(info.action_space.shape))
        self.trial_env = TrialTaskEnv(_NullContext(info), self.input_reward, config.ppo.train_reward, seed=config.seed + 7,
                                      num_train_tasks=config.num_train_tasks)
        p, e = config.ppo, config.encoder
        policy_kwargs = {
            "features_extractor_class": TrialFeatures,
            "features_extractor_kwargs": {"conv_filters": e.conv_filters, "conv_kernels": e.conv_kernels,
                                          "feature_size": e.feature_size, "state_hidden_size": e.state_hidden_size},
            "lstm_hidden_size": p.lstm_hidden_size, "net_arch": list(p.net_arch),
            "log_std_init": p.log_std_init, "ortho_init": p.ortho_init,
        }
        # PPO's rewards (not the policy's reward input) scaled by a running return std, as rl-zoo does for MuJoCo
        self.vec_env = VecNormalize(DummyVecEnv([lambda: self.trial_env]), norm_obs=False, norm_reward=config.ppo.normalize_reward,
                                    gamma=p.gamma)
        with torch.random.fork_rng(devices=[]):  # sb3 seeds torch's global RNG: keep the caller's intact
            self.model = RecurrentPPO(
                "MultiInputLstmPolicy", self.vec_env, learning_rate=p.learning_rate, n_steps=p.n_steps,
                batch_size=p.batch_size, n_epochs=p.n_epochs, gamma=p.gamma, gae_lambda=p.gae_lambda, clip_range=p.clip_range,
                ent_coef=p.ent_coef, vf_coef=p.vf_coef, max_grad_norm=p.max_grad_norm, policy_kwargs=policy_kwargs,
                seed=config.seed, device=device_of(config.device), verbose=0)
            self.learn_rng = torch.get_rng_state()  # seeded by sb3 from config.seed: what learn() samples from
        self.model.set_logger(Logger(folder=None, output_formats=[_Forward(self)]))
        self.act_generator = torch.Generator(device=self.model.device)  # action noise while acting
        self.act_generator.manual_seed(config.seed + 2)
        self.logger: Any = None  # callable (metrics, env_step) -> None
        self.counters: dict[str, float] = defaultdict(float)
        self._ctx: TrainContext | None = None
        self.reset()

    # -- meta-testing ------------------------------------------------------------------------
    @property
    def meta_test_actions(self) -> str:
        """What the protocol records of the agent's meta-test actions: ``"sampled"`` (``deterministic_test=False``,
        the default: the recurrent policy's exploration is in its samples) or ``"mean"``."""
        return "mean" if self.config.deterministic_test else "sampled"

    def reset(self) -> None:
        """A new trial: the hidden state starts from zeros at the next ``act``."""
        self.hidden: tuple[np.ndarray, ...] | None = None
        self._prev_action = np.zeros(self.action_size, np.float32)

    @torch.no_grad()
    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        """The next action from (obs, previous action, ``reward``, done flag); the hidden state is
        carried from the previous call of this trial (also across an ``episode_end``)."""
        policy = self.model.policy
        done = bool((info or {}).get("episode_end", False))
        observation = trial_observation(obs, self._prev_action, float(reward), done)
        obs_t, _ = policy.obs_to_tensor({k: v[None] for k, v in observation.items()})
        start = self.hidden is None
        n_layers, size = policy.lstm_actor.num_layers, policy.lstm_actor.hidden_size
        zeros = np.zeros((n_layers, 1, size), np.float32)
        hidden = (zeros, zeros) if start else self.hidden
        states = tuple(torch.as_tensor(h, device=self.model.device) for h in hidden)
        episode_starts = torch.tensor([float(start)], device=self.model.device)
        dist, new_states = policy.get_distribution(obs_t, states, episode_starts)
        normal = dist.distribution
        if self.config.deterministic_test:
            action = normal.mean
        else:
            noise = torch.randn(normal.mean.shape, generator=self.act_generator, device=normal.mean.device)
            action = normal.mean + normal.stddev * noise
        self.hidden = tuple(s.cpu().numpy() for s in new_states)
        self._prev_action = np.clip(action[0].cpu().numpy(), -1.0, 1.0).astype(np.float32)
        return self._prev_action.copy()

    # -- meta-training -----------------------------------------------------------------------
    def meta_train(self, ctx: TrainContext, steps: int | None = None) -> dict[str, float]:
        """PPO on trials of random train tasks for at most ``steps`` env steps, in whole rollouts of
        ``ppo.n_steps`` (what is left of the allowance below one rollout stays unused)."""
        budget = int(steps if steps is not None else ctx.steps_remaining)
        if getattr(ctx, "steps_remaining", None) is not None:
            budget = min(budget, int(ctx.steps_remaining))
        if ctx is not self._ctx:  # envs of an older context are gone: start a fresh trial
            self.trial_env.set_context(ctx)
            self.model._last_obs = None
            self._ctx = ctx
        rollout = self.config.ppo.n_steps * self.model.n_envs
        n = budget // rollout
        if n == 0:
            return {}
        with torch.random.fork_rng(devices=[]):  # learn from this agent's own RNG state, not the caller's global one
            torch.set_rng_state(self.learn_rng)
            self.model.learn(total_timesteps=n * rollout,
                             reset_num_timesteps=self.model._last_obs is None and self.model.num_timesteps == 0, progress_bar=False)
            self.learn_rng = torch.get_rng_state()
        self.counters["env_steps"] = float(self.model.num_timesteps)
        self.counters["updates"] = float(self.model._n_updates)
        return {}

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str, extra: dict[str, Any] | None = None) -> None:
        """The PPO model (policy and optimizer, sb3's zip) and the agent's state, atomically."""
        with tempfile.TemporaryDirectory() as tmp:
            self.model.save(os.path.join(tmp, "ppo"))
            with open(os.path.join(tmp, "ppo.zip"), "rb") as f:
                model_bytes = f.read()
        state = {"model_zip": torch.frombuffer(bytearray(model_bytes), dtype=torch.uint8),
                 "counters": dict(self.counters), "num_timesteps": int(self.model.num_timesteps),
                 "trial_rng": repr(self.trial_env.rng.bit_generator.state), "act_generator": self.act_generator.get_state(),
                 "learn_rng": self.learn_rng,
                 "return_rms": [float(self.vec_env.ret_rms.mean), float(self.vec_env.ret_rms.var), float(self.vec_env.ret_rms.count)]}
        checkpoint.save_agent(path, self.config, state, extra=extra)

    def load(self, path: str) -> dict[str, Any]:
        """Restore what ``save`` wrote; a ``ValueError`` for a corrupt or foreign checkpoint. Returns ``extra``."""
        state = checkpoint.load_agent(path, self.config)
        with checkpoint.restoring(path):
            with tempfile.TemporaryDirectory() as tmp:
                zip_path = os.path.join(tmp, "ppo.zip")
                with open(zip_path, "wb") as f:
                    f.write(state["model_zip"].numpy().tobytes())
                self.model.set_parameters(zip_path, exact_match=True, device=self.model.device)
            self.model.num_timesteps = int(state["num_timesteps"])
            self.counters = defaultdict(float, state["counters"])
            self.model._n_updates = int(self.counters.get("updates", 0))
            self.trial_env.rng.bit_generator.state = ast.literal_eval(state["trial_rng"])
            self.act_generator.set_state(state["act_generator"])
            self.learn_rng = state["learn_rng"]
            rms = self.vec_env.ret_rms
            rms.mean, rms.var, rms.count = (np.float64(v) for v in state["return_rms"])
            self.model._last_obs = None
            self._ctx = None
            return checkpoint.extra_of(state)
