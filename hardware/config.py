"""Arm descriptions: which servo drives which joint, joint limits, geometry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardware.kinematics import CLASSIC_WIDOWX_GEOMETRY, WX200_GEOMETRY, ArmGeometry


@dataclass(frozen=True)
class JointConfig:
    """One arm joint: its servo, limits (rad) and the servo-to-joint mapping
    `q = sign * servo_angle + offset_rad`.

    Effort, in percent of each servo model's maximum (`hardware.control_tables.ServoModel`):
    `effort_limit_pct` is written at start to the servo's own limit register (X-series Current
    Limit, XL430 PWM Limit, AX/MX Max Torque and Torque Limit), so it can never push harder;
    `effort_stop_pct` is the host's bound on the present current/load, read with every state: above
    it the arm is stopped (`hardware.errors.EffortLimitError`). None: not watched."""

    name: str
    servo_id: int
    lower_rad: float
    upper_rad: float
    shadow_id: int | None = None  # a second servo on the same joint (Secondary ID = servo_id)
    sign: float = 1.0
    offset_rad: float = 0.0
    effort_limit_pct: float = 80.0
    effort_stop_pct: float | None = 60.0

    def __post_init__(self) -> None:
        stop = self.effort_stop_pct
        if not 0.0 < self.effort_limit_pct <= 100.0 or (stop is not None and not 0.0 < stop <= self.effort_limit_pct):
            raise ValueError(
                f"joint {self.name!r}: effort_limit_pct={self.effort_limit_pct} must be in (0, 100] and "
                f"effort_stop_pct={stop} in (0, effort_limit_pct] (or None: not watched)"
            )


@dataclass(frozen=True)
class ArmConfig:
    """A 5-DoF WidowX: the joints the policy commands (velocity mode), the gripper (position mode)."""

    name: str
    protocol: int
    joints: tuple[JointConfig, ...]
    gripper_id: int | None
    geometry: ArmGeometry
    home_rad: tuple[float, ...]
    baudrate: int = 1_000_000
    bulk_read: bool = True  # P1 only: MX servos support Bulk Read, AX-12 do not
    gripper_effort_limit_pct: float = 80.0  # the gripper's limit register (it is not watched)

    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower_rad for j in self.joints])

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper_rad for j in self.joints])

    @property
    def servo_ids(self) -> list[int]:
        """Every servo on the bus: the joints', shadows', gripper's."""
        ids = [j.servo_id for j in self.joints] + [j.shadow_id for j in self.joints if j.shadow_id is not None]
        return sorted(ids + ([self.gripper_id] if self.gripper_id is not None else []))

    def effort_limit_pct(self, servo_id: int) -> float:
        """The limit register's value (percent of the model's maximum) for any servo on the bus."""
        if servo_id == self.gripper_id:
            return self.gripper_effort_limit_pct
        return self.joint_of(servo_id).effort_limit_pct

    def joint_of(self, servo_id: int) -> JointConfig:
        """The joint a servo drives (its own or, for a shadow, the one it follows)."""
        for joint in self.joints:
            if servo_id in (joint.servo_id, joint.shadow_id):
                return joint
        raise KeyError(f"servo {servo_id} drives no joint of {self.name}")


# Interbotix WidowX-200: IDs and joint limits of its xs_sdk motor config (rad). The effort bounds are
# JointConfig's defaults (limit 80 %, stop above 60 %), not measured on an arm: `python -m hardware
# check` prints every servo's present effort; keep the stop bound well above what a run shows.
WX200 = ArmConfig(
    name="wx200",
    protocol=2,
    joints=(
        JointConfig("waist", 1, -3.14, 3.14),
        JointConfig("shoulder", 2, -1.88, 1.97, shadow_id=3),
        JointConfig("elbow", 4, -1.88, 1.62),
        JointConfig("wrist_angle", 5, -1.75, 2.15),
        JointConfig("wrist_rotate", 6, -3.14, 3.14),
    ),
    gripper_id=7,
    geometry=WX200_GEOMETRY,
    home_rad=(0.0, 0.0, 0.0, 0.0, 0.0),
)

# Classic Trossen WidowX on Protocol 1.0 (MX-28/MX-64 joints, AX-12A wrist rotate and gripper).
CLASSIC_WIDOWX = ArmConfig(
    name="widowx-classic",
    protocol=1,
    joints=(
        JointConfig("waist", 1, -2.6, 2.6),
        JointConfig("shoulder", 2, -1.6, 1.6),
        JointConfig("elbow", 3, -1.6, 1.6),
        JointConfig("wrist_angle", 4, -1.7, 1.7),
        JointConfig("wrist_rotate", 5, -2.2, 2.2),
    ),
    gripper_id=6,
    geometry=CLASSIC_WIDOWX_GEOMETRY,
    home_rad=(0.0, 0.0, 0.0, 0.0, 0.0),
    bulk_read=False,  # the AX-12A wrist rotate cannot answer Bulk Read: read servo by servo
)
