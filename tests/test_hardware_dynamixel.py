"""The Dynamixel driver end to end: WidowX -> dynamixel_sdk -> pyserial -> pty -> bus simulator.

Covers the wire format (CRC-16, byte stuffing), the control loop, the safety layer on the real
bus, and the faults a lab run meets: pty closed mid-run, a servo that stops answering, corrupted
packets, a stalled policy, commands beyond a joint limit, hardware errors.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from hardware.control_tables import XSeries
from hardware.dynamixel import DynamixelBus
from hardware.errors import (
    CommunicationError,
    ConnectionLostError,
    DeviceNotFoundError,
    ServoHardwareError,
    ServoNotRespondingError,
)
from hardware.safety import SafetyConfig
from hardware.sim.dynamixel import DynamixelBusSim, crc16, stuff, unstuff, widowx_200_servos
from hardware.widowx import WidowX

PERIOD_S = 0.1
SAFETY = SafetyConfig(control_period_s=PERIOD_S, bus_watchdog_s=0.5, handle_sigint=False)
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sim():
    bus = DynamixelBusSim(widowx_200_servos()).start()
    yield bus
    bus.close()


@pytest.fixture
def arm(sim):
    widowx = WidowX(port=sim.port, safety=SAFETY)
    yield widowx
    widowx.close()


def test_crc16_matches_the_sdk_and_stuffing_round_trips():
    import dynamixel_sdk

    ph = dynamixel_sdk.PacketHandler(2.0)
    rng = np.random.default_rng(0)
    for n in (1, 5, 40, 200):
        data = rng.integers(0, 256, n).tolist()
        assert crc16(data) == ph.updateCRC(0, data, n)
    body = bytes([0x03, 0x70, 0x00, 0xFF, 0xFF, 0xFD, 0x00])
    assert stuff(body) == bytes([0x03, 0x70, 0x00, 0xFF, 0xFF, 0xFD, 0xFD, 0x00])
    assert unstuff(stuff(body)) == body
    assert unstuff(body) is None  # an unstuffed header inside a packet breaks the framing


def test_sdk_41_sends_unstuffed_packets_and_the_driver_fixes_it(sim):
    """dynamixel_sdk 4.1 drops its own Protocol 2.0 transmit stuffing (see _packet_handler)."""
    import dynamixel_sdk

    port = dynamixel_sdk.PortHandler(sim.port)
    assert port.openPort()
    try:
        plain = dynamixel_sdk.PacketHandler(2.0)
        result, _ = plain.write4ByteTxRx(port, 4, XSeries.PROFILE_VELOCITY.address, 0x00FDFFFF)
        assert result == dynamixel_sdk.COMM_RX_TIMEOUT  # the servo lost framing and kept quiet
        assert sim.unstuffed_packets_received == 1
    finally:
        port.closePort()


def test_ping_read_write_with_byte_stuffing_both_ways(sim):
    with DynamixelBus(sim.port) as bus:
        assert [bus.ping(i) for i in (1, 2, 3, 4, 5, 6, 7)] == [1020] * 5 + [1060] * 2
        # 0x00FDFFFF goes out as FF FF FD 00: stuffed by the SDK, unstuffed by the servo, and the
        # same again on the way back in the status packet
        bus.write(4, XSeries.PROFILE_VELOCITY, 0x00FDFFFF)
        assert bus.read(4, XSeries.PROFILE_VELOCITY) == 0x00FDFFFF
    assert sim.bad_packets_received == 0


def test_missing_device_names_the_port_and_the_simulator():
    with pytest.raises(DeviceNotFoundError, match=r"/dev/ttyNOPE.*python -m hardware.sim dynamixel"):
        WidowX(port="/dev/ttyNOPE", safety=SAFETY)


def test_connect_sets_velocity_mode_watchdog_torque_and_the_shadow_follows(sim, arm):
    for sid in (1, 2, 3, 4, 5, 6):
        servo = sim.servo(sid)
        assert servo.velocity_mode and servo.torque_enabled
        assert servo._get(XSeries.BUS_WATCHDOG) == 25  # 0.5 s in 20 ms units
    assert not sim.servo(7).velocity_mode and sim.servo(7).torque_enabled  # gripper holds position
    arm.command_velocity([0, 0.3, 0, 0, 0])
    time.sleep(0.15)
    q = arm.read_state().q
    assert q[1] > 0.02
    # only ID 2 was addressed; the shadow (Secondary ID 2) moved with it
    q = sim.positions()
    assert q[3] == pytest.approx(q[2], abs=1e-6)


def test_read_state_and_command_round_trip(sim, arm):
    n = 50
    t0 = time.perf_counter()
    for _ in range(n):
        arm.read_state()
    read_ms = (time.perf_counter() - t0) / n * 1e3
    t0 = time.perf_counter()
    for _ in range(n):
        arm.command_velocity([0.2, 0, 0, 0, 0])
    step_ms = (time.perf_counter() - t0) / n * 1e3
    print(f"sync read of 6 servos: {read_ms:.2f} ms; read + safety + sync write: {step_ms:.2f} ms")
    assert read_ms < 50 and step_ms < 100  # a 3.3 Hz loop has 300 ms
    state = arm.read_state()
    assert state.qdot[0] == pytest.approx(0.2, abs=0.03)
    assert sim.goal_velocity_writes(1)[-1] == pytest.approx(0.2, abs=0.03)


def test_command_beyond_a_joint_limit_never_reaches_the_servos(sim, arm):
    lower, upper = arm.joint_limits
    bound = upper[3] - SAFETY.joint_margin_rad  # wrist angle: the gripper stays in the workspace
    # push the wrist into its limit for 2.5 s (it needs 2.1 s at 1 rad/s to get there)
    reports = []
    for _ in range(25):
        reports.append(arm.command_velocity([0, 0, 0, 1.0, 0]))
        time.sleep(PERIOD_S)
    # held at the bound (positions are quantised to encoder ticks, so "held" is a tick's worth)
    assert reports[-1].joint_limited[3] and reports[-1].sent[3] < 0.02
    assert not any(r.workspace_stop for r in reports)
    # overshoot past the bound is v * (loop jitter): the margin absorbs it, the limit is never passed
    assert bound - 0.05 < sim.servo(5).q < upper[3]
    assert sim.servo(5).hardware_error == 0  # never driven into the mechanical stop
    # no goal above the cap ever reached the servo, and the last one held the joint
    assert max(sim.goal_velocity_writes(5)) <= SAFETY.max_velocity_rad_s + 0.03
    assert abs(sim.goal_velocity_writes(5)[-1]) < 0.02
    # exactly at the bound, the servo is sent 0, not the command
    arm.command_velocity([0, 0, 5.0, 0, 0], state=arm.read_state()._replace(q=np.array([0, 0, upper[2] - SAFETY.joint_margin_rad, 0, 0])))
    assert sim.goal_velocity_writes(4)[-1] == 0.0
    # and a huge command reaches the servos capped
    arm.command_velocity([-50.0, 0, 0, 0, 0])
    assert sim.goal_velocity_writes(1)[-1] == pytest.approx(-SAFETY.max_velocity_rad_s, abs=0.03)


def test_bad_command_shape_is_rejected(arm):
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(5,\)"):
        arm.command_velocity([0.1, 0.2, 0.3])


def test_policy_stall_watchdog_sends_zero_velocity(sim, arm):
    arm.command_velocity([0.3, 0, 0, 0, 0])
    assert sim.servo(1).qdot == pytest.approx(0.3, abs=0.03)
    time.sleep(3 * PERIOD_S)  # the policy stalls
    assert arm.watchdog.stats.stops == 1
    assert sim.servo(1).qdot == 0.0
    q = sim.servo(1).q
    time.sleep(0.1)
    assert sim.servo(1).q == q
    arm.command_velocity([0.3, 0, 0, 0, 0])  # and the next command moves it again
    assert sim.servo(1).qdot == pytest.approx(0.3, abs=0.03)


def test_bus_watchdog_stops_the_servos_when_the_host_goes_silent(sim, arm):
    arm.command_velocity([0.3, 0, 0, 0, 0])
    arm.watchdog.close()  # the host watchdog dies with its process: only the servos are left
    time.sleep(0.8)  # > the 0.5 s Bus Watchdog
    assert sim.servo(1).qdot == 0.0
    assert sim.servo(1)._get(XSeries.BUS_WATCHDOG) == -1
    assert sorted(arm.backend.bus_watchdog_fired()) == [1, 2, 3, 4, 5, 6]
    arm.backend.arm_bus_watchdog(0.5)  # re-arming clears it, goals are accepted again
    arm.command_velocity([0.3, 0, 0, 0, 0])
    assert sim.servo(1).qdot == pytest.approx(0.3, abs=0.03)


def test_corrupted_packet_is_retried(sim, arm):
    sim.corrupt_next(1, servo_id=4)
    arm.read_state()
    stats = arm.backend.bus.stats
    # (on a loaded machine the simulator can also miss the SDK's 34 ms timeout: retried the same way)
    assert stats.corrupt == 1 and stats.retries == stats.corrupt + stats.timeouts


def test_corrupted_packets_are_reported_after_the_retries(sim, arm):
    sim.corrupt_next(10, servo_id=4)
    with pytest.raises(CommunicationError, match=r"bad CRC.*servo 4.*3 attempts"):
        arm.read_state()
    assert arm.backend.bus.stats.corrupt + arm.backend.bus.stats.timeouts == 3
    # the arm was stopped on the way out: the other servos got zero velocity and torque off
    assert not sim.servo(1).torque_enabled and sim.servo(1).goal_velocity_rad_s() == 0.0


def test_servo_that_stops_answering(sim, arm):
    arm.command_velocity([0.3, 0, 0, 0, 0])
    sim.mute(5)
    with pytest.raises(ServoNotRespondingError, match=r"servo 5 did not answer") as info:
        arm.read_state()
    assert "stop sent" in " ".join(info.value.__notes__)
    assert arm.backend.bus.stats.timeouts >= 3  # the 3 attempts (plus any load-induced ones before)
    assert sim.servo(1).qdot == 0.0 and not sim.servo(1).torque_enabled
    with pytest.raises(ServoNotRespondingError):  # the arm stays faulted
        arm.command_velocity([0.3, 0, 0, 0, 0])


def test_missing_servo_at_connect_is_named(sim):
    sim.mute(6)
    with pytest.raises(ServoNotRespondingError, match=r"servos \[6\].*did not answer a ping"):
        WidowX(port=sim.port, safety=SAFETY)


def test_hardware_error_is_read_and_reported(sim, arm):
    sim.set_hardware_error(4, 1 << 5)  # overload
    with pytest.raises(ServoHardwareError, match=r"servo 4.*overload"):
        arm.read_state()
    assert arm.hardware_errors() == {4: ["overload"]}
    assert not sim.servo(1).torque_enabled


def test_pty_closed_mid_run_stops_raises_and_keeps_the_data(sim, arm):
    transitions = []  # what an env's replay buffer would hold
    with pytest.raises(ConnectionLostError, match=sim.port) as info:
        for step in range(100):
            state = arm.read_state()
            arm.command_velocity([0.1, 0, 0, 0, 0], state=state)
            transitions.append((state.q.copy(), step))
            if step == 5:
                sim.disconnect()  # the USB cable is pulled
    assert len(transitions) == 6 and transitions[-1][1] == 5
    notes = " ".join(info.value.__notes__)
    assert "stop attempted" in notes and "Bus Watchdog" in notes
    arm.close()  # closing a dead arm does not raise


def test_torque_off_on_close_and_on_exception(sim):
    with pytest.raises(RuntimeError, match="policy crashed"):
        with WidowX(port=sim.port, safety=SAFETY) as widowx:
            widowx.command_velocity([0.2, 0, 0, 0, 0])
            raise RuntimeError("policy crashed")
    assert all(not sim.servo(i).torque_enabled for i in range(1, 8))
    assert sim.servo(1).goal_velocity_rad_s() == 0.0


def test_torque_off_on_sigint(sim):
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN when pytest runs in the background
    widowx = WidowX(port=sim.port, safety=SafetyConfig(control_period_s=PERIOD_S, handle_sigint=True))
    try:
        widowx.command_velocity([0.2, 0, 0, 0, 0])
        assert sim.servo(1).torque_enabled
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert not sim.servo(1).torque_enabled and sim.servo(1).qdot == 0.0
    finally:
        widowx.close()
    assert signal.getsignal(signal.SIGINT) is before  # the handler it replaced is back


def test_torque_off_at_interpreter_exit(sim):
    script = textwrap.dedent(f"""
        from hardware.widowx import WidowX
        from hardware.safety import SafetyConfig
        arm = WidowX(port={sim.port!r}, safety=SafetyConfig(control_period_s=5.0))
        arm.command_velocity([0.2, 0, 0, 0, 0])
        print("commanded", flush=True)
        # no close(): the atexit handler must stop the arm and turn torque off
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    assert "commanded" in out.stdout
    assert sim.goal_velocity_writes(1)[-2:] == [pytest.approx(0.2, abs=0.03), 0.0]
    assert not sim.servo(1).torque_enabled


def test_home_reaches_the_home_pose(sim):
    sim_arm = DynamixelBusSim(widowx_200_servos(q0=[0.4, -0.3, 0.3, 0.2, -0.5])).start()
    try:
        with WidowX(port=sim_arm.port, safety=SAFETY) as widowx:
            state = widowx.home(timeout_s=10)
            assert np.max(np.abs(state.q)) < 0.03
            assert sim_arm.servo(1).qdot == 0.0
    finally:
        sim_arm.close()


def test_ctrl_c_during_a_busy_control_loop_stops_the_arm(sim):
    """SIGINT lands wherever the loop is, often inside a bus transaction."""
    script = textwrap.dedent(f"""
        from hardware.widowx import WidowX
        from hardware.safety import SafetyConfig
        arm = WidowX(port={sim.port!r}, safety=SafetyConfig(control_period_s=0.1))
        print("running", flush=True)
        while True:
            arm.command_velocity([0.2, 0, 0, 0, 0])
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        assert proc.stdout.readline().strip() == "running"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "KeyboardInterrupt" in err
    assert sim.servo(1).qdot == 0.0 and not sim.servo(1).torque_enabled
