"""Exceptions of the hardware drivers. Every message names the device and what to do next."""

from __future__ import annotations


class HardwareError(RuntimeError):
    """Base class of every driver error in `hardware`."""


class DeviceNotFoundError(HardwareError):
    """The port or device is not there (nothing plugged in, wrong path, no permission)."""


class ConnectionLostError(HardwareError):
    """The device went away mid-run (cable pulled, pty closed, rosbridge gone)."""


class ServoNotRespondingError(HardwareError):
    """A servo stopped answering (timeouts after the retries)."""


class CommunicationError(HardwareError):
    """Status packets kept arriving corrupted (bad CRC/checksum) after the retries."""


class ServoHardwareError(HardwareError):
    """A servo reports a hardware error (overload, overheating, voltage, encoder, shock)."""


class ServoCommandError(HardwareError):
    """A servo rejected an instruction (range, access, instruction errors in its status packet)."""


class EffortLimitError(HardwareError):
    """A servo's present current/load went above its configured bound (the arm pushes against its
    limit or an obstacle). The arm has been stopped (zero velocity, torque on: it holds)."""


class StaleStateError(HardwareError):
    """A command came with an `ArmState` older than the safety bound (a multiple of the control
    period): the joint-limit check would use where the arm was, not where it is. The command was not
    sent; the arm was sent zero velocity instead (torque stays on)."""


class RigError(HardwareError):
    """The task-reset rig's controller reported an error or did not answer."""


SIM_HINT = (
    "To run without the robot, start a simulated device and pass the path it prints: "
    "`python -m hardware.sim dynamixel` (servo bus), `python -m hardware.sim rig` (reset rig), "
    "`python -m hardware.sim rosbridge` (ROS backend); or use the MuJoCo twin meld/WidowXCableSim-v0."
)
