"""The ROS backend (roslibpy) against a fake rosbridge on 127.0.0.1 with a simulated xs_sdk."""

import time

import numpy as np
import pytest

from hardware.errors import (
    ConnectionLostError,
    DeviceNotFoundError,
    ServoHardwareError,
    ServoNotRespondingError,
    StaleStateError,
)
from hardware.safety import SafetyConfig
from hardware.sim.rosbridge import FakeRosbridge
from hardware.widowx import WidowX

pytestmark = pytest.mark.timeout(60)
SAFETY = SafetyConfig(control_period_s=0.1, handle_sigint=False)


@pytest.fixture
def bridge():
    fake = FakeRosbridge().start()
    yield fake
    fake.close()


@pytest.fixture
def arm(bridge):
    widowx = WidowX(backend="ros", ros_port=bridge.port, safety=SAFETY)
    yield widowx
    widowx.close()


def _wait(predicate, timeout_s=3.0):
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_connect_sets_velocity_mode_torque_and_bus_watchdog(bridge, arm):
    assert bridge.mode == "velocity" and bridge.torque
    assert bridge.registers[("arm", "Bus_Watchdog")] == 50  # 1.0 s in 20 ms units
    assert arm.description.startswith("wx200 on ROS xs_sdk /wx200")


def test_joint_group_commands_and_joint_states(bridge, arm):
    arm.command_velocity([0.2, 0, 0, 0, -0.1])
    assert _wait(lambda: bridge.commands and bridge.commands[-1] == [0.2, 0, 0, 0, -0.1])
    time.sleep(0.1)  # less than the host watchdog's 2 periods
    state = arm.read_state()
    assert state.q[0] > 0.005 and state.q[4] < 0
    np.testing.assert_allclose(state.qdot, [0.2, 0, 0, 0, -0.1])


def test_safety_layer_applies_to_the_ros_backend_too(bridge, arm):
    arm.command_velocity([5.0, 0, 0, 0, 0])
    assert _wait(lambda: bridge.commands and bridge.commands[-1][0] == SAFETY.max_velocity_rad_s)
    assert max(c[0] for c in bridge.commands) <= SAFETY.max_velocity_rad_s


def test_stale_state_is_refused(bridge, arm):
    before = time.monotonic()
    state = arm.read_state()
    assert state.time == arm.backend.last_sample_time < before  # when the joint state arrived, not when read
    arm.command_velocity([0.3, 0, 0, 0, 0], state=state)
    assert _wait(lambda: bridge.commands and bridge.commands[-1][0] == 0.3)
    with pytest.raises(StaleStateError, match=r"4\.\d{3} s old; the bound is 0\.200 s"):
        arm.command_velocity([0, 0, 0, 1.0, 0], state=state._replace(time=state.time - 4.0))
    assert _wait(lambda: bridge.commands[-1] == [0.0] * 5)  # stopped instead; torque stays on
    assert bridge.torque
    arm.command_velocity([0, 0, 0, 0.2, 0], state=arm.read_state())  # a fresh one is accepted
    assert _wait(lambda: bridge.commands[-1] == [0, 0, 0, 0.2, 0])


def test_policy_stall_watchdog(bridge, arm):
    arm.command_velocity([0.3, 0, 0, 0, 0])
    time.sleep(3 * SAFETY.control_period_s)
    assert arm.watchdog.stats.stops == 1
    assert _wait(lambda: bridge.commands[-1] == [0.0] * 5)


def test_hardware_error_is_reported(bridge, arm):
    bridge.set_hardware_error("elbow", 1 << 5)
    assert arm.hardware_errors() == {"elbow": ["overload"]}


def test_rosbridge_gone_is_a_clear_error(bridge, arm):
    bridge.drop_clients()
    assert _wait(lambda: not arm.backend._ros.is_connected)
    with pytest.raises(ConnectionLostError, match="rosbridge"):
        arm.command_velocity([0.1, 0, 0, 0, 0])


def test_silent_joint_states_are_an_error(bridge, arm):
    bridge.pause_joint_states()
    time.sleep(0.7)
    with pytest.raises(ServoNotRespondingError, match="joint_states is .* old"):
        arm.read_state()


def test_missing_rosbridge_names_the_address():
    with pytest.raises(DeviceNotFoundError, match=r"ws://127.0.0.1:1\b.*python -m hardware.sim rosbridge"):
        WidowX(backend="ros", ros_port=1, safety=SAFETY)


def test_hardware_error_at_connect(bridge):
    bridge.set_hardware_error("waist", 1 << 2)
    with pytest.raises(ServoHardwareError, match="overheating"):
        WidowX(backend="ros", ros_port=bridge.port, safety=SAFETY)
