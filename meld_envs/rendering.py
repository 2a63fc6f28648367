"""Fast offscreen rendering of several MuJoCo cameras side by side into one image.

Rendering is the suite's hot path: every agent frame is drawn straight into an
offscreen buffer of the observation's own size, with shadows, reflections, skybox and
multisampling off and coarse primitive tessellation, both cameras into one buffer and read back
with one ``glReadPixels``. Geoms out of a camera's view are left out of its scene. A fixed camera that sees
many static mesh faces (the Sawyer's pedestal) keeps its view of the bodies welded to the world, colours and
depths, and draws only the moving geoms each frame, merged by depth: the same bytes as one pass. Human-facing frames (videos, ``render_mode="rgb_array"``) use a second,
larger buffer in the same GL context with the pretty settings and with goals drawn.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from meld_envs import _gl

_FAST_OFF = (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX)

# static mesh faces from which a fixed camera's view of the bodies welded to the world is kept between frames
_LAYER_MIN_FACES = 1000

# decorate(scene, camera_index): add marker geoms (goals, traces) to a human-facing frame
Decorator = Callable[[mujoco.MjvScene, int], None]


@dataclass(frozen=True)
class Quality:
    """Settings baked into an ``MjrContext`` when it is made."""

    shadowsize: int
    offsamples: int
    numslices: int
    numstacks: int
    numquads: int
    fontscale: int


# multisampling off in both: on a CPU rasterizer it tripled the cost of a 256x256 Nav2D frame (39 ms -> 11 ms)
AGENT_QUALITY = Quality(shadowsize=0, offsamples=0, numslices=12, numstacks=6, numquads=1, fontscale=50)
HUMAN_QUALITY = Quality(shadowsize=1024, offsamples=0, numslices=28, numstacks=16, numquads=4, fontscale=100)
# the agent's settings with people's tessellation of curved primitives: what the agent's coarse ones are
# checked against (boxes are exact either way; more quads per face only move the per-vertex lighting)
REFERENCE_QUALITY = Quality(shadowsize=0, offsamples=0, numslices=28, numstacks=16, numquads=1, fontscale=50)


class GLContext:
    """One OpenGL context for one environment; made lazily, so that envs that never render
    (``obs_mode="state"``, or the probe env a vector env builds in its parent) never open one.

    Renderers draw inside ``with context.current():``, which leaves the context that was current
    before (another library's, or none) current again: Gymnasium's and Meta-World's renderers make
    theirs current once, when made, and would otherwise draw into ours (blank frames, no error).
    """

    def __init__(self) -> None:
        self._context = None

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """This context current for the block; whatever was current before is current after it."""
        restore = _gl.current_context_restorer()
        self.make_current()
        try:
            yield
        finally:
            restore()

    def make_current(self) -> None:
        if self._context is None:
            cls = _gl.gl_context_class()
            try:
                # the context's own framebuffer is unused (we render into MjrContext's offscreen one)
                self._context = cls(16, 16)
            except Exception as e:
                raise RuntimeError(
                    f"could not create a MuJoCo OpenGL context with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r} "
                    f"({type(e).__name__}: {e}); without a GPU use MUJOCO_GL=osmesa (apt-get install libosmesa6)"
                ) from e
        self._context.make_current()

    def free(self) -> None:
        if self._context is not None:
            try:
                self._context.free()
            finally:
                self._context = None


class MultiCameraRenderer:
    """Renders ``cameras`` side by side into one ``uint8 [height, len(cameras) * width, 3]`` frame.

    One offscreen buffer of exactly the frame's size; each camera draws into its own viewport of
    it, then the whole frame is read back at once.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        gl_context: GLContext,
        cameras: Sequence[str],
        height: int,
        width: int,
        *,
        quality: Quality = AGENT_QUALITY,
        fast: bool = True,
        geomgroups: Sequence[int] = (1, 1, 1, 0, 0, 0),
        show_sites: bool = False,
        max_geom: int = 2000,
        context_model: mujoco.MjModel | None = None,
    ) -> None:
        if not cameras:
            raise ValueError("at least one camera is needed")
        self.model = model
        self.height, self.width = int(height), int(width)
        self.frame_shape = (self.height, self.width * len(cameras), 3)
        self._gl = gl_context
        self._quality = quality
        self._cameras = []
        for name in cameras:
            cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            if cam_id < 0:
                known = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
                raise ValueError(f"camera {name!r} not in the model; cameras: {known}")
            cam = mujoco.MjvCamera()
            cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
            cam.fixedcamid = cam_id
            self._cameras.append(cam)
        self._viewports = [mujoco.MjrRect(i * self.width, 0, self.width, self.height) for i in range(len(cameras))]
        self._camera_ids = [cam.fixedcamid for cam in self._cameras]
        self._full = mujoco.MjrRect(0, 0, self.frame_shape[1], self.height)
        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = np.asarray(geomgroups, dtype=np.uint8)
        if not show_sites:
            self._option.sitegroup[:] = 0
        self._scene = mujoco.MjvScene(model, maxgeom=max_geom)
        # geoms that culling may leave out: those drawn at all; planes (rbound 0: unbounded) always stay
        shown = np.asarray(self._option.geomgroup) > 0
        in_groups = (model.geom_group >= 0) & (model.geom_group < len(shown))
        drawn = in_groups & shown[np.where(in_groups, model.geom_group, 0)]
        self._cullable = np.flatnonzero(drawn & (model.geom_rbound > 0))
        self._radius = model.geom_rbound[self._cullable]
        self._no_geoms = np.zeros(0, dtype=np.int64)
        # what a fixed camera sees of the bodies welded to the world is drawn once and kept (``_static_layer``)
        fixed_body = (model.body_weldid == 0) & (model.body_mocapid < 0)
        self._drawn = np.flatnonzero(drawn)
        self._static = np.flatnonzero(drawn & fixed_body[model.geom_bodyid])
        self._moving = np.flatnonzero(drawn & ~fixed_body[model.geom_bodyid])
        # only without materials: MuJoCo leaves a material's specular and shininess set for the geoms drawn after
        # it, so with one, a geom's shade would depend on what was drawn before it in the same pass
        plain = not np.any(model.geom_matid[self._drawn] >= 0)
        # and only where it pays: keeping the layer costs a depth read and a merge (~0.05 ms at 64x128 on a CPU
        # rasterizer), what it saves is ~50 ns a static mesh face a frame (boxes and planes cost next to nothing)
        static_mesh = self._static[model.geom_type[self._static] == mujoco.mjtGeom.mjGEOM_MESH]
        pays = model.mesh_facenum[model.geom_dataid[static_mesh]].sum() >= _LAYER_MIN_FACES
        self._layered = [fast and plain and pays and model.cam_mode[c] == mujoco.mjtCamLight.mjCAMLIGHT_FIXED
                         and model.body_weldid[model.cam_bodyid[c]] == 0 for c in self._camera_ids]
        self._layers: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * len(cameras)
        self._depth = np.empty(self.frame_shape[:2], dtype=np.float32)
        self._fast = fast
        if fast:
            for flag in _FAST_OFF:
                self._scene.flags[flag] = 0
        self._buffer = np.empty(self.frame_shape, dtype=np.uint8)
        self._mjr: mujoco.MjrContext | None = None
        # the model the render context (meshes, textures on the GL side) is made from: ``model``
        # itself, or a twin with the same geoms and meshes but fewer textures to upload
        self._context_model = model if context_model is None else context_model

    def _make_mjr(self) -> mujoco.MjrContext:
        vis, q = self._context_model.vis, self._quality
        saved = (vis.global_.offwidth, vis.global_.offheight, vis.quality.shadowsize, vis.quality.offsamples,
                 vis.quality.numslices, vis.quality.numstacks, vis.quality.numquads)
        vis.global_.offwidth, vis.global_.offheight = self.frame_shape[1], self.height
        vis.quality.shadowsize, vis.quality.offsamples = q.shadowsize, q.offsamples
        vis.quality.numslices, vis.quality.numstacks, vis.quality.numquads = q.numslices, q.numstacks, q.numquads
        try:
            mjr = mujoco.MjrContext(self._context_model, q.fontscale)
        finally:
            (vis.global_.offwidth, vis.global_.offheight, vis.quality.shadowsize, vis.quality.offsamples,
             vis.quality.numslices, vis.quality.numstacks, vis.quality.numquads) = saved
        return mjr

    def render(
        self,
        data: mujoco.MjData,
        decorate: Decorator | None = None,
        text: Sequence[tuple[str, str]] | None = None,
    ) -> np.ndarray:
        """The frame for the current ``data``: a new ``uint8 [H, n*W, 3]`` array.

        ``decorate`` may add marker geoms per camera; ``text`` is one (left, right) overlay per camera.
        """
        layered = any(self._layered) and decorate is None and text is None and not self._translucent()
        layers = []
        with self._gl.current():
            self._bind()
            for i, viewport in enumerate(self._viewports):
                hidden = self._outside(data, i) if self._fast else self._no_geoms
                layer = self._static_layer(data, i) if layered and self._layered[i] else None
                if layer is not None:
                    layers.append((i, layer))
                    hidden = np.concatenate([hidden, self._static])
                self._update(data, i, hidden)
                if decorate is not None:
                    decorate(self._scene, i)
                mujoco.mjr_render(viewport, self._scene, self._mjr)
                if text is not None and i < len(text):
                    left, right = text[i]
                    mujoco.mjr_overlay(mujoco.mjtFont.mjFONT_NORMAL, mujoco.mjtGridPos.mjGRID_TOPLEFT,
                                       viewport, left, right, self._mjr)
            mujoco.mjr_readPixels(self._buffer, self._depth if layers else None, self._full, self._mjr)
        for i, (rgb, depth, _) in layers:
            # the depth test between the kept static layer and the moving geoms just drawn; a tie goes to
            # the moving geom, drawn last, as OpenGL's GL_LEQUAL does within one pass
            columns = slice(i * self.width, (i + 1) * self.width)
            behind = self._depth[:, columns] > depth
            self._buffer[:, columns][behind] = rgb[behind]
        return self._buffer[::-1].copy()  # OpenGL's origin is the bottom-left corner

    def _bind(self) -> None:
        """Inside ``self._gl.current()``: the render context made, its offscreen buffer bound."""
        if self._mjr is None:
            self._mjr = self._make_mjr()
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._mjr)

    def _update(self, data: mujoco.MjData, camera_index: int, hidden: np.ndarray) -> None:
        """The scene of camera ``camera_index`` from ``data``, without the model geoms ``hidden``."""
        alpha = self.model.geom_rgba[hidden, 3]
        # mjv_updateScene leaves out geoms of alpha 0: hidden for this update only, the model as it was after
        self.model.geom_rgba[hidden, 3] = 0
        try:
            mujoco.mjv_updateScene(self.model, data, self._option, None, self._cameras[camera_index],
                                   mujoco.mjtCatBit.mjCAT_ALL, self._scene)
        finally:
            self.model.geom_rgba[hidden, 3] = alpha

    def _translucent(self) -> bool:
        """Whether a drawn geom is see-through (0 < alpha < 1): then no layer is kept, as blending needs what
        lies behind in the same pass. (Layers are kept only where no drawn geom has a material: its rgba decides.)"""
        alpha = self.model.geom_rgba[self._drawn, 3]
        return bool(np.any((alpha > 0) & (alpha < 1)))

    def _static_key(self, data: mujoco.MjData, camera_index: int) -> np.ndarray:
        """Everything the static layer of camera ``camera_index`` is drawn from."""
        model, s, cam = self.model, self._static, self._camera_ids[camera_index]
        head = model.vis.headlight
        return np.concatenate([
            data.geom_xpos[s].ravel(), data.geom_xmat[s].ravel(), model.geom_rgba[s].ravel(), model.geom_size[s].ravel(),
            model.geom_matid[s], model.geom_dataid[s], model.geom_type[s], model.geom_group[s], model.mat_rgba.ravel(),
            data.cam_xpos[cam], data.cam_xmat[cam], model.cam_fovy[cam:cam + 1], data.light_xpos.ravel(),
            data.light_xdir.ravel(), model.light_active, model.light_diffuse.ravel(), model.light_ambient.ravel(),
            model.light_specular.ravel(), head.ambient, head.diffuse, head.specular, [head.active],
            self._option.geomgroup, self._scene.flags,
        ])

    def _static_layer(self, data: mujoco.MjData, camera_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inside ``self._gl.current()``, buffer bound: the colours ``uint8 [H, W, 3]`` and depths ``float32 [H, W]``
        (OpenGL's row order) of what camera ``camera_index`` sees of the bodies welded to the world, and the key
        they were drawn from; drawn again whenever the key changes (a task moving the scenery, a changed light).

        A fixed camera sees the table, walls and the robot's pedestal the same way every frame; only the moving
        geoms are drawn each frame and set in front of or behind this layer by depth.
        """
        key = self._static_key(data, camera_index)
        layer = self._layers[camera_index]
        if layer is not None and np.array_equal(layer[2], key):
            return layer
        viewport = self._viewports[camera_index]
        self._update(data, camera_index, self._moving)
        mujoco.mjr_render(viewport, self._scene, self._mjr)
        rgb = np.empty((self.height, self.width, 3), dtype=np.uint8)
        depth = np.empty((self.height, self.width), dtype=np.float32)
        mujoco.mjr_readPixels(rgb, depth, viewport, self._mjr)
        self._layers[camera_index] = layer = (rgb, depth, key)
        return layer

    def _scenes(self, data: mujoco.MjData, cull: bool = True) -> Iterator[tuple[int, mujoco.MjrRect]]:
        """Inside ``self._gl.current()``: the offscreen buffer bound, then for each camera ``(index, viewport)``
        with the scene updated from ``data`` for it, ready to draw; with ``cull``, without the geoms out of its view."""
        self._bind()
        for i, viewport in enumerate(self._viewports):
            self._update(data, i, self._outside(data, i) if cull else self._no_geoms)
            yield i, viewport

    def _outside(self, data: mujoco.MjData, camera_index: int) -> np.ndarray:
        """Model geoms (ids) whose bounding sphere is outside camera ``camera_index``'s view.

        MuJoCo sends every geom to OpenGL; a software rasterizer pays for each triangle of a mesh
        even off screen (the Sawyer's wrist camera sees none of the arm's links).
        """
        model, ids = self.model, self._cullable
        cam = self._camera_ids[camera_index]
        frame = data.cam_xmat[cam].reshape(3, 3)  # columns: right, up, backwards
        local = (data.geom_xpos[ids] - data.cam_xpos[cam]) @ frame
        radius = self._radius
        depth = -local[:, 2]
        if model.cam_orthographic[cam]:  # fovy is the view's height (m)
            half_y = model.cam_fovy[cam] / 2
            half_x = half_y * self.width / self.height
            outside = (np.abs(local[:, 0]) - half_x > radius) | (np.abs(local[:, 1]) - half_y > radius)
        else:
            tan_y = np.tan(np.deg2rad(model.cam_fovy[cam]) / 2)
            tan_x = tan_y * self.width / self.height
            # a sphere is outside a side plane through the eye when its centre is beyond it by more than its radius
            outside = ((depth < -radius)
                       | (np.abs(local[:, 0]) - tan_x * depth > radius * np.sqrt(1 + tan_x**2))
                       | (np.abs(local[:, 1]) - tan_y * depth > radius * np.sqrt(1 + tan_y**2)))
        return ids[outside]

    def render_segmentation(self, data: mujoco.MjData) -> np.ndarray:
        """Which model geom each pixel shows: ``int32 [H, n*W]``, -1 where none (for tests and tools)."""
        flags = (mujoco.mjtRndFlag.mjRND_SEGMENT, mujoco.mjtRndFlag.mjRND_IDCOLOR)
        saved = [self._scene.flags[f] for f in flags]
        out = np.full(self.frame_shape[:2], -1, dtype=np.int32)
        try:
            for f in flags:
                self._scene.flags[f] = 1
            with self._gl.current():
                for i, viewport in self._scenes(data, cull=self._fast):
                    mujoco.mjr_render(viewport, self._scene, self._mjr)
                    rgb = np.empty((self.height, self.width, 3), dtype=np.uint8)
                    mujoco.mjr_readPixels(rgb, None, viewport, self._mjr)
                    segid = rgb[::-1].astype(np.int64) @ np.array([1, 1 << 8, 1 << 16]) - 1  # IDCOLOR: segid + 1
                    geom_of = np.full(self._scene.ngeom + 1, -1, dtype=np.int32)
                    for g in range(self._scene.ngeom):
                        sg = self._scene.geoms[g]
                        if sg.objtype == mujoco.mjtObj.mjOBJ_GEOM and 0 <= sg.segid < self._scene.ngeom:
                            geom_of[sg.segid] = sg.objid
                    segid[(segid < 0) | (segid >= self._scene.ngeom)] = self._scene.ngeom
                    out[:, i * self.width:(i + 1) * self.width] = geom_of[segid]
        finally:
            for f, v in zip(flags, saved):
                self._scene.flags[f] = v
        return out

    def close(self) -> None:
        if self._mjr is not None:
            # freeing issues GL calls: they must reach this renderer's context, not whichever
            # context another env made current last (that would delete the other env's textures)
            with self._gl.current():
                self._mjr.free()
            self._mjr = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: GL may already be gone
            pass


def add_marker(
    scene: mujoco.MjvScene,
    geom_type: int,
    size: Sequence[float],
    pos: Sequence[float],
    rgba: Sequence[float],
    mat: Sequence[float] | None = None,
) -> None:
    """Append one visual-only geom to ``scene`` (ignored when the scene is full)."""
    if scene.ngeom >= scene.maxgeom:
        return
    geom = scene.geoms[scene.ngeom]
    mujoco.mjv_initGeom(
        geom, int(geom_type), np.asarray(size, dtype=np.float64), np.asarray(pos, dtype=np.float64),
        np.eye(3).ravel() if mat is None else np.asarray(mat, dtype=np.float64).ravel(),
        np.asarray(rgba, dtype=np.float32),
    )
    geom.category = mujoco.mjtCatBit.mjCAT_DECOR
    scene.ngeom += 1


def add_segment(
    scene: mujoco.MjvScene, start: Sequence[float], end: Sequence[float], width: float, rgba: Sequence[float],
    geom_type: int = mujoco.mjtGeom.mjGEOM_CAPSULE,
) -> None:
    """Append a capsule (or arrow, with ``geom_type``) from ``start`` to ``end`` to ``scene``."""
    if scene.ngeom >= scene.maxgeom:
        return
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if np.linalg.norm(end - start) < 1e-9:
        return
    add_marker(scene, geom_type, (width, width, width), start, rgba)
    mujoco.mjv_connector(scene.geoms[scene.ngeom - 1], int(geom_type), width, start, end)
