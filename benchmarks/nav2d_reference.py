"""Scripted reference policies on meld/Nav2D-v0: what the task's scores look like when an agent
does (or does not) explore and remember, to read learned agents' numbers against.

    .venv/bin/python benchmarks/nav2d_reference.py              # ~5 s
    .venv/bin/python benchmarks/nav2d_reference.py --trials 1

Each policy plays the leaderboard's test protocol (2-episode trials, sparse reward as the only
task signal, ``meld_envs.interface.run_trials``) with state observations, because it steers by
the robot's position; none of them is told the goal:

* ``sweep``: drive to the right end of the semicircle of possible goals, sweep it
  counter-clockwise at full speed until the sparse reward says the goal is reached, and stay there;
  in episode 2 drive straight to the remembered goal (or go on sweeping if episode 1 did not find
  it). The behaviour the paper's appendix D.1 shows MELD learning.
* ``sweep, no memory``: the same sweep in both episodes, forgetting at the episode boundary.
* ``centre``: drive to the point that minimises the expected distance to a goal uniform on the
  semicircle, and stay (what a shaped-reward agent that never explores converges to).
* ``random``: uniform actions.

The table reports success, sparse return per episode and the hidden shaped return, as
``summarize`` does for learned agents, plus the shaped return discounted with gamma = 0.99 (what
MELD's critic maximises during meta-training).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from meld_agent.evaluation import summarize
from meld_envs.envs.nav2d import Nav2DEnv
from meld_envs.interface import RandomAgent, env_info, run_trials

ENV = "meld/Nav2D-v0"
GAMMA = 0.99
_STEP_M = 0.25  # metres per step at action 1 (Nav2DEnv: 2.5 m/s per unit, 10 Hz)
_on_arc = Nav2DEnv.goal_position  # the point of the semicircle of possible goals at an angle (rad)
_ARC_M = float(np.linalg.norm(_on_arc(0.0)))  # its radius


def _toward(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.clip((target - position) / _STEP_M, -1.0, 1.0).astype(np.float32)


def centre_point() -> np.ndarray:
    """The point of the y axis nearest, on average, to a goal uniform on the upper unit semicircle."""
    angles = np.linspace(0.0, np.pi, 2001)
    ys = np.linspace(0.0, 1.0, 201)
    mean_distance = [np.mean(np.hypot(np.cos(angles), np.sin(angles) - y)) for y in ys]
    return np.array([0.0, ys[int(np.argmin(mean_distance))]])


class CentreAgent:
    """Drives to ``centre_point()`` and stays."""

    def __init__(self) -> None:
        self.target = centre_point()

    def reset(self) -> None:
        pass

    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        return _toward(np.asarray(obs)[:2], self.target)


class SweepAgent:
    """Sweeps the semicircle until a sparse reward arrives; ``memory``: keeps the goal (and the sweep's
    progress) across the episodes of a trial."""

    def __init__(self, memory: bool = True, step_rad: float = 0.25) -> None:
        self.memory = memory
        self.step_rad = step_rad  # sweep advance per step along the arc (0.25 m at radius 1)
        self.reset()

    def reset(self) -> None:
        self.goal: np.ndarray | None = None
        self.angle = 0.0  # the sweep has covered [0, angle]
        self.on_arc = False

    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        position = np.asarray(obs)[:2]
        if (info or {}).get("episode_end"):  # obs is the start of the next episode
            self.on_arc = False
            if not self.memory:
                self.reset()
        elif reward > 0 and self.goal is None:
            self.goal = position.copy()  # the reward of the step that arrived here
        if self.goal is not None:
            return _toward(position, self.goal)
        if not self.on_arc:
            if np.hypot(*position) < 0.9 * _ARC_M:
                return _toward(position, _on_arc(self.angle))
            self.on_arc = True
        self.angle = min(np.pi, max(self.angle, float(np.arctan2(position[1], position[0]))) + self.step_rad)
        return _toward(position, _on_arc(self.angle))


def discounted_shaped(results: list) -> float:
    """Mean over trials of sum_t gamma^t shaped_reward_t."""
    return float(np.mean([np.sum(GAMMA ** np.arange(len(r.shaped_rewards)) * np.asarray(r.shaped_rewards)) for r in results]))


def reference_table(trials: int = 3, seed: int = 777) -> list[tuple[str, dict[str, float]]]:
    """``[(policy name, summary + "discounted_shaped")]`` on every test task."""
    agents = {"sweep": SweepAgent(memory=True), "sweep, no memory": SweepAgent(memory=False), "centre": CentreAgent(),
              "random": RandomAgent(env_info(ENV, "state"), seed=0)}
    rows = []
    for name, agent in agents.items():
        results = run_trials(agent, ENV, "test", None, trials, "state", seed=seed)
        rows.append((name, {**summarize(results), "discounted_shaped": discounted_shaped(results)}))
    return rows


def markdown(rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = ["| policy | test success | success ep 1 | sparse return | return ep 1 | return ep 2 | shaped return | discounted shaped |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in rows:
        lines.append(f"| {name} | {s['eval/success']:.2f} | {s['eval/success_ep1']:.2f} | {s['eval/return']:.2f} | "
                     f"{s['eval/return_ep1']:.2f} | {s['eval/return_ep2']:.2f} | {s['eval/shaped_return']:.1f} | "
                     f"{s['discounted_shaped']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=3, help="trials per test task (default: %(default)s, as the slow test)")
    p.add_argument("--seed", type=int, default=777, help="reset seeds start here (default: the slow test's)")
    args = p.parse_args(argv)
    print(markdown(reference_table(args.trials, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
