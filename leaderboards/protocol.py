"""The standard meld-bench protocol, ``meld-v1``: budgets, presets, step counting, meta-test.

One protocol run is one agent x one environment x one seed::

    evaluate at 0 steps, then for each of ``eval_points`` equal chunks of ``budget_steps``:
        agent.meta_train(ctx, chunk)    # ctx counts every env step; one too many raises BudgetExhausted
        evaluate on the held-out test tasks

The protocol owns every environment. Meta-training envs come from ``TrainContext.make_env``
(train tasks only, both rewards in ``info``, every step counted by ``StepBudget``). Meta-test envs
are stepped by ``meld_envs.interface.run_trial``, the one trial runner that agents' own
evaluations use too: the agent gets the observation, the reward it may see (the sparse one on
sparse tasks, never the shaped one) and an ``info`` with only ``episode_in_trial`` and ``episode_end``.

Metrics of one evaluation (paper section 5, appendix B.1): an episode succeeds when its final
step's ``info["success"]`` is true; the headline ``success_rate`` is that of the trial's last
episode (after adaptation), averaged over trials and test tasks; returns are kept per episode
of the trial so adaptation from episode 1 to 2 shows.

An agent may declare ``exploration_episodes`` (PEARL's exploration phase, paper 5.1): that many
unscored episodes on each trial's task before the trial, counted in ``eval_env_steps`` and, apart,
in ``exploration_env_steps``; the header records the number (and the agent's ``meta_test_actions``)
and the report shows it next to the score.

Renderers (EGL, OSMesa) draw the same state a few grey levels apart, so results made with different
renderers compare only statistically; the runner records ``meld_envs.renderer_info()`` in every header.
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
from meld_envs import interface
from meld_envs.interface import EnvInfo, TrainContext, eval_seed, exploration_episodes_of

__all__ = ["PROTOCOL_VERSION", "EnvProtocol", "Preset", "PRESETS", "TrainContext", "eval_seed", "evaluate", "env_info",
           "make_test_env", "preset"]

PROTOCOL_VERSION = "meld-v1"


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
    obs_mode: str = "pixels"  # what every agent observes, in meta-training and at meta-test: pixels | state
    track_version: int = 1  # the preset's version: a change to what it measures gets a new one

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
    obs_mode: str = "pixels"  # pixels (the paper's images) | state (each env's low-dimensional state, for CPUs)
    version: int = 1  # recorded as ``track_version``; results of two versions of a preset are not comparable

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
            obs_mode=self.obs_mode,
            track_version=self.version,
        )


# The paper's text gives no step budgets (Figure 5 shows them only on its x axes): 1M steps per
# environment is our reading of those axes, recorded in every results header so runs stay comparable.
PRESETS: dict[str, Preset] = {
    "paper": Preset(
        name="paper", budget_steps=1_000_000, eval_points=20, trials_per_task=2, num_test_tasks=None,
        seeds=(0, 1, 2), description="the paper's scale: 1M env steps, an evaluation every 5%, 3 seeds, all test tasks",
    ),
    "pixels-100k": Preset(
        name="pixels-100k", budget_steps=100_000, eval_points=10, trials_per_task=2, num_test_tasks=None,
        seeds=(0, 1, 2), description="sample efficiency from images: 100k env steps, an evaluation every 10%, 3 seeds, "
                                     "all test tasks (for labs with one GPU)",
    ),
    "state": Preset(
        name="state", budget_steps=100_000, eval_points=10, trials_per_task=4, num_test_tasks=None,
        seeds=(0, 1, 2), obs_mode="state",
        description="every agent on each env's low-dimensional state (its MLP-encoder path), sized for a CPU: 100k "
                    "env steps, an evaluation every 10%, 4 trials per test task, 3 seeds, all test tasks",
    ),
    "smoke": Preset(
        name="smoke", budget_steps=200, eval_points=2, trials_per_task=1, num_test_tasks=2,
        seeds=(0,), description="a check that the pipeline runs, not that an agent learns: 200 env steps, 2 test tasks, 1 seed "
                                 "(random on every environment: about half a minute on 2 CPU cores)",
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


def env_info(proto: EnvProtocol) -> EnvInfo:
    """What an agent is told about ``proto``'s environment before it starts."""
    return interface.env_info(proto.env_id, proto.obs_mode)


def _nan_safe_mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate(agent: Any, proto: EnvProtocol, env: gym.Env,
             on_trial: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Meta-test ``agent`` on ``proto``'s test tasks (``trials_per_task`` trials each, reset seeds ``eval_seed``);
    ``env`` is ``make_test_env(proto)``. ``on_trial(done, total)`` is called before the first trial and after each.
    Returns the metrics of one evaluation record."""
    per_task = []
    eval_steps, exploration_steps = 0, 0
    exploration_episodes_of(agent)  # a bad value fails before the first trial, naming it
    done, total = 0, len(proto.test_tasks) * proto.trials_per_task
    if on_trial is not None:
        on_trial(done, total)
    for task_index in proto.test_tasks:
        trials = []
        for trial in range(proto.trials_per_task):
            trials.append(_run_trial(agent, proto, env, task_index, trial))
            done += 1
            if on_trial is not None:
                on_trial(done, total)
        eval_steps += sum(t.steps + t.exploration_steps for t in trials)
        exploration_steps += sum(t.exploration_steps for t in trials)
        per_task.append({"task": task_index, "success": [t.episode_success for t in trials],
                         "return": [t.episode_returns for t in trials],
                         "exploration_return": [t.exploration_returns for t in trials]})
    E = proto.episodes_per_trial
    success_per_episode = [_nan_safe_mean([float(t["success"][j][e]) for t in per_task for j in range(proto.trials_per_task)])
                           for e in range(E)]
    return_per_episode = [_nan_safe_mean([t["return"][j][e] for t in per_task for j in range(proto.trials_per_task)])
                          for e in range(E)]
    return {
        "success_rate": success_per_episode[-1],
        "success_per_episode": success_per_episode,
        "return_per_episode": return_per_episode,
        "eval_env_steps": eval_steps,  # every meta-test env step, exploration episodes included
        "exploration_env_steps": exploration_steps,  # those of the unscored exploration episodes
        "per_task": per_task,
    }


def make_test_env(proto: EnvProtocol) -> gym.Env:
    """The meta-test env: sparse rewards on sparse tasks, trials of ``episodes_per_trial``, observations of the
    preset's ``obs_mode``."""
    return interface.make_test_env(proto.env_id, "test", proto.obs_mode, task=proto.test_tasks[0])


def _run_trial(agent: Any, proto: EnvProtocol, env: gym.Env, task_index: int, trial: int) -> interface.TrialResult:
    """Meta-test trial ``trial`` on test task ``task_index``: the one trial runner, with the protocol's reset seed."""
    return interface.run_trial(agent, env, task_index, eval_seed(task_index, trial))


def describe() -> str:
    """One line per preset: its name and what it is for."""
    return "\n".join(f"{p.name}: {p.description}" for p in PRESETS.values())
