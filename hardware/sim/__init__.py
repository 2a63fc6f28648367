"""Simulated devices that speak the real wire protocols: for tests, and for trying the drivers
without a robot.

    python -m hardware.sim dynamixel [--protocol 1]   # prints the pty path of a servo bus
    python -m hardware.sim rig                        # prints the pty path of a reset rig
    python -m hardware.sim rosbridge [--port 9090]    # a rosbridge server with a simulated xs_sdk

In Python: `DynamixelBusSim`, `FakeRigController`, `FakeRosbridge` (started with `.start()`,
stopped with `.close()`, or used as context managers); fake cameras are plain files, see
`hardware.cameras.ImageFilesSource` and `CameraPair("scene.mp4", "wrist.mp4")`.
"""

from hardware.sim.dynamixel import DynamixelBusSim, SimServo, classic_widowx_servos, widowx_200_servos
from hardware.sim.rig import FakeRigController


def __getattr__(name: str):
    if name == "FakeRosbridge":  # needs the `websockets` package: imported on first use
        from hardware.sim.rosbridge import FakeRosbridge

        return FakeRosbridge
    raise AttributeError(name)


__all__ = [
    "DynamixelBusSim",
    "SimServo",
    "widowx_200_servos",
    "classic_widowx_servos",
    "FakeRigController",
    "FakeRosbridge",
]
