"""A Dynamixel bus simulator on a pseudo-terminal pair, speaking Protocol 2.0 and 1.0 byte for byte.

The driver opens the pty's slave path exactly as it would open `/dev/ttyUSB0`, so the whole real
stack (`dynamixel_sdk` -> pyserial -> termios) is exercised; this side reads the master end,
parses instruction packets (header, length, byte stuffing, CRC-16 for Protocol 2.0; checksum for
Protocol 1.0), runs a simple servo model and writes status packets back.

Supported instructions: ping, read, write, reboot, sync write, sync read (P2), bulk read (P1 and
P2). The servo model: velocity mode integrates Goal Velocity, position mode slews to Goal
Position; EEPROM is locked while torque is on; Secondary (shadow) ID; Bus Watchdog; Hardware Error
Status with the Alert bit. Effort: the limit registers (X-series Current Limit / PWM Limit, AX/MX
Max Torque / Torque Limit) are writable and range-checked, and Present Current/Load reads a small
load while moving; a joint driven into its mechanical stop or an obstacle stops there while its
load ramps up (`stall_rate_pct_s`) to the limit register, and after `overload_after_s` at that
limit the servo overloads (torque off, hardware error), as its Shutdown would.

Faults for tests: `mute(id)` (a servo stops answering), `corrupt_next(n)` (status packets with a
bad CRC/checksum), `set_hardware_error(id, bits)`, `disconnect()` (the cable is pulled: the pty
closes), `set_obstacle(id, lower, upper)` (something in the joint's way).

    sim = DynamixelBusSim(widowx_200_servos()).start()
    arm = WidowX(port=sim.port)
"""

from __future__ import annotations

import collections
import math
import os
import select
import threading
import time
import tty
from dataclasses import dataclass, field

from hardware.control_tables import (
    AX_12A,
    MX_28,
    MX_64,
    XL430_W250,
    XM430_W350,
    MXSeriesP1,
    ServoModel,
    XSeries,
)

BROADCAST_ID = 0xFE
INST_PING, INST_READ, INST_WRITE, INST_REBOOT = 0x01, 0x02, 0x03, 0x08
INST_STATUS, INST_SYNC_READ, INST_SYNC_WRITE, INST_BULK_READ = 0x55, 0x82, 0x83, 0x92

# Protocol 2.0 status error numbers (low 7 bits of the error byte); bit 7 is the Alert flag
P2_RESULT_FAIL, P2_INSTRUCTION, P2_CRC, P2_DATA_RANGE, P2_DATA_LENGTH, P2_DATA_LIMIT, P2_ACCESS = range(1, 8)
P2_ALERT = 0x80
# Protocol 1.0 status error bits
P1_ANGLE, P1_RANGE, P1_CHECKSUM, P1_OVERLOAD, P1_INSTRUCTION = 0x02, 0x08, 0x10, 0x20, 0x40


# ---------------------------------------------------------------------------------------------
# wire format
# ---------------------------------------------------------------------------------------------


def crc16(data: bytes | bytearray | list[int]) -> int:
    """Protocol 2.0 CRC: CRC-16 with polynomial 0x8005, initial value 0, no reflection."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def stuff(body: bytes | list[int]) -> bytearray:
    """Protocol 2.0 byte stuffing: every FF FF FD inside instruction+parameters gets an extra FD."""
    out = bytearray()
    for byte in body:
        out.append(byte)
        if byte == 0xFD and len(out) >= 3 and out[-2] == 0xFF and out[-3] == 0xFF:
            out.append(0xFD)
    return out


def unstuff(body: bytes | bytearray) -> bytearray | None:
    """Undo byte stuffing; None if the body holds an unstuffed FF FF FD (a header inside a packet,
    which a servo's parser would take as the start of a new packet)."""
    out = bytearray()
    i = 0
    while i < len(body):
        out.append(body[i])
        if body[i] == 0xFD and len(out) >= 3 and out[-2] == 0xFF and out[-3] == 0xFF:
            if i + 1 >= len(body) or body[i + 1] != 0xFD:
                return None
            i += 1  # skip the stuffed FD
        i += 1
    return out


def p2_packet(servo_id: int, instruction: int, params: bytes | list[int] = b"", *, error: int | None = None) -> bytes:
    """A complete Protocol 2.0 packet (status packets pass `error`)."""
    body = bytes([instruction]) + (bytes([error]) if error is not None else b"") + bytes(params)
    body = stuff(body)
    head = bytes([0xFF, 0xFF, 0xFD, 0x00, servo_id, (len(body) + 2) & 0xFF, (len(body) + 2) >> 8])
    packet = head + body
    crc = crc16(packet)
    return packet + bytes([crc & 0xFF, crc >> 8])


def p1_checksum(data: bytes | list[int]) -> int:
    return ~sum(data) & 0xFF


def p1_packet(servo_id: int, instruction_or_error: int, params: bytes | list[int] = b"") -> bytes:
    body = bytes([servo_id, len(params) + 2, instruction_or_error]) + bytes(params)
    return b"\xff\xff" + body + bytes([p1_checksum(body)])


# ---------------------------------------------------------------------------------------------
# servo model
# ---------------------------------------------------------------------------------------------


@dataclass
class SimServo:
    """One simulated servo. `q` and `qdot` are the true joint state in rad and rad/s."""

    servo_id: int
    model: ServoModel = XM430_W350
    q: float = 0.0
    secondary_id: int | None = None  # listen (without answering) to this ID's writes: a shadow
    reverse: bool = False
    mechanical_limits_rad: tuple[float, float] = (-math.pi, math.pi)
    obstacle_rad: tuple[float, float] | None = None  # the joint is blocked outside this range too
    stall_rate_pct_s: float = 200.0  # load rise while pushing against a stop (% of maximum per s)
    moving_load_pct: float = 10.0  # load while moving freely
    overload_after_s: float = 0.5  # at the limit register this long: overload alarm
    qdot: float = 0.0
    load_pct: float = 0.0  # signed, percent of the model's maximum (ServoModel effort scale)
    _saturated_s: float = 0.0
    hardware_error: int = 0
    alive: bool = True
    memory: bytearray = field(default_factory=bytearray)
    last_comm: float = field(default_factory=time.monotonic)
    _t: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        p2 = self.model.protocol == 2
        self.table = XSeries if p2 else MXSeriesP1
        self.memory = bytearray(self.table.SIZE)
        self._set(self.table.MODEL_NUMBER, self.model.model_number)
        self._set(self.table.FIRMWARE_VERSION, 45 if p2 else 36)
        self._set(self.table.ID, self.servo_id)
        if p2:
            self._set(XSeries.OPERATING_MODE, XSeries.OPERATING_MODE_POSITION)
            self._set(XSeries.SECONDARY_ID, 255 if self.secondary_id is None else self.secondary_id)
            self._set(XSeries.DRIVE_MODE, 1 if self.reverse else 0)
            self._set(XSeries.VELOCITY_LIMIT, 200)  # about 4.8 rad/s
            self._set(XSeries.PWM_LIMIT, 885)
            if self.model.effort == "current":
                self._set(XSeries.CURRENT_LIMIT, self.model.effort_full_raw)
            self._set(XSeries.MAX_POSITION_LIMIT, 4095)
            self._set(XSeries.MIN_POSITION_LIMIT, 0)
            self._set(XSeries.SHUTDOWN, 0b0011_0100)
            self._set(XSeries.STATUS_RETURN_LEVEL, 2)
            self._set(XSeries.PRESENT_INPUT_VOLTAGE, 120)
            self._set(XSeries.PRESENT_TEMPERATURE, 35)
        else:
            self._set(MXSeriesP1.CCW_ANGLE_LIMIT, 4095 if self.model is not AX_12A else 1023)
            self._set(MXSeriesP1.MAX_TORQUE, 1023)
            self._set(MXSeriesP1.TORQUE_LIMIT, 1023)
            self._set(MXSeriesP1.PRESENT_VOLTAGE, 120)
            self._set(MXSeriesP1.PRESENT_TEMPERATURE, 35)
        self._set(self.table.GOAL_POSITION, self.model.rad_to_position(self.q))
        self._refresh_present()

    # -- memory helpers ----------------------------------------------------------------------
    def _get(self, item) -> int:
        return item.decode(self.memory[item.address : item.address + item.size])

    def _set(self, item, value: int) -> None:
        self.memory[item.address : item.address + item.size] = bytes(item.encode(value))

    @property
    def torque_enabled(self) -> bool:
        return bool(self.memory[self.table.TORQUE_ENABLE.address])

    @property
    def velocity_mode(self) -> bool:
        if self.model.protocol == 2:
            return self._get(XSeries.OPERATING_MODE) == XSeries.OPERATING_MODE_VELOCITY
        return self._get(MXSeriesP1.CW_ANGLE_LIMIT) == 0 and self._get(MXSeriesP1.CCW_ANGLE_LIMIT) == 0

    def effort_limit_pct(self) -> float:
        """The limit register that bounds this servo's torque now, in percent of its maximum."""
        if self.model.protocol == 1:
            return self._get(MXSeriesP1.TORQUE_LIMIT) * 100.0 / self.model.effort_full_raw
        item = XSeries.CURRENT_LIMIT if self.model.effort == "current" else XSeries.PWM_LIMIT
        return self._get(item) * 100.0 / self.model.effort_full_raw

    @property
    def stops_rad(self) -> tuple[float, float]:
        """Where the joint is blocked: its mechanical stops, narrowed by an obstacle."""
        lo, hi = self.mechanical_limits_rad
        if self.obstacle_rad is not None:
            lo, hi = max(lo, self.obstacle_rad[0]), min(hi, self.obstacle_rad[1])
        return lo, hi

    def goal_velocity_rad_s(self) -> float:
        if self.model.protocol == 2:
            return self.model.velocity_to_rad_s(self._get(XSeries.GOAL_VELOCITY))
        return self.model.velocity_to_rad_s(self._get(MXSeriesP1.MOVING_SPEED))

    # -- dynamics ----------------------------------------------------------------------------
    def update(self, now: float) -> None:
        """Advance the servo to time `now` (s, monotonic): watchdog, motion, mechanical stops."""
        dt = max(0.0, now - self._t)
        self._t = now
        if self.model.protocol == 2:
            watchdog = self._get(XSeries.BUS_WATCHDOG)
            if watchdog > 0 and now - self.last_comm > watchdog * XSeries.BUS_WATCHDOG_UNIT_S:
                # e-Manual: the servo stops (goal velocity 0) and Bus Watchdog reads -1
                self._set(XSeries.GOAL_VELOCITY, 0)
                self._set(XSeries.BUS_WATCHDOG, -1)
        qdot = 0.0
        if self.torque_enabled and not self.hardware_error:
            if self.velocity_mode:
                qdot = self.goal_velocity_rad_s()
            else:
                goal = self.model.position_to_rad(self._get(self.table.GOAL_POSITION))
                speed = 3.0  # rad/s: the position-mode slew rate of this simple model
                step = max(-speed * dt, min(speed * dt, goal - self.q))
                qdot = step / dt if dt > 0 else 0.0
        free = self.q + qdot * dt
        lo, hi = self.stops_rad
        self.q = min(hi, max(lo, free))
        pushing = not lo <= free <= hi  # driven into a stop or an obstacle: it stays there
        self.qdot = 0.0 if pushing else qdot
        self._update_load(qdot, pushing, dt)
        self._refresh_present()

    def _update_load(self, qdot: float, pushing: bool, dt: float) -> None:
        """Load: small while moving, ramping up to the limit register while pushing against a stop;
        held at the limit for `overload_after_s`, the servo overloads (its Shutdown: torque off)."""
        limit = self.effort_limit_pct()
        if not pushing:
            self.load_pct = math.copysign(min(limit, self.moving_load_pct), qdot) if qdot else 0.0
            self._saturated_s = 0.0
            return
        direction = math.copysign(1.0, qdot)
        before = abs(self.load_pct) if self.load_pct * direction > 0 else 0.0
        magnitude = min(limit, max(before, self.moving_load_pct) + self.stall_rate_pct_s * dt)
        self.load_pct = direction * magnitude
        self._saturated_s = self._saturated_s + dt if magnitude >= limit - 1e-9 else 0.0
        if self._saturated_s >= self.overload_after_s:
            self.load_pct, self._saturated_s = 0.0, 0.0
            self.set_hardware_error(1 << 5)

    def set_hardware_error(self, bits: int) -> None:
        self.hardware_error = bits
        if bits:
            self.memory[self.table.TORQUE_ENABLE.address] = 0
        if self.model.protocol == 2:
            self._set(XSeries.HARDWARE_ERROR_STATUS, bits)

    def _refresh_present(self) -> None:
        ticks = self.model.rad_to_position(self.q)
        self._set(self.model.present_effort_item, self.model.percent_to_effort(self.load_pct))
        if self.model.protocol == 2:
            self._set(XSeries.PRESENT_POSITION, ticks)
            self._set(XSeries.PRESENT_VELOCITY, self.model.rad_s_to_velocity(self.qdot))
            self._set(XSeries.MOVING, int(abs(self.qdot) > 1e-3))
        else:
            span = 4096 if self.model.ticks_per_rev == 4096 else 1024
            self._set(MXSeriesP1.PRESENT_POSITION, min(span - 1, max(0, ticks)))
            self._set(MXSeriesP1.PRESENT_SPEED, self.model.rad_s_to_velocity(self.qdot))
            self._set(MXSeriesP1.MOVING, int(abs(self.qdot) > 1e-3))

    # -- instructions --------------------------------------------------------------------------
    def read(self, address: int, length: int) -> tuple[bytes, int]:
        """(data, error code): P2 error numbers, or P1 error bits."""
        if address + length > len(self.memory) or length == 0:
            return b"", P2_ACCESS if self.model.protocol == 2 else P1_RANGE
        return bytes(self.memory[address : address + length]), 0

    _P2_WRITABLE = {
        XSeries.RETURN_DELAY_TIME, XSeries.DRIVE_MODE, XSeries.OPERATING_MODE, XSeries.SECONDARY_ID,
        XSeries.PWM_LIMIT, XSeries.CURRENT_LIMIT, XSeries.VELOCITY_LIMIT, XSeries.MAX_POSITION_LIMIT, XSeries.MIN_POSITION_LIMIT,
        XSeries.SHUTDOWN, XSeries.TORQUE_ENABLE, XSeries.LED, XSeries.STATUS_RETURN_LEVEL,
        XSeries.BUS_WATCHDOG, XSeries.GOAL_PWM, XSeries.GOAL_CURRENT, XSeries.GOAL_VELOCITY,
        XSeries.PROFILE_ACCELERATION, XSeries.PROFILE_VELOCITY, XSeries.GOAL_POSITION,
    }
    _P1_WRITABLE = {
        MXSeriesP1.RETURN_DELAY_TIME, MXSeriesP1.CW_ANGLE_LIMIT, MXSeriesP1.CCW_ANGLE_LIMIT,
        MXSeriesP1.MAX_TORQUE, MXSeriesP1.TORQUE_ENABLE, MXSeriesP1.LED, MXSeriesP1.GOAL_POSITION, MXSeriesP1.MOVING_SPEED,
        MXSeriesP1.TORQUE_LIMIT,
    }

    def write(self, address: int, data: bytes) -> int:
        """Apply a write; returns a P2 error number or P1 error bits (0 = accepted)."""
        p2 = self.model.protocol == 2
        writable = self._P2_WRITABLE if p2 else self._P1_WRITABLE
        access_error = P2_ACCESS if p2 else P1_RANGE
        items = [it for it in writable if address <= it.address < address + len(data)]
        covered = sum(it.size for it in items)
        if covered != len(data) or any(it.address + it.size > address + len(data) for it in items):
            return access_error
        staged = bytearray(self.memory)
        staged[address : address + len(data)] = data
        for item in sorted(items, key=lambda it: it.address):
            value = item.decode(staged[item.address : item.address + item.size])
            if p2:
                if item.address < XSeries.TORQUE_ENABLE.address and self.torque_enabled:
                    return P2_ACCESS  # EEPROM is locked while torque is on
                if item in (XSeries.GOAL_VELOCITY, XSeries.GOAL_POSITION, XSeries.GOAL_PWM, XSeries.GOAL_CURRENT):
                    if self._get(XSeries.BUS_WATCHDOG) == -1:
                        return P2_DATA_RANGE  # goals are frozen until the watchdog is cleared
                if item is XSeries.GOAL_VELOCITY and abs(value) > self._get(XSeries.VELOCITY_LIMIT):
                    return P2_DATA_LIMIT
                if item is XSeries.BUS_WATCHDOG and not 0 <= value <= XSeries.BUS_WATCHDOG_MAX:
                    return P2_DATA_RANGE
                if item is XSeries.TORQUE_ENABLE and value and self.hardware_error:
                    return P2_RESULT_FAIL  # needs a reboot first
                if item is XSeries.CURRENT_LIMIT and self.model.effort != "current":
                    return P2_ACCESS  # the XL430 senses no current: no such item
                if item is XSeries.CURRENT_LIMIT and value > self.model.effort_full_raw:
                    return P2_DATA_RANGE
                if item is XSeries.PWM_LIMIT and value > 885:
                    return P2_DATA_RANGE
            else:
                if item is MXSeriesP1.MOVING_SPEED and value > 2047:
                    return P1_RANGE
                if item is MXSeriesP1.TORQUE_ENABLE and value and self.hardware_error:
                    return P1_OVERLOAD
                if item in (MXSeriesP1.MAX_TORQUE, MXSeriesP1.TORQUE_LIMIT) and value > 1023:
                    return P1_RANGE
        self.memory[:] = staged
        return 0

    def status_error(self, code: int) -> int:
        if self.model.protocol == 2:
            return code | (P2_ALERT if self.hardware_error else 0)
        return code | (self.hardware_error & MXSeriesP1.HARDWARE_ERROR_MASK)

    def reboot(self) -> None:
        self.hardware_error = 0
        self.memory[self.table.TORQUE_ENABLE.address] = 0
        if self.model.protocol == 2:
            self._set(XSeries.HARDWARE_ERROR_STATUS, 0)
            self._set(XSeries.BUS_WATCHDOG, 0)
            self._set(XSeries.GOAL_VELOCITY, 0)


def widowx_200_servos(q0: list[float] | None = None) -> list[SimServo]:
    """The WidowX-200 bus (Interbotix IDs): waist 1, shoulder 2 + shadow 3, elbow 4, wrist angle 5,
    wrist rotate 6, gripper 7. `q0` (rad) are the five arm joints' start angles (default: home)."""
    q = list(q0) if q0 is not None else [0.0, 0.0, 0.0, 0.0, 0.0]
    lim = 0.2  # mechanical stops this far beyond the default software joint limits (rad)
    return [
        SimServo(1, XM430_W350, q[0], mechanical_limits_rad=(-math.pi, math.pi)),
        SimServo(2, XM430_W350, q[1], mechanical_limits_rad=(-1.88 - lim, 1.97 + lim)),
        SimServo(3, XM430_W350, q[1], secondary_id=2, reverse=True, mechanical_limits_rad=(-1.88 - lim, 1.97 + lim)),
        SimServo(4, XM430_W350, q[2], mechanical_limits_rad=(-1.88 - lim, 1.62 + lim)),
        SimServo(5, XM430_W350, q[3], mechanical_limits_rad=(-1.75 - lim, 2.15 + lim)),
        SimServo(6, XL430_W250, q[4], mechanical_limits_rad=(-math.pi, math.pi)),
        SimServo(7, XL430_W250, 0.0, mechanical_limits_rad=(-1.0, 1.0)),
    ]


def classic_widowx_servos(q0: list[float] | None = None) -> list[SimServo]:
    """The classic (Trossen) WidowX on Protocol 1.0: MX-28 waist 1, MX-64 shoulder 2, MX-64
    elbow 3, MX-28 wrist angle 4, AX-12A wrist rotate 5, AX-12A gripper 6."""
    q = list(q0) if q0 is not None else [0.0, 0.0, 0.0, 0.0, 0.0]
    return [
        SimServo(1, MX_28, q[0], mechanical_limits_rad=(-3.0, 3.0)),
        SimServo(2, MX_64, q[1], mechanical_limits_rad=(-2.0, 2.0)),
        SimServo(3, MX_64, q[2], mechanical_limits_rad=(-2.0, 2.0)),
        SimServo(4, MX_28, q[3], mechanical_limits_rad=(-2.0, 2.0)),
        SimServo(5, AX_12A, q[4], mechanical_limits_rad=(-2.5, 2.5)),
        SimServo(6, AX_12A, 0.0, mechanical_limits_rad=(-1.0, 1.0)),
    ]


# ---------------------------------------------------------------------------------------------
# the bus
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteRecord:
    """One register write that reached a servo: when (monotonic s), which servo, where, what."""

    time: float
    servo_id: int
    address: int
    data: bytes


class DynamixelBusSim:
    """Simulated servos behind a pseudo-terminal; `port` is the path a driver opens.

    Runs its own thread (`start()`/`close()`, or as a context manager). All servos on one bus
    speak the same protocol (`protocol` 1 or 2).
    """

    def __init__(self, servos: list[SimServo] | None = None, *, protocol: int | None = None) -> None:
        self.servos = servos if servos is not None else widowx_200_servos()
        protocols = {s.model.protocol for s in self.servos}
        if len(protocols) != 1:
            raise ValueError(f"all servos on one bus must speak one protocol, got {sorted(protocols)}")
        self.protocol = protocol if protocol is not None else protocols.pop()
        self._by_id = {s.servo_id: s for s in self.servos}
        self._lock = threading.RLock()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline before the driver configures it
        self.port: str = os.ttyname(self._slave)
        self._buffer = bytearray()
        self._corrupt: collections.deque[int | None] = collections.deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writes: collections.deque[WriteRecord] = collections.deque(maxlen=100_000)
        self.packets_received = 0
        self.bad_packets_received = 0
        self.unstuffed_packets_received = 0
        self.connected = True

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "DynamixelBusSim":
        self._thread = threading.Thread(target=self._run, name=f"dynamixel-sim {self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._close_fds()

    def __enter__(self) -> "DynamixelBusSim":
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_fds(self) -> None:
        with self._lock:
            for fd in (self._master, self._slave):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._master = self._slave = -1
            self.connected = False

    # -- faults and inspection -------------------------------------------------------------------
    def settle(self, timeout_s: float = 1.0) -> None:
        """Wait until every byte the driver sent has been handled (Sync Write has no reply, so
        a test that checks a servo right after one must let the bus thread catch up)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.002)  # the pty pushes written bytes to the master through a work queue
            with self._lock:
                if self._master < 0:
                    return
                pending, _, _ = select.select([self._master], [], [], 0)
                if not pending and not self._buffer:
                    return

    def servo(self, servo_id: int) -> SimServo:
        """A servo, brought up to date (after `settle()`); read its fields, or change them under `lock`."""
        self.settle()
        with self._lock:
            servo = self._by_id[servo_id]
            servo.update(time.monotonic())
            return servo

    def positions(self) -> dict[int, float]:
        """Every servo's true angle (rad), all at one instant."""
        self.settle()
        with self._lock:
            now = time.monotonic()
            for servo in self.servos:
                servo.update(now)
            return {servo.servo_id: servo.q for servo in self.servos}

    def mute(self, servo_id: int, muted: bool = True) -> None:
        """The servo stops answering (and stops hearing): a loose cable or a brown-out."""
        with self._lock:
            self._by_id[servo_id].alive = not muted

    def corrupt_next(self, count: int = 1, servo_id: int | None = None) -> None:
        """The next `count` status packets (from `servo_id`, or any) go out with a bad CRC/checksum."""
        with self._lock:
            self._corrupt.extend([servo_id] * count)

    def set_hardware_error(self, servo_id: int, bits: int) -> None:
        with self._lock:
            servo = self._by_id[servo_id]
            servo.update(time.monotonic())
            servo.set_hardware_error(bits)

    def set_obstacle(self, servo_id: int, lower_rad: float | None = None, upper_rad: float | None = None) -> None:
        """Something blocks the joint of `servo_id` (and its shadows) below `lower_rad` / above
        `upper_rad`; no bounds: the way is clear again."""
        with self._lock:
            now = time.monotonic()
            for s in self.servos:
                if s.servo_id == servo_id or s.secondary_id == servo_id:
                    s.update(now)
                    clear = lower_rad is None and upper_rad is None
                    s.obstacle_rad = None if clear else (
                        -math.inf if lower_rad is None else lower_rad, math.inf if upper_rad is None else upper_rad)

    def disconnect(self) -> None:
        """Pull the cable: the pty closes under the driver (its reads and writes then fail)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._close_fds()

    def goal_velocity_writes(self, servo_id: int) -> list[float]:
        """Every Goal Velocity (P2) / Moving Speed (P1) a servo accepted, in rad/s."""
        self.settle()
        servo = self._by_id[servo_id]
        item = XSeries.GOAL_VELOCITY if servo.model.protocol == 2 else MXSeriesP1.MOVING_SPEED
        with self._lock:
            return [
                servo.model.velocity_to_rad_s(item.decode(w.data[item.address - w.address :]))
                for w in self.writes
                if w.servo_id == servo_id and w.address <= item.address < w.address + len(w.data)
            ]

    # -- the bus thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.005)
            except (OSError, ValueError):
                return
            with self._lock:
                now = time.monotonic()
                for servo in self.servos:
                    servo.update(now)
                if not ready:
                    continue
                try:
                    chunk = os.read(self._master, 4096)
                except OSError:
                    continue  # no slave open right now (EIO): wait for the driver
                self._buffer += chunk
                self._process_buffer()

    def _process_buffer(self) -> None:
        while True:
            packet = self._next_packet_p2() if self.protocol == 2 else self._next_packet_p1()
            if packet is None:
                return
            reply = self._handle(*packet)
            if reply:
                try:
                    os.write(self._master, reply)
                except OSError:
                    pass

    def _next_packet_p2(self) -> tuple[int, int, bytes, bool] | None:
        buf = self._buffer
        start = buf.find(b"\xff\xff\xfd\x00")
        if start < 0:
            del buf[: max(0, len(buf) - 3)]
            return None
        del buf[:start]
        if len(buf) < 7:
            return None
        total = 7 + (buf[5] | buf[6] << 8)
        if len(buf) < total:
            return None
        raw = bytes(buf[:total])
        del buf[:total]
        self.packets_received += 1
        ok = crc16(raw[:-2]) == (raw[-2] | raw[-1] << 8)
        body = unstuff(raw[7:-2])
        if body is None:  # unstuffed header inside: the servos lose framing and stay silent
            self.unstuffed_packets_received += 1
            return self._next_packet_p2()
        return raw[4], body[0], bytes(body[1:]), ok

    def _next_packet_p1(self) -> tuple[int, int, bytes, bool] | None:
        buf = self._buffer
        start = buf.find(b"\xff\xff")
        if start < 0:
            del buf[: max(0, len(buf) - 1)]
            return None
        del buf[:start]
        if len(buf) < 4:
            return None
        total = 4 + buf[3]
        if len(buf) < total:
            return None
        raw = bytes(buf[:total])
        del buf[:total]
        self.packets_received += 1
        ok = p1_checksum(raw[2:-1]) == raw[-1]
        return raw[2], raw[4], raw[5:-1], ok

    def _status(self, servo: SimServo, error: int, params: bytes = b"") -> bytes:
        error = servo.status_error(error)
        if self.protocol == 2:
            packet = bytearray(p2_packet(servo.servo_id, INST_STATUS, params, error=error))
        else:
            packet = bytearray(p1_packet(servo.servo_id, error, params))
        if self._corrupt and self._corrupt[0] in (None, servo.servo_id):
            self._corrupt.popleft()
            packet[-1] ^= 0x5A  # a flipped CRC/checksum byte, as line noise would leave it
        return bytes(packet)

    def _listeners(self, servo_id: int) -> list[SimServo]:
        """Servos that act on a write to `servo_id`: the servo itself and its shadows."""
        return [
            s for s in self.servos
            if s.alive and (s.servo_id == servo_id or (s.secondary_id == servo_id and self.protocol == 2))
        ]

    def _write(self, servo: SimServo, address: int, data: bytes) -> int:
        error = servo.write(address, data)
        if error == 0:
            self.writes.append(WriteRecord(time.monotonic(), servo.servo_id, address, bytes(data)))
        return error

    def _touch(self, servos) -> None:
        now = time.monotonic()
        for s in servos:
            s.last_comm = now

    def _handle(self, servo_id: int, instruction: int, params: bytes, crc_ok: bool) -> bytes:
        p2 = self.protocol == 2
        target = self._by_id.get(servo_id)
        unicast = target is not None and target.alive
        if not crc_ok:
            self.bad_packets_received += 1
            if unicast:
                return self._status(target, P2_CRC if p2 else P1_CHECKSUM)
            return b""
        if instruction == INST_PING:
            if not unicast:
                return b""
            self._touch([target])
            info = bytes(XSeries.MODEL_NUMBER.encode(target.model.model_number) + [target.memory[6]])
            return self._status(target, 0, info if p2 else b"")
        if instruction == INST_READ:
            if not unicast:
                return b""
            self._touch([target])
            if p2:
                address, length = params[0] | params[1] << 8, params[2] | params[3] << 8
            else:
                address, length = params[0], params[1]
            data, error = target.read(address, length)
            return self._status(target, error, data)
        if instruction == INST_WRITE:
            address, data = (params[0] | params[1] << 8, params[2:]) if p2 else (params[0], params[1:])
            listeners = self._listeners(servo_id)
            self._touch(listeners)
            error = 0
            for s in listeners:
                e = self._write(s, address, data)
                if s is target:
                    error = e
            return self._status(target, error) if unicast else b""
        if instruction == INST_REBOOT and p2:
            if not unicast:
                return b""
            target.reboot()
            return self._status(target, 0)
        if instruction == INST_SYNC_WRITE:
            if p2:
                address, length, rest = params[0] | params[1] << 8, params[2] | params[3] << 8, params[4:]
            else:
                address, length, rest = params[0], params[1], params[2:]
            for i in range(0, len(rest) - length, length + 1):
                listeners = self._listeners(rest[i])
                self._touch(listeners)
                for s in listeners:
                    self._write(s, address, rest[i + 1 : i + 1 + length])
            return b""
        if instruction == INST_SYNC_READ and p2:
            address, length = params[0] | params[1] << 8, params[2] | params[3] << 8
            out = b""
            for sid in params[4:]:
                s = self._by_id.get(sid)
                if s is None or not s.alive:
                    continue
                self._touch([s])
                data, error = s.read(address, length)
                out += self._status(s, error, data)
            return out
        if instruction == INST_BULK_READ:
            out = b""
            if p2:
                entries = [(params[i], params[i + 1] | params[i + 2] << 8, params[i + 3] | params[i + 4] << 8)
                           for i in range(0, len(params) - 4, 5)]
            else:  # P1: a leading 0x00, then (length, id, address) triples
                entries = [(params[i + 1], params[i + 2], params[i]) for i in range(1, len(params) - 2, 3)]
            for sid, address, length in entries:
                s = self._by_id.get(sid)
                if s is None or not s.alive or s.model is AX_12A:
                    # real servos wait for the previous one's status: the chain stops here (and the
                    # AX-12A does not implement Bulk Read at all)
                    break
                self._touch([s])
                data, error = s.read(address, length)
                out += self._status(s, error, data)
            return out
        return self._status(target, P2_INSTRUCTION if p2 else P1_INSTRUCTION) if unicast else b""
