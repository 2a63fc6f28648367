"""Small geometry helpers shared by the arm environments: camera frames and inverse kinematics."""
from __future__ import annotations

from typing import NamedTuple

import mujoco
import numpy as np


def look_at(pos: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """A camera's ``xyaxes`` (6,) so that it sits at ``pos`` and looks at ``target``."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    x = np.cross(forward, up)
    x /= np.linalg.norm(x)
    y = np.cross(x, forward)
    return np.concatenate([x, y])


def xyaxes_quat(xyaxes: np.ndarray) -> np.ndarray:
    """The quaternion (4,) of a frame given by its x and y axes (6,), as MJCF's ``xyaxes``."""
    x, y = np.asarray(xyaxes[:3], float), np.asarray(xyaxes[3:], float)
    x /= np.linalg.norm(x)
    y -= x * (x @ y)
    y /= np.linalg.norm(y)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([x, y, np.cross(x, y)]).ravel())
    return quat


class Pointing(NamedTuple):
    """An orientation goal for ``solve_ik``: axis ``axis`` (0, 1, 2 = x, y, z) of ``site``'s frame
    along ``direction`` (world); rotation about that axis is left free."""

    site: int
    axis: int
    direction: np.ndarray


def solve_ik(model: mujoco.MjModel, qpos: np.ndarray, site: int, qpos_adr: np.ndarray, dof_adr: np.ndarray,
             target: np.ndarray, pointing: Pointing | None = None, iterations: int = 60,
             damping: float = 1e-2) -> np.ndarray:
    """Joint positions (for ``qpos_adr``) that put ``site`` at ``target`` (m), and satisfy ``pointing``.

    Damped least squares from ``qpos`` on a scratch ``MjData``; joint limits respected by clipping.
    Only the joints at ``qpos_adr`` / ``dof_adr`` (hinges or slides) move.
    """
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    lo, hi = model.jnt_range[model.dof_jntid[dof_adr]].T
    jac_pos, jac_rot = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    for _ in range(iterations):
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        err = target - data.site_xpos[site]
        mujoco.mj_jacSite(model, data, jac_pos, None, site)
        jac, error = jac_pos[:, dof_adr], err
        if pointing is not None:
            mujoco.mj_jacSite(model, data, None, jac_rot, pointing.site)
            axis = data.site_xmat[pointing.site].reshape(3, 3)[:, pointing.axis]
            rot_err = np.cross(axis, pointing.direction)  # the rotation that aligns the axis
            jac = np.vstack([jac, 0.5 * jac_rot[:, dof_adr]])
            error = np.concatenate([err, 0.5 * rot_err])
        step = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(len(error)), error)
        data.qpos[qpos_adr] = np.clip(data.qpos[qpos_adr] + step, lo, hi)
        if np.linalg.norm(error) < 1e-4:
            break
    return data.qpos[qpos_adr].copy()
