"""The fast renderer: several cameras side by side, in one buffer of the frame's own size."""
import mujoco
import numpy as np
import pytest

import meld_envs  # noqa: F401  (chooses MUJOCO_GL)
from meld_envs import rendering

SCENE = """
<mujoco>
  <worldbody>
    <light pos="0 0 3" dir="0 0 -1"/>
    <geom type="plane" size="2 2 0.1" rgba="0.8 0.8 0.8 1"/>
    <geom type="box" pos="0.3 0 0.2" size="0.2 0.2 0.2" rgba="0.9 0.1 0.1 1"/>
    <geom type="sphere" pos="-0.4 0.2 0.2" size="0.15" rgba="0.1 0.2 0.9 1"/>
    <geom type="capsule" pos="0 -3 0.3" size="0.1 0.2" rgba="0.2 0.9 0.2 1"/>  <!-- behind the front camera -->
    <site name="marker" pos="0 0 1" size="0.3" rgba="0 1 0 1"/>
    <camera name="front" pos="0 -2 0.6" xyaxes="1 0 0 0 0.3 1"/>
    <camera name="side" pos="2 0 0.6" xyaxes="0 1 0 -0.3 0 1"/>
  </worldbody>
</mujoco>
"""


@pytest.fixture
def scene():
    model = mujoco.MjModel.from_xml_string(SCENE)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    gl = rendering.GLContext()
    yield model, data, gl
    gl.free()


def test_cameras_side_by_side_equal_single_renders(scene):
    model, data, gl = scene
    both = rendering.MultiCameraRenderer(model, gl, ("front", "side"), 48, 40)
    front = rendering.MultiCameraRenderer(model, gl, ("front",), 48, 40)
    side = rendering.MultiCameraRenderer(model, gl, ("side",), 48, 40)
    frame = both.render(data)
    assert frame.shape == (48, 80, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[:, :40], front.render(data))
    np.testing.assert_array_equal(frame[:, 40:], side.render(data))
    assert not np.array_equal(frame[:, :40], frame[:, 40:])
    for r in (both, front, side):
        r.close()


def test_offscreen_buffer_has_the_frames_own_size(scene):
    model, data, gl = scene
    r = rendering.MultiCameraRenderer(model, gl, ("front", "side"), 64, 64)
    r.render(data)
    assert (r._mjr.offWidth, r._mjr.offHeight) == (128, 64)
    assert r._mjr.shadowSize == 0 and r._mjr.offSamples == 0
    assert model.vis.global_.offwidth == 640  # the model's own setting is left as it was
    r.close()


def test_sites_hidden_from_the_agent_and_markers_only_where_asked(scene):
    model, data, gl = scene
    agent = rendering.MultiCameraRenderer(model, gl, ("front",), 64, 64)
    shown = rendering.MultiCameraRenderer(model, gl, ("front",), 64, 64, show_sites=True)
    plain = agent.render(data)
    assert not np.array_equal(plain, shown.render(data))  # the green site is only in the second

    def goal(scn, camera_index):
        rendering.add_marker(scn, mujoco.mjtGeom.mjGEOM_SPHERE, (0.2, 0.2, 0.2), (0, 0, 0.8), (0, 1, 0, 1))

    decorated = agent.render(data, decorate=goal)
    assert not np.array_equal(plain, decorated)
    np.testing.assert_array_equal(plain, agent.render(data))  # decorations do not persist
    agent.close(), shown.close()


def test_unknown_camera_names_the_known_ones(scene):
    model, data, gl = scene
    with pytest.raises(ValueError, match=r"camera 'wrist' not in the model; cameras: \['front', 'side'\]"):
        rendering.MultiCameraRenderer(model, gl, ("wrist",), 64, 64)


def test_frames_are_upright(scene):
    model, data, gl = scene
    frame = rendering.MultiCameraRenderer(model, gl, ("front",), 64, 64).render(data)
    # the floor (grey, lit) is at the bottom of the image, the empty sky at the top
    assert frame[-4:].mean() > frame[:4].mean()


def test_an_env_collected_without_close_leaves_other_envs_frames_intact():
    """Freeing a render context issues GL calls; they must not hit another env's context."""
    import gc

    import gymnasium as gym

    survivor, reference = gym.make("meld/Nav2D-v0", task=0), gym.make("meld/Nav2D-v0", task=0)
    first, _ = survivor.reset(seed=0)
    reference.reset(seed=0)
    doomed = gym.make("meld/CheetahVel-v0", task=0)
    doomed.reset(seed=0)
    survivor.step(np.array([1.0, 1.0]))  # the survivor's context is current now
    del doomed
    gc.collect()
    for _ in range(3):
        obs = survivor.step(np.array([1.0, 1.0]))[0]
    reference.step(np.array([1.0, 1.0]))
    for _ in range(3):
        expected = reference.step(np.array([1.0, 1.0]))[0]
    assert not np.array_equal(obs, first)  # the robot moved, and the frame shows it
    np.testing.assert_array_equal(obs, expected)
    survivor.close(), reference.close()


def test_culling_leaves_frames_unchanged(scene):
    """Geoms outside a camera's view are skipped; what is in view is drawn exactly as before."""
    model, data, gl = scene
    culled = rendering.MultiCameraRenderer(model, gl, ("front", "side"), 48, 40)
    drawn = rendering.MultiCameraRenderer(model, gl, ("front", "side"), 48, 40)
    drawn._outside = lambda data, camera_index: drawn._no_geoms
    rgba = model.geom_rgba.copy()
    assert any(len(culled._outside(data, i)) for i in range(2)), "the test scene has no geom to cull"
    np.testing.assert_array_equal(culled.render(data), drawn.render(data))
    np.testing.assert_array_equal(model.geom_rgba, rgba)  # hidden for the scene update only


def test_segmentation_names_the_geoms(scene):
    model, data, gl = scene
    seg = rendering.MultiCameraRenderer(model, gl, ("front",), 64, 64).render_segmentation(data)
    assert seg.shape == (64, 64) and seg.dtype == np.int32
    assert set(np.unique(seg)) <= {-1, 0, 1, 2} and {0, 1, 2} <= set(np.unique(seg))


# the agent's view of each env against the same view drawn from full-resolution geometry
AGENT_VIEW_POSES = 6  # the reset state, then every 4 steps of a seeded random policy
MIN_SILHOUETTE_IOU = 0.97
MAX_MEAN_ABS_DIFF = 1.2  # grey levels of 255, averaged over the whole frame
# pure-black (0, 0, 0) pixels allowed: void shows as black; CheetahVel's dark sky is part of its scene
MAX_BLACK_SHARE = {"meld/CheetahVel-v0": 1.0, "meld/Nav2D-v0": 0.005}
MAX_BLACK_SHARE_ARMS = 0.005  # the Sawyer and WidowX envs: a black fingertip cap, no void


def _foreground(env) -> np.ndarray:
    """Geom ids of the robot and the objects: everything but the backdrop bodies (floor, walls, table top)."""
    model = env.model
    backdrop = {model.body(name).id for name in env.backdrop_bodies}
    return np.array([g for g in range(model.ngeom) if model.geom_bodyid[g] not in backdrop])


def test_agent_view_matches_full_resolution_geometry(env_id, make):
    """The agent's simplified meshes (Sawyer: ~5.4k faces in place of 67k) and coarse primitives keep
    what the full-resolution view shows, over several poses from one seed:

    - the silhouette of the robot and objects (pixels of any geom but the backdrop's) overlaps the
      full-resolution one with IoU >= 0.97. At 64x64 a Sawyer is ~900 pixels of which ~300 lie on its
      outline, so this allows ~30 pixels to change side, a tenth of the outline: a mesh within about
      a millimetre of the original (a pixel is ~15 mm there) flips that many. Measured: 0.976-0.993
      (Nav2D 1.0); the earlier 150-face decimation, torn (holes, culled flipped faces), gave 0.89-0.95.
    - the mean absolute difference over the whole frame is under 1.2 grey levels (of 255): the
      edge pixels that change side differ by ~100 levels, so 1% of the frame doing so gives 1.0.
      Measured: 0.0-0.9; the torn meshes gave 1.2-1.6.
    - pure-black pixels, the colour of void (no geom drawn), stay under 0.5% in the arm envs.
    """
    env = make(env_id, task=0)
    inner = env.unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    reference = inner.agent_view_reference()
    foreground = _foreground(inner)
    try:
        for pose in range(AGENT_VIEW_POSES):
            if pose:
                for _ in range(4):
                    env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            agent, full = inner._agent_view.render(inner.data), reference.render(inner.data)
            seen = np.isin(inner._agent_view.render_segmentation(inner.data), foreground)
            seen_full = np.isin(reference.render_segmentation(inner.data), foreground)
            assert seen_full.sum() > 10, f"{env_id}: the robot is not in view"
            iou = (seen & seen_full).sum() / (seen | seen_full).sum()
            assert iou >= MIN_SILHOUETTE_IOU, f"{env_id} pose {pose}: silhouette IoU {iou:.4f}"
            mad = np.abs(agent.astype(np.int16) - full.astype(np.int16)).mean()
            assert mad < MAX_MEAN_ABS_DIFF, f"{env_id} pose {pose}: mean |difference| {mad:.2f} grey levels"
            black = (agent == 0).all(-1).mean()
            allowed = MAX_BLACK_SHARE.get(env_id, MAX_BLACK_SHARE_ARMS)
            assert black <= allowed, f"{env_id} pose {pose}: {black:.1%} of the pixels black"
    finally:
        reference.close()


@pytest.mark.parametrize("env_id", ["meld/Reacher-v0", "meld/WidowXCableSim-v0"])
def test_scene_camera_frames_the_whole_arm(env_id, make):
    """At the start the scene camera shows the arm whole: many of its pixels, none on the image's top or sides."""
    env = make(env_id, task=0)
    inner = env.unwrapped
    env.reset(seed=0)
    scene_view = rendering.MultiCameraRenderer(inner.model, inner._gl, ("scene",), 64, 64,
                                               geomgroups=inner.agent_geomgroups)
    try:
        seg = scene_view.render_segmentation(inner.data)
    finally:
        scene_view.close()
    model = inner.model
    arm = [g for g in range(model.ngeom) if model.body_weldid[model.geom_bodyid[g]] != 0]
    assert np.isin(seg, arm).mean() > 0.03, f"{env_id}: the arm fills {np.isin(seg, arm).mean():.1%} of the scene view"
    edge = np.concatenate([seg[0], seg[:, 0], seg[:, -1]])  # the table runs off the bottom, the arm must not run off
    assert not np.isin(edge, arm).any(), f"{env_id}: the arm touches the image edge"


@pytest.mark.parametrize("env_id", ["meld/PegInsert-v0", "meld/ButtonPress-v0"])
def test_kept_static_layer_gives_the_one_pass_frames(env_id, make):
    """The scene camera keeps its view of the bodies welded to the world and draws only what moves; the frames are
    byte-identical to drawing everything in one pass, through steps, resets and task changes that move the scenery."""
    env = make(env_id, task=0)
    inner = env.unwrapped
    env.reset(seed=0)
    layered = inner._agent_view
    assert layered._layered[0], f"{env_id}: the scene camera keeps no static layer"
    one_pass = rendering.MultiCameraRenderer(inner.model, inner._gl, inner.agent_cameras, *inner.camera_size,
                                             quality=inner.agent_quality, geomgroups=inner.agent_geomgroups,
                                             context_model=getattr(inner, "_context_model", None))
    one_pass._layered = [False] * len(one_pass._layered)
    rng = np.random.default_rng(0)
    keys = []
    try:
        for k in range(24):
            if k in (8, 16):
                env.reset(seed=k, options={"task": k // 8})
            else:
                env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            np.testing.assert_array_equal(layered.render(inner.data), one_pass.render(inner.data), err_msg=f"step {k}")
            keys.append(layered._layers[0][2])
        # a static body moved by hand: the layer is drawn again
        bodies = inner.model.geom_bodyid[layered._static]
        inner.model.body_pos[bodies[bodies > 0][-1]] += 0.05
        mujoco.mj_forward(inner.model, inner.data)
        np.testing.assert_array_equal(layered.render(inner.data), one_pass.render(inner.data))
        assert not np.array_equal(layered._layers[0][2], keys[-1])
    finally:
        one_pass.close()
