"""`python -m hardware` and `python -m hardware.sim`, on simulated devices."""

import ast
import io
import re
import os
import subprocess
import sys

import numpy as np
import pytest

from hardware.sim.dynamixel import DynamixelBusSim, widowx_200_servos
from hardware.sim.rig import FakeRigController
from hardware.sim.rosbridge import FakeRosbridge
import meld_envs
from hardware.__main__ import main

pytestmark = pytest.mark.timeout(60)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def sim():
    bus = DynamixelBusSim(widowx_200_servos(q0=[0.3, 0.1, -0.2, 0.1, 0.0])).start()
    yield bus
    bus.close()


def test_check(sim, capsys):
    assert main(["check", "--port", sim.port]) == 0
    out = capsys.readouterr().out
    assert "servo 3: XM430-W350" in out and "servo 7: XL430-W250" in out
    assert re.search(r"waist +id 1: \+0\.30\d rad", out) and "gripper at" in out and "hardware errors: none" in out
    # a fresh bus: the limit registers at their maximum until WidowX writes the arm config's values
    assert "effort servo 4: present 0 %, limit register 100 % (arm config 80 %" in out


def test_check_reports_a_missing_servo_and_a_hardware_error(sim, capsys):
    sim.set_hardware_error(5, 1 << 2)
    assert main(["check", "--port", sim.port]) == 1
    assert "5: ['overheating']" in capsys.readouterr().out
    assert main(["check", "--port", sim.port, "--reboot"]) == 0  # reboot clears it
    sim.mute(4)
    assert main(["check", "--port", sim.port]) == 1
    assert "servo 4: MISSING" in capsys.readouterr().out


def test_check_without_a_device_explains_the_simulator(capsys):
    assert main(["check", "--port", "/dev/ttyUSB99"]) == 2
    err = capsys.readouterr().err
    assert "/dev/ttyUSB99" in err and "python -m hardware.sim dynamixel" in err


def test_home(sim, capsys):
    assert main(["home", "--port", sim.port, "--max-velocity", "1.0"]) == 0
    assert "homed wx200" in capsys.readouterr().out
    assert abs(sim.servo(1).q) < 0.03 and not sim.servo(1).torque_enabled  # torque off at exit


def test_teleop_jogs_a_joint(sim, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("aaaa p x"))
    q0 = sim.servo(1).q
    assert main(["teleop", "--port", sim.port]) == 0
    assert sim.servo(1).q < q0  # 'a' jogs the waist negative
    assert "waist" in capsys.readouterr().out


def test_rig_home_and_set_task(capsys):
    with FakeRigController() as rig:
        assert main(["rig", "home", "--rig-port", rig.port]) == 0
        assert main(["rig", "set-task", "3", "--rig-port", rig.port]) == 0
        task = meld_envs.tasks("meld/WidowXCable-v0", "train")[3].params
        assert rig.rot == pytest.approx(round(task["rotation_deg"] * 1000)) and rig.trans == pytest.approx(round(task["translation_m"] * 1e6))
        assert main(["rig", "set-task", "12", "--split", "test", "--rig-port", rig.port]) != 0
    assert "rig homed" in capsys.readouterr().out


def test_check_over_ros(capsys):
    with FakeRosbridge() as bridge:
        assert main(["check", "--backend", "ros", "--ros-port", str(bridge.port)]) == 0
    assert "wx200 on ROS xs_sdk /wx200" in capsys.readouterr().out


def test_sim_runner_and_check_as_separate_processes():
    env = dict(os.environ, PYTHONPATH=REPO)
    runner = subprocess.Popen([sys.executable, "-m", "hardware.sim", "dynamixel"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        port = runner.stdout.readline().strip()
        assert port.startswith("/dev/pts/")
        out = subprocess.run([sys.executable, "-m", "hardware", "check", "--port", port],
                             capture_output=True, text=True, timeout=30, cwd=REPO, env=env)
        assert out.returncode == 0, out.stderr
        assert "servo 7" in out.stdout
    finally:
        runner.terminate()
        runner.wait(timeout=10)
        runner.stdout.close()
        runner.stderr.close()


def test_only_the_command_line_imports_meld_envs():
    """The drivers stand below the environment suite: meld_envs -> hardware, never back."""
    importers = []
    for folder, _, files in os.walk(os.path.join(REPO, "hardware")):
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or os.path.relpath(path, REPO) == os.path.join("hardware", "__main__.py"):
                continue
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                           else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(m == "meld_envs" or m.startswith("meld_envs.") for m in modules):
                    importers.append(os.path.relpath(path, REPO))
    assert importers == []
