"""Command-line tools for the WidowX arm and the task-reset rig: `python -m hardware --help`.

    python -m hardware check --port /dev/ttyUSB0        # ping servos, read positions, limits, effort, errors
    python -m hardware home --port /dev/ttyUSB0
    python -m hardware teleop --port /dev/ttyUSB0       # keyboard jog for calibration
    python -m hardware rig home --rig-port /dev/ttyACM0
    python -m hardware rig set-task 3 --rig-port /dev/ttyACM0   # meld/WidowXCable-v0's train task 3

The drivers never import ``meld_envs``; this tool does, for the rig's tasks.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from hardware.config import CLASSIC_WIDOWX, WX200
from hardware.errors import EffortLimitError, HardwareError
from hardware.kinematics import forward_kinematics
from hardware.safety import SafetyConfig
from hardware.widowx import ArmState, WidowX

_TELEOP_KEYS = {"q": (0, 1), "a": (0, -1), "w": (1, 1), "s": (1, -1), "e": (2, 1), "d": (2, -1),
                "r": (3, 1), "f": (3, -1), "t": (4, 1), "g": (4, -1)}


def _arm_from_args(args) -> WidowX:
    safety = SafetyConfig(max_velocity_rad_s=args.max_velocity, handle_sigint=True)
    if args.backend == "ros":
        return WidowX(backend="ros", robot_name=args.robot_name, host=args.host, ros_port=args.ros_port, safety=safety)
    return WidowX(port=args.port, protocol=args.protocol, safety=safety)


def _check(args) -> int:
    if args.backend == "ros":
        arm = _arm_from_args(args)
        with arm:
            state = arm.read_state()
            print(f"{arm.description}: connected")
            _print_state(arm, state)
        return 0
    from hardware.dynamixel import DynamixelArm
    from hardware.control_tables import MODELS

    arm_config = WX200 if args.protocol == 2 else CLASSIC_WIDOWX
    backend = DynamixelArm(args.port, arm_config)
    bus = backend.bus.open()
    try:
        print(f"{arm_config.name} on {backend.description}")
        ok = True
        for sid in arm_config.servo_ids:
            try:
                number = bus.ping(sid)
                backend.models[sid] = MODELS[number]
                print(f"  servo {sid}: {MODELS[number].name if number in MODELS else number}")
            except HardwareError as exc:
                print(f"  servo {sid}: MISSING ({exc})")
                ok = False
        if not ok:
            return 1
        if args.reboot and args.protocol == 2:
            backend.reboot()
            print("  rebooted every servo (hardware errors cleared, torque off)")
        errors = backend.hardware_errors()
        print(f"  hardware errors: {errors or 'none'}")
        try:
            q, qdot = backend.read(check_effort=False)
            registers = backend.effort_limits()
        except HardwareError as exc:
            print(f"  state read failed: {exc}")
            return 1
        for j, qi, lo, hi in zip(arm_config.joints, q, arm_config.lower, arm_config.upper):
            inside = "ok" if lo <= qi <= hi else "OUTSIDE LIMITS"
            print(f"  {j.name:13s} id {j.servo_id}: {qi:+.3f} rad  limits [{lo:+.2f}, {hi:+.2f}]  {inside}")
        for sid in arm_config.servo_ids:  # the gripper's effort is not in the state read
            present = backend.last_effort_pct.get(sid)
            stop = arm_config.joint_of(sid).effort_stop_pct if sid != arm_config.gripper_id else None
            print(f"  effort servo {sid}: present {'-' if present is None else f'{abs(present):.0f} %'}, "
                  f"limit register {registers[sid]:.0f} % (arm config {arm_config.effort_limit_pct(sid):.0f} %, "
                  f"written at start), stop above {'-' if stop is None else f'{stop:.0f} %'}")
        pose = forward_kinematics(q, arm_config.geometry)
        print(f"  gripper at {np.round(pose[:3, 3], 3).tolist()} m")
        print(f"  bus: {bus.stats}")
        return 0 if not errors else 1
    finally:
        bus.close()


def _print_state(arm: WidowX, state: ArmState) -> None:
    for name, qi in zip(arm.joint_names, state.q):
        print(f"  {name:13s} {qi:+.3f} rad")


def _home(args) -> int:
    with _arm_from_args(args) as arm:
        state = arm.home(timeout_s=args.timeout)
        print(f"homed {arm.description}")
        _print_state(arm, state)
    return 0


def _teleop(args) -> int:
    """Keyboard jog: q/a w/s e/d r/f t/g move joints 1..5 +/-, space stops, p prints, x quits."""
    print(_teleop.__doc__)
    with _arm_from_args(args) as arm:
        speed = args.max_velocity / 2.0
        stdin = sys.stdin
        old = None
        if stdin.isatty():
            import termios
            import tty

            old = termios.tcgetattr(stdin.fileno())
            tty.setcbreak(stdin.fileno())
        try:
            while True:
                key = stdin.read(1)
                if key in ("", "x"):
                    break
                if key in _TELEOP_KEYS:
                    joint, sign = _TELEOP_KEYS[key]
                    qdot = np.zeros(len(arm.joint_names))
                    qdot[joint] = sign * speed
                    try:
                        arm.command_velocity(qdot)  # the host watchdog stops it 2 periods after the key
                    except EffortLimitError as exc:  # stopped, holding: jog the other way to back off
                        print(f"stopped: {exc}")
                elif key == " ":
                    arm.stop()
                elif key == "p":
                    _print_state(arm, arm.read_state())
        finally:
            if old is not None:
                import termios

                termios.tcsetattr(stdin.fileno(), termios.TCSADRAIN, old)
    return 0


def _rig(args) -> int:
    from hardware.rig import ResetRig

    task = None
    if args.rig_command == "set-task":
        import meld_envs  # the rig's tasks are meld/WidowXCable-v0's: one definition, in the suite

        try:
            task = meld_envs.tasks("meld/WidowXCable-v0", args.split)[args.task] if args.task >= 0 else None
        except IndexError:
            task = None
        if task is None:
            n = len(meld_envs.tasks("meld/WidowXCable-v0", args.split))
            print(f"error: task={args.task} out of range for meld/WidowXCable-v0 split {args.split!r} ({n} tasks: 0..{n - 1})",
                  file=sys.stderr)
            return 2
    with ResetRig(port=args.rig_port) as rig:
        if args.rig_command == "home":
            rig.home()
            print(f"rig homed: {rig.pose()}")
        elif args.rig_command == "set-task":
            p = task.params
            rig.set_task(p["rotation_deg"], p["translation_m"], target_port=p["port"])
            print(f"rig at {task!r}")
        elif args.rig_command == "status":
            print(rig.status())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hardware", description="WidowX arm and task-reset rig tools")
    sub = parser.add_subparsers(dest="command", required=True)

    def arm_args(p):
        p.add_argument("--port", default="/dev/ttyUSB0", help="servo bus serial device (or a hardware.sim pty)")
        p.add_argument("--protocol", type=int, choices=(1, 2), default=2, help="2: X-series WidowX-200; 1: classic AX/MX")
        p.add_argument("--backend", choices=("dynamixel", "ros"), default="dynamixel")
        p.add_argument("--robot-name", default="wx200")
        p.add_argument("--host", default="127.0.0.1", help="rosbridge host (ROS backend)")
        p.add_argument("--ros-port", type=int, default=9090)
        p.add_argument("--max-velocity", type=float, default=0.5, help="rad/s cap")

    check = sub.add_parser("check", help="ping every servo, read positions, limits and hardware errors")
    arm_args(check)
    check.add_argument("--reboot", action="store_true", help="reboot the servos first (clears hardware errors, P2)")
    home = sub.add_parser("home", help="drive the arm to its home pose")
    arm_args(home)
    home.add_argument("--timeout", type=float, default=20.0)
    teleop = sub.add_parser("teleop", help="keyboard jog for calibration")
    arm_args(teleop)
    rig = sub.add_parser("rig", help="task-reset rig")
    rig.add_argument("rig_command", choices=("home", "set-task", "status"))
    rig.add_argument("task", type=int, nargs="?", default=0)
    rig.add_argument("--split", choices=("train", "test"), default="train")
    rig.add_argument("--rig-port", default="/dev/ttyACM0", help="rig controller serial device (or a hardware.sim pty)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"check": _check, "home": _home, "teleop": _teleop, "rig": _rig}
    try:
        return handlers[args.command](args)
    except HardwareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(f"  {note}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
