"""Choice of MuJoCo's OpenGL backend, made before anything imports ``mujoco``.

``MUJOCO_GL`` is honoured when the user set it. Otherwise Linux gets ``egl`` when a GPU render
node and ``libEGL`` are present and ``osmesa`` (software, CPU) when not; macOS and Windows keep
MuJoCo's own default (cgl / wgl). With OSMesa, llvmpipe's rasterizer threads are switched off
(``LP_NUM_THREADS=0``) unless set: at 64x64 the thread hand-off costs more than it saves
(measured here: 0.96 ms -> 0.35 ms per Cheetah frame), and vector envs run one process per core.
"""
from __future__ import annotations

import ctypes.util
import functools
import glob
import os
import platform
from collections.abc import Callable

_VALID = {
    "Linux": ("egl", "osmesa", "glfw", "glx"),
    "Darwin": ("cgl", "glfw"),
    "Windows": ("wgl", "glfw"),
}


def gpu_present(dev_dir: str = "/dev") -> bool:
    """Whether a GPU render node (NVIDIA or DRM) is visible on this Linux machine."""
    nodes = glob.glob(os.path.join(dev_dir, "nvidia[0-9]*")) + glob.glob(os.path.join(dev_dir, "dri", "renderD*"))
    return bool(nodes)


def choose_backend(system: str | None = None, has_gpu: bool | None = None, has_egl: bool | None = None) -> str | None:
    """The backend to use when ``MUJOCO_GL`` is unset: ``egl``, ``osmesa`` or None (MuJoCo's default)."""
    system = system or platform.system()
    if system != "Linux":
        return None
    if has_gpu is None:
        has_gpu = gpu_present()
    if has_egl is None:
        has_egl = ctypes.util.find_library("EGL") is not None
    return "egl" if has_gpu and has_egl else "osmesa"


def configure() -> str | None:
    """Set ``MUJOCO_GL`` (and llvmpipe's threads for OSMesa) unless the user already did.

    Returns the backend in force. Called on ``import meld_envs``.
    """
    backend = os.environ.get("MUJOCO_GL", "").strip().lower() or None
    if backend is None:
        backend = choose_backend()
        if backend is not None:
            os.environ["MUJOCO_GL"] = backend
    if backend == "osmesa":
        os.environ.setdefault("LP_NUM_THREADS", "0")
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    elif backend == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    return backend


def gl_context_class(backend: str | None = None):
    """MuJoCo's ``GLContext`` class for ``backend`` (default: ``MUJOCO_GL``), with a clear error when unusable.

    Imported from the backend's own module rather than ``mujoco.GLContext`` so that the choice
    holds even when ``mujoco`` was imported before ``meld_envs``.
    """
    backend = (backend or os.environ.get("MUJOCO_GL", "") or "").strip().lower()
    allowed = _VALID.get(platform.system(), ("glfw",))
    if backend and backend not in allowed:
        raise ValueError(f"MUJOCO_GL={backend!r} is not usable on {platform.system()}; allowed: {', '.join(allowed)}")
    try:
        if backend == "osmesa":
            from mujoco.osmesa import GLContext
        elif backend == "egl":
            from mujoco.egl import GLContext
        elif backend == "cgl":
            from mujoco.cgl import GLContext
        else:
            from mujoco.glfw import GLContext
    except Exception as e:  # a missing system library shows up as ImportError/OSError/AttributeError
        hint = {
            "osmesa": "install OSMesa (Debian/Ubuntu: apt-get install libosmesa6) or set MUJOCO_GL=egl on a GPU machine",
            "egl": "install the GPU's EGL driver (libegl1) or set MUJOCO_GL=osmesa for software rendering",
        }.get(backend, "set MUJOCO_GL=osmesa (software) or MUJOCO_GL=egl (GPU) on a machine without a display")
        raise RuntimeError(f"cannot load MuJoCo's {backend or 'glfw'} OpenGL backend ({type(e).__name__}: {e}); {hint}") from e
    return GLContext


@functools.lru_cache(maxsize=1)
def renderer_info() -> dict[str, str]:
    """What draws the agent's frames in this process: ``{"backend": MUJOCO_GL, "vendor": GL_VENDOR,
    "renderer": GL_RENDERER, "version": GL_VERSION}``, read once from a 1x1 context made for the purpose
    (``"error"`` says why when none can be made).

    Results record it because renderers differ in the last bits: EGL on a GPU and OSMesa's llvmpipe draw the
    same state with 11-62% of pixels a few grey levels apart. Results made with different renderers are comparable
    only statistically; with ``MUJOCO_GL=osmesa`` and the same Mesa (``version`` names it) the same seed and
    actions give byte-identical observations on every Linux machine.
    """
    info = {"backend": os.environ.get("MUJOCO_GL", "") or "default", "vendor": "?", "renderer": "?", "version": "?"}
    try:
        context = gl_context_class()(1, 1)
        restore = current_context_restorer()
        try:
            context.make_current()
            from OpenGL import GL

            for key, name in (("vendor", GL.GL_VENDOR), ("renderer", GL.GL_RENDERER), ("version", GL.GL_VERSION)):
                value = GL.glGetString(name)
                info[key] = value.decode() if value else "?"
        finally:
            context.free()
            restore()
    except Exception as e:  # no display, no driver: the backend alone is still worth recording
        info["error"] = f"{type(e).__name__}: {e}"
    return info


def _no_op() -> None:
    pass


def _osmesa_restorer() -> Callable[[], None]:
    from OpenGL import GL, osmesa

    context = osmesa.OSMesaGetCurrentContext()
    if not context:
        return lambda: osmesa.OSMesaMakeCurrent(None, None, GL.GL_FLOAT, 0, 0)
    # what OSMesaMakeCurrent needs to bind it again: its colour buffer, size and pixel type
    width, height, _, buffer = osmesa.OSMesaGetColorBuffer(context)
    pixel_type = osmesa.OSMesaGetIntegerv(osmesa.OSMESA_TYPE)
    pixel_store = [(name, osmesa.OSMesaGetIntegerv(name)) for name in (osmesa.OSMESA_ROW_LENGTH, osmesa.OSMESA_Y_UP)]

    def restore() -> None:
        if not osmesa.OSMesaMakeCurrent(context, buffer, pixel_type, width, height):
            raise RuntimeError("could not make the previously current OSMesa context current again")
        for name, value in pixel_store:
            if osmesa.OSMesaGetIntegerv(name) != value:
                osmesa.OSMesaPixelStore(name, value)

    return restore


def _egl_restorer() -> Callable[[], None]:
    from mujoco.egl import egl_ext as EGL

    context = EGL.eglGetCurrentContext()
    if not context:
        def release() -> None:
            display = EGL.eglGetCurrentDisplay()
            if display:
                EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
        return release
    display = EGL.eglGetCurrentDisplay()
    draw, read = EGL.eglGetCurrentSurface(EGL.EGL_DRAW), EGL.eglGetCurrentSurface(EGL.EGL_READ)
    api = EGL.eglQueryAPI()

    def restore() -> None:
        EGL.eglBindAPI(api)
        if not EGL.eglMakeCurrent(display, draw, read, context):
            raise RuntimeError("could not make the previously current EGL context current again")

    return restore


def _glfw_restorer() -> Callable[[], None]:
    import glfw

    window = glfw.get_current_context()
    return lambda: glfw.make_context_current(window)


def current_context_restorer(backend: str | None = None) -> Callable[[], None]:
    """A function that makes the OpenGL context current now (another library's, or none) current again.

    Called before one of ours is made current, so that rendering a meld env leaves Gymnasium's,
    Meta-World's or dm_control's renderers as it found them (they make their context current once,
    when made). OSMesa, EGL and GLFW are covered; elsewhere (cgl, wgl) nothing is restored.
    """
    backend = (backend or os.environ.get("MUJOCO_GL", "") or "").strip().lower()
    if backend == "osmesa":
        return _osmesa_restorer()
    if backend == "egl":
        return _egl_restorer()
    if backend in ("glfw", ""):
        try:
            return _glfw_restorer()
        except Exception:  # glfw not importable: there is no context of its kind to restore
            return _no_op
    return _no_op


def current_context_address(backend: str | None = None) -> int | None:
    """The address of the OSMesa or EGL context current in this thread, None when none is (or elsewhere)."""
    import ctypes

    backend = (backend or os.environ.get("MUJOCO_GL", "") or "").strip().lower()
    if backend == "osmesa":
        from OpenGL import osmesa

        context = osmesa.OSMesaGetCurrentContext()
    elif backend == "egl":
        from mujoco.egl import egl_ext as EGL

        context = EGL.eglGetCurrentContext()
    else:
        return None
    return ctypes.cast(context, ctypes.c_void_p).value if context else None
