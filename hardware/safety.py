"""The safety layer between a policy's joint-velocity command and the arm, whichever backend.

Every command passes `filter_velocity` (pure, tested against hand-computed values):
1. a non-finite command becomes zero;
2. velocity cap: each joint is clipped to +-max_velocity;
3. joint limits: q + v*dt must stay inside [lower + margin, upper - margin]; a joint is slowed to
   reach the bound exactly, or held; a joint already past a bound may only move back;
4. workspace: if the gripper (forward kinematics at q + v*dt) would leave the box, or go further
   out of it, the whole arm is held (zero velocity) for this step.
The host `Watchdog` sends zero velocity when no command came within 2x the control period.
`check_state_age` refuses a command whose measured state is older than `max_state_age_s` (2x the
control period by default): the joint-limit check is only as good as the angle it starts from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hardware.errors import StaleStateError
from hardware.kinematics import box_violation


@dataclass(frozen=True)
class SafetyConfig:
    """Limits applied to every command. Defaults suit the cable-insertion task at 3.3 Hz."""

    control_period_s: float = 0.3  # paper 5.3: 3.3 Hz joint-velocity control
    joint_margin_rad: float = 0.05  # keep this far inside the joint limits
    max_velocity_rad_s: float = 1.0  # per-joint cap on the commanded speed
    workspace_low_m: tuple[float, float, float] = (0.10, -0.35, 0.02)  # gripper box, base frame
    workspace_high_m: tuple[float, float, float] = (0.50, 0.35, 0.45)
    watchdog_factor: float = 2.0  # host watchdog: zero velocity after this many silent periods
    state_age_factor: float = 2.0  # a command's ArmState may be at most this many periods old
    bus_watchdog_s: float = 1.0  # servo Bus Watchdog (P2): stops the servos if the host goes silent
    torque_off_on_exit: bool = True  # torque off at close, exit, SIGINT and fatal errors
    handle_sigint: bool = True  # install a SIGINT handler (main thread only) that stops the arm

    def __post_init__(self) -> None:
        if (self.control_period_s <= 0 or self.max_velocity_rad_s <= 0 or self.joint_margin_rad < 0
                or self.state_age_factor <= 0):
            raise ValueError(
                f"control_period_s={self.control_period_s}, max_velocity_rad_s={self.max_velocity_rad_s} and "
                f"state_age_factor={self.state_age_factor} must be > 0 and joint_margin_rad={self.joint_margin_rad} >= 0"
            )
        if any(lo >= hi for lo, hi in zip(self.workspace_low_m, self.workspace_high_m)):
            raise ValueError(f"workspace box low {self.workspace_low_m} must be < high {self.workspace_high_m}")


    @property
    def max_state_age_s(self) -> float:
        """The oldest `ArmState` (s, by its monotonic timestamp) a command may be checked against."""
        return self.state_age_factor * self.control_period_s


def check_state_age(state_time: float, config: SafetyConfig, *, now: float | None = None) -> float:
    """Age (s) of a state measured at `state_time` (time.monotonic()); raises StaleStateError
    naming the age and the bound when it is older than `config.max_state_age_s`, or stamped in the
    future (not a time.monotonic() stamp)."""
    now = time.monotonic() if now is None else now
    age = now - float(state_time)
    bound = config.max_state_age_s
    if age > bound or age < -0.001:
        what = f"is {age:.3f} s old" if age > 0 else f"is stamped {-age:.3f} s in the future (not a time.monotonic() stamp)"
        raise StaleStateError(
            f"the ArmState given to command_velocity {what}; the bound is {bound:.3f} s "
            f"({config.state_age_factor:g} control periods of {config.control_period_s:g} s). Read a fresh one "
            "with read_state() each step, or pass no state and command_velocity reads it"
        )
    return age


@dataclass(frozen=True)
class SafetyReport:
    """What the safety layer did to one command. Arrays float64/bool [n_joints]."""

    commanded: np.ndarray
    sent: np.ndarray
    velocity_capped: np.ndarray
    joint_limited: np.ndarray
    workspace_stop: bool = False
    nonfinite: bool = False

    @property
    def modified(self) -> bool:
        return bool(self.velocity_capped.any() or self.joint_limited.any() or self.workspace_stop or self.nonfinite)

    def as_info(self) -> dict[str, object]:
        """Flat entries for an env's `info` dict."""
        return {
            "safety/velocity_capped": self.velocity_capped.copy(),
            "safety/joint_limited": self.joint_limited.copy(),
            "safety/workspace_stop": self.workspace_stop,
            "safety/nonfinite": self.nonfinite,
        }


def filter_velocity(
    q: np.ndarray,
    qdot: np.ndarray,
    *,
    lower: np.ndarray,
    upper: np.ndarray,
    config: SafetyConfig,
    gripper_position: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, SafetyReport]:
    """Safe joint velocity (float64 [n], rad/s) for the measured q (rad) and the command qdot."""
    q = np.asarray(q, dtype=np.float64)
    commanded = np.asarray(qdot, dtype=np.float64).copy()
    v = commanded.copy()
    nonfinite = not np.all(np.isfinite(v))
    if nonfinite:
        v = np.zeros_like(v)
    vmax = config.max_velocity_rad_s
    capped = np.abs(v) > vmax
    v = np.clip(v, -vmax, vmax)
    dt = config.control_period_s
    lo = np.asarray(lower, dtype=np.float64) + config.joint_margin_rad
    hi = np.asarray(upper, dtype=np.float64) - config.joint_margin_rad
    v_hi = np.maximum((hi - q) / dt, 0.0)  # fastest allowed move up; 0 at or past the bound
    v_lo = np.minimum((lo - q) / dt, 0.0)
    limited = (v > v_hi) | (v < v_lo)
    v = np.clip(v, v_lo, v_hi)
    workspace_stop = False
    if gripper_position is not None and np.any(v != 0.0):
        low, high = np.asarray(config.workspace_low_m), np.asarray(config.workspace_high_m)
        now = box_violation(gripper_position(q), low, high)
        after = box_violation(gripper_position(q + v * dt), low, high)
        if after > 0.0 and after >= now - 1e-9:
            workspace_stop = True
            v = np.zeros_like(v)
    return v, SafetyReport(commanded, v.copy(), capped, limited, workspace_stop, nonfinite)


@dataclass
class WatchdogStats:
    stops: int = 0  # zero-velocity commands the watchdog sent
    keepalives: int = 0
    last_stop_time: float | None = None
    fault: BaseException | None = field(default=None, repr=False)


class Watchdog:
    """Host watchdog thread: `stop()` when `feed()` was not called within `timeout_s`, and
    `keepalive()` every `keepalive_s` of bus silence (so the servos' own Bus Watchdog only fires
    when this process is gone or hung). Exceptions of the callbacks are kept in `stats.fault`."""

    def __init__(
        self,
        timeout_s: float,
        stop: Callable[[], None],
        keepalive: Callable[[], None] | None = None,
        keepalive_s: float | None = None,
        name: str = "watchdog",
    ) -> None:
        self.timeout_s = timeout_s
        self._stop_cb = stop
        self._keepalive_cb = keepalive
        self.keepalive_s = keepalive_s
        self.stats = WatchdogStats()
        self._last_feed = time.monotonic()
        self._last_io = time.monotonic()
        self._stopped = True  # nothing moving until the first command
        self._lock = threading.Lock()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def feed(self, moving: bool = True) -> None:
        """A command was just sent (`moving`: it was not all zeros)."""
        with self._lock:
            self._last_feed = self._last_io = time.monotonic()
            self._stopped = not moving

    def io(self) -> None:
        """Any bus traffic just happened (reads count for the servos' Bus Watchdog)."""
        self._last_io = time.monotonic()

    def close(self) -> None:
        self._quit.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        tick = max(0.005, min(self.timeout_s / 8.0, 0.05))
        while not self._quit.wait(tick):
            now = time.monotonic()
            try:
                with self._lock:
                    late = not self._stopped and now - self._last_feed > self.timeout_s
                    if late:
                        self._stopped = True
                if late:
                    self._stop_cb()
                    self._last_io = time.monotonic()
                    self.stats.stops += 1
                    self.stats.last_stop_time = now
                elif self._keepalive_cb is not None and self.keepalive_s is not None and now - self._last_io > self.keepalive_s:
                    self._keepalive_cb()
                    self._last_io = time.monotonic()
                    self.stats.keepalives += 1
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self.stats.fault = exc
                return
