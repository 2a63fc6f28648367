"""The safety layer and forward kinematics, against hand-computed values (no devices)."""

import threading
import time

import numpy as np
import pytest

from hardware.config import WX200
from hardware.kinematics import WX200_GEOMETRY, box_violation, forward_kinematics, gripper_position, pose_distance
from hardware.safety import SafetyConfig, Watchdog, filter_velocity

LOWER, UPPER = WX200.lower, WX200.upper
CONFIG = SafetyConfig(control_period_s=0.3, joint_margin_rad=0.05, max_velocity_rad_s=1.0)


def test_forward_kinematics_at_home_is_the_stretched_out_arm():
    T = forward_kinematics(np.zeros(5))
    np.testing.assert_allclose(T[:3, 3], [0.408575, 0.0, 0.31065], atol=1e-9)
    np.testing.assert_allclose(T[:3, :3], np.eye(3), atol=1e-12)


def test_forward_kinematics_by_hand():
    # waist +90 deg: the arm points along +y
    np.testing.assert_allclose(gripper_position(np.array([np.pi / 2, 0, 0, 0, 0])), [0.0, 0.408575, 0.31065], atol=1e-9)
    # elbow +90 deg (positive pitch is down): the forearm from (0.05, 0.31065) points straight down
    p = gripper_position(np.array([0, 0, np.pi / 2, 0, 0]))
    np.testing.assert_allclose(p, [0.05, 0.0, 0.31065 - 0.358575], atol=1e-9)
    # wrist rotate changes only the orientation
    T = forward_kinematics(np.array([0, 0, 0, 0, 0.7]))
    np.testing.assert_allclose(T[:3, 3], [0.408575, 0.0, 0.31065], atol=1e-9)
    assert pose_distance(forward_kinematics(np.zeros(5)), T) == pytest.approx((0.0, 0.7))


def test_forward_kinematics_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"shape \(4,\).*\(5,\)"):
        forward_kinematics(np.zeros(4), WX200_GEOMETRY)


def test_box_violation():
    low, high = np.zeros(3), np.ones(3)
    assert box_violation(np.array([0.5, 0.5, 0.5]), low, high) == 0.0
    assert box_violation(np.array([1.3, 0.5, -0.4]), low, high) == pytest.approx(0.5)


def test_velocity_cap():
    q = np.zeros(5)
    v, report = filter_velocity(q, [3.0, -2.0, 0.5, 0, 0], lower=LOWER, upper=UPPER, config=CONFIG)
    np.testing.assert_allclose(v, [1.0, -1.0, 0.5, 0, 0])
    assert report.velocity_capped.tolist() == [True, True, False, False, False]
    assert not report.joint_limited.any()


def test_joint_limit_uses_q_plus_v_dt_against_limit_minus_margin():
    q = np.zeros(5)
    q[2] = UPPER[2] - 0.05 - 0.03  # 3 cm of room inside the margin
    v, report = filter_velocity(q, [0, 0, 1.0, 0, 0], lower=LOWER, upper=UPPER, config=CONFIG)
    assert v[2] == pytest.approx(0.03 / 0.3)
    assert report.joint_limited[2]
    assert q[2] + v[2] * 0.3 == pytest.approx(UPPER[2] - 0.05)
    # at the bound: held; moving away is untouched
    q[2] = UPPER[2] - 0.05
    v, _ = filter_velocity(q, [0, 0, 0.4, 0, 0], lower=LOWER, upper=UPPER, config=CONFIG)
    assert v[2] == 0.0
    v, report = filter_velocity(q, [0, 0, -0.4, 0, 0], lower=LOWER, upper=UPPER, config=CONFIG)
    assert v[2] == -0.4 and not report.joint_limited.any()


def test_joint_past_its_limit_may_only_move_back():
    q = np.zeros(5)
    q[1] = LOWER[1] - 0.1  # e.g. pushed there by hand with torque off
    v, _ = filter_velocity(q, [0, -0.5, 0, 0, 0], lower=LOWER, upper=UPPER, config=CONFIG)
    assert v[1] == 0.0
    v, _ = filter_velocity(q, [0, 0.5, 0, 0, 0], lower=LOWER, upper=UPPER, config=CONFIG)
    assert v[1] == 0.5


def test_nonfinite_command_is_zero():
    v, report = filter_velocity(np.zeros(5), [np.nan, 0.1, 0, np.inf, 0], lower=LOWER, upper=UPPER, config=CONFIG)
    assert not v.any() and report.nonfinite and report.modified


def test_workspace_box_holds_the_arm_but_lets_it_come_back():
    fk = lambda q: gripper_position(q)  # noqa: E731
    config = SafetyConfig(workspace_low_m=(0.1, -0.35, 0.25), workspace_high_m=(0.5, 0.35, 0.45))
    # shoulder forward lowers the gripper below z = 0.25 within one step
    v, report = filter_velocity(np.zeros(5), [0, 1.0, 0, 0, 0], lower=LOWER, upper=UPPER, config=config, gripper_position=fk)
    assert report.workspace_stop and not v.any()
    # a small move that stays inside passes
    v, report = filter_velocity(np.zeros(5), [0, 0.05, 0, 0, 0], lower=LOWER, upper=UPPER, config=config, gripper_position=fk)
    assert not report.workspace_stop and v[1] == 0.05
    # already outside (below): moving back up is allowed, further down is not
    q = np.array([0, 0.6, 0, 0, 0])
    assert fk(q)[2] < 0.25
    v, report = filter_velocity(q, [0, -0.3, 0, 0, 0], lower=LOWER, upper=UPPER, config=config, gripper_position=fk)
    assert not report.workspace_stop and v[1] == -0.3
    v, report = filter_velocity(q, [0, 0.3, 0, 0, 0], lower=LOWER, upper=UPPER, config=config, gripper_position=fk)
    assert report.workspace_stop


def test_safety_config_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="control_period_s=0"):
        SafetyConfig(control_period_s=0)
    with pytest.raises(ValueError, match="workspace box"):
        SafetyConfig(workspace_low_m=(1, 0, 0), workspace_high_m=(0, 1, 1))


@pytest.mark.timeout(30)
def test_watchdog_stops_once_when_not_fed_and_not_while_fed():
    stops = []
    dog = Watchdog(timeout_s=0.3, stop=lambda: stops.append(time.monotonic())).start()
    try:
        dog.feed(moving=True)
        for _ in range(6):  # fed every 50 ms: never fires
            time.sleep(0.05)
            dog.feed(moving=True)
        assert stops == []
        fed = time.monotonic()
        time.sleep(0.9)
        assert len(stops) == 1  # fires once, not again while stopped
        assert 0.3 <= stops[0] - fed < 0.6
        assert dog.stats.stops == 1
    finally:
        dog.close()
    assert not any(t.name == "watchdog" and t.is_alive() for t in threading.enumerate())


@pytest.mark.timeout(30)
def test_watchdog_keepalive_and_fault():
    calls = []

    def keepalive():
        calls.append(1)
        if len(calls) == 3:
            raise OSError("bus gone")

    dog = Watchdog(timeout_s=1.0, stop=lambda: None, keepalive=keepalive, keepalive_s=0.02).start()
    try:
        deadline = time.monotonic() + 5
        while dog.stats.fault is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert isinstance(dog.stats.fault, OSError) and len(calls) == 3
    finally:
        dog.close()
