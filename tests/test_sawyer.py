"""The Sawyer tasks: success really fires under a scripted controller, wrong targets never pay,
the mug's mass changes the dynamics, the robot is composed as documented."""
import gymnasium as gym
import mujoco
import numpy as np
import pytest

import meld_envs
from meld_envs import Task, Trial

SAWYER_IDS = ["meld/Reacher-v0", "meld/PegInsert-v0", "meld/ShelfPlace-v0", "meld/ButtonPress-v0"]


def drive(env, waypoint, steps=40):
    """Run ``steps`` steps of ``env.unwrapped.scripted_action(*waypoint(u))``; the infos."""
    u, infos = env.unwrapped, []
    for _ in range(steps):
        target, site = waypoint(u)
        infos.append(env.step(u.scripted_action(target, site=site))[4])
    return infos


def peg_waypoint(box=None):
    def waypoint(u):
        hole, tip = u.hole_position(box), u.peg_tip()
        above = np.linalg.norm(tip[:2] - hole[:2]) > 0.004 and tip[2] > hole[2] + 0.07
        return (hole + [0, 0, 0.10] if above else hole + [0, 0, 0.003]), "peg_tip"
    return waypoint


def button_waypoint(button=None):
    def waypoint(u):
        top, ee = u.button_top(button), u.ee_position()
        above = np.linalg.norm(ee[:2] - top[:2]) > 0.01 and ee[2] > top[2] - 0.005
        return (top + [0, 0, 0.06] if above else top - [0, 0, 0.018]), "endEffector"
    return waypoint


def shelf_waypoint(u):
    target, mug = u.target, u.mug_position()
    return (target + [0, 0, 0.08] if np.linalg.norm(mug[:2] - target[:2]) > 0.01 else target + [0, 0, 0.005]), "mug_centre"


def test_robot_is_composed_as_documented(make):
    u = make("meld/Reacher-v0").unwrapped
    m = u.model
    assert m.nu == 7 and all(m.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT for i in range(7))
    assert np.all(m.actuator_forcelimited[:7]) and np.all(m.actuator_forcerange[:7, 1] > 0)
    assert m.neq == 0 and m.nmocap == 0  # no mocap weld: the joints are driven
    arm = [m.body(f"right_l{i}").id for i in range(7)]
    assert np.all(m.body_gravcomp[arm] == 1.0)
    assert m.opt.timestep == 0.0025 and u.frame_skip == 100 and u.dt == pytest.approx(0.25)  # 4 Hz
    agent_faces = sum(m.mesh_facenum[i] for i in range(m.nmesh) if m.mesh(i).name.endswith("_agent"))
    assert agent_faces < 10000  # the agent's arm is simplified (Meta-World's meshes: 67k faces)


def test_agent_view_hides_goals_and_collision_shapes(make):
    env = make("meld/Reacher-v0", task=0, render_mode="rgb_array")
    env.reset(seed=0)
    pixels, human = env.unwrapped._pixels(), env.render()
    assert pixels.shape == (64, 128, 3) and human.shape == (256, 512, 3)
    view = env.unwrapped._agent_view
    assert list(view._option.geomgroup) == [1, 0, 1, 0, 0, 1]  # simplified meshes, not the originals


def test_actions_move_joints_by_at_most_0_04_rad_per_step(make):
    env = make("meld/Reacher-v0", task=0)
    env.reset(seed=0)
    u = env.unwrapped
    before = u._target.copy()
    env.step(np.array([1.0, -1.0, 0.5, 0, 0, 0, 3.0]))
    np.testing.assert_allclose(u._target - before, [0.04, -0.04, 0.02, 0, 0, 0, 0.04])


@pytest.mark.parametrize("task", [0, 3, 7])
def test_reacher_scripted_controller_succeeds(make, task):
    env = make("meld/Reacher-v0", task=task, split="test", reward_mode="sparse")
    env.reset(seed=0)
    infos = drive(env, lambda u: (u.goal, "endEffector"))
    assert infos[-1]["success"] and infos[-1]["distance"] < 0.02 and infos[-1]["sparse_reward"] == 1.0
    assert infos[0]["distance"] > infos[-1]["distance"]


def test_reacher_reward_is_eq7(make):
    env = make("meld/Reacher-v0", task=2)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(7))
    d = np.linalg.norm(env.unwrapped.ee_position() - env.unwrapped.goal)
    assert info["distance"] == pytest.approx(d)
    assert reward == pytest.approx(-(d**2 + np.log(d + 1e-5)))


@pytest.mark.parametrize("task", [0, 5])
def test_peg_inserted_into_the_correct_hole_succeeds(make, task):
    env = make("meld/PegInsert-v0", task=task)
    env.reset(seed=0)
    assert env.unwrapped._overlay_text()[0][1].endswith("\nin no hole")  # the video's overlay, never "-1"
    infos = drive(env, peg_waypoint())
    correct = infos[-1]["task"].params["correct_box"]
    assert infos[-1]["success"] and infos[-1]["inserted_box"] == correct and infos[-1]["sparse_reward"] == 1.0
    assert env.unwrapped._overlay_text()[0][1].endswith(f"\nin box {correct} (correct)")


def test_peg_in_a_wrong_hole_never_pays(make):
    env = make("meld/PegInsert-v0", task=1, reward_mode="sparse")
    env.reset(seed=0)
    wrong = (env.unwrapped.task.params["correct_box"] + 2) % 4
    infos = drive(env, peg_waypoint(wrong))
    assert infos[-1]["inserted_box"] == wrong  # really inserted, into the wrong box
    assert env.unwrapped._overlay_text()[0][1].endswith(f"\nin box {wrong} (wrong)")
    assert all(i["sparse_reward"] == 0.0 and not i["success"] for i in infos)


def test_peg_boxes_move_with_the_task_without_a_rebuild(make):
    env = make("meld/PegInsert-v0", task=0)
    env.reset(seed=0)
    u = env.unwrapped
    model = u.model
    other = meld_envs.tasks("meld/PegInsert-v0", "train")[4]
    u.set_task(other)
    assert u.model is model
    np.testing.assert_allclose(model.body_pos[u._boxes, :2], other.params["box_positions"])


@pytest.mark.parametrize("task", [0, 3])
def test_mug_placed_on_the_shelf_target_succeeds(make, task):
    env = make("meld/ShelfPlace-v0", task=task)
    env.reset(seed=0)
    infos = drive(env, shelf_waypoint)
    assert infos[-1]["success"] and infos[-1]["distance"] < 0.05


def test_mug_mass_changes_how_the_arm_moves(make):
    """Same start, same actions; a 0.1 kg and a 2.5 kg mug: the hand ends up centimetres apart."""
    actions = np.random.default_rng(0).uniform(-0.3, 0.3, (40, 7))
    finals, sags = [], []
    for mass in (0.1, 2.5):
        task = Task("meld/ShelfPlace-v0", "train", 0, {"mug_mass": mass, "target": (0.0, 0.84, 0.145)})
        env = make("meld/ShelfPlace-v0", task=task, obs_mode="state")
        env.reset(seed=0)
        u = env.unwrapped
        assert u.model.body_mass[u.model.body("mug").id] == pytest.approx(mass)
        for a in actions:
            env.step(a)
        finals.append(u.ee_position())
        sags.append(np.abs(u.arm_qpos() - u._target).max())
    assert np.linalg.norm(finals[0] - finals[1]) > 0.02
    assert finals[1][2] < finals[0][2]  # the heavy mug hangs lower
    assert sags[1] > 2 * sags[0]  # and pulls the joints further from their targets


@pytest.mark.parametrize("task", [0, 1, 2])
def test_pressing_the_correct_button_pays_and_wrong_ones_never(make, task):
    env = make("meld/ButtonPress-v0", task=task, reward_mode="sparse")
    env.reset(seed=0)
    correct = env.unwrapped.task.params["correct_button"]
    assert correct == task % 3
    infos = drive(env, button_waypoint())
    assert infos[-1]["success"] and infos[-1]["pressed_button"] == correct and infos[-1]["sparse_reward"] == 1.0
    for wrong in {0, 1, 2} - {correct}:
        env.reset(seed=0)
        infos = drive(env, button_waypoint(wrong))
        assert infos[-1]["pressed_button"] == wrong  # the button really went down
        assert all(i["sparse_reward"] == 0.0 and not i["success"] for i in infos)


def test_button_splits_hold_each_button_equally():
    for split, n in (("train", 30), ("test", 12)):
        buttons = [t.params["correct_button"] for t in meld_envs.tasks("meld/ButtonPress-v0", split)]
        assert len(buttons) == n and buttons.count(0) == buttons.count(1) == buttons.count(2) == n // 3


def test_button_press_in_a_two_episode_trial(make):
    env = Trial(make("meld/ButtonPress-v0", task=4, reward_mode="sparse"), episodes=2)
    env.reset(seed=0)
    u = env.unwrapped
    rewards, episodes = [], []
    waypoint = button_waypoint()
    steps = meld_envs.entry("meld/ButtonPress-v0").max_episode_steps  # 40
    for _ in range(2 * steps + 10):
        target, site = waypoint(u)
        _, reward, terminated, truncated, info = env.step(u.scripted_action(target, site=site))
        rewards.append(reward)
        episodes.append(info["episode_in_trial"])
        if terminated or truncated:
            break
    assert len(rewards) == 2 * steps and episodes[-1] == 1
    assert sum(rewards[:steps - 1]) > 0 and sum(rewards[steps + 1:]) > 0  # pressed in both episodes
    assert u.depressions().max() > 0.01


@pytest.mark.parametrize("env_id", SAWYER_IDS)
def test_bad_start_noise(env_id):
    with pytest.raises(ValueError, match="start_noise_rad=-0.1"):
        gym.make(env_id, start_noise_rad=-0.1)
