"""A fake rosbridge (v2 JSON protocol over WebSocket, 127.0.0.1 only) in front of a simulated
Interbotix `xs_sdk` arm, for the ROS backend's tests.

It answers what `hardware.ros.RosArm` uses: `advertise`/`publish` of
`interbotix_xs_msgs/JointGroupCommand` on `/<robot>/commands/joint_group`, `subscribe` to
`sensor_msgs/JointState` on `/<robot>/joint_states` (published at `rate_hz`), and `call_service`
for `/<robot>/torque_enable`, `/<robot>/set_operating_modes`, `/<robot>/set_motor_registers` and
`/<robot>/get_motor_registers`. Faults: `drop_clients()` (rosbridge dies), `pause_joint_states()`,
`set_hardware_error(joint, bits)`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np

ARM_JOINTS = ["waist", "shoulder", "elbow", "wrist_angle", "wrist_rotate"]
ALL_JOINTS = ARM_JOINTS + ["gripper", "left_finger", "right_finger"]


class FakeRosbridge:
    def __init__(self, *, port: int = 0, robot_name: str = "wx200", rate_hz: float = 50.0,
                 q0: list[float] | None = None) -> None:
        self.robot_name = robot_name
        self.requested_port = port
        self.port = port
        self.rate_hz = rate_hz
        self.q = np.array(q0 if q0 is not None else [0.0] * 5, dtype=np.float64)
        self.qdot = np.zeros(5)
        self.torque = False
        self.mode = "position"
        self.registers: dict[tuple[str, str], int] = {}
        self.hardware_error = {name: 0 for name in ALL_JOINTS[:6]}
        self.commands: list[list[float]] = []
        self.service_calls: list[tuple[str, dict]] = []
        self.publishing = True
        self._lock = threading.Lock()
        self._t = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._clients: set = set()
        self._subscribers: dict = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "FakeRosbridge":
        self._thread = threading.Thread(target=self._run, name="fake-rosbridge", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake rosbridge did not start")
        return self

    def close(self) -> None:
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeRosbridge":
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def drop_clients(self) -> None:
        """rosbridge dies: stop listening and close every connection."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(stop_loop=False), self._loop).result(5)

    def pause_joint_states(self, paused: bool = True) -> None:
        self.publishing = not paused

    def set_hardware_error(self, joint: str, bits: int) -> None:
        with self._lock:
            self.hardware_error[joint] = bits
            if bits:  # the servo's Shutdown turns its torque off: that joint stops
                self.qdot[ARM_JOINTS.index(joint)] = 0.0 if joint in ARM_JOINTS else 0.0

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            self._update()
            return self.q.copy(), self.qdot.copy()

    # -- the simulated xs_sdk ------------------------------------------------------------------------
    def _update(self) -> None:
        now = time.monotonic()
        dt, self._t = now - self._t, now
        moving = self.qdot.copy() if self.torque and self.mode == "velocity" else np.zeros(5)
        for i, name in enumerate(ARM_JOINTS):
            if self.hardware_error[name]:
                moving[i] = 0.0
        self.q += moving * dt

    def _joint_state(self) -> dict:
        with self._lock:
            self._update()
            velocity = (self.qdot if self.torque and self.mode == "velocity" else np.zeros(5)).tolist()
            secs = time.time()
            return {
                "header": {"stamp": {"secs": int(secs), "nsecs": int((secs % 1) * 1e9)}, "frame_id": ""},
                "name": ALL_JOINTS,
                "position": self.q.tolist() + [0.0, 0.015, -0.015],
                "velocity": velocity + [0.0, 0.0, 0.0],
                "effort": [0.0] * len(ALL_JOINTS),
            }

    def _service(self, name: str, args: dict) -> tuple[bool, dict]:
        prefix = f"/{self.robot_name}/"
        self.service_calls.append((name, args))
        if not name.startswith(prefix):
            return False, {}
        name = name[len(prefix):]
        with self._lock:
            self._update()
            if name == "torque_enable":
                self.torque = bool(args.get("enable"))
                if not self.torque:
                    self.qdot[:] = 0.0
                return True, {}
            if name == "set_operating_modes":
                self.mode = args.get("mode", "position")
                return True, {}
            if name == "set_motor_registers":
                self.registers[(args.get("name", ""), args.get("reg", ""))] = int(args.get("value", 0))
                return True, {}
            if name == "get_motor_registers":
                if args.get("reg") == "Hardware_Error_Status":
                    names = ARM_JOINTS if args.get("name") == "arm" else [args.get("name")]
                    return True, {"values": [self.hardware_error.get(n, 0) for n in names]}
                return True, {"values": [self.registers.get((args.get("name", ""), args.get("reg", "")), 0)]}
        return False, {}

    # -- rosbridge -------------------------------------------------------------------------------------
    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._stopped = asyncio.Event()
        self._server = await serve(self._handle, "127.0.0.1", self.requested_port)
        self.port = self._server.sockets[0].getsockname()[1]
        publisher = asyncio.ensure_future(self._publish_loop())
        self._ready.set()
        await self._stopped.wait()
        publisher.cancel()

    async def _shutdown(self, stop_loop: bool = True) -> None:
        if self._server is not None:
            self._server.close()
            for ws in list(self._clients):
                await ws.close()
            await self._server.wait_closed()
            self._server = None
        if stop_loop:
            self._stopped.set()

    async def _publish_loop(self) -> None:
        topic = f"/{self.robot_name}/joint_states"
        while True:
            await asyncio.sleep(1.0 / self.rate_hz)
            if not self.publishing:
                continue
            message = json.dumps({"op": "publish", "topic": topic, "msg": self._joint_state()})
            for ws, topics in list(self._subscribers.items()):
                if topic in topics:
                    try:
                        await ws.send(message)
                    except Exception:  # noqa: BLE001 - a client that went away
                        self._subscribers.pop(ws, None)

    async def _handle(self, ws) -> None:
        self._clients.add(ws)
        self._subscribers[ws] = set()
        try:
            async for raw in ws:
                message = json.loads(raw)
                op = message.get("op")
                if op == "subscribe":
                    self._subscribers[ws].add(message["topic"])
                elif op == "unsubscribe":
                    self._subscribers[ws].discard(message["topic"])
                elif op == "publish" and message.get("topic") == f"/{self.robot_name}/commands/joint_group":
                    msg = message.get("msg", {})
                    if msg.get("name") == "arm" and len(msg.get("cmd", [])) == 5:
                        with self._lock:
                            self._update()
                            self.commands.append([float(v) for v in msg["cmd"]])
                            if self.torque:
                                self.qdot[:] = msg["cmd"]
                elif op == "call_service":
                    ok, values = self._service(message["service"], message.get("args", {}))
                    await ws.send(json.dumps({"op": "service_response", "id": message.get("id"),
                                              "service": message["service"], "values": values, "result": ok}))
        except Exception:  # noqa: BLE001 - connection closed
            pass
        finally:
            self._clients.discard(ws)
            self._subscribers.pop(ws, None)
