"""meld/WidowXCableSim-v0: the twin's insertion really fires, wrong ports never pay, the rig moves the switch."""
import gymnasium as gym
import numpy as np
import pytest

import meld_envs
from meld_envs import Task

ENV_ID = "meld/WidowXCableSim-v0"


def insert(env, port=None, steps=30):
    """Drive the plug into ``port`` (default: the correct one) with the scripted controller."""
    u, infos = env.unwrapped, []
    for _ in range(steps):
        mouth = u.port_position(port) - 0.02 * u.port_axis()
        radial = np.array([mouth[0], mouth[1], 0.0]) / np.hypot(mouth[0], mouth[1])
        rel = u.plug_tip() - mouth
        lateral = rel - (rel @ radial) * radial
        outside = np.linalg.norm(lateral) > 0.0015 and rel @ radial < -0.005
        target = mouth - 0.03 * radial if outside else mouth + 0.018 * radial
        infos.append(env.step(u.scripted_action(target))[4])
    return infos


@pytest.mark.parametrize("port, rotation, translation", [(0, -8.0, -0.01), (3, 8.0, 0.01), (1, 8.0, -0.01), (2, -8.0, 0.01)])
def test_insertion_succeeds_at_the_rigs_extremes(make, port, rotation, translation):
    task = Task(ENV_ID, "train", 0, {"port": port, "rotation_deg": rotation, "translation_m": translation})
    env = make(ENV_ID, task=task, reward_mode="sparse")
    env.reset(seed=0)
    infos = insert(env)
    assert infos[-1]["success"] and infos[-1]["inserted_port"] == port and infos[-1]["sparse_reward"] == 1.0
    assert not infos[0]["success"]


def test_a_wrong_port_never_pays(make):
    env = make(ENV_ID, task=Task(ENV_ID, "train", 0, {"port": 1, "rotation_deg": 3.0, "translation_m": 0.0}),
               reward_mode="sparse")
    env.reset(seed=0)
    infos = insert(env, port=2)
    assert infos[-1]["inserted_port"] == 2  # really in, the wrong one
    assert all(i["sparse_reward"] == 0.0 and not i["success"] for i in infos)


def test_shaped_reward_is_minus_pose_distance(make):
    env = make(ENV_ID, task=0)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(5))
    assert reward == pytest.approx(-(info["position_error"] + info["rotation_error"]))
    u = env.unwrapped
    assert info["position_error"] == pytest.approx(np.linalg.norm(u.plug_tip() - u.port_position()))


def test_the_rig_turns_and_slides_the_switch(make):
    env = make(ENV_ID, task=Task(ENV_ID, "train", 0, {"port": 0, "rotation_deg": 0.0, "translation_m": 0.0}))
    env.reset(seed=0)
    u = env.unwrapped
    centre = u.port_position(1) / 2 + u.port_position(2) / 2
    u.set_task(Task(ENV_ID, "train", 0, {"port": 0, "rotation_deg": 6.0, "translation_m": 0.01}))
    assert np.degrees(np.arctan2(u.port_axis()[1], u.port_axis()[0])) == pytest.approx(6.0)
    moved = u.port_position(1) / 2 + u.port_position(2) / 2
    # the rail's 1 cm, and the turn about the housing's gear 6 cm behind the face (4 cm behind the pockets)
    assert moved[1] - centre[1] == pytest.approx(0.01 - 0.04 * np.sin(np.radians(6.0)), abs=1e-6)


def test_velocity_actions(make):
    env = make(ENV_ID, task=0, obs_mode="state")
    obs, _ = env.reset(seed=0)
    obs2, *_ = env.step(np.array([1.0, 0, 0, 0, 0]))
    assert 0.1 < obs2[0] - obs[0] <= 0.5 * 0.3 + 1e-6  # the waist turned at most 0.5 rad/s x 0.3 s


def test_task_distribution():
    tasks = meld_envs.tasks(ENV_ID, num_tasks=400)
    assert {t.params["port"] for t in tasks} == {0, 1, 2, 3}
    rotations = [t.params["rotation_deg"] for t in tasks]
    translations = [t.params["translation_m"] for t in tasks]
    assert -8 <= min(rotations) < -7.5 and 7.5 < max(rotations) <= 8  # appendix E: a 16 degree range
    assert -0.01 <= min(translations) < -0.009 and 0.009 < max(translations) <= 0.01  # and 2 cm


def test_the_video_overlay_says_where_the_plug_is():
    env = gym.make(ENV_ID, task=0, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        (left, right), = env.unwrapped._overlay_text()
        assert left.split("\n") == ["train task", "correct port", "plug", "rig"]
        assert right.split("\n")[2] == "in no port" and "-1" not in right
    finally:
        env.close()
