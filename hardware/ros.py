"""The arm through an Interbotix `xs_sdk` driver over rosbridge (`roslibpy`, the [ros] extra).

Same interface as `hardware.dynamixel.DynamixelArm`, so `WidowX(backend="ros")` gets the same
safety layer and host watchdog. On the ROS side, run the Interbotix driver and rosbridge:

    roslaunch interbotix_xsarm_control xsarm_control.launch robot_model:=wx200
    roslaunch rosbridge_server rosbridge_websocket.launch

This backend puts the `arm` group in velocity mode (`set_operating_modes`), publishes
`interbotix_xs_msgs/JointGroupCommand` on `/<robot>/commands/joint_group`, reads
`/<robot>/joint_states`, arms the servos' Bus Watchdog through `set_motor_registers` (it fires only
if xs_sdk itself stops talking to the servos), and reads Hardware_Error_Status with
`get_motor_registers` at connect, on demand, and once a second in `read()`.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from hardware.config import ArmConfig
from hardware.control_tables import XSeries, decode_hardware_error
from hardware.errors import SIM_HINT, ConnectionLostError, DeviceNotFoundError, ServoHardwareError, ServoNotRespondingError


def _roslibpy():
    try:
        import roslibpy
    except ImportError as exc:  # pragma: no cover - the [ros] extra is missing
        raise ImportError("WidowX(backend='ros') needs the [ros] extra: pip install 'meld-bench[ros]'") from exc
    return roslibpy


class RosArm:
    """Arm backend over rosbridge; joint arrays float64 [5] in the arm config's joint order."""

    def __init__(self, arm: ArmConfig, *, robot_name: str = "wx200", host: str = "127.0.0.1", port: int = 9090,
                 timeout_s: float = 5.0, state_max_age_s: float = 0.5, error_check_period_s: float = 1.0) -> None:
        self.arm = arm
        self.robot_name = robot_name
        self.host, self.port = host, port
        self.timeout_s = timeout_s
        self.state_max_age_s = state_max_age_s
        self.error_check_period_s = error_check_period_s
        self.bus_watchdog_s: float | None = None
        self._ros = None
        self._command_topic = None
        self._state_topic = None
        self._state: tuple[np.ndarray, np.ndarray, float] | None = None
        self.last_sample_time: float | None = None  # when the state `read` returned arrived (monotonic s)
        self._got_state = threading.Event()
        self._last_error_check = 0.0
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return f"ROS xs_sdk /{self.robot_name} via rosbridge ws://{self.host}:{self.port}"

    def _service(self, name: str, service_type: str, args: dict) -> dict:
        roslibpy = _roslibpy()
        self._check_connected(f"service {name}")
        service = roslibpy.Service(self._ros, f"/{self.robot_name}/{name}", service_type)
        try:
            return dict(service.call(roslibpy.ServiceRequest(args), timeout=self.timeout_s))
        except Exception as exc:  # roslibpy raises RosTimeoutError or a generic Exception on failure
            if not self._ros.is_connected:
                raise ConnectionLostError(f"lost rosbridge during /{self.robot_name}/{name}: {exc}") from exc
            raise ServoNotRespondingError(f"/{self.robot_name}/{name} failed on {self.description}: {exc}") from exc

    def _check_connected(self, what: str) -> None:
        if self._ros is None or not self._ros.is_connected:
            raise ConnectionLostError(f"lost rosbridge at ws://{self.host}:{self.port} ({what}): is rosbridge / xs_sdk still running?")

    def _unreachable(self, reason: object) -> DeviceNotFoundError:
        return DeviceNotFoundError(
            f"no rosbridge at ws://{self.host}:{self.port} ({reason}). Start the Interbotix driver and "
            "rosbridge (`roslaunch interbotix_xsarm_control xsarm_control.launch robot_model:=wx200` and "
            f"`roslaunch rosbridge_server rosbridge_websocket.launch`). {SIM_HINT}"
        )

    @staticmethod
    def _stop_reconnecting(ros) -> None:
        stop = getattr(ros.factory, "stopTrying", None)  # twisted's ReconnectingClientFactory
        if stop is not None:
            stop()

    def connect(self, bus_watchdog_s: float | None, max_velocity_rad_s: float) -> None:
        import socket

        roslibpy = _roslibpy()
        try:  # fail fast and clearly when nothing listens (roslibpy would retry until its timeout)
            socket.create_connection((self.host, self.port), timeout=self.timeout_s).close()
        except OSError as exc:
            raise self._unreachable(exc) from None
        ros = roslibpy.Ros(host=self.host, port=self.port)
        try:
            ros.run(timeout=self.timeout_s)
        except Exception as exc:
            self._stop_reconnecting(ros)
            try:
                ros.close()
            except Exception:  # noqa: BLE001
                pass
            raise self._unreachable(exc) from exc
        self._ros = ros
        self._state_topic = roslibpy.Topic(ros, f"/{self.robot_name}/joint_states", "sensor_msgs/JointState")
        self._state_topic.subscribe(self._on_joint_state)
        if not self._got_state.wait(self.timeout_s):
            self.close()
            raise DeviceNotFoundError(
                f"rosbridge at ws://{self.host}:{self.port} is up but /{self.robot_name}/joint_states is silent "
                f"after {self.timeout_s} s: is xs_sdk running with robot_name {self.robot_name!r}? {SIM_HINT}"
            )
        self._command_topic = roslibpy.Topic(ros, f"/{self.robot_name}/commands/joint_group",
                                             "interbotix_xs_msgs/JointGroupCommand")
        self._command_topic.advertise()
        self._service("set_operating_modes", "interbotix_xs_msgs/OperatingModes",
                      {"cmd_type": "group", "name": "arm", "mode": "velocity", "profile_type": "time",
                       "profile_velocity": 0, "profile_acceleration": 0})
        self.check_hardware_errors()
        if bus_watchdog_s:
            units = int(min(XSeries.BUS_WATCHDOG_MAX, max(1, round(bus_watchdog_s / XSeries.BUS_WATCHDOG_UNIT_S))))
            for value in (0, units):
                self._service("set_motor_registers", "interbotix_xs_msgs/RegisterValues",
                              {"cmd_type": "group", "name": "arm", "reg": "Bus_Watchdog", "value": value})
            self.bus_watchdog_s = units * XSeries.BUS_WATCHDOG_UNIT_S
        self.write_velocity(np.zeros(len(self.arm.joints)))
        self.set_torque(True)

    def _on_joint_state(self, message: dict) -> None:
        names = message.get("name", [])
        try:
            index = [names.index(j.name) for j in self.arm.joints]
        except ValueError:
            return
        position, velocity = message.get("position", []), message.get("velocity", [])
        q = np.array([position[i] for i in index], dtype=np.float64)
        qdot = np.array([velocity[i] for i in index], dtype=np.float64) if velocity else np.zeros(len(index))
        with self._lock:
            self._state = (q, qdot, time.monotonic())
        self._got_state.set()

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        self._check_connected("read")
        with self._lock:
            q, qdot, t = self._state
        age = time.monotonic() - t
        if age > self.state_max_age_s:
            raise ServoNotRespondingError(
                f"/{self.robot_name}/joint_states is {age:.2f} s old (limit {self.state_max_age_s} s) on "
                f"{self.description}: xs_sdk stopped publishing"
            )
        if time.monotonic() - self._last_error_check > self.error_check_period_s:
            self.check_hardware_errors()
        self.last_sample_time = t
        return q.copy(), qdot.copy()

    def write_velocity(self, qdot: np.ndarray) -> None:
        roslibpy = _roslibpy()
        self._check_connected("write_velocity")
        self._command_topic.publish(roslibpy.Message({"name": "arm", "cmd": [float(v) for v in qdot]}))

    def set_torque(self, enabled: bool) -> None:
        self._service("torque_enable", "interbotix_xs_msgs/TorqueEnable",
                      {"cmd_type": "group", "name": "all", "enable": bool(enabled)})

    def hardware_errors(self) -> dict[str, list[str]]:
        values = self._service("get_motor_registers", "interbotix_xs_msgs/RegisterValues",
                               {"cmd_type": "group", "name": "arm", "reg": "Hardware_Error_Status", "value": 0})
        self._last_error_check = time.monotonic()
        return {
            joint.name: decode_hardware_error(int(bits), 2)
            for joint, bits in zip(self.arm.joints, values.get("values", []))
            if int(bits)
        }

    def check_hardware_errors(self) -> None:
        found = self.hardware_errors()
        if found:
            raise ServoHardwareError(
                f"hardware errors on {self.description}: {found}. The servos turned their torque off; remove "
                "the cause, then reboot them (`rosservice call /<robot>/reboot_motors`) or power-cycle the arm"
            )

    def keepalive(self) -> None:
        self._check_connected("keepalive")

    def close(self) -> None:
        if self._ros is None:
            return
        self._stop_reconnecting(self._ros)
        for topic, method in ((self._state_topic, "unsubscribe"), (self._command_topic, "unadvertise")):
            if topic is not None and self._ros.is_connected:
                try:
                    getattr(topic, method)()
                except Exception:  # noqa: BLE001
                    pass
        try:
            self._ros.close(timeout=2.0)
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass
        self._ros = None
