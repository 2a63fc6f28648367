"""Drivers for the WidowX cable-insertion setup (paper, section 5.3 and appendix E), with simulated
devices that speak the real wire protocols (`hardware.sim`).

    from hardware import WidowX, CameraPair, ResetRig, forward_kinematics
    arm = WidowX(port="/dev/ttyUSB0")                 # or protocol=1, or backend="ros"
    cameras = CameraPair("/dev/video0", "/dev/video2")
    rig = ResetRig(port="/dev/ttyACM0")

Imports are lazy: `import hardware` costs nothing, and the serial/ROS/ffmpeg pieces load only
when used. The command line is `python -m hardware --help`; see hardware/README.md.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "WidowX": "hardware.widowx",
    "ArmState": "hardware.widowx",
    "SafetyConfig": "hardware.safety",
    "SafetyReport": "hardware.safety",
    "ArmConfig": "hardware.config",
    "JointConfig": "hardware.config",
    "WX200": "hardware.config",
    "CLASSIC_WIDOWX": "hardware.config",
    "forward_kinematics": "hardware.kinematics",
    "gripper_position": "hardware.kinematics",
    "pose_distance": "hardware.kinematics",
    "CameraPair": "hardware.cameras",
    "ImageFilesSource": "hardware.cameras",
    "ResetRig": "hardware.rig",
    "RigGeometry": "hardware.rig",
    "shaped_distance": "hardware.rig",
    "HardwareError": "hardware.errors",
    "DeviceNotFoundError": "hardware.errors",
    "ConnectionLostError": "hardware.errors",
    "ServoNotRespondingError": "hardware.errors",
    "CommunicationError": "hardware.errors",
    "ServoHardwareError": "hardware.errors",
    "EffortLimitError": "hardware.errors",
    "StaleStateError": "hardware.errors",
    "RigError": "hardware.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hardware' has no attribute {name!r}")
