"""Run a simulated device until Ctrl-C: `python -m hardware.sim dynamixel|rig|rosbridge`.

The first line printed is the path (or ws:// address) to give the driver."""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware.sim", description=__doc__)
    sub = parser.add_subparsers(dest="device", required=True)
    dxl = sub.add_parser("dynamixel", help="a WidowX servo bus on a pseudo-terminal")
    dxl.add_argument("--protocol", type=int, choices=(1, 2), default=2, help="2: WidowX-200 (X-series); 1: classic AX/MX")
    sub.add_parser("rig", help="a task-reset rig controller on a pseudo-terminal")
    ros = sub.add_parser("rosbridge", help="a rosbridge WebSocket server on 127.0.0.1 with a simulated xs_sdk arm")
    ros.add_argument("--port", type=int, default=9090)
    ros.add_argument("--robot-name", default="wx200")
    args = parser.parse_args(argv)

    if args.device == "dynamixel":
        from hardware.sim.dynamixel import DynamixelBusSim, classic_widowx_servos, widowx_200_servos

        device = DynamixelBusSim(widowx_200_servos() if args.protocol == 2 else classic_widowx_servos()).start()
        print(device.port, flush=True)
        print(f"# simulated {'WidowX-200, Protocol 2.0' if args.protocol == 2 else 'classic WidowX, Protocol 1.0'} "
              f"bus; try: python -m hardware check --port {device.port} --protocol {args.protocol}", file=sys.stderr)
    elif args.device == "rig":
        from hardware.sim.rig import FakeRigController

        device = FakeRigController().start()
        print(device.port, flush=True)
        print(f"# simulated reset rig; try: python -m hardware rig home --rig-port {device.port}", file=sys.stderr)
    else:
        from hardware.sim.rosbridge import FakeRosbridge

        device = FakeRosbridge(port=args.port, robot_name=args.robot_name).start()
        print(device.url, flush=True)
        print(f"# simulated rosbridge + xs_sdk for /{args.robot_name}; try: python -m hardware check "
              f"--backend ros --ros-port {device.port}", file=sys.stderr)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        device.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
