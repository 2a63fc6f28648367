"""The arm's Dynamixel servo bus through `dynamixel_sdk` (4.x API) on pyserial.

`DynamixelBus` is one serial port: ping, read/write one item, sync write, and one-transaction
reads of a block from many servos (Protocol 2.0 Sync Read; Protocol 1.0 Bulk Read on MX, or servo
by servo on AX). Every transaction holds the bus lock (the host watchdog thread shares the port),
retries timeouts and corrupted status packets `retries` times, then raises a typed error. A serial
failure (cable pulled) becomes `ConnectionLostError`.

`DynamixelArm` is the arm backend of `hardware.widowx.WidowX` on such a bus: velocity mode for the
five joints (sync-write Goal Velocity), one sync read of Present Current/Load + Velocity + Position
per step, the shoulder's shadow servo checked against the shoulder, the servo Bus Watchdog armed
(P2), hardware errors read and reported. Effort: at connect every servo's limit registers get the
arm config's `effort_limit_pct` (X-series Current Limit, XL430 PWM Limit, AX/MX Max Torque and
Torque Limit, as each model has them); every state read compares the present current/load of the
joint servos with their `effort_stop_pct` and raises EffortLimitError above it.
"""

from __future__ import annotations

import os
import termios
import threading
import time
from dataclasses import dataclass

import numpy as np

from hardware.config import ArmConfig
from hardware.control_tables import MODELS, Item, MXSeriesP1, ServoModel, XSeries, decode_hardware_error
from hardware.errors import (
    SIM_HINT,
    CommunicationError,
    ConnectionLostError,
    DeviceNotFoundError,
    EffortLimitError,
    ServoCommandError,
    ServoHardwareError,
    ServoNotRespondingError,
)

# results of dynamixel_sdk (robotis_def), repeated to keep the import lazy
COMM_SUCCESS, COMM_RX_TIMEOUT, COMM_RX_CORRUPT = 0, -3001, -3002
P2_ALERT = 0x80


def _sdk():
    try:
        import dynamixel_sdk
    except ImportError as exc:  # pragma: no cover - the [hardware] extra is missing
        raise ImportError("the Dynamixel driver needs the [hardware] extra: pip install 'meld-bench[hardware]'") from exc
    return dynamixel_sdk


def _packet_handler(protocol: int):
    """The SDK's packet handler; for Protocol 2.0 with transmit byte stuffing fixed.

    dynamixel_sdk 4.1's Protocol2PacketHandler.txPacket calls `self.addStuffing(txpacket)` and
    ignores the result, and addStuffing builds a *new* list whenever it inserts a byte: so an
    instruction whose parameters contain FF FF FD goes out unstuffed, and the servo loses framing
    (tests/test_hardware_dynamixel.py shows it against the simulator). Stuffing in place fixes it.
    """
    sdk = _sdk()
    if protocol == 1:
        return sdk.PacketHandler(1.0)

    class StuffingProtocol2PacketHandler(sdk.Protocol2PacketHandler):
        def addStuffing(self, packet):
            stuffed = super().addStuffing(list(packet))
            packet[:] = stuffed
            return packet

    return StuffingProtocol2PacketHandler()


@dataclass
class BusStats:
    """Transaction counters, for `check` and for tests."""

    transactions: int = 0
    retries: int = 0
    timeouts: int = 0
    corrupt: int = 0


class DynamixelBus:
    """One Dynamixel bus on a serial port. `protocol` is 1 or 2; baud rates as the SDK allows."""

    def __init__(self, port: str, *, protocol: int = 2, baudrate: int = 1_000_000, retries: int = 2) -> None:
        if protocol not in (1, 2):
            raise ValueError(f"protocol={protocol!r}; allowed: 1 (AX/MX) or 2 (X-series)")
        self.port_name = port
        self.protocol = protocol
        self.baudrate = baudrate
        self.retries = retries
        self.stats = BusStats()
        self._lock = threading.RLock()
        self._port = None
        self._ph = None
        self.table = XSeries if protocol == 2 else MXSeriesP1

    # -- connection --------------------------------------------------------------------------------
    def open(self) -> "DynamixelBus":
        sdk = _sdk()
        if not os.path.exists(self.port_name):
            raise DeviceNotFoundError(
                f"no Dynamixel bus at port {self.port_name!r}: the device does not exist. Plug in the "
                f"U2D2/USB2Dynamixel and look for it with `ls /dev/ttyUSB* /dev/serial/by-id/`. {SIM_HINT}"
            )
        import serial

        port = sdk.PortHandler(self.port_name)
        port.baudrate = self.baudrate
        try:
            ok = port.openPort()
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotFoundError(
                f"cannot open Dynamixel bus at port {self.port_name!r}: {exc}. Check permissions "
                f"(`sudo usermod -aG dialout $USER`) and that no other program holds the port. {SIM_HINT}"
            ) from exc
        if not ok:
            raise DeviceNotFoundError(f"baud rate {self.baudrate} not supported by dynamixel_sdk on {self.port_name!r}")
        self._port, self._ph = port, _packet_handler(self.protocol)
        return self

    @property
    def is_open(self) -> bool:
        return self._port is not None and self._port.is_open

    def close(self) -> None:
        with self._lock:
            if self._port is not None:
                try:
                    self._port.closePort()
                except Exception:  # noqa: BLE001 - closing a dead port must not mask the real error
                    pass
                self._port = None

    def __enter__(self) -> "DynamixelBus":
        return self if self.is_open else self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------------
    def _call(self, what: str, fn, *args):
        """Run one SDK call under the lock; serial failures become ConnectionLostError."""
        import serial

        if self._port is None:
            raise ConnectionLostError(f"Dynamixel bus {self.port_name!r} is closed ({what})")
        with self._lock:
            self.stats.transactions += 1
            try:
                return fn(*args)
            except (serial.SerialException, OSError, TypeError, termios.error) as exc:
                # TypeError: pyserial's write on a closed fd; the SDK leaves its busy flag set
                self._port.is_using = False
                raise ConnectionLostError(
                    f"lost the Dynamixel bus at {self.port_name!r} during {what}: {exc} "
                    "(USB cable pulled, adapter reset or pty closed)"
                ) from exc

    def abort_transaction(self) -> None:
        """Forget a transaction cut short (by a signal handler in the same thread) so the next
        packet can go out; its late reply bytes are flushed by the next transmit."""
        if self._port is not None:
            self._port.is_using = False

    def _check_result(self, what: str, result: int, servo_id: int | None, attempt: int) -> bool:
        """True if it worked; False to retry; raises once the retries are spent.

        The diagnosis looks at every attempt: any corrupted packet means the servo is there but the
        line is bad (CommunicationError); only timeouts throughout mean it is silent."""
        if attempt == 0:
            self._attempts: list[tuple[int, int | None]] = []
        if result == COMM_SUCCESS:
            return True
        self._attempts.append((result, servo_id))
        if result == COMM_RX_CORRUPT:
            self.stats.corrupt += 1
        elif result == COMM_RX_TIMEOUT:
            self.stats.timeouts += 1
        if attempt < self.retries and result in (COMM_RX_CORRUPT, COMM_RX_TIMEOUT):
            self.stats.retries += 1
            return False
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        corrupt = sorted({sid for r, sid in self._attempts if r == COMM_RX_CORRUPT}, key=str)
        timeouts = sorted({sid for r, sid in self._attempts if r == COMM_RX_TIMEOUT}, key=str)
        if corrupt:
            who = ", ".join("the bus" if sid is None else f"servo {sid}" for sid in corrupt)
            mixed = f"; {len(self._attempts) - len([1 for r, _ in self._attempts if r == COMM_RX_CORRUPT])} timed out" if timeouts else ""
            raise CommunicationError(
                f"corrupted status packet (bad CRC/checksum) from {who} for {what} on {self.port_name!r} "
                f"({tries}{mixed}): check the cable, termination and baud rate"
            )
        if timeouts:
            who = "the bus" if servo_id is None else f"servo {servo_id}"
            raise ServoNotRespondingError(
                f"{who} did not answer {what} on {self.port_name!r} ({tries}): check its power and "
                "daisy-chain cable, and its ID/baud rate with `python -m hardware check`"
            )
        raise CommunicationError(f"{what} on {self.port_name!r} failed: {self._ph.getTxRxResult(result)}")

    def _check_status(self, what: str, servo_id: int, error: int) -> None:
        if not error:
            return
        if self.protocol == 2:
            if error & P2_ALERT:
                bits = self.read(servo_id, XSeries.HARDWARE_ERROR_STATUS, check_alert=False)
                raise ServoHardwareError(self._hardware_message(servo_id, bits))
            raise ServoCommandError(f"servo {servo_id} rejected {what}: {self._ph.getRxPacketError(error)}")
        if error & MXSeriesP1.HARDWARE_ERROR_MASK:
            raise ServoHardwareError(self._hardware_message(servo_id, error))
        raise ServoCommandError(f"servo {servo_id} rejected {what}: {', '.join(decode_hardware_error(error, 1))}")

    def _hardware_message(self, servo_id: int, bits: int) -> str:
        names = ", ".join(decode_hardware_error(bits, self.protocol)) or f"bits {bits:#04x}"
        return (
            f"servo {servo_id} on {self.port_name!r} reports a hardware error: {names}. It has turned its "
            "torque off; remove the cause (load, heat, supply), then reboot it "
            "(`python -m hardware check --reboot`) or power-cycle the arm"
        )

    def ping(self, servo_id: int) -> int:
        """Model number of the servo; raises ServoNotRespondingError if it is not there."""
        for attempt in range(self.retries + 1):
            model, result, error = self._call(f"ping of servo {servo_id}", self._ph.ping, self._port, servo_id)
            if self._check_result(f"ping", result, servo_id, attempt):
                return int(model)
        raise AssertionError("unreachable")

    def read(self, servo_id: int, item: Item, *, check_alert: bool = True) -> int:
        for attempt in range(self.retries + 1):
            data, result, error = self._call(
                f"read of address {item.address}", self._ph.readTxRx, self._port, servo_id, item.address, item.size
            )
            if self._check_result(f"read of address {item.address}", result, servo_id, attempt):
                if check_alert:
                    self._check_status(f"read of address {item.address}", servo_id, error)
                return item.decode(data)
        raise AssertionError("unreachable")

    def write(self, servo_id: int, item: Item, value: int) -> None:
        what = f"write of {value} to address {item.address}"
        for attempt in range(self.retries + 1):
            result, error = self._call(
                what, self._ph.writeTxRx, self._port, servo_id, item.address, item.size, item.encode(value)
            )
            if self._check_result(what, result, servo_id, attempt):
                self._check_status(what, servo_id, error)
                return

    def sync_write(self, item: Item, values: dict[int, int]) -> None:
        """One Sync Write packet setting `item` on every servo in `values` (no status packets)."""
        sdk = _sdk()
        group = sdk.GroupSyncWrite(self._port, self._ph, item.address, item.size)
        for servo_id, value in values.items():
            group.addParam(servo_id, item.encode(value))
        result = self._call(f"sync write to address {item.address}", group.txPacket)
        if result != COMM_SUCCESS:
            raise CommunicationError(f"sync write on {self.port_name!r} failed: {self._ph.getTxRxResult(result)}")

    def read_block(self, ids: list[int], address: int, length: int, *, bulk: bool = True) -> dict[int, tuple[bytes, int]]:
        """`length` bytes from `address` of every servo, as {id: (data, status error byte)}.

        Protocol 2.0: one Sync Read. Protocol 1.0: one Bulk Read (MX) when `bulk`, else one Read
        per servo (AX-12 cannot Bulk Read). Retried as a whole on a timeout or a bad packet."""
        what = f"{'sync' if self.protocol == 2 else 'bulk' if bulk else 'sequential'} read of address {address}"
        for attempt in range(self.retries + 1):
            out, result, bad_id = self._call(what, self._read_block_once, ids, address, length, bulk)
            if self._check_result(what, result, bad_id, attempt):
                return out
        raise AssertionError("unreachable")

    def _read_block_once(self, ids, address, length, bulk):
        ph, port = self._ph, self._port
        out: dict[int, tuple[bytes, int]] = {}
        if self.protocol == 2 or bulk:
            if self.protocol == 2:
                result = ph.syncReadTx(port, address, length, list(ids), len(ids), False)
            else:
                param = [x for sid in ids for x in (length, sid, address)]
                result = ph.bulkReadTx(port, param, len(param))
            if result != COMM_SUCCESS:
                port.is_using = False
                return out, result, None
            for sid in ids:
                data, result, error = ph.readRx(port, sid, length)
                if result != COMM_SUCCESS:
                    return out, result, sid
                out[sid] = (bytes(data), error)
            return out, COMM_SUCCESS, None
        for sid in ids:
            data, result, error = ph.readTxRx(port, sid, address, length)
            if result != COMM_SUCCESS:
                return out, result, sid
            out[sid] = (bytes(data), error)
        return out, COMM_SUCCESS, None

    def reboot(self, servo_id: int) -> None:
        """Protocol 2.0 Reboot: clears a hardware error (torque comes back off)."""
        if self.protocol != 2:
            raise ServoCommandError("Protocol 1.0 has no Reboot instruction: power-cycle the arm")
        result, error = self._call(f"reboot of servo {servo_id}", self._ph.reboot, self._port, servo_id)
        self._check_result("reboot", result, servo_id, self.retries)


class DynamixelArm:
    """Arm backend on a Dynamixel bus (see the module docstring). Joint arrays are float64 [5]."""

    def __init__(self, port: str, arm: ArmConfig, *, retries: int = 2, shadow_tolerance_rad: float = 0.1) -> None:
        self.arm = arm
        self.bus = DynamixelBus(port, protocol=arm.protocol, baudrate=arm.baudrate, retries=retries)
        self.shadow_tolerance_rad = shadow_tolerance_rad
        self.models: dict[int, ServoModel] = {}
        self._joint_ids = [j.servo_id for j in arm.joints]
        self._shadows = {j.shadow_id: j.servo_id for j in arm.joints if j.shadow_id is not None}
        self._read_ids = self._joint_ids + list(self._shadows)
        self._sign = np.array([j.sign for j in arm.joints])
        self._offset = np.array([j.offset_rad for j in arm.joints])
        self._effort_stop = {sid: arm.joint_of(sid).effort_stop_pct for sid in self._read_ids}
        self.last_effort_pct: dict[int, float] = {}  # signed present current/load of the last read
        self.bus_watchdog_s: float | None = None

    @property
    def description(self) -> str:
        return f"Dynamixel Protocol {self.arm.protocol}.0 bus at {self.bus.port_name!r}"

    # -- setup ---------------------------------------------------------------------------------------
    def connect(self, bus_watchdog_s: float | None, max_velocity_rad_s: float) -> None:
        self.bus.open()
        missing = []
        for sid in self.arm.servo_ids:
            try:
                number = self.bus.ping(sid)
            except ServoNotRespondingError:
                missing.append(sid)
                continue
            if number not in MODELS or MODELS[number].protocol != self.arm.protocol:
                raise ServoCommandError(
                    f"servo {sid} on {self.bus.port_name!r} is model number {number}, not a known "
                    f"Protocol {self.arm.protocol}.0 model ({sorted(m for m, s in MODELS.items() if s.protocol == self.arm.protocol)})"
                )
            self.models[sid] = MODELS[number]
        if missing:
            self.bus.close()
            raise ServoNotRespondingError(
                f"servos {missing} of {self.arm.name} did not answer a ping on {self.bus.port_name!r} "
                f"(expected IDs {self.arm.servo_ids} at {self.arm.baudrate} baud, Protocol {self.arm.protocol}.0)"
            )
        self.check_hardware_errors()
        self.set_torque(False)  # EEPROM (operating mode, limits) is writable only with torque off
        self.write_effort_limits()
        t = self.bus.table
        if self.arm.protocol == 2:
            for shadow, master in self._shadows.items():
                secondary = self.bus.read(shadow, XSeries.SECONDARY_ID)
                if secondary != master:
                    raise ServoCommandError(
                        f"shadow servo {shadow} has Secondary ID {secondary}, expected {master}: it would not "
                        "follow the shoulder and the two would fight; set it with the Dynamixel Wizard"
                    )
            for sid in self._read_ids:
                self.bus.write(sid, XSeries.OPERATING_MODE, XSeries.OPERATING_MODE_VELOCITY)
                # the servo's own Velocity Limit a little above the host cap: a third line of defence
                limit = self.models[sid].rad_s_to_velocity(max_velocity_rad_s * 1.2) + 1
                self.bus.write(sid, XSeries.VELOCITY_LIMIT, limit)
            if self.arm.gripper_id is not None:
                self.bus.write(self.arm.gripper_id, XSeries.OPERATING_MODE, XSeries.OPERATING_MODE_POSITION)
            self.arm_bus_watchdog(bus_watchdog_s)
        else:
            for sid in self._joint_ids:  # wheel mode: both angle limits 0
                self.bus.write(sid, MXSeriesP1.CW_ANGLE_LIMIT, 0)
                self.bus.write(sid, MXSeriesP1.CCW_ANGLE_LIMIT, 0)
        self.write_velocity(np.zeros(len(self._joint_ids)))
        if self.arm.gripper_id is not None:  # hold the gripper where it is (the plug stays gripped)
            held = self.bus.read(self.arm.gripper_id, t.PRESENT_POSITION)
            self.bus.write(self.arm.gripper_id, t.GOAL_POSITION, held)
        self.set_torque(True)

    def write_effort_limits(self) -> None:
        """Every servo's torque-limit registers to the arm config's `effort_limit_pct` (torque must
        be off on Protocol 2.0: they are EEPROM). EEPROM is written only when it differs."""
        for sid in self.arm.servo_ids:
            for item, raw in self.models[sid].effort_limit_writes(self.arm.effort_limit_pct(sid)):
                if item.address >= self.bus.table.TORQUE_ENABLE.address or self.bus.read(sid, item) != raw:
                    self.bus.write(sid, item, raw)

    def effort_limits(self) -> dict[int, float]:
        """{servo id: its limit register now, in percent of the model's maximum} (P1: Torque Limit)."""
        out = {}
        for sid in self.arm.servo_ids:
            model = self.models[sid]
            item = model.effort_limit_writes(100.0)[-1][0]
            out[sid] = self.bus.read(sid, item) * 100.0 / model.effort_full_raw
        return out

    def arm_bus_watchdog(self, seconds: float | None) -> None:
        """(Re)arm the servos' Bus Watchdog (P2): clear a fired one (write 0), then set the period."""
        if self.arm.protocol != 2 or seconds is None:
            return
        units = int(min(XSeries.BUS_WATCHDOG_MAX, max(1, round(seconds / XSeries.BUS_WATCHDOG_UNIT_S))))
        self.bus.sync_write(XSeries.BUS_WATCHDOG, {sid: 0 for sid in self._read_ids})
        self.bus.sync_write(XSeries.BUS_WATCHDOG, {sid: units for sid in self._read_ids})
        self.bus_watchdog_s = units * XSeries.BUS_WATCHDOG_UNIT_S

    def bus_watchdog_fired(self) -> list[int]:
        """IDs whose Bus Watchdog has fired (reads -1): their goals are frozen until re-armed."""
        if self.arm.protocol != 2:
            return []
        block = self.bus.read_block(self._read_ids, XSeries.BUS_WATCHDOG.address, 1)
        return [sid for sid, (data, _) in block.items() if XSeries.BUS_WATCHDOG.decode(data) == -1]

    # -- the control loop ----------------------------------------------------------------------------
    def read(self, *, check_effort: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(q rad, qdot rad/s), float64 [5], in one bus transaction; with `check_effort`, raises
        EffortLimitError when a joint servo's present current/load is above its bound."""
        if self.arm.protocol == 2:  # Present Current/Load (126), Velocity (128), Position (132)
            start, vel_item, pos_item = 126, XSeries.PRESENT_VELOCITY, XSeries.PRESENT_POSITION
            block = self.bus.read_block(self._read_ids, start, 10)
        else:  # Present Position (36), Speed (38), Load (40)
            start, vel_item, pos_item = 36, MXSeriesP1.PRESENT_SPEED, MXSeriesP1.PRESENT_POSITION
            block = self.bus.read_block(self._read_ids, start, 6, bulk=self.arm.bulk_read)
        angle: dict[int, float] = {}
        speed: dict[int, float] = {}
        effort: dict[int, float] = {}
        for sid, (data, error) in block.items():
            self.bus._check_status("the state read", sid, error)
            model = self.models[sid]
            angle[sid] = model.position_to_rad(pos_item.decode(data[pos_item.address - start :]))
            speed[sid] = model.velocity_to_rad_s(vel_item.decode(data[vel_item.address - start :]))
            item = model.present_effort_item
            effort[sid] = model.effort_to_percent(item.decode(data[item.address - start :]))
        self.last_effort_pct = effort
        for shadow, master in self._shadows.items():
            if abs(angle[shadow] - angle[master]) > self.shadow_tolerance_rad:
                raise ServoHardwareError(
                    f"shoulder servo {master} reads {angle[master]:.3f} rad but its shadow {shadow} reads "
                    f"{angle[shadow]:.3f} rad (tolerance {self.shadow_tolerance_rad}): a horn slipped or the "
                    "shadow stopped following; torque off and check the shoulder"
                )
        if check_effort:
            self._check_effort(effort)
        q = np.array([angle[i] for i in self._joint_ids]) * self._sign + self._offset
        qdot = np.array([speed[i] for i in self._joint_ids]) * self._sign
        return q, qdot

    def _check_effort(self, effort: dict[int, float]) -> None:
        over = [(sid, pct, self._effort_stop[sid]) for sid, pct in effort.items()
                if self._effort_stop[sid] is not None and abs(pct) > self._effort_stop[sid]]
        if not over:
            return
        lines = []
        for sid, pct, bound in over:
            model, joint = self.models[sid], self.arm.joint_of(sid)
            what = "present current" if model.effort == "current" else "present load"
            lines.append(
                f"servo {sid} ({joint.name}{' shadow' if sid == joint.shadow_id else ''}, {model.name}) {what} "
                f"{model.describe_effort(pct)} is above its bound {model.describe_effort(bound)} "
                f"(effort_stop_pct of joint {joint.name!r})"
            )
        raise EffortLimitError(
            f"{'; '.join(lines)} on {self.bus.port_name!r}: the joint pushes against its limit or an obstacle. "
            "Command it away (or zero), or raise the bound in the arm config if this load is expected"
        )

    def write_velocity(self, qdot: np.ndarray) -> None:
        """One Sync Write of the five goal velocities (rad/s). The shadow follows via its Secondary ID."""
        item = XSeries.GOAL_VELOCITY if self.arm.protocol == 2 else MXSeriesP1.MOVING_SPEED
        raw = {
            sid: self.models[sid].rad_s_to_velocity(float(v) * s)
            for sid, v, s in zip(self._joint_ids, qdot, self._sign)
        }
        self.bus.sync_write(item, raw)

    def set_torque(self, enabled: bool) -> None:
        self.bus.sync_write(self.bus.table.TORQUE_ENABLE, {sid: int(enabled) for sid in self.arm.servo_ids})

    def keepalive(self) -> None:
        self.read(check_effort=False)

    def abort_transaction(self) -> None:
        self.bus.abort_transaction()

    def hardware_errors(self) -> dict[int, list[str]]:
        """{servo id: error names} of every servo with a hardware error (empty if all is well)."""
        found = {}
        for sid in self.arm.servo_ids:
            if self.arm.protocol == 2:
                bits = self.bus.read(sid, XSeries.HARDWARE_ERROR_STATUS, check_alert=False)
            else:
                _, _, error = self.bus._call("ping", self.bus._ph.ping, self.bus._port, sid)
                bits = error & MXSeriesP1.HARDWARE_ERROR_MASK
            if bits:
                found[sid] = decode_hardware_error(bits, self.arm.protocol)
        return found

    def check_hardware_errors(self) -> None:
        found = self.hardware_errors()
        if found:
            sid = next(iter(found))
            bits = self.bus.read(sid, XSeries.HARDWARE_ERROR_STATUS, check_alert=False) if self.arm.protocol == 2 else 0
            raise ServoHardwareError(
                self.bus._hardware_message(sid, bits) if bits else f"hardware errors on {self.bus.port_name!r}: {found}"
            )

    def reboot(self) -> None:
        for sid in self.arm.servo_ids:
            self.bus.reboot(sid)
        time.sleep(0.1)

    def close(self) -> None:
        self.bus.close()
