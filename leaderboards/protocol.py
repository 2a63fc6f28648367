"""The standard meld-bench protocol, ``meld-v1``: budgets, presets, step counting, meta-test.

One protocol run is one agent x one environment x one seed::

    evaluate at 0 steps, then for each of ``eval_points`` equal chunks of ``budget_steps``:
        agent.meta_train(ctx, chunk)    # ctx counts every env step; one too many raises BudgetExhausted
        evaluate on the held-out test tasks

The protocol owns every environment. Meta-training envs come from ``ProtocolContext.make_env``
(train tasks only, both rewards in ``info``). Meta-test envs are stepped by the protocol: the
agent gets the observation, the reward it may see (the sparse one on sparse tasks, never the
shaped one) and an ``info`` with only ``episode_in_trial`` and ``episode_end``.

Metrics of one evaluation (paper section 5, appendix B.1): an episode succeeds when its final
step's ``info["success"]`` is true; the headline ``success_rate`` is that of the trial's last
episode (after adaptation), averaged over trials and test tasks; returns are kept per episode
of the trial so adaptation from episode 1 to 2 shows.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

import meld_envs
from leaderboards.interface import BudgetExhausted, EnvInfo
from meld_envs.tasks import Task, resolve

PROTOCOL_VERSION = "meld-v1"
_EVAL_SEED = 20_201_116  # root of the meta-test reset seeds: the same starts for every agent and run seed
_VISIBLE_INFO_KEYS = ("episode_in_trial", "episode_end")


@dataclass(frozen=True)
class EnvProtocol:
    """The protocol's settings for one environment (what a results file's header records)."""

    env_id: str
    budget_steps: int  # meta-training environment steps, all train tasks together
    eval_points: int  # evaluations after training chunks; one more happens before any training
    episodes_per_trial: int  # 1 for dense tasks, 2 for sparse ones (registry)
    sparse_at_test: bool  # at meta-test the agent sees the sparse reward only
    trials_per_task: int  # meta-test trials on each test task per evaluation
    test_tasks: tuple[int, ...]  # indices into the test split
    max_episode_steps: int

    @property
    def eval_steps(self) -> list[int]:
        """Nominal meta-training steps at each evaluation: ``[0, budget/n, ..., budget]``."""
        return [self.budget_steps * k // self.eval_points for k in range(self.eval_points + 1)]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["test_tasks"] = list(self.test_tasks)
        return d


@dataclass(frozen=True)
class Preset:
    """A named set of protocol settings; ``for_env`` applies it to one environment."""

    name: str
    budget_steps: int  # default meta-training budget (env steps)
    eval_points: int  # evaluations after training (every budget/eval_points steps) + one at 0
    trials_per_task: int
    num_test_tasks: int | None  # the first n test tasks; None = the whole test split
    seeds: tuple[int, ...]  # default seeds of ``leaderboards.run``
    budget_overrides: tuple[tuple[str, int], ...] = field(default=())  # (env id, budget) pairs
    description: str = ""

    def for_env(self, env_id: str) -> EnvProtocol:
        e = meld_envs.entry(env_id)  # a clear ValueError listing known ids
        n_test = e.num_test_tasks if self.num_test_tasks is None else min(self.num_test_tasks, e.num_test_tasks)
        return EnvProtocol(
            env_id=env_id,
            budget_steps=int(dict(self.budget_overrides).get(env_id, self.budget_steps)),
            eval_points=self.eval_points,
            episodes_per_trial=e.episodes_per_trial,
            sparse_at_test=e.episodes_per_trial > 1,  # registry: 2 episodes exactly where the test reward is sparse
            trials_per_task=self.trials_per_task,
            test_tasks=tuple(range(n_test)),
            max_episode_steps=e.max_episode_steps,
        )


# The paper's text gives no step budgets (Figure 5 shows them only on its x axes): 1M steps per
# environment is our reading of those axes, recorded in every results header so runs stay comparable.
PRESETS: dict[str, Preset] = {
    "paper": Preset(
        name="paper", budget_steps=1_000_000, eval_points=20, trials_per_task=2, num_test_tasks=None,
        seeds=(0, 1, 2), description="the paper's scale: 1M env steps, an evaluation every 5%, 3 seeds, all test tasks",
    ),
    "smoke": Preset(
        name="smoke", budget_steps=200, eval_points=2, trials_per_task=1, num_test_tasks=2,
        seeds=(0,), description="a minutes-long check of the whole pipeline: 200 env steps, 2 test tasks, 1 seed",
    ),
}


def preset(name: str) -> Preset:
    """The preset called ``name``; a ``ValueError`` listing the presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}") from None


def all_env_ids() -> list[str]:
    """What ``--env all`` means: every registered environment that runs unattended, read from the
    registry (a real robot, ``real_robot=True``, joins a sweep only when named explicitly)."""
    return [e.id for e in meld_envs.registry.SIMULATED]


def env_ids(selection: str | list[str]) -> list[str]:
    """Environment ids from ``"all"`` (``all_env_ids()``) or from ids."""
    known = [e.id for e in meld_envs.ENVIRONMENTS]
    wanted = [selection] if isinstance(selection, str) else list(selection)
    if wanted == ["all"]:
        return all_env_ids()
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ValueError(f"unknown environment {', '.join(map(repr, unknown))}; available: all, {', '.join(known)}")
    return list(dict.fromkeys(wanted))


def expected_params(preset_name: str, env_id: str) -> dict[str, Any]:
    """The settings a results header of ``preset_name`` on ``env_id`` must carry (as JSON)."""
    return preset(preset_name).for_env(env_id).to_json()


def task_split_hash(env_id: str) -> str:
    """``sha256:<hex>`` of ``env_id``'s default train and test splits (ids, indices, parameters).

    Two results are comparable only if their hashes agree: a changed task sampler, seed or split
    size changes it.
    """
    splits = {
        split: [[t.index, {k: t.params[k] for k in t.params}] for t in meld_envs.tasks(env_id, split)]
        for split in meld_envs.SPLITS
    }
    blob = json.dumps({"env_id": env_id, "splits": splits}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def eval_seed(task_index: int, trial: int) -> int:
    """The reset seed of meta-test trial ``trial`` on test task ``task_index`` (same for every run)."""
    return int(np.random.SeedSequence([_EVAL_SEED, task_index, trial]).generate_state(1)[0])


def env_info(proto: EnvProtocol, env: gym.Env | None = None) -> EnvInfo:
    """What an agent is told about ``proto``'s environment before it starts (spaces read from
    ``env``, or from an env made here and closed)."""
    own = env is None
    if own:
        env = gym.make(proto.env_id, task=0, split="test")
    try:
        return EnvInfo(
            env_id=proto.env_id,
            observation_space=env.observation_space,
            action_space=env.action_space,
            max_episode_steps=proto.max_episode_steps,
            episodes_per_trial=proto.episodes_per_trial,
            sparse_at_test=proto.sparse_at_test,
        )
    finally:
        if own:
            env.close()


class ProtocolContext:
    """The ``TrainContext`` of a protocol run: train tasks, and envs that count every step.

    Steps are counted on the innermost environment, so neither wrappers nor ``env.unwrapped``
    get around the count. ``allow(n)`` opens a meta-training call's allowance of ``n`` steps;
    steps an agent leaves unused are not carried over.
    """

    def __init__(self, info: EnvInfo) -> None:
        self.env_info = info
        self.train_tasks: list[Task] = meld_envs.tasks(info.env_id, "train")
        self.steps_used = 0  # meta-training env steps over the whole run
        self._limit = 0
        self._envs: list[gym.Env] = []

    @property
    def steps_remaining(self) -> int:
        return self._limit - self.steps_used

    def allow(self, steps: int) -> None:
        self._limit = self.steps_used + int(steps)

    def make_env(self, task: Task | int, reward_mode: str = "shaped") -> gym.Env:
        """A Gymnasium env on train task ``task`` (a ``Task`` of the train split or an index)."""
        if isinstance(task, Task) and task.split != "train":
            raise ValueError(f"meta-training may use train tasks only; got {task!r}")
        task = resolve(self.env_info.env_id, task, "train")
        env = gym.make(self.env_info.env_id, task=task, split="train", reward_mode=reward_mode)
        self._meter(env.unwrapped)
        if self.env_info.episodes_per_trial > 1:
            env = meld_envs.Trial(env, episodes=self.env_info.episodes_per_trial)
        self._envs.append(env)
        return env

    def _meter(self, base: gym.Env) -> None:
        inner_step: Callable = base.step

        def step(action):
            if self.steps_used >= self._limit:
                raise BudgetExhausted(
                    f"{self.env_info.env_id}: the meta-training allowance is used up "
                    f"({self.steps_used} env steps taken, {self._limit} allowed so far)"
                )
            result = inner_step(action)
            self.steps_used += 1
            return result

        base.step = step  # an instance attribute shadows the class method for every wrapper above it

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs.clear()


def _nan_safe_mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate(agent: Any, proto: EnvProtocol, env: gym.Env) -> dict[str, Any]:
    """Meta-test ``agent`` on ``proto``'s test tasks; ``env`` is a test-split env of the right
    reward mode (``make_test_env``). Returns the metrics of one evaluation record."""
    per_task = []
    eval_steps = 0
    for task_index in proto.test_tasks:
        successes, returns = [], []
        for trial in range(proto.trials_per_task):
            s, r, n = _run_trial(agent, proto, env, task_index, trial)
            successes.append(s)
            returns.append(r)
            eval_steps += n
        per_task.append({"task": task_index, "success": successes, "return": returns})
    E = proto.episodes_per_trial
    success_per_episode = [_nan_safe_mean([float(t["success"][j][e]) for t in per_task for j in range(proto.trials_per_task)])
                           for e in range(E)]
    return_per_episode = [_nan_safe_mean([t["return"][j][e] for t in per_task for j in range(proto.trials_per_task)])
                          for e in range(E)]
    return {
        "success_rate": success_per_episode[-1],
        "success_per_episode": success_per_episode,
        "return_per_episode": return_per_episode,
        "eval_env_steps": eval_steps,
        "per_task": per_task,
    }


def make_test_env(proto: EnvProtocol) -> gym.Env:
    """The meta-test env: sparse rewards on sparse tasks, trials of ``episodes_per_trial``."""
    env = gym.make(proto.env_id, task=proto.test_tasks[0], split="test",
                   reward_mode="sparse" if proto.sparse_at_test else "shaped")
    if proto.episodes_per_trial > 1:
        env = meld_envs.Trial(env, episodes=proto.episodes_per_trial)
    return env


def _run_trial(agent: Any, proto: EnvProtocol, env: gym.Env, task_index: int, trial: int):
    """One meta-test trial: per-episode success (final step's) and return, and steps taken."""
    E = proto.episodes_per_trial
    success, returns = [False] * E, [0.0] * E
    agent.reset()
    obs, info = env.reset(seed=eval_seed(task_index, trial), options={"task": task_index})
    reward, visible, steps = 0.0, {"episode_in_trial": 0}, 0
    while True:
        action = agent.act(obs, reward, visible)
        obs, reward, terminated, truncated, info = env.step(action)
        reward = float(reward)
        steps += 1
        ended = info["final_info"] if info.get("episode_end") else info  # the episode this step belongs to
        episode = int(ended.get("episode_in_trial", 0))
        returns[episode] += reward
        if info.get("episode_end") or terminated or truncated:
            success[episode] = bool(ended["success"])  # paper B.1: an episode's success is its final step's
        if terminated or truncated:
            return success, returns, steps
        visible = {k: info[k] for k in _VISIBLE_INFO_KEYS if k in info}


def visible_info_keys() -> tuple[str, ...]:
    """The ``info`` keys an agent may see at meta-test."""
    return _VISIBLE_INFO_KEYS


def describe() -> str:
    """One line per preset: its name and what it is for."""
    return "\n".join(f"{p.name}: {p.description}" for p in PRESETS.values())
