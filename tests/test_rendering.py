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
