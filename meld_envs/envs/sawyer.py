"""The 7-DoF Sawyer shared by Reacher, PegInsert, ShelfPlace and ButtonPress (paper 5.1, B.2).

The arm is Meta-World's (its meshes and kinematics, resolved from the installed ``metaworld``
package), recomposed with ``MjSpec``:

* Meta-World's mocap weld and gripper actuators are removed; the seven arm joints get position
  actuators of limited force, and the fingers are rigid (the action has no gripper).
* The arm links are gravity-compensated (``gravcomp``); what the hand holds is not, so a
  payload's mass changes how the arm moves.
* Two cameras, a fixed ``scene`` camera and a first-person ``wrist`` camera, side by side.
* What the agent sees is drawn from simplified copies of the meshes (``agent_mesh``: a closed
  surface rebuilt from a 2 mm voxelization, then quadric-decimated to 150-1,000 faces; made
  once and cached on disk) in geom group 5, with flat-coloured table, floor and backdrop walls in
  group 2. People's frames use the original meshes (group 4) and the textured table and floor
  (group 1); ``agent_view_reference()`` draws the agent's view with the original meshes, to check
  the simplified ones against. Meta-World's collision boxes are never drawn (group 3).
"""
from __future__ import annotations

import copy
import hashlib
import os
from functools import lru_cache
from typing import Any, ClassVar

import mujoco
import numpy as np
from scipy import ndimage, spatial

from meld_envs.base import MujocoImageEnv
from meld_envs.kinematics import Pointing, look_at, solve_ik, xyaxes_quat
from meld_envs.tasks import Task

_CONTROL_HZ = 4  # paper Table 2: 0.0025 s x 100 substeps
_TIMESTEP_S = 0.0025
_FRAME_SKIP = 100
_MAX_JOINT_DELTA_RAD = 0.04  # per step, at |action| = 1
_ARM_JOINTS = tuple(f"right_j{i}" for i in range(7))
# position servos: stiffness (N m / rad), damping comes from the joints (10 N m s / rad) plus kv
_KP = (400.0, 400.0, 300.0, 300.0, 150.0, 150.0, 100.0)
_KV = (40.0, 40.0, 30.0, 30.0, 10.0, 10.0, 5.0)
_FORCE_LIMIT_NM = (40.0, 40.0, 25.0, 25.0, 12.0, 12.0, 8.0)
_SHOULDER_RANGE_RAD = (-3.8095, 2.2736)  # Rethink's Sawyer URDF
# faces of each simplified mesh, the fewest that keep its silhouette (tests/test_rendering.py): chosen per mesh
# from the pixels that change side against the original meshes (Reacher, 6 poses, both cameras) at 150-2,000
# faces; the shoulder (l0) loses a feature under 1,000, the pedestal fills the wrist camera, the base is hidden
_AGENT_MESH_FACES = {"l0": 1000, "l1": 400, "l2": 300, "l3": 400, "l4": 400, "l5": 600, "l6": 200,
                     "eGripperBase": 300, "base": 150, "head": 400, "pedestal": 1000}
_AGENT_MESH_VOXEL_M = 0.002  # under a tenth of a 64x64 pixel at the scene camera's distance (~1.5 cm)
_AGENT_MESH_VERSION = 4  # part of the cache key: a change of method makes every machine rebuild its meshes
# the textured table (legs and top): the agent sees a flat-coloured box instead
_NOT_IN_AGENT_VIEW = ("tablebody",)
# geom groups: 0 both views, 1 people's only, 2 agent's scenery, 3 never drawn, 4 original meshes
# (people's view and the agent-view reference), 5 the agent's simplified meshes
GROUP_BOTH, GROUP_HUMAN, GROUP_AGENT, GROUP_HIDDEN, GROUP_FULL_MESH, GROUP_AGENT_MESH = 0, 1, 2, 3, 4, 5

_SEED_QPOS = np.array([1.57, -1.18, 0.0, 2.18, 0.0, 0.57, 3.3161])  # Sawyer's neutral pose, turned to the table


def metaworld_assets() -> str:
    """The ``assets`` folder of the installed ``metaworld`` package."""
    try:
        import metaworld
    except ImportError as e:  # pragma: no cover - a dependency of meld-bench
        raise RuntimeError("the Sawyer environments need the `metaworld` package for their meshes: pip install metaworld") from e
    return os.path.join(os.path.dirname(metaworld.__file__), "assets")


# -- simplified meshes ------------------------------------------------------------------------
def _read_binary_stl(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices float32 [V, 3] (deduplicated) and faces int32 [F, 3] of a binary STL file."""
    with open(path, "rb") as f:
        raw = f.read()
    count = int(np.frombuffer(raw, dtype="<u4", count=1, offset=80)[0])
    if len(raw) != 84 + 50 * count:
        raise ValueError(f"{path} is not a binary STL file")
    records = np.frombuffer(raw, dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]), count=count, offset=84)
    corners = records["v"].reshape(-1, 3)
    vertices, faces = np.unique(corners, axis=0, return_inverse=True)
    return vertices.astype(np.float32), faces.reshape(-1, 3).astype(np.int32)


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "meld-bench", "meshes")


def _surface_points(vertices: np.ndarray, faces: np.ndarray, spacing: float) -> np.ndarray:
    """Points float64 [N, 3] on every triangle, no two neighbours further apart than ``spacing`` (m)."""
    a, b, c = (vertices[faces[:, i]].astype(np.float64) for i in range(3))
    longest = np.maximum.reduce([np.linalg.norm(b - a, axis=1), np.linalg.norm(c - a, axis=1),
                                 np.linalg.norm(c - b, axis=1)])
    steps = np.maximum(1, np.ceil(longest / spacing).astype(int))
    points = [vertices.astype(np.float64)]
    for n in np.unique(steps):
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        inside = i + j <= n
        u, w = (i[inside] / n)[None, :, None], (j[inside] / n)[None, :, None]
        sel = steps == n
        a_, b_, c_ = a[sel, None], b[sel, None], c[sel, None]
        points.append((a_ + (b_ - a_) * u + (c_ - a_) * w).reshape(-1, 3))
    return np.concatenate(points)


def closed_surface(vertices: np.ndarray, faces: np.ndarray, voxel: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outer surface of what a mesh encloses: (vertices float64 [V, 3], faces int64 [F, 3]).

    Meta-World's Sawyer meshes are open patchworks (l0: 36 pieces, 4,736 border edges) that
    quadric decimation tears into holes (and MuJoCo culls back faces). Their voxelization, with
    the outside flood-filled from a corner, is one solid whose boundary (voxel faces) is closed
    and oriented outward, and so decimates without holes. Returns also the points (float64 [N, 3],
    ``voxel / 2`` apart) sampled on the original surface.
    """
    low = vertices.min(0) - 2 * voxel
    shape = np.ceil((vertices.max(0) + 2 * voxel - low) / voxel).astype(int) + 1
    occupied = np.zeros(shape, bool)
    samples = _surface_points(vertices, faces, voxel / 2)
    cells = np.floor((samples - low) / voxel).astype(int)
    occupied[cells[:, 0], cells[:, 1], cells[:, 2]] = True
    labels, _ = ndimage.label(~occupied)
    solid = labels != labels[0, 0, 0]  # everything the outside cannot reach
    quads = []
    for axis in range(3):
        padded = np.pad(solid, [(1, 1) if a == axis else (0, 0) for a in range(3)])
        below = np.take(padded, np.arange(padded.shape[axis] - 1), axis=axis)
        above = np.take(padded, np.arange(1, padded.shape[axis]), axis=axis)
        u, v = np.zeros(3, int), np.zeros(3, int)
        u[(axis + 1) % 3], v[(axis + 2) % 3] = 1, 1
        # a face on the lattice plane between a solid and an empty voxel, counter-clockwise seen from outside
        for at, order in ((np.argwhere(below & ~above), (0, 1, 2, 3)), (np.argwhere(~below & above), (0, 3, 2, 1))):
            corners = np.stack([at, at + u, at + u + v, at + v], 1)
            quads.append(corners[:, order])
    lattice, index = np.unique(np.concatenate(quads).reshape(-1, 3), axis=0, return_inverse=True)
    index = index.reshape(-1, 4)
    return low + lattice * voxel, np.concatenate([index[:, [0, 1, 2]], index[:, [0, 2, 3]]]), samples


@lru_cache(maxsize=64)
def agent_mesh(path: str, faces: int) -> tuple[np.ndarray, np.ndarray]:
    """``path``'s mesh as a closed surface of about ``faces`` faces: (vertices float32 [V, 3], faces int32 [F, 3]).

    ``closed_surface`` at ``_AGENT_MESH_VOXEL_M`` (coarser for meshes over 0.5 m), then quadric-error
    decimation (``fast-simplification``); each remaining vertex is then moved to the nearest point of the
    original surface, as the voxel faces lie up to a voxel outside it (which would widen every silhouette).
    Made once per machine (about a second a mesh) and cached under ``~/.cache/meld-bench``.
    """
    with open(path, "rb") as f:
        digest = hashlib.sha1(f.read()).hexdigest()[:16]
    name = f"{os.path.basename(path)}-{digest}-v{_AGENT_MESH_VERSION}-{_AGENT_MESH_VOXEL_M}-{faces}.npz"
    cached = os.path.join(_cache_dir(), name)
    try:
        with np.load(cached) as z:
            return z["vertices"], z["faces"]
    except (OSError, KeyError, ValueError):
        pass
    import fast_simplification

    original, original_faces = _read_binary_stl(path)
    voxel = max(_AGENT_MESH_VOXEL_M, float(np.ptp(original, axis=0).max()) / 250)
    vertices, tris, samples = closed_surface(original, original_faces, voxel)
    if len(tris) > faces:
        vertices, tris = fast_simplification.simplify(vertices, tris, target_count=faces)
    _, nearest = spatial.cKDTree(samples).query(vertices)
    vertices = samples[nearest]
    vertices, tris = np.asarray(vertices, np.float32), np.asarray(tris, np.int32)
    try:  # best effort: a read-only home only costs the seconds of rebuilding per process
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        tmp = f"{cached}.{os.getpid()}.tmp.npz"
        np.savez(tmp, vertices=vertices, faces=tris)
        os.replace(tmp, cached)
    except OSError:
        pass
    return vertices, tris


# -- the robot ------------------------------------------------------------------------------
def sawyer_spec() -> mujoco.MjSpec:
    """The Sawyer on Meta-World's table, with position actuators, gravity compensation, two
    cameras and agent-view meshes; task objects are added by each environment."""
    assets = metaworld_assets()
    spec = mujoco.MjSpec.from_file(os.path.join(assets, "sawyer_xyz", "sawyer_reach_v3.xml"))
    spec.modelname = "meld_sawyer"
    spec.option.timestep = _TIMESTEP_S

    # Meta-World's end-effector mocap, gripper actuators, reach object and goal: not ours
    for equality in list(spec.equalities):
        equality.delete()
    for actuator in list(spec.actuators):
        actuator.delete()
    for name in ("mocap", "obj", "RetainingWall"):
        spec.detach_body(spec.body(name))
    spec.site("goal").delete()
    for name in ("r_close", "l_close"):  # rigid fingers
        spec.joint(name).delete()
    # one light is enough (Meta-World has three); the headlight does the rest
    for light in list(spec.lights)[1:]:
        light.delete()

    # Meta-World gives bodies without an <inertial> the inertia of their group 4-5 geoms (its
    # collision boxes); those move to the hidden group 3, which alone counts now: the same masses
    spec.compiler.inertiagrouprange = [GROUP_HIDDEN, GROUP_HIDDEN]
    mesh_dir = os.path.join(assets, "sawyer_xyz")
    simplified: dict[str, str] = {}
    for geom in list(spec.geoms):
        if geom.group >= GROUP_FULL_MESH:
            geom.group = GROUP_HIDDEN  # Meta-World's collision boxes (table, claws): never drawn
        elif geom.type == mujoco.mjtGeom.mjGEOM_MESH and geom.group == GROUP_HUMAN:
            if geom.meshname in _NOT_IN_AGENT_VIEW:
                continue
            geom.group = GROUP_FULL_MESH
            mesh = spec.mesh(geom.meshname)
            if geom.meshname not in simplified:
                vertices, faces = agent_mesh(os.path.normpath(os.path.join(mesh_dir, mesh.file)),
                                             _AGENT_MESH_FACES.get(geom.meshname, 600))
                spec.add_mesh(name=f"{geom.meshname}_agent", uservert=vertices.ravel().tolist(),
                              userface=faces.ravel().tolist(), scale=mesh.scale)
                simplified[geom.meshname] = f"{geom.meshname}_agent"
            body = geom.parent
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=simplified[geom.meshname], pos=geom.pos,
                          quat=geom.quat, rgba=geom.rgba, group=GROUP_AGENT_MESH, contype=0, conaffinity=0, density=0,
                          material=geom.material)
        elif geom.group == GROUP_HUMAN and not geom.material:
            geom.group = GROUP_BOTH  # simple shapes (finger pads, rail) cost little: both see them
    # the table top and floor seen by the agent: flat colours instead of textures
    table = spec.body("tablelink")
    table.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.7, 0.4, 0.027], pos=[0, 0, -0.027],
                   rgba=[0.55, 0.42, 0.3, 1], group=GROUP_AGENT, contype=0, conaffinity=0, density=0)
    for geom in spec.geoms:
        if geom.name == "floor":
            geom.group = GROUP_HUMAN
    # a plane is drawn as a grid of size[2]-metre cells: 0.1 m (Meta-World's) is 6400 cells, 2 m is 16
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[4, 4, 2.0], pos=[0, 0, -0.913],
                            rgba=[0.35, 0.35, 0.38, 1], group=GROUP_AGENT, contype=0, conaffinity=0)
    # plain walls behind the robot and to its right, where people's frames show Meta-World's skybox
    # (the agent's renderer draws no skybox): the scene camera sees wall, not void
    for pos, size in (([0, -1.0, 0.5], [3, 0.01, 1.5]), ([-1.4, 0, 0.5], [0.01, 3, 1.5])):
        spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=size, pos=pos, rgba=[0.62, 0.62, 0.64, 1],
                                group=GROUP_AGENT, contype=0, conaffinity=0)

    # gravity compensation on every arm link: payloads in the hand still feel gravity
    for body in spec.body("right_arm_base_link").find_all(mujoco.mjtObj.mjOBJ_BODY):
        body.gravcomp = 1.0
    spec.body("right_arm_base_link").gravcomp = 1.0
    # Meta-World caps the shoulder (right_j1) at -0.5 rad for its mocap workspace; the real
    # Sawyer's range lets the arm reach the back of the table (the shelf)
    spec.joint("right_j1").range = _SHOULDER_RANGE_RAD
    for name, kp, kv, force in zip(_ARM_JOINTS, _KP, _KV, _FORCE_LIMIT_NM):
        joint = spec.joint(name)
        spec.add_actuator(
            name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT,
            gaintype=mujoco.mjtGain.mjGAIN_FIXED, gainprm=[kp] + [0] * 9,
            biastype=mujoco.mjtBias.mjBIAS_AFFINE, biasprm=[0, -kp, -kv] + [0] * 7,
            ctrlrange=joint.range, ctrllimited=True, forcerange=[-force, force], forcelimited=True,
        )

    # the agent's two cameras (paper Fig. 11): a fixed scene view of the whole arm, the table and
    # its objects from the front right, and a wrist view
    scene_pos = np.array([0.8, 1.25, 0.8])
    spec.worldbody.add_camera(name="scene", pos=scene_pos, fovy=55,
                              quat=xyaxes_quat(look_at(scene_pos, np.array([0.0, 0.45, 0.25]))))
    # behind the fingers, looking down past them (the hand's x axis is the fingers' direction)
    spec.body("hand").add_camera(name="wrist", pos=[-0.07, 0.0, 0.07], fovy=80,
                                 quat=xyaxes_quat(np.array([0.0, -1.0, 0.0, 0.3, 0.0, 0.95])))
    return spec


def episode_reward(distance: float) -> float:
    """Eq. 7: ``-(d^2 + log(d + 1e-5))``; rewards precision near the goal (d in metres)."""
    return -(distance**2 + np.log(distance + 1e-5))


class SawyerEnv(MujocoImageEnv):
    """Base of the Sawyer environments (see the module docstring for the robot).

    Actions are seven joint delta-positions in [-1, 1], scaled to +-0.04 rad per step and added
    to the position servos' targets, which are clipped to the joint limits. Subclasses add their
    objects in ``_add_objects(spec)`` and define tasks, rewards and success.
    """

    action_dim: ClassVar[int] = 7
    image_shape: ClassVar[tuple[int, int, int]] = (64, 128, 3)
    frame_skip: ClassVar[int] = _FRAME_SKIP
    agent_cameras: ClassVar[tuple[str, ...]] = ("scene", "wrist")
    agent_geomgroups: ClassVar[tuple[int, ...]] = (1, 0, 1, 0, 0, 1)
    reference_geomgroups: ClassVar[tuple[int, ...]] = (1, 0, 1, 0, 1, 0)
    human_geomgroups: ClassVar[tuple[int, ...]] = (1, 1, 0, 0, 1, 0)
    backdrop_bodies: ClassVar[tuple[str, ...]] = ("world", "tablelink")
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": _CONTROL_HZ}
    # where the end effector starts (m), pointing down; the joint pose is solved once by IK
    start_ee_pos: ClassVar[tuple[float, float, float]] = (0.0, 0.55, 0.25)

    def __init__(self, task: Task | int = 0, split: str = "train", *, start_noise_rad: float = 0.01,
                 **kwargs: Any) -> None:
        if not np.isfinite(start_noise_rad) or start_noise_rad < 0:
            raise ValueError(f"start_noise_rad={start_noise_rad!r}: must be a finite value >= 0 (radians)")
        self.start_noise_rad = float(start_noise_rad)
        model, self._context_model = _compiled(type(self))
        model = copy.deepcopy(model)  # tasks edit the model (box positions, masses): one per env
        self._arm_qpos = np.array([model.jnt_qposadr[model.joint(j).id] for j in _ARM_JOINTS])
        self._arm_dof = np.array([model.jnt_dofadr[model.joint(j).id] for j in _ARM_JOINTS])
        self._limits = model.jnt_range[[model.joint(j).id for j in _ARM_JOINTS]].copy()
        self._ee_site = model.site("endEffector").id
        self._target = np.zeros(7)
        self.start_qpos = _start_pose(model, self.start_ee_pos)
        super().__init__(model, task, split, **kwargs)

    # -- robot ------------------------------------------------------------------------------
    def ee_position(self) -> np.ndarray:
        """End-effector position (m), between the fingertips."""
        return self.data.site_xpos[self._ee_site].copy()

    def arm_qpos(self) -> np.ndarray:
        return self.data.qpos[self._arm_qpos].copy()

    def _apply_action(self, action: np.ndarray) -> None:
        self._target = np.clip(self._target + _MAX_JOINT_DELTA_RAD * action, self._limits[:, 0], self._limits[:, 1])
        self.data.ctrl[:7] = self._target

    def _reset_state(self) -> None:
        mujoco.mj_resetData(self.model, self.data)
        noise = self.np_random.uniform(-self.start_noise_rad, self.start_noise_rad, size=7)
        self.data.qpos[self._arm_qpos] = np.clip(self.start_qpos + noise, self._limits[:, 0], self._limits[:, 1])
        self._target = self.data.qpos[self._arm_qpos].copy()
        self.data.ctrl[:7] = self._target
        self._reset_objects()
        mujoco.mj_forward(self.model, self.data)

    def _state(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[self._arm_qpos], self.data.qvel[self._arm_dof], self.ee_position(),
                               self._object_state()]).astype(np.float32)

    # -- scripted control (tests, demonstrations) ---------------------------------------------
    def scripted_action(self, target: np.ndarray, site: str = "endEffector", max_step_m: float = 0.03,
                        point_down: bool = True) -> np.ndarray:
        """The action that moves ``site`` (the end effector by default) towards ``target`` (m) in a
        straight line, at most ``max_step_m`` per step, the fingers pointing down (inverse
        kinematics; the joint step is scaled as a whole, so its direction is kept).

        Not part of the agent's interface: tests and demonstrations use it to show that a task's
        success can be reached.
        """
        site_id = self.model.site(site).id
        here = self.data.site_xpos[site_id]
        offset = np.asarray(target, float) - here
        offset *= min(1.0, max_step_m / max(np.linalg.norm(offset), 1e-9))
        pointing = Pointing(self._ee_site, 0, _FINGERS_DOWN) if point_down else None
        q = solve_ik(self.model, self.data.qpos.copy(), site_id, self._arm_qpos, self._arm_dof, here + offset, pointing)
        # from where the joints are, not from the servo targets: a payload's sag stays compensated
        delta = (q - self.arm_qpos()) / _MAX_JOINT_DELTA_RAD
        return delta / max(1.0, float(np.max(np.abs(delta))))

    # -- for subclasses ---------------------------------------------------------------------
    @classmethod
    def _add_objects(cls, spec: mujoco.MjSpec) -> None:
        """Add the task's bodies and sites to ``spec`` before it is compiled."""

    def _reset_objects(self) -> None:
        """Put the task's objects in their start state (called by reset, before mj_forward)."""

    def _object_state(self) -> np.ndarray:
        return np.zeros(0)


@lru_cache(maxsize=None)
def _compiled(cls: type[SawyerEnv]) -> tuple[mujoco.MjModel, mujoco.MjModel]:
    """``cls``'s model, compiled once per process, and its twin without textures.

    The twin has the same meshes, geoms and materials in the same order, so a render context
    made from it draws the agent's view of the real model; only the human view's textures
    (1 MB of wood and floor images, 0.8 s to upload to a CPU rasterizer) are left out.
    """
    specs = []
    for _ in range(2):  # two fresh specs: in mujoco 3.3.0 a copied spec keeps its texture references
        spec = sawyer_spec()
        cls._add_objects(spec)
        specs.append(spec)
    model_spec, twin = specs
    for material in twin.materials:
        material.textures = [""] * len(material.textures)
    for texture in list(twin.textures):
        texture.delete()
    return model_spec.compile(), twin.compile()


_FINGERS_DOWN = np.array([0.0, 0.0, -1.0])  # the end-effector site's x axis is the fingers' direction


def _start_pose(model: mujoco.MjModel, ee_pos: tuple[float, float, float]) -> np.ndarray:
    """The arm pose (7,) with the end effector at ``ee_pos`` pointing down, from the neutral pose."""
    qpos = model.qpos0.copy()
    adr = np.array([model.jnt_qposadr[model.joint(j).id] for j in _ARM_JOINTS])
    dof = np.array([model.jnt_dofadr[model.joint(j).id] for j in _ARM_JOINTS])
    qpos[adr] = _SEED_QPOS
    ee = model.site("endEffector").id
    return solve_ik(model, qpos, ee, adr, dof, np.asarray(ee_pos, float), Pointing(ee, 0, _FINGERS_DOWN), iterations=200)
