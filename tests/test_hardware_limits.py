"""Robot safety beyond the velocity filter, on the simulated buses: a command checked against a
stale state is refused; the servos' torque-limit registers hold the arm config's values after
start (Protocol 2.0 X-series and Protocol 1.0 AX/MX); a joint driven into an obstacle or its
mechanical stop trips the host's current/load watch, which stops the arm before the servo's own
overload alarm. (The ROS backend's stale-state test is in test_hardware_ros.py.)"""

import dataclasses
import time

import numpy as np
import pytest

from hardware.config import CLASSIC_WIDOWX, WX200
from hardware.control_tables import AX_12A, MX_64, XL430_W250, XM430_W350, MXSeriesP1, XSeries
from hardware.errors import EffortLimitError, ServoHardwareError, StaleStateError
from hardware.safety import SafetyConfig, check_state_age
from hardware.sim.dynamixel import DynamixelBusSim, classic_widowx_servos, widowx_200_servos
from hardware.widowx import WidowX
from test_hardware_dynamixel import PERIOD_S, SAFETY, arm, sim  # noqa: F401 - the WidowX-200 bus fixtures

pytestmark = pytest.mark.timeout(60)
SAFETY_P1 = dataclasses.replace(SAFETY, bus_watchdog_s=None)  # Protocol 1.0 has no Bus Watchdog


def with_joint(config, name, **changes):
    """The arm config with one joint's fields changed."""
    joints = tuple(dataclasses.replace(j, **changes) if j.name == name else j for j in config.joints)
    return dataclasses.replace(config, joints=joints)


# -- stale state --------------------------------------------------------------------------------------


def test_state_age_bound_is_tied_to_the_control_period():
    config = SafetyConfig(control_period_s=0.3)
    assert config.max_state_age_s == pytest.approx(0.6)
    assert check_state_age(10.0, config, now=10.5) == pytest.approx(0.5)
    with pytest.raises(StaleStateError, match=r"is 4\.000 s old; the bound is 0\.600 s \(2 control periods of 0\.3 s\)"):
        check_state_age(10.0, config, now=14.0)
    with pytest.raises(StaleStateError, match="in the future"):  # a time.time() stamp, not monotonic
        check_state_age(time.time(), config)
    assert SafetyConfig(control_period_s=0.1, state_age_factor=3).max_state_age_s == pytest.approx(0.3)
    with pytest.raises(ValueError, match="state_age_factor=0"):
        SafetyConfig(state_age_factor=0)


def test_stale_state_is_refused_and_the_arm_stopped(sim, arm):
    arm.command_velocity([0.3, 0, 0, 0, 0])
    state = arm.read_state()
    assert 0.0 <= time.monotonic() - state.time < 0.05  # stamped at the read
    # the tracker's case: a 4-s-old state at home while the wrist may be anywhere by now
    with pytest.raises(StaleStateError, match=r"4\.\d{3} s old; the bound is 0\.200 s") as info:
        arm.command_velocity([0, 0, 0, 1.0, 0], state=state._replace(time=state.time - 4.0))
    assert "command_velocity refused; stop sent" in " ".join(info.value.__notes__)
    assert sim.goal_velocity_writes(5)[-1] == 0.0  # the wrist command never went out
    assert sim.servo(1).qdot == 0.0 and sim.servo(1).torque_enabled  # stopped, holding
    # just over the bound by the clock, too
    time.sleep(2 * PERIOD_S + 0.05)
    with pytest.raises(StaleStateError, match="s old"):
        arm.command_velocity([0.3, 0, 0, 0, 0], state=state)
    # not a fault: a fresh state (or none) is accepted
    arm.command_velocity([0.3, 0, 0, 0, 0], state=arm.read_state())
    assert sim.servo(1).qdot == pytest.approx(0.3, abs=0.03)
    arm.command_velocity([0.2, 0, 0, 0, 0])
    assert sim.servo(1).qdot == pytest.approx(0.2, abs=0.03)


def test_a_state_one_period_old_is_accepted(sim, arm):
    state = arm.read_state()
    time.sleep(PERIOD_S)
    arm.command_velocity([0.3, 0, 0, 0, 0], state=state)
    assert sim.servo(1).qdot == pytest.approx(0.3, abs=0.03)


# -- limit registers at start -------------------------------------------------------------------------


def test_effort_units_by_model():
    assert XM430_W350.effort_limit_writes(80) == [(XSeries.CURRENT_LIMIT, 954)]  # of 1193 (3.21 A)
    assert XL430_W250.effort_limit_writes(80) == [(XSeries.PWM_LIMIT, 708)]  # of 885
    assert MX_64.effort_limit_writes(80) == [(MXSeriesP1.MAX_TORQUE, 818), (MXSeriesP1.TORQUE_LIMIT, 818)]
    assert XM430_W350.effort_to_percent(-597) == pytest.approx(-50.04, abs=0.01)
    assert XL430_W250.effort_to_percent(625) == pytest.approx(62.5)  # Present Load in 0.1 %
    assert AX_12A.effort_to_percent(0x400 | 512) == pytest.approx(-50.05, abs=0.01)  # bit 10: the CW way
    for model in (XM430_W350, XL430_W250, MX_64):
        for pct in (-70.0, 0.0, 33.0):
            assert model.effort_to_percent(model.percent_to_effort(pct)) == pytest.approx(pct, abs=0.1)
    assert XM430_W350.describe_effort(50) == "1.60 A (50 % of 3.21 A)"
    with pytest.raises(ValueError, match="effort_stop_pct=90"):
        dataclasses.replace(WX200.joints[0], effort_limit_pct=80, effort_stop_pct=90)


def test_limit_registers_hold_the_arm_config_after_start_protocol_2(sim):
    config = dataclasses.replace(with_joint(WX200, "elbow", effort_limit_pct=50.0, effort_stop_pct=40.0),
                                 gripper_effort_limit_pct=30.0)
    with WidowX(port=sim.port, arm=config, safety=SAFETY) as widowx:
        for sid in (1, 2, 3, 5):  # XM430-W350: Current Limit, 80 % of 1193
            assert sim.servo(sid)._get(XSeries.CURRENT_LIMIT) == 954
        assert sim.servo(4)._get(XSeries.CURRENT_LIMIT) == round(0.5 * 1193)
        assert sim.servo(6)._get(XSeries.PWM_LIMIT) == 708  # XL430-W250: no current sensing, PWM Limit
        assert sim.servo(7)._get(XSeries.PWM_LIMIT) == round(0.3 * 885)  # the gripper
        assert sim.servo(1)._get(XSeries.PWM_LIMIT) == 885  # left alone where Current Limit is the bound
        limits = widowx.backend.effort_limits()
        assert limits[4] == pytest.approx(50.0, abs=0.1) and limits[7] == pytest.approx(30.0, abs=0.2)
    # EEPROM is written only when it differs: a second start writes no limit register
    eeprom = (XSeries.PWM_LIMIT.address, XSeries.CURRENT_LIMIT.address)
    before = sum(1 for w in sim.writes if w.address in eeprom)
    with WidowX(port=sim.port, arm=config, safety=SAFETY):
        pass
    assert sum(1 for w in sim.writes if w.address in eeprom) == before


def test_limit_registers_hold_the_arm_config_after_start_protocol_1():
    config = with_joint(CLASSIC_WIDOWX, "shoulder", effort_limit_pct=70.0, effort_stop_pct=50.0)
    with DynamixelBusSim(classic_widowx_servos()) as sim, WidowX(port=sim.port, protocol=1, arm=config, safety=SAFETY_P1):
        for sid in (1, 3, 4, 5, 6):  # MX-28, MX-64, AX-12A alike: Max Torque (EEPROM) and Torque Limit (RAM)
            assert sim.servo(sid)._get(MXSeriesP1.MAX_TORQUE) == 818
            assert sim.servo(sid)._get(MXSeriesP1.TORQUE_LIMIT) == 818
        assert sim.servo(2)._get(MXSeriesP1.MAX_TORQUE) == sim.servo(2)._get(MXSeriesP1.TORQUE_LIMIT) == round(0.7 * 1023)


def test_the_simulated_servos_range_check_the_limit_registers(sim):
    from hardware.dynamixel import DynamixelBus
    from hardware.errors import ServoCommandError

    with DynamixelBus(sim.port) as bus:
        bus.write(4, XSeries.CURRENT_LIMIT, 600)
        assert bus.read(4, XSeries.CURRENT_LIMIT) == 600
        with pytest.raises(ServoCommandError, match="servo 4"):
            bus.write(4, XSeries.CURRENT_LIMIT, 1194)  # above the XM430's range
        with pytest.raises(ServoCommandError, match="servo 6"):
            bus.write(6, XSeries.CURRENT_LIMIT, 600)  # the XL430 has no Current Limit
        bus.write(4, XSeries.TORQUE_ENABLE, 1)
        with pytest.raises(ServoCommandError, match="servo 4"):
            bus.write(4, XSeries.CURRENT_LIMIT, 500)  # EEPROM: locked while torque is on


# -- the current/load watch ------------------------------------------------------------------------


def drive(widowx, qdot, seconds):
    """The control loop of an env: read, command, wait one period."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = widowx.read_state()
        widowx.command_velocity(qdot, state=state)
        time.sleep(PERIOD_S)


@pytest.mark.parametrize(
    "joint, index, servo_id, obstacle, pattern",
    [
        ("elbow", 2, 4, (None, 0.25), (r"servo 4 \(elbow, XM430-W350\) present current \d\.\d\d A \(\d+ % of 3\.21 A\) "
                                       r"is above its bound 1\.93 A \(60 % of 3\.21 A\)")),
        ("shoulder", 1, 2, (-0.25, None), r"servo 2 \(shoulder, XM430-W350\).*servo 3 \(shoulder shadow, XM430-W350\)"),
        ("wrist_rotate", 4, 6, (None, 0.25), (r"servo 6 \(wrist_rotate, XL430-W250\) present load \d+ % of maximum load "
                                              r"is above its bound 60 % of maximum load")),
    ],
)
def test_pushing_into_an_obstacle_stops_the_arm_before_the_servo_overloads(sim, arm, joint, index, servo_id, obstacle, pattern):
    sim.set_obstacle(servo_id, *obstacle)  # inside the joint limits: the velocity filter cannot know
    qdot = np.zeros(5)
    qdot[index] = 1.0 if obstacle[1] is not None else -1.0
    started = time.monotonic()
    with pytest.raises(EffortLimitError, match=pattern) as info:
        drive(arm, qdot, 5.0)
    # contact after 0.25 s at 1 rad/s; tripped within a few periods of it
    assert time.monotonic() - started < 0.25 + 0.65  # the alarm would come 0.35 + 0.5 s after contact
    assert "stopped the arm; stop sent, torque stays on" in " ".join(info.value.__notes__)
    servo = sim.servo(servo_id)
    assert servo.hardware_error == 0 and servo.torque_enabled  # no overload alarm: it holds
    assert servo.goal_velocity_rad_s() == 0.0 and abs(servo.q) == pytest.approx(0.25, abs=0.01)
    time.sleep(0.8)  # longer than the overload alarm would need at the limit register
    assert sim.servo(servo_id).hardware_error == 0 and abs(sim.servo(servo_id).load_pct) < 1.0
    # not a fault: the joint may back away from the obstacle
    drive(arm, -qdot * 0.5, 0.3)
    assert abs(sim.servo(servo_id).q) < 0.2 and sim.servo(servo_id).hardware_error == 0


def test_without_the_watch_the_servo_overloads(sim):
    """What the watch prevents: the simulated servo's own alarm (load at its limit register for
    `overload_after_s`) turns its torque off."""
    config = with_joint(WX200, "elbow", effort_stop_pct=None)
    sim.set_obstacle(4, upper_rad=0.25)
    with WidowX(port=sim.port, arm=config, safety=SAFETY) as widowx:
        with pytest.raises(ServoHardwareError, match=r"servo 4.*overload"):
            drive(widowx, [0, 0, 1.0, 0, 0], 5.0)
    assert sim.servo(4).hardware_error == 1 << 5 and not sim.servo(4).torque_enabled


def test_a_joint_driven_into_its_mechanical_stop_trips_the_watch(sim):
    """The tracker's case: the wrist driven past its 2.15 rad limit to the 2.35 rad stop (here by
    joint limits configured too wide) is stopped by its current before the overload alarm."""
    config = with_joint(WX200, "wrist_angle", upper_rad=2.6)
    with DynamixelBusSim(widowx_200_servos(q0=[0, 0, 0, 2.1, 0])) as bus:
        with WidowX(port=bus.port, arm=config, safety=SAFETY) as widowx:
            with pytest.raises(EffortLimitError, match=r"servo 5 \(wrist_angle, XM430-W350\) present current"):
                drive(widowx, [0, 0, 0, 1.0, 0], 5.0)
            wrist = bus.servo(5)
            assert wrist.q == pytest.approx(2.35, abs=0.01) and wrist.hardware_error == 0 and wrist.torque_enabled


def test_the_load_watch_on_protocol_1():
    with DynamixelBusSim(classic_widowx_servos()) as bus:
        bus.set_obstacle(3, lower_rad=-0.25)  # MX-64 elbow, driven the negative (CW, bit 10) way
        with WidowX(port=bus.port, protocol=1, safety=SAFETY_P1) as widowx:
            with pytest.raises(EffortLimitError, match=r"servo 3 \(elbow, MX-64\) present load \d+ % of maximum torque "
                                                       r"is above its bound 60 % of maximum torque"):
                drive(widowx, [0, 0, -1.0, 0, 0], 5.0)
            assert widowx.backend.last_effort_pct[3] < -60.0  # the sign came through bit 10
            elbow = bus.servo(3)
            assert elbow.hardware_error == 0 and elbow.torque_enabled and elbow.goal_velocity_rad_s() == 0.0
