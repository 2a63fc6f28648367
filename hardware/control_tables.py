"""Dynamixel control tables and unit conversions, shared by the driver and the bus simulator.

Addresses are from the ROBOTIS e-Manuals: X-series (XM430-W350, XL430-W250, XM540-W270) for
Protocol 2.0, and AX-12A / MX-28 / MX-64 (firmware for Protocol 1.0) for the classic WidowX.
Only the items this package uses are listed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One control-table entry: byte address, size in bytes (1, 2 or 4), two's-complement or not."""

    address: int
    size: int
    signed: bool = False

    def encode(self, value: int) -> list[int]:
        """Little-endian bytes of `value` (negative values in two's complement when signed)."""
        value = int(value)
        if value < 0:
            if not self.signed:
                raise ValueError(f"value {value} < 0 for unsigned item at address {self.address}")
            value += 1 << (8 * self.size)
        return [(value >> (8 * i)) & 0xFF for i in range(self.size)]

    def decode(self, data: bytes | bytearray | list[int]) -> int:
        value = 0
        for i in range(self.size):
            value |= int(data[i]) << (8 * i)
        if self.signed and value >= 1 << (8 * self.size - 1):
            value -= 1 << (8 * self.size)
        return value


class XSeries:
    """Protocol 2.0 control table of the X-series (XM430/XL430/XM540), e-Manual v2 layout."""

    MODEL_NUMBER = Item(0, 2)
    FIRMWARE_VERSION = Item(6, 1)
    ID = Item(7, 1)
    BAUD_RATE = Item(8, 1)
    RETURN_DELAY_TIME = Item(9, 1)
    DRIVE_MODE = Item(10, 1)  # bit 0: reverse direction (the shoulder's shadow servo)
    OPERATING_MODE = Item(11, 1)
    SECONDARY_ID = Item(12, 1)  # 255 = off; the shadow shoulder listens to the shoulder's ID
    PWM_LIMIT = Item(36, 2)  # 0..885 (100 %): every X-series model
    CURRENT_LIMIT = Item(38, 2)  # current units (2.69 mA): XM430/XM540 only, not XL430
    VELOCITY_LIMIT = Item(44, 4)
    MAX_POSITION_LIMIT = Item(48, 4)
    MIN_POSITION_LIMIT = Item(52, 4)
    SHUTDOWN = Item(63, 1)
    TORQUE_ENABLE = Item(64, 1)  # first RAM address: EEPROM below it is locked while torque is on
    LED = Item(65, 1)
    STATUS_RETURN_LEVEL = Item(68, 1)
    HARDWARE_ERROR_STATUS = Item(70, 1)
    BUS_WATCHDOG = Item(98, 1, signed=True)  # units of 20 ms; -1 once it has fired
    GOAL_PWM = Item(100, 2, signed=True)
    GOAL_CURRENT = Item(102, 2, signed=True)
    GOAL_VELOCITY = Item(104, 4, signed=True)
    PROFILE_ACCELERATION = Item(108, 4)
    PROFILE_VELOCITY = Item(112, 4)
    GOAL_POSITION = Item(116, 4, signed=True)
    MOVING = Item(122, 1)
    PRESENT_PWM = Item(124, 2, signed=True)
    PRESENT_CURRENT = Item(126, 2, signed=True)  # XM430/XM540: current units (2.69 mA)
    PRESENT_LOAD = Item(126, 2, signed=True)  # XL430 (same address): 0.1 % of its maximum torque
    PRESENT_VELOCITY = Item(128, 4, signed=True)
    PRESENT_POSITION = Item(132, 4, signed=True)
    PRESENT_INPUT_VOLTAGE = Item(144, 2)
    PRESENT_TEMPERATURE = Item(146, 1)
    SIZE = 147

    OPERATING_MODE_VELOCITY = 1
    OPERATING_MODE_POSITION = 3
    BUS_WATCHDOG_UNIT_S = 0.020
    BUS_WATCHDOG_MAX = 127

    # Hardware Error Status bits (address 70)
    HARDWARE_ERROR_BITS = {
        0: "input voltage error",
        2: "overheating",
        3: "motor encoder error",
        4: "electrical shock",
        5: "overload",
    }


class MXSeriesP1:
    """Protocol 1.0 control table of AX-12A and MX-28/64/106 (classic WidowX)."""

    MODEL_NUMBER = Item(0, 2)
    FIRMWARE_VERSION = Item(2, 1)
    ID = Item(3, 1)
    BAUD_RATE = Item(4, 1)
    RETURN_DELAY_TIME = Item(5, 1)
    CW_ANGLE_LIMIT = Item(6, 2)  # both angle limits 0 = wheel (velocity) mode
    CCW_ANGLE_LIMIT = Item(8, 2)
    MAX_TORQUE = Item(14, 2)  # EEPROM, 0..1023 (100 %): Torque Limit's value at power-on
    TORQUE_ENABLE = Item(24, 1)  # first RAM address
    LED = Item(25, 1)
    GOAL_POSITION = Item(30, 2)
    MOVING_SPEED = Item(32, 2)  # wheel mode: 0..1023 one way, 1024..2047 (bit 10 set) the other
    TORQUE_LIMIT = Item(34, 2)  # RAM, 0..1023 (100 %); an alarm shutdown sets it to 0
    PRESENT_POSITION = Item(36, 2)
    PRESENT_SPEED = Item(38, 2)
    PRESENT_LOAD = Item(40, 2)  # 0..1023 (about 0.1 % of maximum torque), bit 10 set: the CW (negative) way
    PRESENT_VOLTAGE = Item(42, 1)
    PRESENT_TEMPERATURE = Item(43, 1)
    MOVING = Item(46, 1)
    SIZE = 50

    # status-packet error byte bits (Protocol 1.0 has no Hardware Error Status register)
    ERROR_BITS = {
        0: "input voltage error",
        1: "angle limit error",
        2: "overheating",
        3: "range error",
        4: "checksum error",
        5: "overload",
        6: "instruction error",
    }
    # the error bits that mean the servo itself is in trouble (not a bad packet from us)
    HARDWARE_ERROR_MASK = 0b0010_0101


# How a model bounds and reports its effort (torque): the limit registers written at start and the
# present value read every step. "current": X-series with current sensing (XM430, XM540), Current
# Limit (38) / Present Current (126); "pwm": XL430, which senses no current, PWM Limit (36) / Present
# Load (126); "torque": Protocol 1.0 AX/MX, Max Torque (14) and Torque Limit (34) / Present Load (40).
EFFORT_KINDS = ("current", "pwm", "torque")


@dataclass(frozen=True)
class ServoModel:
    """A Dynamixel model: which protocol/table it uses and how its raw units map to SI.

    Effort (torque) is handled in percent of the model's maximum: 100 % is the top of its limit
    register's range (`effort_full_raw`), and the present current/load is scaled the same way."""

    name: str
    model_number: int
    protocol: int
    ticks_per_rev: float  # encoder ticks per revolution (AX: 1024 ticks span 300 deg)
    center_tick: int
    velocity_unit_rpm: float  # one raw velocity unit in rev/min
    effort: str = "torque"  # one of EFFORT_KINDS
    effort_full_raw: int = 1023  # the limit register's raw value at 100 %
    current_unit_a: float | None = None  # "current" models: amperes per raw unit

    def __post_init__(self) -> None:
        if self.effort not in EFFORT_KINDS:
            raise ValueError(f"effort={self.effort!r}; allowed: {EFFORT_KINDS}")

    def effort_limit_writes(self, percent: float) -> list[tuple[Item, int]]:
        """The limit registers that bound this model's torque, with their raw values for `percent`
        of its maximum (clipped to 0..100)."""
        raw = int(round(min(100.0, max(0.0, percent)) / 100.0 * self.effort_full_raw))
        if self.effort == "current":
            return [(XSeries.CURRENT_LIMIT, raw)]
        if self.effort == "pwm":
            return [(XSeries.PWM_LIMIT, raw)]
        return [(MXSeriesP1.MAX_TORQUE, raw), (MXSeriesP1.TORQUE_LIMIT, raw)]

    @property
    def present_effort_item(self) -> Item:
        if self.effort == "current":
            return XSeries.PRESENT_CURRENT
        return XSeries.PRESENT_LOAD if self.effort == "pwm" else MXSeriesP1.PRESENT_LOAD

    def effort_to_percent(self, raw: int) -> float:
        """Raw Present Current/Load to signed percent of the maximum (P1: the sign is bit 10)."""
        if self.effort == "torque":
            magnitude = (raw & 0x3FF) * 100.0 / self.effort_full_raw
            return -magnitude if raw & 0x400 else magnitude
        if self.effort == "pwm":
            return raw / 10.0  # Present Load is in 0.1 %
        return raw * 100.0 / self.effort_full_raw

    def percent_to_effort(self, percent: float) -> int:
        """Signed percent of the maximum to the raw Present Current/Load (the bus simulator's side)."""
        if self.effort == "torque":
            magnitude = min(1023, int(round(abs(percent) / 100.0 * self.effort_full_raw)))
            return magnitude | 0x400 if percent < 0 else magnitude
        if self.effort == "pwm":
            return int(round(percent * 10.0))
        return int(round(percent / 100.0 * self.effort_full_raw))

    def describe_effort(self, percent: float) -> str:
        """`percent` of the maximum in words, in amperes where the model measures current."""
        if self.current_unit_a is not None:
            full = self.effort_full_raw * self.current_unit_a
            return f"{abs(percent) / 100.0 * full:.2f} A ({abs(percent):.0f} % of {full:.2f} A)"
        return f"{abs(percent):.0f} % of maximum {'load' if self.effort == 'pwm' else 'torque'}"

    @property
    def rad_per_tick(self) -> float:
        return 2.0 * math.pi / self.ticks_per_rev

    @property
    def rad_s_per_unit(self) -> float:
        return self.velocity_unit_rpm * 2.0 * math.pi / 60.0

    def position_to_rad(self, ticks: int) -> float:
        return (ticks - self.center_tick) * self.rad_per_tick

    def rad_to_position(self, rad: float) -> int:
        return int(round(rad / self.rad_per_tick)) + self.center_tick

    def velocity_to_rad_s(self, raw: int) -> float:
        """Raw Present Velocity (P2: signed) or Present Speed (P1: sign in bit 10) to rad/s."""
        if self.protocol == 1:
            magnitude = raw & 0x3FF
            return (-magnitude if raw & 0x400 else magnitude) * self.rad_s_per_unit
        return raw * self.rad_s_per_unit

    def rad_s_to_velocity(self, rad_s: float) -> int:
        """rad/s to the raw Goal Velocity (P2) or wheel-mode Moving Speed (P1)."""
        units = int(round(rad_s / self.rad_s_per_unit))
        if self.protocol == 1:
            magnitude = min(abs(units), 1023)
            return magnitude | 0x400 if units < 0 else magnitude
        return units


# Velocity units: X-series 0.229 rpm, MX 0.114 rpm, AX 0.111 rpm (e-Manual).
# Effort: XM430 Current Limit 0..1193 and XM540 0..2047 in 2.69 mA; XL430 PWM Limit 0..885;
# AX/MX Torque Limit 0..1023.
XM430_W350 = ServoModel("XM430-W350", 1020, 2, 4096, 2048, 0.229, "current", 1193, 0.00269)
XL430_W250 = ServoModel("XL430-W250", 1060, 2, 4096, 2048, 0.229, "pwm", 885)
XM540_W270 = ServoModel("XM540-W270", 1120, 2, 4096, 2048, 0.229, "current", 2047, 0.00269)
MX_28 = ServoModel("MX-28", 29, 1, 4096, 2048, 0.114)
MX_64 = ServoModel("MX-64", 310, 1, 4096, 2048, 0.114)
AX_12A = ServoModel("AX-12A", 12, 1, 1024 * 360.0 / 300.0, 512, 0.111)

MODELS: dict[int, ServoModel] = {
    m.model_number: m for m in (XM430_W350, XL430_W250, XM540_W270, MX_28, MX_64, AX_12A)
}


def decode_hardware_error(bits: int, protocol: int) -> list[str]:
    """Names of the set bits of a P2 Hardware Error Status or a P1 status-packet error byte."""
    table = XSeries.HARDWARE_ERROR_BITS if protocol == 2 else MXSeriesP1.ERROR_BITS
    return [name for bit, name in table.items() if bits & (1 << bit)]
