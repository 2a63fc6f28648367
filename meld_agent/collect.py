"""Batched collection (``train.collect_envs > 1``): the trials of an iteration stepped together, ``collect_envs`` at a
time, with one posterior-filter step and one actor forward per env step for all of them.

Each trial draws what the one-at-a-time path (``collect_envs=1``) draws for it: before a group of trials runs, the
agent's generators are read in the order that path reads them (per trial: the env's reset seed, the random phase's
uniform actions or whether the trial opens later episodes at random and those openings' actions, and the latent and
action noise of each step, which only depends on the trial's length), each trial gets its own copy of the noise
generator at the state where its trial would start, and the agent's generators end where that path leaves them. So
the trials, the replay and every later draw are those of ``collect_envs=1`` for the same seed, up to float rounding:
a batched matrix product rounds differently from a one-row one in the last bits (measured: up to ~4e-7 on MKL), so
the actions agree to ~1e-6. With ``train.collect_exact`` the policy runs one trial at a time (one-row forwards) and
the replay is bit for bit that of ``collect_envs=1``.

The envs run in this process (one per trial, cached by task as the one-at-a-time path caches them) or, with
``train.collect_async``, in a Gymnasium ``AsyncVectorEnv`` of ``collect_envs`` worker processes whose task is set at
each reset. Worker envs sit outside the ``TrainContext``'s ``StepBudget``: their steps are counted against the
context here, before each step is sent, so stepping past the allowance raises ``BudgetExhausted`` as an in-process
env would. Trials run in lockstep; a trial that ends early (a physics error) sits out the rest of its group (its
group's later trials then draw what they would have drawn after a full-length trial, unlike the one-at-a-time path).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch

from meld_agent.extensions import RandomOpenings
from meld_envs.interface import TrainContext
from meld_envs.wrappers import Trial

if TYPE_CHECKING:
    from meld_agent.agent import MELD


@dataclass
class TrialPlan:
    """What the one-at-a-time path draws for one trial, drawn beforehand."""

    task: int
    seed: int  # the env's reset seed
    random_actions: list[np.ndarray] | None = None  # the random phase's uniform actions, one per step
    openings: RandomOpenings | None = None  # extensions.random_opening_*: this trial's, when it explores
    generator: torch.Generator | None = None  # latent and action noise, at the trial's start


@dataclass
class _Row:
    """A running trial."""

    plan: TrialPlan
    obs: Any
    frames: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    shaped: list = field(default_factory=lambda: [0.0])
    sparse: list = field(default_factory=lambda: [0.0])
    reward_in: float = 0.0
    new_episode: bool = False
    success: bool = False
    steps: int = 0
    done: bool = False
    z2: torch.Tensor | None = None  # [1, z2]: the filter's last sample
    action: torch.Tensor | None = None  # [1, A]: the action taken last, as the belief reads it


def opening_draws(agent: MELD) -> int:
    """Uniform actions an exploring trial draws for its openings (``extensions.random_opening_*``): fixed unless
    ``random_opening_until_reward`` ends unheld openings at a reward, which batched collection cannot foresee."""
    c = agent.config.extensions
    if c.random_opening_until_reward and not c.random_opening_hold:
        raise ValueError("train.collect_envs > 1 with extensions.random_opening_until_reward and not random_opening_hold: "
                         "the openings' random draws then depend on the rewards met; collect with train.collect_envs=1")
    if c.random_opening_steps <= 0:
        return 0
    per_opening = 1 if c.random_opening_hold else min(c.random_opening_steps, agent.episode_steps)
    return (agent.trial_episodes - 1) * per_opening


def _advance(generator: torch.Generator, agent: MELD, steps: int) -> None:
    """Draw from ``generator`` what ``steps`` steps of the policy draw: z1's, z2's and the action's noise, each a
    one-row ``randn`` as ``meld_agent.networks`` draws it."""
    model = agent.learner.model
    sizes = (model.config.latent1_size, model.config.latent2_size, agent.action_size)
    for _ in range(steps):
        for size in sizes:
            torch.randn((1, size), generator=generator, device=agent.device, dtype=torch.float32)


def plan_trials(agent: MELD, order: list[int], random: bool) -> list[TrialPlan]:
    """The draws of trials on ``order`` (task indices), in the order the one-at-a-time path makes them."""
    plans = []
    draws = opening_draws(agent) if agent.random_openings is not None and not random else 0
    for task in order:
        plan = TrialPlan(int(task), int(agent.rng.integers(2**31)))
        if random:
            plan.random_actions = [agent._uniform_action() for _ in range(agent.trial_steps)]
        else:
            if agent.random_openings is not None:
                openings = RandomOpenings(agent.config.extensions, agent.episode_steps, lambda: None)
                if openings.start_trial(agent.rng):
                    queue = iter([agent._uniform_action() for _ in range(draws)])
                    openings.uniform_action = lambda queue=queue: next(queue)
                    plan.openings = openings
            plan.generator = torch.Generator(device=agent.device)
            plan.generator.set_state(agent.act_generator.get_state())
            _advance(agent.act_generator, agent, agent.trial_steps)
        plans.append(plan)
    return plans


def _policy_rows(agent: MELD, rows: list[_Row], exact: bool) -> list[np.ndarray]:
    """One filter step and actor forward for ``rows`` (``Learner.policy_step``), each trial's noise from its own
    generator: with ``exact`` one trial at a time, as ``MELD._policy`` calls it, otherwise all in one batch."""
    device = agent.device
    groups = [[r] for r in rows] if exact else [rows]
    out = []
    for group in groups:
        obs = torch.as_tensor(np.stack([np.asarray(r.obs) for r in group]), device=device)
        reward = torch.tensor([r.reward_in for r in group], dtype=torch.float32, device=device)
        prev = None if group[0].z2 is None else (  # lockstep: every trial of a group is at its first step together
            torch.cat([r.z2 for r in group]), torch.cat([r.action for r in group]))
        starts = torch.tensor([float(r.new_episode) for r in group], device=device)
        generators = group[0].plan.generator if exact else [r.plan.generator for r in group]
        _, z2, action = agent.learner.policy_step(obs, reward, prev, starts, generators)
        for i, r in enumerate(group):
            r.z2, r.action = z2[i:i + 1], action[i:i + 1]
            out.append(action[i].cpu().numpy().astype(np.float32))
    return out


def _actions(agent: MELD, rows: list[_Row]) -> list[np.ndarray]:
    if rows[0].plan.random_actions is not None:
        return [r.plan.random_actions[r.steps] for r in rows]
    actions = _policy_rows(agent, rows, exact=agent.config.train.collect_exact)
    for i, r in enumerate(rows):
        if r.plan.openings is not None:
            chosen = r.plan.openings.action(r.steps)
            if chosen is not None:  # the belief reads the opening's action as the one taken
                r.action = torch.as_tensor(chosen, device=agent.device).unsqueeze(0)
                actions[i] = chosen
    return actions


# -- envs ---------------------------------------------------------------------------------------------------------------
class LocalEnvs:
    """The trials' envs in this process: the agent's per-task envs (a second one for a task met twice in a group)."""

    def __init__(self, agent: MELD, ctx: TrainContext, tasks: list) -> None:
        self.agent, self.ctx, self.tasks = agent, ctx, tasks
        self.envs: list[gym.Env] = []

    def reset(self, plans: list[TrialPlan]) -> list[Any]:
        self.envs, seen = [], {}
        for plan in plans:
            copy = seen[plan.task] = seen.get(plan.task, -1) + 1
            env = self.agent._env(self.ctx, self.tasks, plan.task, copy)
            if self.agent.trial_episodes == 1 and isinstance(env, Trial):  # appendix C's stage 1: single episodes
                env = env.env
            self.envs.append(env)
        return [env.reset(seed=plan.seed)[0] for env, plan in zip(self.envs, plans)]

    def step(self, index: list[int], actions: list[np.ndarray]) -> list[tuple]:
        out = []
        for i, action in zip(index, actions):
            obs, reward, terminated, truncated, info = self.envs[i].step(action)
            out.append((obs, terminated or truncated, *step_outcome(reward, info)))
        return out

    def close(self) -> None:
        pass  # the agent's envs, closed with them


def step_outcome(reward: float, info: dict) -> tuple[float, float, bool, bool]:
    """(shaped, sparse, success, episode_end) of a step, as the one-at-a-time path reads them."""
    new_episode = bool(info.get("episode_end", False))
    step_info = info["final_info"] if new_episode else info  # Trial: the ended episode's step
    return (float(step_info.get("shaped_reward", reward)), float(step_info.get("sparse_reward", reward)),
            bool(step_info.get("success", False)), new_episode)


class _Slot(gym.Wrapper):
    """A worker's env: reset with ``options={"tasks": [...]}`` takes its slot's task; a NaN action leaves it idle
    (no step); ``info`` carries what the collector reads, flat."""

    def __init__(self, env: gym.Env, slot: int) -> None:
        super().__init__(env)
        self.slot = slot
        self._obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        task = (options or {}).get("tasks", [None] * (self.slot + 1))[self.slot]
        self._obs, _ = self.env.reset(seed=seed, options=None if task is None else {"task": task})
        return self._obs, {}

    def step(self, action):
        if np.isnan(np.asarray(action, dtype=np.float64)).any():
            if self._obs is None:  # never reset: a slot no trial has used yet
                self._obs = np.zeros(self.observation_space.shape, self.observation_space.dtype)
            return self._obs, 0.0, False, False, {"shaped": 0.0, "sparse": 0.0, "success": False, "episode_end": False}
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._obs = obs
        shaped, sparse, success, new_episode = step_outcome(reward, info)
        return obs, reward, terminated, truncated, {"shaped": shaped, "sparse": sparse, "success": success,
                                                    "episode_end": new_episode}


class _SlotMaker:
    """A picklable maker of slot ``slot``'s env: a train-split env as ``TrainContext.make_env`` makes it (shaped
    reward mode, trials of ``episodes`` episodes), without the budget wrapper (the parent counts)."""

    def __init__(self, env_id: str, obs_mode: str, task: Any, episodes: int, slot: int) -> None:
        self.env_id, self.obs_mode, self.task, self.episodes, self.slot = env_id, obs_mode, task, episodes, slot

    def __call__(self) -> gym.Env:
        import meld_envs  # noqa: F401  (registers the ids in a fresh worker process)

        env: gym.Env = gym.make(self.env_id, task=self.task, split="train", reward_mode="shaped", obs_mode=self.obs_mode)
        if self.episodes > 1:
            env = Trial(env, episodes=self.episodes)
        return _Slot(env, self.slot)


class VectorEnvs:
    """The trials' envs in ``n`` worker processes (Gymnasium ``AsyncVectorEnv``, no autoreset); steps are counted
    against ``ctx`` before they are sent."""

    def __init__(self, agent: MELD, ctx: TrainContext, tasks: list, n: int) -> None:
        self.ctx, self.tasks, self.n = ctx, tasks, n
        self.episodes = agent.trial_episodes
        self.action_size = agent.action_size
        makers = [_SlotMaker(ctx.env_info.env_id, ctx.obs_mode, tasks[0], self.episodes, i) for i in range(n)]
        self.vec = gym.vector.AsyncVectorEnv(makers, autoreset_mode=gym.vector.AutoresetMode.DISABLED)

    def reset(self, plans: list[TrialPlan]) -> list[Any]:
        k = len(plans)
        mask = np.arange(self.n) < k
        seeds = [p.seed for p in plans] + [None] * (self.n - k)
        tasks = [self.tasks[p.task] for p in plans] + [None] * (self.n - k)
        obs, _ = self.vec.reset(seed=seeds, options={"tasks": tasks, "reset_mask": mask})
        return [obs[i] for i in range(k)]

    def step(self, index: list[int], actions: list[np.ndarray]) -> list[tuple]:
        batch = np.full((self.n, self.action_size), np.nan, dtype=np.float32)
        for i, action in zip(index, actions):
            self.ctx.take_step()  # BudgetExhausted before any env moves
            batch[i] = action
        obs, _, terminated, truncated, info = self.vec.step(batch)
        return [(obs[i], bool(terminated[i] or truncated[i]), float(info["shaped"][i]), float(info["sparse"][i]),
                 bool(info["success"][i]), bool(info["episode_end"][i])) for i in index]

    def close(self) -> None:
        self.vec.close()


# -- the collector ------------------------------------------------------------------------------------------------------
def collect_group(agent: MELD, envs: LocalEnvs | VectorEnvs, plans: list[TrialPlan]) -> list[tuple[int, float, float]]:
    """Run ``plans`` together (at most ``collect_envs`` of them); store each trial that ran its full length, in the
    plans' order. Returns (env steps, shaped return, last step's success) per trial."""
    rows = [_Row(plan, obs, frames=[obs]) for plan, obs in zip(plans, envs.reset(plans))]
    while True:
        active = [i for i, r in enumerate(rows) if not r.done]
        if not active:
            break
        actions = _actions(agent, [rows[i] for i in active])
        for i, action, (obs, done, shaped, sparse, success, new_episode) in zip(active, actions, envs.step(active, actions)):
            r = rows[i]
            r.steps += 1
            r.new_episode, r.success, r.done, r.obs = new_episode, success, done, obs
            r.shaped.append(shaped)
            r.sparse.append(sparse)
            if r.plan.openings is not None:
                r.plan.openings.observe(sparse)
            r.frames.append(obs)
            r.actions.append(action)
            r.reward_in = {"shaped": shaped, "sparse": sparse, "none": 0.0}[agent.reward_input]
    for r in rows:
        agent._store_trial(r.plan.task, r.frames, r.actions, r.shaped, r.sparse)
    return [(r.steps, float(np.sum(r.shaped)), float(r.success)) for r in rows]


def collect(agent: MELD, ctx: TrainContext, tasks: list, order: list[int], random: bool) -> list[tuple[int, float, float]]:
    """Trials on ``order`` (indices into ``tasks``), ``train.collect_envs`` at a time."""
    n = agent.config.train.collect_envs
    out: list[tuple[int, float, float]] = []
    for start in range(0, len(order), n):
        plans = plan_trials(agent, order[start:start + n], random)
        out += collect_group(agent, agent._collect_envs(ctx, tasks), plans)
    return out
