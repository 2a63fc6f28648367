"""meld/WidowXCable-v0 end to end on simulated devices: the real drivers over pseudo-terminals."""
import gymnasium as gym
import numpy as np
import pytest

import meld_envs
from hardware.cameras import ImageFilesSource
from hardware.errors import HardwareError
from hardware.sim.dynamixel import DynamixelBusSim, widowx_200_servos
from hardware.sim.rig import FakeRigController

pytestmark = pytest.mark.timeout(120)
ENV_ID = "meld/WidowXCable-v0"


@pytest.fixture
def devices():
    bus = DynamixelBusSim(widowx_200_servos()).start()
    rig = FakeRigController().start()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    cameras = (ImageFilesSource([frames[0]]), ImageFilesSource([frames[1]]))
    yield bus, rig, cameras
    bus.close()
    rig.close()


def make(devices, task=0, **kwargs):
    bus, rig, cameras = devices
    return gym.make(ENV_ID, task=task, arm_port=bus.port, rig_port=rig.port, cameras=cameras, realtime=False, **kwargs)


def test_without_a_robot_the_error_names_the_device_and_the_alternatives():
    with pytest.raises(HardwareError) as caught:
        gym.make(ENV_ID, arm_port="/dev/ttyUSB97", rig_port="/dev/ttyACM97")
    message = str(caught.value)
    assert "/dev/ttyUSB97" in message and "meld/WidowXCableSim-v0" in message and "python -m hardware.sim" in message


def test_an_episode_on_simulated_devices(devices):
    bus, rig, _ = devices
    env = make(devices, task=3)
    try:
        obs, info = env.reset(seed=0)
        task = meld_envs.tasks(ENV_ID)[3]
        assert info["task"] == task and obs.shape == (64, 128, 3) and obs.dtype == np.uint8
        assert rig.rot == pytest.approx(round(task.params["rotation_deg"] * 1000), abs=1)  # the rig moved the switch
        steps = 0
        while True:
            obs, reward, terminated, truncated, info = env.step(np.array([0.4, 0.0, 0.0, 0.0, 0.0]))
            steps += 1
            if terminated or truncated:
                break
        assert steps == 30 and reward < 0 and not info["success"]
        assert max(bus.goal_velocity_writes(1)) == pytest.approx(0.2, abs=1e-2)  # 0.4 x 0.5 rad/s reached the waist
    finally:
        env.close()


def test_sparse_reward_is_the_correct_ports_link(devices):
    _, rig, _ = devices
    env = make(devices, task=1, reward_mode="sparse")
    try:
        env.reset(seed=0)
        port = env.unwrapped.task.params["port"]
        rig.plug_in((port + 1) % 4)
        _, reward, _, _, info = env.step(np.zeros(5))
        assert reward == 0.0 and not info["success"] and info["inserted_port"] == (port + 1) % 4
        rig.plug_in(port)
        _, reward, _, _, info = env.step(np.zeros(5))
        assert reward == 1.0 and info["success"] and info["shaped_reward"] < 0
    finally:
        env.close()


def test_a_nan_action_never_reaches_the_servos(devices):
    bus, _, _ = devices
    env = make(devices)
    try:
        env.reset(seed=0)
        before = len(bus.goal_velocity_writes(1))
        with pytest.raises(ValueError, match="not finite"):
            env.step(np.array([np.nan, 0, 0, 0, 0]))
        assert len(bus.goal_velocity_writes(1)) == before
    finally:
        env.close()


def test_cable_pulled_mid_episode_raises_and_keeps_what_was_collected(devices):
    bus, _, _ = devices
    env = make(devices)
    collected = []
    try:
        obs, _ = env.reset(seed=0)
        for _ in range(3):
            obs, reward, *_ = env.step(np.array([0.2, 0, 0, 0, 0]))
            collected.append((obs, reward))
        bus.disconnect()
        with pytest.raises(HardwareError):
            for _ in range(5):
                env.step(np.array([0.2, 0, 0, 0, 0]))
        assert len(collected) == 3 and all(o.shape == (64, 128, 3) for o, _ in collected)
    finally:
        env.close()


def test_same_tasks_as_the_twin():
    assert meld_envs.tasks(ENV_ID, "test") != meld_envs.tasks("meld/WidowXCableSim-v0", "test")  # other env ids
    assert [t.params for t in meld_envs.tasks(ENV_ID, "test")] == [t.params for t in meld_envs.tasks("meld/WidowXCableSim-v0", "test")]
