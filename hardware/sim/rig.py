"""A fake task-reset rig controller on a pseudo-terminal, speaking `hardware.rig`'s serial protocol.

Both axes slew at a fixed speed; homing takes `homing_s`; `plug_in(port)` / `unplug()` set the
switch's link LEDs (the insertion signal); `fault()` stalls a motor; `disconnect()` closes the pty.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty

ROT_LIMIT_MDEG = 8000
TRANS_LIMIT_UM = 10000


class FakeRigController:
    def __init__(self, *, rotation_speed_deg_s: float = 40.0, translation_speed_m_s: float = 0.05,
                 homing_s: float = 0.2) -> None:
        self.rotation_speed = rotation_speed_deg_s * 1000.0  # mdeg/s
        self.translation_speed = translation_speed_m_s * 1e6  # um/s
        self.homing_s = homing_s
        self.state = "IDLE"
        self.homed = False
        self.rot = 3000.0  # mdeg, wherever it was left at power-up
        self.trans = -4000.0  # um
        self.target = (self.rot, self.trans)
        self.link_mask = 0
        self.commands: list[str] = []
        self._homing_until = 0.0
        self._t = time.monotonic()
        self._lock = threading.Lock()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._buffer = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "FakeRigController":
        self._thread = threading.Thread(target=self._run, name=f"rig-sim {self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._master = self._slave = -1

    disconnect = close

    def __enter__(self) -> "FakeRigController":
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- test hooks --------------------------------------------------------------------------------
    def plug_in(self, port: int) -> None:
        with self._lock:
            self.link_mask = 1 << port

    def unplug(self) -> None:
        with self._lock:
            self.link_mask = 0

    def fault(self) -> None:
        with self._lock:
            self.state = "FAULT"

    # -- controller ----------------------------------------------------------------------------------
    def _update(self, now: float) -> None:
        dt, self._t = now - self._t, now
        if self.state == "HOMING" and now >= self._homing_until:
            self.rot = self.trans = 0.0
            self.target = (0.0, 0.0)
            self.homed, self.state = True, "IDLE"
        elif self.state == "MOVING":
            done = True
            values = []
            for value, goal, speed in ((self.rot, self.target[0], self.rotation_speed), (self.trans, self.target[1], self.translation_speed)):
                step = max(-speed * dt, min(speed * dt, goal - value))
                value += step
                done &= abs(goal - value) < 1e-6
                values.append(value)
            self.rot, self.trans = values
            if done:
                self.state = "IDLE"

    def _reply(self, line: str) -> str:
        parts = line.split()
        if not parts:
            return "ERR SYNTAX empty command"
        cmd = parts[0].upper()
        if cmd == "PING":
            return "OK MELDRIG 1"
        if cmd == "STATUS":
            return (f"OK STATE={self.state} HOMED={int(self.homed)} ROT={round(self.rot)} "
                    f"TRANS={round(self.trans)} LINK={self.link_mask}")
        if cmd == "LINK":
            return f"OK LINK={self.link_mask}"
        if cmd == "STOP":
            if self.state != "FAULT":
                self.state = "IDLE"
            return "OK"
        if cmd == "HOME":
            self.state, self.homed = "HOMING", False
            self._homing_until = time.monotonic() + self.homing_s
            return "OK"
        if cmd == "MOVE":
            if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts[1:]):
                return "ERR SYNTAX MOVE <rot_mdeg> <trans_um>"
            rot, trans = int(parts[1]), int(parts[2])
            if not self.homed:
                return "ERR NOT_HOMED send HOME first"
            if self.state == "FAULT":
                return "ERR FAULT motor stalled; power-cycle the rig"
            if abs(rot) > ROT_LIMIT_MDEG or abs(trans) > TRANS_LIMIT_UM:
                return f"ERR LIMIT rotation must be within +-{ROT_LIMIT_MDEG} mdeg, translation +-{TRANS_LIMIT_UM} um"
            self.target, self.state = (float(rot), float(trans)), "MOVING"
            return "OK"
        return f"ERR SYNTAX unknown command {cmd}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.01)
            except (OSError, ValueError):
                return
            with self._lock:
                self._update(time.monotonic())
                if not ready:
                    continue
                try:
                    self._buffer += os.read(self._master, 1024)
                except OSError:
                    continue
                while b"\n" in self._buffer:
                    raw, self._buffer = self._buffer.split(b"\n", 1)
                    line = raw.decode("ascii", errors="replace").strip()
                    self.commands.append(line)
                    try:
                        os.write(self._master, (self._reply(line) + "\n").encode("ascii"))
                    except OSError:
                        pass
