"""The WidowX arm for meld/WidowXCable-v0: joint-velocity control behind a safety layer.

    from hardware.widowx import WidowX
    with WidowX(port="/dev/ttyUSB0") as arm:          # X-series WidowX-200, Protocol 2.0
        state = arm.read_state()                      # ArmState(q, qdot, time)
        report = arm.command_velocity([0.1, 0, 0, 0, 0])   # rad/s, through the safety layer
        pose = arm.gripper_pose()                     # float64 [4, 4] by forward kinematics
    WidowX(port="/dev/ttyUSB0", protocol=1)           # classic AX/MX WidowX
    WidowX(backend="ros", robot_name="wx200", host="127.0.0.1", ros_port=9090)  # Interbotix xs_sdk

The command-line tools for the arm and the rig are `python -m hardware` (``hardware/__main__.py``).
"""

from __future__ import annotations

import atexit
import signal
import threading
import time
import weakref
from dataclasses import replace
from typing import Literal, NamedTuple

import numpy as np

from hardware.config import CLASSIC_WIDOWX, WX200, ArmConfig
from hardware.errors import ConnectionLostError, EffortLimitError, HardwareError, StaleStateError
from hardware.kinematics import forward_kinematics
from hardware.safety import SafetyConfig, SafetyReport, Watchdog, check_state_age, filter_velocity


class ArmState(NamedTuple):
    """Joint angles q (rad) and velocities qdot (rad/s), float64 [5]; time: when they were
    measured, time.monotonic() s (`command_velocity` refuses a state older than
    `SafetyConfig.max_state_age_s`)."""

    q: np.ndarray
    qdot: np.ndarray
    time: float


class WidowX:
    """A 5-DoF WidowX under joint-velocity control, whichever backend.

    Arguments:
        port: serial device of the servo bus (backend "dynamixel"), e.g. "/dev/ttyUSB0" or the pty
            printed by `python -m hardware.sim dynamixel`.
        protocol: 2 for the X-series WidowX-200 (default), 1 for the classic AX/MX WidowX.
        backend: "dynamixel" (serial, through dynamixel_sdk) or "ros" (Interbotix xs_sdk over rosbridge).
        arm: the arm description; default WX200 for protocol 2, CLASSIC_WIDOWX for protocol 1.
        safety: limits, control period and watchdogs (`SafetyConfig`).
        robot_name, host, ros_port: the ROS backend's robot namespace and rosbridge address.

    Every command goes through `hardware.safety.filter_velocity`, checked against a state at most
    `safety.max_state_age_s` old; every state read watches the servos' present current/load against
    the arm config's `effort_stop_pct` (the servos' own limit registers are set at connect); a host
    watchdog sends zero velocity when no command comes within `safety.watchdog_factor` control
    periods; on Protocol 2.0 the servos' Bus Watchdog stops them if this process goes silent.
    Torque goes off at `close()`, at interpreter exit, on SIGINT and when a bus error ends the run
    (`safety.torque_off_on_exit`); an over-effort or a stale state only stops the arm (it holds).
    """

    def __init__(
        self,
        port: str | None = None,
        *,
        protocol: int = 2,
        backend: Literal["dynamixel", "ros"] = "dynamixel",
        arm: ArmConfig | None = None,
        safety: SafetyConfig | None = None,
        robot_name: str = "wx200",
        host: str = "127.0.0.1",
        ros_port: int = 9090,
        retries: int = 2,
    ) -> None:
        if backend not in ("dynamixel", "ros"):
            raise ValueError(f"backend={backend!r}; allowed: 'dynamixel' or 'ros'")
        if protocol not in (1, 2):
            raise ValueError(f"protocol={protocol!r}; allowed: 1 (classic AX/MX WidowX) or 2 (X-series WidowX-200)")
        self.arm = arm if arm is not None else (WX200 if protocol == 2 else CLASSIC_WIDOWX)
        if self.arm.protocol != protocol and arm is not None and backend == "dynamixel":
            raise ValueError(f"arm {self.arm.name} speaks Protocol {self.arm.protocol}.0, but protocol={protocol}")
        self.safety = safety if safety is not None else SafetyConfig()
        self._lower, self._upper = self.arm.lower, self.arm.upper
        if backend == "dynamixel":
            if port is None:
                from hardware.errors import SIM_HINT, DeviceNotFoundError

                raise DeviceNotFoundError(f"WidowX(backend='dynamixel') needs port=, e.g. '/dev/ttyUSB0'. {SIM_HINT}")
            from hardware.dynamixel import DynamixelArm

            self.backend = DynamixelArm(port, self.arm, retries=retries)
        else:
            from hardware.ros import RosArm

            self.backend = RosArm(self.arm, robot_name=robot_name, host=host, port=ros_port)
        self._closed = False
        self._fault: BaseException | None = None
        self._lock = threading.RLock()
        self.last_state: ArmState | None = None
        self.backend.connect(bus_watchdog_s=self.safety.bus_watchdog_s, max_velocity_rad_s=self.safety.max_velocity_rad_s)
        period = self.safety.control_period_s
        keepalive_s = (self.safety.bus_watchdog_s / 3.0) if self.safety.bus_watchdog_s else None
        self.watchdog = Watchdog(
            timeout_s=self.safety.watchdog_factor * period,
            stop=self._watchdog_stop,
            keepalive=self.backend.keepalive,
            keepalive_s=keepalive_s,
            name=f"widowx-watchdog {self.backend.description}",
        ).start()
        self._install_exit_handlers()

    # -- state -----------------------------------------------------------------------------------------
    @property
    def description(self) -> str:
        return f"{self.arm.name} on {self.backend.description}"

    @property
    def joint_names(self) -> list[str]:
        return self.arm.joint_names

    @property
    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) joint limits in rad, float64 [5] (the safety margin comes on top)."""
        return self._lower.copy(), self._upper.copy()

    def read_state(self) -> ArmState:
        """Joint angles and velocities in one bus transaction, stamped with when they were measured
        (the backend's sample time where it has one, else the time just before the read).

        The same read watches the servos' present current/load: above a joint's `effort_stop_pct`
        the arm is stopped (zero velocity, torque stays on) and EffortLimitError names the servo."""
        self._raise_fault()
        before = time.monotonic()
        q, qdot = self._guard("read_state", self.backend.read)
        self.watchdog.io()
        stamp = getattr(self.backend, "last_sample_time", None)
        self.last_state = ArmState(q, qdot, before if stamp is None else min(stamp, before))
        return self.last_state

    def gripper_pose(self, q: np.ndarray | None = None) -> np.ndarray:
        """Gripper pose in the base frame, float64 [4, 4] (reads the arm unless q is given)."""
        return forward_kinematics(self.read_state().q if q is None else q, self.arm.geometry)

    def forward_kinematics(self, q: np.ndarray) -> np.ndarray:
        return forward_kinematics(q, self.arm.geometry)

    # -- commands ----------------------------------------------------------------------------------------
    def command_velocity(self, qdot: np.ndarray | list[float], state: ArmState | None = None) -> SafetyReport:
        """Send joint velocities (rad/s, [5]) through the safety layer; returns what it did.

        `state` (from `read_state`) saves a bus read, if it is at most `safety.max_state_age_s`
        (2 control periods by default) old: an older one raises StaleStateError naming its age and
        the bound, and the arm is sent zero velocity instead. By default the arm is read first, so
        the joint-limit check uses the angle of this instant."""
        qdot = np.asarray(qdot, dtype=np.float64)
        n = len(self.arm.joints)
        if qdot.shape != (n,):
            raise ValueError(f"qdot has shape {qdot.shape}; expected ({n},) joint velocities in rad/s for {self.joint_names}")
        self._raise_fault()
        if state is None:
            state = self.read_state()
        else:
            try:
                check_state_age(state.time, self.safety)
            except StaleStateError as exc:
                exc.add_note(f"{self.description}: command_velocity refused; {self._hold()}")
                raise
        safe, report = filter_velocity(
            state.q, qdot, lower=self._lower, upper=self._upper, config=self.safety,
            gripper_position=lambda q: forward_kinematics(q, self.arm.geometry)[:3, 3],
        )
        with self._lock:
            self._guard("command_velocity", self.backend.write_velocity, safe)
            self.watchdog.feed(moving=bool(np.any(safe != 0.0)))
        return report

    def stop(self) -> None:
        """Zero velocity on every joint."""
        with self._lock:
            self._guard("stop", self.backend.write_velocity, np.zeros(len(self.arm.joints)))
            self.watchdog.feed(moving=False)

    def home(self, target: np.ndarray | None = None, *, tolerance_rad: float = 0.02, timeout_s: float = 20.0,
             gain: float = 2.0) -> ArmState:
        """Drive to `target` (default the arm's home) with a proportional velocity loop through the
        safety layer, at 20 Hz; stops and returns the final state, or raises TimeoutError."""
        target = np.asarray(self.arm.home_rad if target is None else target, dtype=np.float64)
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.read_state()
            error = target - state.q
            if np.max(np.abs(error)) < tolerance_rad:
                self.stop()
                return self.read_state()
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"home: joints still {np.round(error, 3).tolist()} rad from {target.tolist()} after {timeout_s} s"
                )
            # the loop runs faster than the policy: use a shorter prediction step for the limits
            self._command_with_period(gain * error, state, 0.05)
            time.sleep(0.05)

    def _command_with_period(self, qdot: np.ndarray, state: ArmState, period_s: float) -> SafetyReport:
        safe, report = filter_velocity(
            state.q, qdot, lower=self._lower, upper=self._upper,
            config=replace(self.safety, control_period_s=period_s),
            gripper_position=lambda q: forward_kinematics(q, self.arm.geometry)[:3, 3],
        )
        with self._lock:
            self._guard("home", self.backend.write_velocity, safe)
            self.watchdog.feed(moving=bool(np.any(safe != 0.0)))
        return report

    def set_torque(self, enabled: bool) -> None:
        self._guard("set_torque", self.backend.set_torque, enabled)

    def hardware_errors(self) -> dict[int, list[str]]:
        """{servo id: error names} for servos reporting a hardware error."""
        return self._guard("hardware_errors", self.backend.hardware_errors)

    # -- failure handling ----------------------------------------------------------------------------
    def _raise_fault(self) -> None:
        fault = self.watchdog.stats.fault
        if fault is not None and self._fault is None:
            self._fault = fault
            self._emergency_stop(fault)
        if self._fault is not None:
            raise self._fault

    def _guard(self, what: str, fn, *args):
        """Call the backend; on a driver error stop the arm (best effort) and re-raise, annotated."""
        if self._closed:
            raise HardwareError(f"{what}: {self.description} is closed")
        try:
            return fn(*args)
        except EffortLimitError as exc:  # the bus is fine: stop and hold, and the run may go on
            exc.add_note(f"{self.description}: {what} stopped the arm; {self._hold()}, torque stays on (it holds)")
            raise
        except HardwareError as exc:
            outcome = self._emergency_stop(exc)
            exc.add_note(f"{self.description}: {what} failed; {outcome}")
            if isinstance(exc, ConnectionLostError) and getattr(self.backend, "bus_watchdog_s", None):
                exc.add_note(f"the servos' Bus Watchdog stops them {self.backend.bus_watchdog_s:.2f} s after the last packet")
            self._fault = exc
            raise

    def _hold(self) -> str:
        """Zero velocity, torque left on; returns what happened, for the error message."""
        try:
            with self._lock:
                self.backend.write_velocity(np.zeros(len(self.arm.joints)))
                self.watchdog.feed(moving=False)
            return "stop sent"
        except Exception as exc:  # noqa: BLE001 - reported with the error it accompanies
            return f"stop attempted, failed ({type(exc).__name__}: {exc})"

    def _emergency_stop(self, reason: BaseException | None) -> str:
        """Zero velocity then (if configured) torque off; returns what happened, for the error message."""
        steps = []
        try:
            self.backend.write_velocity(np.zeros(len(self.arm.joints)))
            steps.append("stop sent")
        except Exception as exc:  # noqa: BLE001 - best effort on a failing bus
            steps.append(f"stop attempted, failed ({type(exc).__name__})")
        if self.safety.torque_off_on_exit:
            try:
                self.backend.set_torque(False)
                steps.append("torque off")
            except Exception as exc:  # noqa: BLE001
                steps.append(f"torque off attempted, failed ({type(exc).__name__})")
        return ", ".join(steps)

    def _watchdog_stop(self) -> None:
        with self._lock:
            self.backend.write_velocity(np.zeros(len(self.arm.joints)))

    def _install_exit_handlers(self) -> None:
        ref = weakref.ref(self)

        def at_exit() -> None:
            arm = ref()
            if arm is not None:
                arm.close()

        self._atexit = at_exit
        atexit.register(at_exit)
        self._previous_sigint = None
        if self.safety.handle_sigint and threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)

            def on_sigint(signum, frame) -> None:
                arm = ref()
                if arm is not None:
                    # the signal may land mid-transaction in this very thread: abandon it, the
                    # interrupted code gets KeyboardInterrupt anyway
                    getattr(arm.backend, "abort_transaction", lambda: None)()
                    arm.close()
                if callable(previous):
                    previous(signum, frame)
                else:
                    raise KeyboardInterrupt

            self._previous_sigint = previous
            self._sigint_handler = on_sigint
            signal.signal(signal.SIGINT, on_sigint)

    def close(self) -> None:
        """Stop, torque off (if configured), release the port. Safe to call twice."""
        if self._closed:
            return
        self.watchdog.close()
        with self._lock:
            if self._fault is None:
                self._emergency_stop(None)
            self._closed = True
            self.backend.close()
        atexit.unregister(self._atexit)
        if self._previous_sigint is not None and threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is self._sigint_handler:
                signal.signal(signal.SIGINT, self._previous_sigint)

    def __enter__(self) -> "WidowX":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
