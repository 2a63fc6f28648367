"""The task-reset rig over its serial protocol, against the fake controller on a pty."""

import numpy as np
import pytest

from hardware.errors import ConnectionLostError, DeviceNotFoundError, RigError
from hardware.kinematics import forward_kinematics
from hardware.rig import ResetRig, RigGeometry, shaped_distance
from hardware.sim.rig import FakeRigController

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def controller():
    fake = FakeRigController().start()
    yield fake
    fake.close()


@pytest.fixture
def rig(controller):
    with ResetRig(port=controller.port) as r:
        yield r


def test_home_then_set_task_moves_the_switch(controller, rig):
    with pytest.raises(RigError, match="NOT_HOMED"):
        rig.set_task(2.0, 0.005)
    status = rig.home()
    assert status.homed and status.rotation_deg == 0.0 and status.translation_m == 0.0
    status = rig.set_task(-7.5, 0.0042, target_port=2)
    assert status.state == "IDLE"
    assert rig.pose() == pytest.approx((-7.5, 0.0042))
    assert "MOVE -7500 4200" in controller.commands


def test_limits_are_checked_on_the_host_and_on_the_controller(controller, rig):
    rig.home()
    with pytest.raises(ValueError, match=r"rotation_deg=9.0 out of the rig's range \[-8.0, 8.0\]"):
        rig.set_task(9.0, 0.0)
    with pytest.raises(ValueError, match=r"translation_m=-0.02 out"):
        rig.set_task(0.0, -0.02)
    with pytest.raises(RigError, match="LIMIT"):  # firmware refuses it too
        rig._command("MOVE 9000 0")
    assert not any(c == "MOVE 9000000 0" for c in controller.commands)


def test_insertion_signal_is_the_target_ports_link(controller, rig):
    rig.home()
    rig.set_task(1.0, 0.0, target_port=1)
    assert not rig.inserted()
    controller.plug_in(3)  # wrong port
    assert not rig.inserted() and rig.link_mask() == 0b1000
    controller.plug_in(1)
    assert rig.inserted()


def test_fault_and_disconnect_are_reported(controller, rig):
    rig.home()
    controller.fault()
    with pytest.raises(RigError, match="FAULT"):
        rig.set_task(1.0, 0.0)
    controller.disconnect()
    with pytest.raises((ConnectionLostError, RigError)):
        rig.status()


def test_missing_rig_names_the_port_and_the_simulator():
    with pytest.raises(DeviceNotFoundError, match=r"/dev/ttyACM9.*python -m hardware.sim rig"):
        ResetRig(port="/dev/ttyACM9")


def test_goal_pose_and_shaped_distance():
    geometry = RigGeometry(centre_m=(0.36, 0.0, 0.12), face_offset_m=-0.03, port_pitch_m=0.01, n_ports=4)
    goal = geometry.goal_pose(0.0, 0.005, port=0)
    np.testing.assert_allclose(goal[:3, 3], [0.33, 0.005 - 0.015, 0.12])
    assert shaped_distance(goal, goal) == pytest.approx(0.0)
    rotated = geometry.goal_pose(90.0, 0.0, port=3)
    np.testing.assert_allclose(rotated[:3, 3], [0.36 - 0.015, -0.03, 0.12], atol=1e-12)
    # the stretched-out arm is 8.6 cm and 90 deg away from the rotated goal... in this geometry
    d = shaped_distance(forward_kinematics(np.zeros(5)), rotated)
    assert d > np.pi / 2
