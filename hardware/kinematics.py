"""Forward kinematics of the 5-DoF WidowX arms (product of exponentials) and pose distances.

Frames: the arm's base frame, x forward, z up, metres. Joint order: waist, shoulder, elbow,
wrist angle, wrist rotate; all angles 0 is the arm stretched out horizontally (Interbotix's
"home" pose).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArmGeometry:
    """Joint axes (unit vectors) through points, and the end-effector pose at all-zero joints.

    axes, points: float [5, 3] in the base frame at the zero configuration; home_pose: float [4, 4].
    """

    name: str
    axes: tuple[tuple[float, float, float], ...]
    points: tuple[tuple[float, float, float], ...]
    home_pose: tuple[tuple[float, ...], ...]

    def screws(self) -> np.ndarray:
        """Space-frame screw axes, float64 [5, 6] as (omega, v) with v = -omega x point."""
        w = np.asarray(self.axes, dtype=np.float64)
        p = np.asarray(self.points, dtype=np.float64)
        return np.concatenate([w, -np.cross(w, p)], axis=1)


# Interbotix WidowX-200 (wx200), the screw axes of its modern_robotics description, to the
# ee_gripper_link (between the fingers).
WX200_GEOMETRY = ArmGeometry(
    name="wx200",
    axes=((0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0), (1, 0, 0)),
    points=((0, 0, 0), (0, 0, 0.11065), (0.05, 0, 0.31065), (0.25, 0, 0.31065), (0, 0, 0.31065)),
    home_pose=((1, 0, 0, 0.408575), (0, 1, 0, 0), (0, 0, 1, 0.31065), (0, 0, 0, 1)),
)

# Classic Trossen WidowX (MX-28/MX-64/AX-12A): nominal link lengths from its drawings; measure
# your own arm and pass an ArmGeometry if the gripper must be placed to better than ~1 cm.
CLASSIC_WIDOWX_GEOMETRY = ArmGeometry(
    name="widowx-classic",
    axes=((0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0), (1, 0, 0)),
    points=((0, 0, 0), (0, 0, 0.125), (0.048, 0, 0.267), (0.198, 0, 0.267), (0, 0, 0.267)),
    home_pose=((1, 0, 0, 0.338), (0, 1, 0, 0), (0, 0, 1, 0.267), (0, 0, 0, 1)),
)


def _skew(w: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


def _exp_twist(screw: np.ndarray, theta: float) -> np.ndarray:
    """exp([S] theta) for a revolute screw (|omega| = 1): float64 [4, 4] (Lynch & Park, eq. 3.88)."""
    w, v = screw[:3], screw[3:]
    W = _skew(w)
    R = np.eye(3) + np.sin(theta) * W + (1.0 - np.cos(theta)) * W @ W
    G = np.eye(3) * theta + (1.0 - np.cos(theta)) * W + (theta - np.sin(theta)) * W @ W
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = G @ v
    return T


def forward_kinematics(q: np.ndarray, geometry: ArmGeometry = WX200_GEOMETRY) -> np.ndarray:
    """Pose of the gripper in the base frame: float64 [4, 4] from joint angles q: float [5] (rad)."""
    q = np.asarray(q, dtype=np.float64)
    screws = geometry.screws()
    if q.shape != (len(screws),):
        raise ValueError(f"q has shape {q.shape}, expected ({len(screws)},) joint angles for {geometry.name}")
    T = np.eye(4)
    for screw, theta in zip(screws, q):
        T = T @ _exp_twist(screw, float(theta))
    return T @ np.asarray(geometry.home_pose, dtype=np.float64)


def gripper_position(q: np.ndarray, geometry: ArmGeometry = WX200_GEOMETRY) -> np.ndarray:
    """Gripper position in the base frame, float64 [3] (m)."""
    return forward_kinematics(q, geometry)[:3, 3]


def pose_distance(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(translation m, rotation rad) between two poses float [4, 4]; the rotation is the angle of
    a^-1 b. Their sum is the paper's shaped reward distance (section 5.3), for the robot and for
    its MuJoCo twin (meld/WidowXCableSim-v0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    translation = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
    cos = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1.0) / 2.0
    return translation, float(np.arccos(np.clip(cos, -1.0, 1.0)))


def box_violation(p: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """How far (m) point p: float [3] is outside the box [low, high]; 0 inside."""
    return float(np.linalg.norm(np.maximum(low - p, 0.0) + np.maximum(p - high, 0.0)))
