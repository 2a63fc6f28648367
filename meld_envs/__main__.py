"""Command line: ``python -m meld_envs list``, ``python -m meld_envs video ID --out FILE`` and
``python -m meld_envs sheet --out DIR``."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np

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


def contact_sheet(env_id: str, tasks: int = 4, scale: int = 2, seed: int = 0) -> np.ndarray:
    """One row per train task: the agent's first observation (``reset(seed=seed)``), upscaled ``scale``
    times by repeating pixels, beside ``render()`` of the same state at the same height.

    Returns ``uint8 [tasks * H * scale, (W + W_render / k) * scale, 3]``.
    """
    import gymnasium as gym

    rows = []
    for task in range(tasks):
        env = gym.make(env_id, task=task, render_mode="rgb_array")
        try:
            obs, _ = env.reset(seed=seed)
            frame = env.render()
        finally:
            env.close()
        big = obs.repeat(scale, axis=0).repeat(scale, axis=1)
        k = frame.shape[0] // big.shape[0]  # shrink people's frame to the row's height (box filter)
        shrunk = frame[:k * big.shape[0], :k * (frame.shape[1] // k)].reshape(
            big.shape[0], k, frame.shape[1] // k, k, 3).mean(axis=(1, 3)).round().astype(np.uint8)
        gap = np.full((big.shape[0], scale * 2, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([big, gap, shrunk], axis=1))
    return np.concatenate(rows, axis=0)


def cmd_sheet(args: argparse.Namespace) -> int:
    from PIL import Image

    ids = args.env_id or [e.id for e in ENVIRONMENTS if not e.real_robot]
    for env_id in ids:
        meld_envs.entry(env_id)  # a clear error for an unknown id
    os.makedirs(args.out, exist_ok=True)
    for env_id in ids:
        sheet = contact_sheet(env_id, tasks=args.tasks, scale=args.scale, seed=args.seed)
        path = os.path.join(args.out, env_id.split("/")[-1].lower() + ".png")
        image = Image.fromarray(sheet)
        if args.colours:  # a palette PNG is a quarter of the size; the textured people's frames need the most
            image = image.quantize(args.colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        image.save(path, optimize=True)
        print(f"wrote {path}: {args.tasks} train tasks, observations x{args.scale} (left), render() (right)")
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
    sheet = sub.add_parser("sheet", help="write one PNG per environment: the agent's observations of several tasks "
                                          "beside people's frames")
    sheet.add_argument("env_id", nargs="*", help="ids (default: every simulated environment)")
    sheet.add_argument("--out", required=True, help="output folder, e.g. docs/views/")
    sheet.add_argument("--tasks", type=int, default=4, help="train tasks, one row each (default 4)")
    sheet.add_argument("--scale", type=int, default=2, help="pixel repeat of the observations (default 2)")
    sheet.add_argument("--seed", type=int, default=0)
    sheet.add_argument("--colours", type=int, default=256, help="palette size of the PNG; 0: every colour exact")
    args = parser.parse_args(argv)
    try:
        return {"list": cmd_list, "video": cmd_video, "sheet": cmd_sheet}[args.command](args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
