"""Command line: ``python -m meld_envs list`` and ``python -m meld_envs video ID --out FILE``."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import meld_envs
from meld_envs.registry import ENVIRONMENTS

VIDEO_FORMATS = (".mp4", ".gif")


def cmd_list(args: argparse.Namespace) -> int:
    rows = [("id", "obs (H, W, C)", "episode", "control", "tasks train/test", "trial", "task")]
    for e in ENVIRONMENTS:
        rows.append((e.id, "x".join(map(str, e.obs_shape)) + " uint8", f"{e.max_episode_steps} steps",
                     f"{e.control_hz:.3g} Hz", f"{e.num_train_tasks}/{e.num_test_tasks}",
                     f"{e.episodes_per_trial} ep", ("[real robot] " if e.real_robot else "") + e.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return 0


def cmd_video(args: argparse.Namespace) -> int:
    import gymnasium as gym
    import imageio.v2 as imageio
    from tqdm import tqdm

    if os.path.splitext(args.out)[1].lower() not in VIDEO_FORMATS:  # before minutes of rendering, not after
        raise ValueError(f"--out {args.out!r}: the file's extension picks the format; allowed: {', '.join(VIDEO_FORMATS)}")
    entry = meld_envs.entry(args.env_id)  # a clear error for an unknown id
    env = gym.make(args.env_id, task=args.task, split=args.split, render_mode="rgb_array", reward_mode=args.reward_mode)
    env = meld_envs.Trial(env, episodes=args.episodes)
    env.action_space.seed(args.seed)
    frames, total, successes = [], 0.0, []
    obs, info = env.reset(seed=args.seed)
    frames.append(env.render())
    with tqdm(total=entry.max_episode_steps * args.episodes, desc=f"{args.env_id} task {args.task} ({args.split})", unit="step", disable=args.quiet) as bar:
        while True:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            total += reward
            frames.append(env.render())
            bar.update(1)
            if info.get("episode_end"):
                successes.append(info["final_info"]["success"])
            if terminated or truncated:
                successes.append(info["success"])
                break
    env.close()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fps = env.metadata.get("render_fps", 10)
    tmp = out + ".partial" + os.path.splitext(out)[1]
    if out.endswith(".gif"):
        imageio.mimsave(tmp, frames, duration=1000 / fps, loop=0)
    else:
        imageio.mimsave(tmp, frames, fps=fps, macro_block_size=1)
    os.replace(tmp, out)  # never leave a half-written video behind
    print(f"wrote {out}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} at {fps:.3g} fps; "
          f"random policy, {args.reward_mode} return {total:.2f}, success per episode {successes}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meld_envs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every environment id, its observation, episode length and task counts")
    video = sub.add_parser("video", help="write a random-policy video with the goals drawn")
    video.add_argument("env_id", help="e.g. meld/Nav2D-v0")
    video.add_argument("--task", type=int, default=0, help="task index in the split (default 0)")
    video.add_argument("--split", default="train", choices=meld_envs.SPLITS)
    video.add_argument("--episodes", type=int, default=1, help="episodes in the trial (default 1)")
    video.add_argument("--reward-mode", default="shaped", choices=("shaped", "sparse"))
    video.add_argument("--seed", type=int, default=0)
    video.add_argument("--out", required=True, help="output file, .mp4 or .gif")
    video.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        return {"list": cmd_list, "video": cmd_video}[args.command](args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
