"""Meta-testing (Algorithm 2) on held-out tasks, as the leaderboard protocol runs it: the agent sees
observations, the test-time reward (sparse where the env is sparse at test) and
``episode_in_trial`` / ``episode_end``, never the task or the shaped reward.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

import meld_envs


@dataclass
class TrialResult:
    """One test trial: per-episode return of the test reward, shaped return and success."""

    task: int
    episode_returns: list[float]
    episode_shaped_returns: list[float]
    episode_success: list[bool]  # the episode's last step succeeded (paper B.1)
    rewards: list[float] = field(default_factory=list)  # test reward of every step
    shaped_rewards: list[float] = field(default_factory=list)
    predictions: list[tuple[float, float]] = field(default_factory=list)  # agent's predicted reward mean/std per step


class RandomAgent:
    """Uniform random actions from an owned generator: the floor every agent must beat."""

    def __init__(self, action_size: int, seed: int = 0) -> None:
        self.action_size = action_size
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, obs: Any, reward: float = 0.0, info: dict[str, Any] | None = None) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.action_size).astype(np.float32)


def run_trials(agent: Any, env_id: str, split: str = "test", tasks: list[int] | None = None, trials_per_task: int = 1,
               obs_mode: str = "pixels", seed: int = 0, video_dir: str | None = None) -> list[TrialResult]:
    """Run ``trials_per_task`` trials of ``agent`` on each task of ``split`` (all when ``tasks`` is None).
    With ``video_dir``, writes ``<split>_task<i>_trial<j>.mp4`` of human frames (goal drawn)."""
    entry = meld_envs.entry(env_id)
    episodes = entry.episodes_per_trial
    reward_mode = "sparse" if episodes > 1 else "shaped"  # what the protocol shows at meta-test
    indices = list(range(len(meld_envs.tasks(env_id, split)))) if tasks is None else list(tasks)
    results = []
    for task in indices:
        env: gym.Env = gym.make(env_id, task=task, split=split, reward_mode=reward_mode, obs_mode=obs_mode,
                                render_mode="rgb_array" if video_dir else None)
        if episodes > 1:
            env = meld_envs.Trial(env, episodes=episodes)
        try:
            for trial in range(trials_per_task):
                results.append(_one_trial(agent, env, task, episodes, seed + 1000 * task + trial, video_dir, split, trial))
        finally:
            env.close()
    return results


def _one_trial(agent: Any, env: gym.Env, task: int, episodes: int, seed: int, video_dir: str | None, split: str, trial: int) -> TrialResult:
    obs, _ = env.reset(seed=seed)
    agent.reset()
    recording = getattr(agent, "record_predictions", None)
    if recording is not None:
        agent.record_predictions = True
    frames = [env.render()] if video_dir else []
    returns, shaped, success = [0.0] * episodes, [0.0] * episodes, [False] * episodes
    rewards, shaped_rewards = [], []
    reward, visible = 0.0, {"episode_in_trial": 0}
    episode = 0
    while True:
        action = agent.act(obs, reward, visible)
        obs, reward, terminated, truncated, info = env.step(action)
        step_info = info["final_info"] if info.get("episode_end") else info
        returns[episode] += float(reward)
        shaped[episode] += float(step_info["shaped_reward"])
        success[episode] = bool(step_info["success"])
        rewards.append(float(reward))
        shaped_rewards.append(float(step_info["shaped_reward"]))
        if video_dir:
            frames.append(env.render())
        visible = {"episode_in_trial": int(info.get("episode_in_trial", 0))}
        if info.get("episode_end"):
            visible["episode_end"] = True
            episode += 1
        if terminated or truncated:
            break
    if video_dir:
        import imageio.v2 as imageio

        os.makedirs(video_dir, exist_ok=True)
        fps = env.metadata.get("render_fps", 10)
        imageio.mimwrite(os.path.join(video_dir, f"{split}_task{task}_trial{trial}.mp4"), frames, fps=fps, macro_block_size=1)
    predictions = list(getattr(agent, "predictions", []))
    if recording is not None:
        agent.record_predictions = recording
    return TrialResult(task, returns, shaped, success, rewards, shaped_rewards, predictions)


def summarize(results: list[TrialResult]) -> dict[str, float]:
    """Means over trials: ``eval/return``, ``eval/success`` and per-episode ``eval/return_ep{k}``,
    ``eval/success_ep{k}`` (k = 1..E; the last episode's success is the trial's); for trials of 2 or more
    episodes also ``eval/return_gain`` with its 95% interval ``eval/return_gain_low`` / ``_high`` (``episode_gain``)."""
    returns = np.array([r.episode_returns for r in results])  # [trials, E]
    success = np.array([r.episode_success for r in results], dtype=float)
    shaped = np.array([r.episode_shaped_returns for r in results])
    out = {"eval/return": float(returns.sum(1).mean()), "eval/success": float(success[:, -1].mean()),
           "eval/shaped_return": float(shaped.sum(1).mean())}
    for k in range(returns.shape[1]):
        out[f"eval/return_ep{k + 1}"] = float(returns[:, k].mean())
        out[f"eval/success_ep{k + 1}"] = float(success[:, k].mean())
    if returns.shape[1] > 1:
        out["eval/return_gain"], out["eval/return_gain_low"], out["eval/return_gain_high"] = _mean_interval(returns[:, -1] - returns[:, 0])
    return out


def episode_gain(results: list[TrialResult], confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """How much the last episode of a trial beats its first, paired within trials: the mean of
    ``return[last] - return[first]`` over trials and its bootstrap percentile interval (``scipy.stats.bootstrap``,
    9,999 resamples of the trials). Returns ``(mean, lower, upper)``. The evidence a multi-episode trial
    asks for (the paper's Figure 15): a lower bound above 0 says episode 2 uses what episode 1 found,
    beyond the trial-to-trial noise that a comparison of two means over a few trials hides."""
    if not results:
        raise ValueError("episode_gain needs at least one trial; got none")
    episodes = {len(r.episode_returns) for r in results}
    if min(episodes) < 2:
        raise ValueError(f"episode_gain needs trials of 2 or more episodes; got trials of {sorted(episodes)} episode(s)")
    return _mean_interval(np.array([r.episode_returns[-1] - r.episode_returns[0] for r in results], dtype=float), confidence, seed)


def validation_key(summary: dict[str, float], min_success: float) -> tuple[bool, float]:
    """How a checkpoint ranks when one is chosen by its ``summarize`` on *training* tasks, so that the held-out tasks
    stay unseen until the one final evaluation (early stopping on validation data). First whether its success reaches
    ``min_success``, then, for trials of 2 or more episodes, the lower bound of the episode gain's 95% interval (the
    evidence that the last episode uses the earlier ones), else the mean return. Larger is better: ``max(summaries,
    key=...)``."""
    return summary["eval/success"] >= min_success, summary.get("eval/return_gain_low", summary["eval/return"])


def _mean_interval(values: np.ndarray, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(mean, lower, upper)``: the mean of ``values`` and its percentile bootstrap interval."""
    import scipy.stats

    mean = float(values.mean())
    if len(values) < 2 or np.all(values == values[0]):
        return mean, mean, mean  # no spread to resample
    ci = scipy.stats.bootstrap((values,), np.mean, confidence_level=confidence, method="percentile",
                               n_resamples=9_999, rng=np.random.default_rng(seed)).confidence_interval
    return mean, float(ci.low), float(ci.high)


def plot_reward_belief(result: TrialResult, path: str, title: str = "") -> None:
    """The paper's Figure 6 view of the belief: predicted reward mean +- std along a test trial,
    against the reward the agent saw and the (hidden) shaped reward."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = np.array(result.predictions) if result.predictions else np.zeros((0, 2))
    steps = np.arange(len(pred))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if len(pred):
        ax.plot(steps, pred[:, 0], color="C0", label="predicted reward (mean)")
        ax.fill_between(steps, pred[:, 0] - pred[:, 1], pred[:, 0] + pred[:, 1], color="C0", alpha=0.25, label="± std")
    # act() at step t sees the reward of step t-1: align rewards with the belief that read them
    seen = np.concatenate([[0.0], result.rewards[:-1]])
    ax.step(np.arange(len(seen)), seen, where="post", color="k", lw=1, label="reward seen")
    ax.plot(np.arange(len(seen)), np.concatenate([[0.0], result.shaped_rewards[:-1]]), color="C2", lw=1, ls="--", label="shaped reward (hidden)")
    ax.set_xlabel("step in trial")
    ax.set_ylabel("reward")
    ax.set_title(title or f"test task {result.task}: belief over reward")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
