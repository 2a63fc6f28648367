"""The classic AX/MX WidowX on Protocol 1.0 (checksum packets, wheel mode, Bulk Read) end to end."""

import dataclasses
import time

import numpy as np
import pytest

from hardware.config import CLASSIC_WIDOWX
from hardware.control_tables import MX_28, MX_64, MXSeriesP1
from hardware.errors import CommunicationError, ServoHardwareError
from hardware.safety import SafetyConfig
from hardware.sim.dynamixel import DynamixelBusSim, SimServo, classic_widowx_servos, p1_checksum
from hardware.widowx import WidowX

pytestmark = pytest.mark.timeout(60)
SAFETY = SafetyConfig(control_period_s=0.2, bus_watchdog_s=None, handle_sigint=False)


@pytest.fixture
def sim():
    bus = DynamixelBusSim(classic_widowx_servos()).start()
    yield bus
    bus.close()


@pytest.fixture
def arm(sim):
    widowx = WidowX(port=sim.port, protocol=1, safety=SAFETY)
    yield widowx
    widowx.close()


def test_checksum_by_hand():
    # e-Manual example: ping ID 1 is FF FF 01 02 01 FB
    assert p1_checksum([0x01, 0x02, 0x01]) == 0xFB


def test_wheel_mode_read_and_command(sim, arm):
    for sid in range(1, 6):
        servo = sim.servo(sid)
        assert servo.velocity_mode and servo.torque_enabled
    assert not sim.servo(6).velocity_mode  # gripper keeps position mode
    arm.command_velocity([0.3, -0.2, 0, 0, 0.1])
    # the sign rides in bit 10 of Moving Speed
    raw = MXSeriesP1.MOVING_SPEED.decode(sim.servo(2).memory[32:34])
    assert raw & 0x400 and (raw & 0x3FF) == round(0.2 / MX_64.rad_s_per_unit)
    time.sleep(0.15)  # well under the host watchdog's 2 periods (0.4 s)
    state = arm.read_state()
    assert state.q[0] > 0.03 and state.q[1] < -0.02 and state.q[4] > 0.01
    np.testing.assert_allclose(state.qdot, [0.3, -0.2, 0, 0, 0.1], atol=0.02)


def test_joint_limits_on_protocol_1(sim, arm):
    lower, upper = arm.joint_limits
    q = np.zeros(5)
    q[1] = lower[1] + SAFETY.joint_margin_rad
    arm.command_velocity([0, -1.0, 0, 0, 0], state=arm.read_state()._replace(q=q))
    assert sim.goal_velocity_writes(2)[-1] == 0.0


def test_bulk_read_on_an_all_mx_arm():
    servos = [SimServo(i, MX_64 if i in (2, 3) else MX_28, 0.1 * i) for i in range(1, 7)]
    config = dataclasses.replace(CLASSIC_WIDOWX, bulk_read=True)
    with DynamixelBusSim(servos) as sim, WidowX(port=sim.port, protocol=1, arm=config, safety=SAFETY) as widowx:
        t0 = time.perf_counter()
        for _ in range(20):
            state = widowx.read_state()
        print(f"P1 bulk read of 5 servos: {(time.perf_counter() - t0) / 20 * 1e3:.2f} ms")
        np.testing.assert_allclose(state.q, [0.1, 0.2, 0.3, 0.4, 0.5], atol=2e-3)
        assert widowx.backend.bus.stats.timeouts == 0


def test_bad_checksum_is_retried_then_reported(sim, arm):
    sim.corrupt_next(1, servo_id=3)
    arm.read_state()
    assert arm.backend.bus.stats.corrupt == 1
    sim.corrupt_next(10, servo_id=3)
    with pytest.raises(CommunicationError, match="servo 3"):
        arm.read_state()


def test_overload_in_the_status_byte_is_reported(sim, arm):
    sim.set_hardware_error(2, 0x20)
    with pytest.raises(ServoHardwareError, match=r"servo 2.*overload"):
        arm.read_state()
