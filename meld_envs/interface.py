"""The agent contract: what an agent is told, how its meta-training steps are counted, and the meta-test trial.

One module, imported by the leaderboard's protocol and by every agent package alike (it needs neither torch nor
``leaderboards``), so that an agent's own evaluation reports the protocol's number on the same tasks and seeds:

- ``EnvInfo`` / ``env_info``: what an agent knows about its environment before it starts.
- ``TrainContext``: handed to ``Agent.meta_train``; its envs are on train tasks and count every step against an
  allowance through the one ``StepBudget`` wrapper, which raises the one ``BudgetExhausted``.
- ``run_trial`` / ``run_trials``: one meta-test trial as the protocol runs it (Algorithm 2): the agent sees the
  observation, the reward of its test reward mode (the sparse one on sparse tasks, never the shaped one) and an
  ``info`` with only ``episode_in_trial`` and ``episode_end``. ``eval_seed`` gives the protocol's reset seeds. An agent
  that declares ``exploration_episodes`` gets that many unscored episodes on the same task first
  (``exploration_seed`` gives their reset seeds); ``meta_test_actions`` says whether it samples its actions or takes
  their mean at meta-test. Both are recorded with every result.
- ``Agent``: the methods the protocol calls; ``RandomAgent``: the floor every agent must beat.

Life of an agent in one protocol run::

    agent = AgentClass(env_info, seed=seed, **config_overrides)
    for chunk in chunks_between_evaluation_points:
        ctx.allow(chunk); agent.meta_train(ctx, chunk)     # one step too many raises BudgetExhausted
        for each test task and trial: run_trial(agent, test_env, task, eval_seed(task, trial))
    agent.save(path); AgentClass(env_info, seed=seed, **config_overrides).load(path)  # resume after a kill
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from meld_envs.registry import entry
from meld_envs.tasks import Task, resolve, tasks
from meld_envs.wrappers import Trial

VISIBLE_INFO_KEYS = ("episode_in_trial", "episode_end")  # what of a step's info an agent sees at meta-test
_EVAL_SEED = 20_201_116  # root of the meta-test reset seeds: the same starts for every agent and run seed
_EXPLORATION_SEED = 20_190_531  # root of the exploration episodes' reset seeds (another root: other starts)
ACTION_MODES = ("sampled", "mean")  # what an agent's ``meta_test_actions`` may say


@dataclass(frozen=True)
class EnvInfo:
    """What an agent is told about its environment before it starts."""

    env_id: str
    observation_space: gym.Space  # uint8 (H, W, 3) pixels, or float32 (S,) states in obs_mode "state"
    action_space: gym.spaces.Box  # in [-1, 1]
    max_episode_steps: int
    episodes_per_trial: int  # 1 for dense tasks, 2 for sparse ones (ButtonPress, Nav2D, WidowX)
    sparse_at_test: bool  # at meta-test the agent sees the sparse reward only


def env_info(env_id: str, obs_mode: str = "pixels") -> EnvInfo:
    """The ``EnvInfo`` of a registered environment in ``obs_mode`` (spaces read from an env made here and closed)."""
    e = entry(env_id)  # a clear ValueError listing the known ids
    env = gym.make(env_id, task=0, split="test", obs_mode=obs_mode)
    try:
        return EnvInfo(env_id, env.observation_space, env.action_space, e.max_episode_steps, e.episodes_per_trial,
                       sparse_at_test=e.episodes_per_trial > 1)  # registry: 2 episodes exactly where the test reward is sparse
    finally:
        env.close()


def obs_mode_of(space: gym.Space) -> str:
    """``"pixels"`` for uint8 (H, W, 3) images, ``"state"`` for flat vectors; a ``ValueError`` otherwise."""
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8:
        return "pixels"
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return "state"
    raise ValueError(f"observation space {space}: the agents take uint8 (H, W, 3) images or a flat float state")


# -- meta-training: the step budget --------------------------------------------------------------------------------
class BudgetExhausted(RuntimeError):
    """An env of a ``TrainContext`` was stepped beyond the allowance of the current ``meta_train`` call."""


class StepBudget(gym.Wrapper):
    """Counts every step of the wrapped env against ``context``'s allowance; the step past it raises
    ``BudgetExhausted`` before the simulator moves.

    The count is taken at the innermost env: its ``step`` is routed through the budget, so neither the wrappers
    above this one (``Trial``) nor ``env.unwrapped`` get around it.
    """

    def __init__(self, env: gym.Env, context: TrainContext) -> None:
        super().__init__(env)
        base = env.unwrapped
        inner: Callable = base.step

        def step(action: Any):
            context.take_step()
            return inner(action)

        base.step = step  # an instance attribute shadows the class method for every caller


class TrainContext:
    """Handed to ``Agent.meta_train``: the train tasks of ``info.env_id`` and envs on them that count every step.

    ``allow(n)`` opens the next ``meta_train`` call's allowance of ``n`` steps (steps left unused are not carried
    over); ``steps_used`` counts the steps of the whole run. Every env of ``make_env`` is a ``gym.Env`` whose step
    ``info`` carries ``shaped_reward`` and ``sparse_reward`` (meta-training may use both, paper appendix C) and,
    with ``episodes_per_trial > 1``, is wrapped in ``meld_envs.Trial``. ``num_train_tasks`` keeps the first n.
    """

    def __init__(self, info: EnvInfo, obs_mode: str = "pixels", num_train_tasks: int | None = None) -> None:
        self.env_info = info
        self.obs_mode = obs_mode
        self.train_tasks: list[Task] = tasks(info.env_id, "train", num_train_tasks)
        self.steps_used = 0
        self._limit = 0
        self._envs: list[gym.Env] = []

    @property
    def steps_remaining(self) -> int:
        """Env steps left in the current ``meta_train`` call."""
        return self._limit - self.steps_used

    def allow(self, steps: int) -> None:
        self._limit = self.steps_used + int(steps)

    def take_step(self) -> None:
        """Count one env step; ``BudgetExhausted`` when the allowance is used up (called by ``StepBudget``)."""
        if self.steps_used >= self._limit:
            raise BudgetExhausted(f"{self.env_info.env_id}: the meta-training allowance is used up "
                                  f"({self.steps_used} env steps taken, {self._limit} allowed so far)")
        self.steps_used += 1

    def make_env(self, task: Task | int, reward_mode: str = "shaped") -> gym.Env:
        """A Gymnasium env on train task ``task`` (a ``Task`` of the train split or an index)."""
        if isinstance(task, Task) and task.split != "train":
            raise ValueError(f"meta-training may use train tasks only; got {task!r}")
        task = resolve(self.env_info.env_id, task, "train")
        env: gym.Env = StepBudget(gym.make(self.env_info.env_id, task=task, split="train", reward_mode=reward_mode,
                                           obs_mode=self.obs_mode), self)
        if self.env_info.episodes_per_trial > 1:
            env = Trial(env, episodes=self.env_info.episodes_per_trial)
        self._envs.append(env)
        return env

    def close(self) -> None:
        """Close every env made here."""
        for env in self._envs:
            env.close()
        self._envs.clear()


# -- the agent ------------------------------------------------------------------------------------------------------
@runtime_checkable
class Agent(Protocol):
    """A meta-RL agent, as the protocol sees it. Nothing needs to be subclassed: any object with these methods is one,
    built as ``AgentClass(env_info: EnvInfo, seed: int, **config_overrides)``."""

    def meta_train(self, ctx: TrainContext, steps: int) -> Any:
        """Meta-train further for at most ``steps`` env steps on ``ctx``'s train tasks.

        Called once per evaluation interval; the agent keeps its state (replay, networks, optimizers) between calls.
        Stepping past the allowance raises ``BudgetExhausted``."""

    def reset(self) -> None:
        """A test trial on a new, unknown task begins: forget the task, keep what was learned.

        Called once per trial, before its exploration episodes (if any): the agent keeps its memory across those
        and into the scored episodes."""

    def act(self, obs: Any, reward: float, info: dict[str, Any]) -> np.ndarray:
        """The action for ``obs``, given the reward of the previous step (0.0 at the first step after ``reset``).

        ``info`` holds only what the agent may see: ``episode_in_trial`` and, on the first step of a later episode
        of the trial, ``episode_end=True``. During an exploration episode (see ``exploration_episodes``) it holds
        ``exploration=True`` and ``exploration_episode`` (0-based) instead of ``episode_in_trial``; the first step
        of every episode after the first carries ``episode_end=True`` and the reward of the previous episode's last
        step, so the scored trial's first step after exploration has ``episode_in_trial=0, episode_end=True``."""

    # Optional attributes, read by the protocol with ``getattr`` (an agent without them is valid):
    #
    # ``exploration_episodes: int`` (absent: 0): unscored episodes the agent asks for on the task of each meta-test
    #     trial, run after ``reset`` and before the scored trial, reset with ``exploration_seed`` (starts the scored
    #     trial never uses). Their env steps are counted (``TrialResult.exploration_steps``) and every results header
    #     and report shows the number next to the score: an agent that needs an exploration phase (PEARL) is scored
    #     after it, and readers see who got extra episodes.
    # ``meta_test_actions: str`` (absent: "unstated"): ``"sampled"`` when the agent draws its actions from its policy
    #     at meta-test, ``"mean"`` when it takes the policy's mean (deterministic) action. Recorded and reported.

    def save(self, path: str) -> Any:
        """Write everything needed to continue exactly into the folder ``path``.

        The protocol passes a fresh folder each time and commits the checkpoint atomically only after ``save``
        returns, so an agent need not make its own writes atomic."""

    def load(self, path: str) -> Any:
        """Restore what ``save`` wrote; a clear ``ValueError`` when the checkpoint is corrupt.

        Called on a freshly constructed agent; the ``TrainContext`` after a resume is a new one (environments made
        through the old one are gone)."""


@dataclass(frozen=True)
class RandomConfig:
    """Settings of the random agent."""

    action_scale: float = 1.0  # actions ~ U[-scale, scale] per dimension (the action space is [-1, 1])
    train_steps_per_call: int | None = None  # env steps to take in each meta_train call; None = all allowed


class RandomAgent:
    """Uniform random actions from an owned generator, no learning: the floor every agent must beat. It
    "meta-trains" by stepping train tasks at random, so the protocol's step counting and timing are exercised as a
    real agent's are."""

    meta_test_actions = "sampled"  # uniform draws; no exploration episodes

    def __init__(self, env_info: EnvInfo, seed: int = 0, **overrides: Any) -> None:
        self.env_info = env_info
        self.config = RandomConfig(**overrides)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._envs: dict[int, gym.Env] = {}
        self._ctx: TrainContext | None = None
        self.counters: dict[str, float] = defaultdict(float)
        self.logger: Callable[[dict[str, float], int], None] | None = None  # set by a train run

    def meta_train(self, ctx: TrainContext, steps: int) -> None:
        if ctx is not self._ctx:
            self._envs, self._ctx = {}, ctx
        todo = steps if self.config.train_steps_per_call is None else min(steps, self.config.train_steps_per_call)
        while todo > 0:
            task = int(self._rng.integers(len(ctx.train_tasks)))
            if task not in self._envs:
                self._envs[task] = ctx.make_env(task)
            env = self._envs[task]
            env.reset(seed=int(self._rng.integers(2**31)))
            done = False
            while not done and todo > 0:
                _, _, terminated, truncated, _ = env.step(self._action())
                done = terminated or truncated
                todo -= 1
                self.counters["env_steps"] += 1

    def reset(self) -> None:
        pass

    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        return self._action()

    def _action(self) -> np.ndarray:
        s = self.config.action_scale
        return self._rng.uniform(-s, s, size=self.env_info.action_space.shape).astype(np.float32)

    def save(self, path: str, extra: dict[str, Any] | None = None) -> None:
        os.makedirs(path, exist_ok=True)
        state = {"config": asdict(self.config), "seed": self.seed, "rng": self._rng.bit_generator.state,
                 "counters": dict(self.counters), "extra": extra or {}}
        tmp = os.path.join(path, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, os.path.join(path, "state.json"))

    def load(self, path: str) -> dict[str, Any]:
        try:
            with open(os.path.join(path, "state.json")) as f:
                state = json.load(f)
            self._rng.bit_generator.state = state["rng"]
            self.counters = defaultdict(float, state.get("counters", {}))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"corrupt or missing random-agent checkpoint in {path}: {e}") from e
        self._envs.clear()  # envs belong to the context of the run that made them
        return dict(state.get("extra", {}))


# -- meta-test ------------------------------------------------------------------------------------------------------
def eval_seed(task_index: int, trial: int) -> int:
    """The reset seed of meta-test trial ``trial`` on task ``task_index``: the same for every agent and run."""
    return int(np.random.SeedSequence([_EVAL_SEED, task_index, trial]).generate_state(1)[0])


def exploration_seed(trial_seed: int, episode: int) -> int:
    """The reset seed of exploration episode ``episode`` (0-based) before the trial reset with ``trial_seed``:
    derived from both under another root than ``eval_seed``'s, so deterministic and never the trial's own seed."""
    if isinstance(episode, bool) or not isinstance(episode, (int, np.integer)) or episode < 0:
        raise ValueError(f"episode={episode!r}: must be a non-negative integer")
    bump = 0
    while True:  # a collision with the trial's seed is astronomically unlikely; stepping past it keeps them distinct
        seed = int(np.random.SeedSequence([_EXPLORATION_SEED, int(trial_seed), int(episode), bump]).generate_state(1)[0])
        if seed != int(trial_seed):
            return seed
        bump += 1


def exploration_episodes_of(agent: Any) -> int:
    """The agent's ``exploration_episodes`` (0 when it has none); a ``ValueError`` for anything but an integer >= 0."""
    n = getattr(agent, "exploration_episodes", 0)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{type(agent).__name__}.exploration_episodes={n!r}: must be an integer >= 0 "
                         "(unscored episodes on the trial's task before the scored trial; 0 = none)")
    return int(n)


def meta_test_actions_of(agent: Any) -> str | None:
    """The agent's ``meta_test_actions`` (None when it does not say); a ``ValueError`` for a value other than
    those of ``ACTION_MODES``."""
    mode = getattr(agent, "meta_test_actions", None)
    if mode is not None and mode not in ACTION_MODES:
        raise ValueError(f"{type(agent).__name__}.meta_test_actions={mode!r}; allowed: "
                         f"{', '.join(map(repr, ACTION_MODES))} (or no such attribute: unstated)")
    return mode


@dataclass
class TrialResult:
    """One meta-test trial of ``E`` episodes."""

    task: int
    episode_returns: list[float]  # [E] returns of the reward the agent saw
    episode_shaped_returns: list[float]  # [E] returns of the shaped reward (hidden from the agent on sparse tasks)
    episode_success: list[bool]  # [E] the episode's final step succeeded (paper B.1)
    rewards: list[float] = field(default_factory=list)  # reward of every step, as the agent saw it
    shaped_rewards: list[float] = field(default_factory=list)
    predictions: list[tuple[float, float]] = field(default_factory=list)  # the agent's predicted reward mean/std per step
    exploration_returns: list[float] = field(default_factory=list)  # [exploration episodes] returns the agent saw, unscored
    exploration_steps: int = 0  # env steps of the exploration episodes before the trial

    @property
    def steps(self) -> int:
        """Env steps of the scored trial (``exploration_steps`` not included)."""
        return len(self.rewards)


def make_test_env(env_id: str, split: str = "test", obs_mode: str = "pixels", task: Task | int = 0,
                  render_mode: str | None = None) -> gym.Env:
    """A meta-test env: the sparse reward on sparse tasks (the shaped one otherwise), trials of the registry's
    ``episodes_per_trial``. ``run_trial`` switches its task at each reset."""
    episodes = entry(env_id).episodes_per_trial
    env = gym.make(env_id, task=task, split=split, reward_mode="sparse" if episodes > 1 else "shaped",
                   obs_mode=obs_mode, render_mode=render_mode)
    return Trial(env, episodes=episodes) if episodes > 1 else env


def _explore(agent: Any, env: gym.Env, task: int, seed: int, episodes: int) -> tuple[list[float], int, float]:
    """``episodes`` unscored episodes of ``agent`` on ``task``, each one episode of the env inside ``Trial`` reset with
    ``exploration_seed(seed, k)``. Returns their returns (the reward the agent saw), their env steps and the reward
    of the last step (the agent gets it with the next episode's first observation)."""
    inner = env.env if isinstance(env, Trial) else env  # one episode, not a trial of several
    returns, steps, reward = [], 0, 0.0
    for k in range(episodes):
        obs, _ = inner.reset(seed=exploration_seed(seed, k), options={"task": task})
        visible: dict[str, Any] = {"exploration": True, "exploration_episode": k}
        if k > 0:
            visible["episode_end"] = True
        total = 0.0
        while True:
            action = agent.act(obs, reward, visible)
            obs, r, terminated, truncated, _ = inner.step(action)
            reward = float(r)
            total += reward
            steps += 1
            if terminated or truncated:
                break
            visible = {"exploration": True, "exploration_episode": k}
        returns.append(total)
    return returns, steps, reward


def run_trial(agent: Any, env: gym.Env, task: int, seed: int, frames: list[np.ndarray] | None = None) -> TrialResult:
    """One meta-test trial of ``agent`` on task ``task`` of ``env``'s split (``make_test_env``), reset with ``seed``,
    after the agent's ``exploration_episodes`` (unscored, on the same task, reset with ``exploration_seed(seed, k)``;
    the agent is ``reset`` once, before them, and keeps its memory into the trial).
    With ``frames``, appends the env's ``render()`` frame of every step of the scored trial (the env needs
    ``render_mode="rgb_array"``). An agent with ``record_predictions`` / ``predictions`` (MELD) has its reward
    predictions kept."""
    n_explore = exploration_episodes_of(agent)
    episodes = env.episodes if isinstance(env, Trial) else 1
    returns, shaped, success = [0.0] * episodes, [0.0] * episodes, [False] * episodes
    rewards: list[float] = []
    shaped_rewards: list[float] = []
    recording = getattr(agent, "record_predictions", None)
    if recording is not None:
        agent.record_predictions = True
    agent.reset()
    exploration_returns, exploration_steps, reward = _explore(agent, env, task, seed, n_explore)
    if n_explore and isinstance(getattr(agent, "predictions", None), list):
        agent.predictions.clear()  # the kept predictions are the scored trial's
    obs, _ = env.reset(seed=seed, options={"task": task})
    if frames is not None:
        frames.append(env.render())
    visible: dict[str, Any] = {"episode_in_trial": 0, **({"episode_end": True} if n_explore else {})}
    while True:
        action = agent.act(obs, reward, visible)
        obs, reward, terminated, truncated, info = env.step(action)
        reward = float(reward)
        ended = info["final_info"] if info.get("episode_end") else info  # the episode this step belongs to
        episode = int(ended.get("episode_in_trial", 0))
        returns[episode] += reward
        shaped[episode] += float(ended["shaped_reward"])
        success[episode] = bool(ended["success"])  # paper B.1: an episode's success is its final step's
        rewards.append(reward)
        shaped_rewards.append(float(ended["shaped_reward"]))
        if frames is not None:
            frames.append(env.render())
        if terminated or truncated:
            break
        visible = {k: info[k] for k in VISIBLE_INFO_KEYS if k in info}
    predictions = list(getattr(agent, "predictions", []))
    if recording is not None:
        agent.record_predictions = recording
    return TrialResult(task, returns, shaped, success, rewards, shaped_rewards, predictions, exploration_returns,
                       exploration_steps)


def run_trials(agent: Any, env_id: str, split: str = "test", task_indices: list[int] | None = None,
               trials_per_task: int = 1, obs_mode: str = "pixels", seed: int | None = None,
               video_dir: str | None = None, on_trial: Callable[[int, int], None] | None = None) -> list[TrialResult]:
    """``trials_per_task`` trials of ``agent`` on each task of ``split`` (all when ``task_indices`` is None), in one
    env. Reset seeds are the protocol's (``eval_seed``) unless ``seed`` is given, which draws other starts
    (``seed + 1000 * task + trial``), e.g. to validate on train tasks with starts the protocol never uses. With
    ``video_dir``, writes ``<split>_task<i>_trial<j>.mp4`` of the render frames (goal drawn). ``on_trial(done, total)``
    is called after each trial (a progress bar's hook)."""
    indices = list(range(len(tasks(env_id, split)))) if task_indices is None else list(task_indices)
    env = make_test_env(env_id, split, obs_mode, render_mode="rgb_array" if video_dir else None)
    results = []
    try:
        for task in indices:
            for trial in range(trials_per_task):
                frames: list[np.ndarray] | None = [] if video_dir else None
                trial_seed = eval_seed(task, trial) if seed is None else seed + 1000 * task + trial
                results.append(run_trial(agent, env, task, trial_seed, frames))
                if video_dir and frames:
                    _write_video(os.path.join(video_dir, f"{split}_task{task}_trial{trial}.mp4"), frames,
                                 env.metadata.get("render_fps", 10))
                if on_trial is not None:
                    on_trial(len(results), len(indices) * trials_per_task)
    finally:
        env.close()
    return results


def _write_video(path: str, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v2 as imageio

    os.makedirs(os.path.dirname(path), exist_ok=True)
    imageio.mimwrite(path, frames, fps=fps, macro_block_size=1)
