"""The task-reset rig (paper, appendix E) and the insertion signal.

Two motors move the network switch between tasks: motor 1 rotates the switch housing (range 16 deg,
-8..+8 about its centre) and motor 2 slides it on a linear rail (range 2 cm, -10..+10 mm). A small
controller (an Arduino-class board with two stepper drivers, two home switches and the switch's
port-link LEDs wired to inputs) drives them and reports which of the switch's ports has a link: the
sparse reward is "the correct port's link came up".

Serial protocol (115200 8N1, ASCII, one command line -> one reply line, both ending in "\\n"):

    PING                          -> OK MELDRIG 1                       (name, protocol version)
    HOME                          -> OK                                 (starts homing both axes)
    MOVE <rot_mdeg> <trans_um>    -> OK | ERR LIMIT .. | ERR NOT_HOMED ..   (absolute, integers)
    STATUS                        -> OK STATE=<IDLE|HOMING|MOVING|FAULT> HOMED=<0|1> ROT=<mdeg> TRANS=<um> LINK=<mask>
    LINK                          -> OK LINK=<mask>                     (bit i: port i has a link)
    STOP                          -> OK                                 (stop both motors)

Errors are `ERR <CODE> <text>` with CODE one of LIMIT, NOT_HOMED, SYNTAX, FAULT. Integers keep the
firmware free of float parsing. Moves are non-blocking on the controller; the host polls STATUS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hardware.errors import SIM_HINT, DeviceNotFoundError, RigError
from hardware.kinematics import pose_distance

ROTATION_RANGE_DEG = (-8.0, 8.0)  # appendix E: 16 degrees
TRANSLATION_RANGE_M = (-0.01, 0.01)  # appendix E: 2 cm
N_PORTS = 4
RIG_BAUDRATE = 115200


@dataclass(frozen=True)
class RigStatus:
    state: str
    homed: bool
    rotation_deg: float
    translation_m: float
    link_mask: int


@dataclass(frozen=True)
class RigGeometry:
    """Where the switch's ports are in the arm's base frame (metres), to compute goal poses.

    The rail runs along the base y axis; the housing rotates about a vertical axis through
    `centre_m`; ports sit along the switch's face at `port_pitch_m` spacing, facing the robot, so
    the plug goes in along +x when the rotation is 0. Measure these on your setup."""

    centre_m: tuple[float, float, float] = (0.36, 0.0, 0.12)
    face_offset_m: float = -0.03  # the port face, from the rotation axis along x
    port_pitch_m: float = 0.0145
    n_ports: int = N_PORTS

    def goal_pose(self, rotation_deg: float, translation_m: float, port: int) -> np.ndarray:
        """Gripper pose (float64 [4, 4]) with the plug fully in `port`: at the port, pointing +x."""
        if not 0 <= port < self.n_ports:
            raise ValueError(f"port={port} out of range (0..{self.n_ports - 1})")
        a = np.deg2rad(rotation_deg)
        R = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
        lateral = (port - (self.n_ports - 1) / 2.0) * self.port_pitch_m
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = np.asarray(self.centre_m) + np.array([0.0, translation_m, 0.0]) + R @ np.array([self.face_offset_m, lateral, 0.0])
        return T


def shaped_distance(gripper_pose: np.ndarray, goal_pose: np.ndarray) -> float:
    """Translation (m) + rotation (rad) distance of the plug from its goal (paper 5.3); the shaped
    reward (meta-training only) is its negative."""
    translation, rotation = pose_distance(gripper_pose, goal_pose)
    return translation + rotation


class ResetRig:
    """Host side of the rig controller (see the module docstring for the protocol).

        rig = ResetRig(port="/dev/ttyACM0")
        rig.home()
        rig.set_task(rotation_deg=3.5, translation_m=-0.004, target_port=2)
        rig.inserted()        # True once the target port has a link
    """

    def __init__(self, port: str, *, baudrate: int = RIG_BAUDRATE, timeout_s: float = 1.0,
                 geometry: RigGeometry | None = None) -> None:
        import os

        import serial

        self.port = port
        self.timeout_s = timeout_s
        self.geometry = geometry if geometry is not None else RigGeometry()
        self.target_port = 0
        if not os.path.exists(port):
            raise DeviceNotFoundError(
                f"no task-reset rig controller at port {port!r}: the device does not exist "
                f"(look for it with `ls /dev/ttyACM* /dev/ttyUSB*`). {SIM_HINT}"
            )
        try:
            self._serial = serial.Serial(port, baudrate=baudrate, timeout=timeout_s)
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotFoundError(f"cannot open the rig controller at {port!r}: {exc}. {SIM_HINT}") from exc
        self._serial.reset_input_buffer()
        reply = self._command("PING")
        if not reply.startswith("MELDRIG"):
            self._serial.close()
            raise RigError(f"device at {port!r} answered PING with {reply!r}, not a MELD reset rig")

    # -- protocol ------------------------------------------------------------------------------------
    def _command(self, line: str) -> str:
        """Send one command; returns the text after OK, raises RigError on ERR or silence."""
        import serial

        try:
            self._serial.write((line + "\n").encode("ascii"))
            reply = self._serial.readline().decode("ascii", errors="replace").strip()
        except (serial.SerialException, OSError) as exc:
            from hardware.errors import ConnectionLostError

            raise ConnectionLostError(f"lost the rig controller at {self.port!r} during {line!r}: {exc}") from exc
        if not reply:
            raise RigError(f"rig controller at {self.port!r} did not answer {line!r} within {self.timeout_s} s")
        if reply.startswith("ERR"):
            raise RigError(f"rig controller at {self.port!r} refused {line!r}: {reply[4:]}")
        if not reply.startswith("OK"):
            raise RigError(f"rig controller at {self.port!r} sent {reply!r} for {line!r}")
        return reply[3:]

    def status(self) -> RigStatus:
        fields = dict(kv.split("=", 1) for kv in self._command("STATUS").split())
        return RigStatus(
            state=fields["STATE"],
            homed=fields["HOMED"] == "1",
            rotation_deg=int(fields["ROT"]) / 1000.0,
            translation_m=int(fields["TRANS"]) / 1e6,
            link_mask=int(fields["LINK"]),
        )

    def _wait_idle(self, what: str, timeout_s: float) -> RigStatus:
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status()
            if status.state == "IDLE":
                return status
            if status.state == "FAULT":
                raise RigError(f"rig controller at {self.port!r} faulted during {what} (a motor stalled or a limit switch tripped)")
            if time.monotonic() > deadline:
                self._command("STOP")
                raise RigError(f"rig {what} did not finish within {timeout_s} s (stopped); last status {status}")
            time.sleep(0.02)

    # -- API -----------------------------------------------------------------------------------------
    def home(self, timeout_s: float = 30.0) -> RigStatus:
        """Home both axes on their switches, then go to the centre (0 deg, 0 m)."""
        self._command("HOME")
        status = self._wait_idle("homing", timeout_s)
        if not status.homed:
            raise RigError(f"rig at {self.port!r} finished homing but does not report HOMED=1")
        return status

    def set_task(self, rotation_deg: float, translation_m: float, *, target_port: int = 0,
                 wait: bool = True, timeout_s: float = 20.0) -> RigStatus | None:
        """Move the switch to a task's pose (absolute, from the homed centre) and set the target port."""
        lo, hi = ROTATION_RANGE_DEG
        if not lo <= rotation_deg <= hi:
            raise ValueError(f"rotation_deg={rotation_deg} out of the rig's range [{lo}, {hi}] deg")
        lo, hi = TRANSLATION_RANGE_M
        if not lo <= translation_m <= hi:
            raise ValueError(f"translation_m={translation_m} out of the rig's range [{lo}, {hi}] m")
        if not 0 <= target_port < self.geometry.n_ports:
            raise ValueError(f"target_port={target_port} out of range (0..{self.geometry.n_ports - 1})")
        self._command(f"MOVE {round(rotation_deg * 1000)} {round(translation_m * 1e6)}")
        self.target_port = target_port
        return self._wait_idle("move", timeout_s) if wait else None

    def pose(self) -> tuple[float, float]:
        """(rotation deg, translation m) of the switch now."""
        status = self.status()
        return status.rotation_deg, status.translation_m

    def goal_pose(self) -> np.ndarray:
        """The plug's goal pose for the current task, float64 [4, 4] in the arm's base frame."""
        rotation, translation = self.pose()
        return self.geometry.goal_pose(rotation, translation, self.target_port)

    def link_mask(self) -> int:
        return int(self._command("LINK").split("=", 1)[1])

    def inserted(self) -> bool:
        """The sparse reward signal: the target port's link is up."""
        return bool(self.link_mask() >> self.target_port & 1)

    def stop(self) -> None:
        self._command("STOP")

    def close(self) -> None:
        try:
            self._serial.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> "ResetRig":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
