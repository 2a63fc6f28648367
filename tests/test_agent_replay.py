"""Per-task trial replay: whole trials, no boundary crossing, memory checks, disk storage, determinism."""
import numpy as np
import pytest

from meld_agent.config import ReplayConfig
from meld_agent.replay import TrialReplay


def _trial(length, value, obs_shape=(4,)):
    """A trial whose every entry carries its id ``value`` (frames also carry their index)."""
    obs = np.full((length, *obs_shape), value, np.float32)
    obs[:, 0] = np.arange(length)
    return obs, np.full((length - 1, 2), value, np.float32), np.full(length, value, np.float32), np.zeros(length, np.float32)


def test_sampled_windows_never_cross_a_trial_boundary():
    length = 9
    replay = TrialReplay(3, length, (4,), 2, ReplayConfig(capacity_frames_per_task=90, sequence_length=5), seed=0)
    for task in range(3):
        for k in range(6):
            replay.add(task, *_trial(length, value=100 * task + k))
    for _ in range(20):
        batch = replay.sample(num_tasks=3, trials_per_task=4)
        obs = batch.obs.numpy()
        assert obs.shape == (12, 5, 4)
        ids = obs[:, :, 1]
        assert (ids == ids[:, :1]).all()  # one trial per sequence
        assert (np.diff(obs[:, :, 0], axis=1) == 1).all()  # consecutive frames of it
        assert (batch.actions.numpy()[:, :, 0] == ids[:, :1]).all()
        assert set((ids[:, 0] // 100).astype(int)) <= {0, 1, 2}
        assert (ids[:, 0] // 100 == batch.task.numpy()).all()


def test_whole_trials_and_distinct_tasks_per_batch():
    replay = TrialReplay(5, 4, (4,), 2, ReplayConfig(capacity_frames_per_task=40), seed=1)
    for task in range(5):
        replay.add(task, *_trial(4, task))
    batch = replay.sample(num_tasks=3, trials_per_task=2)
    assert batch.obs.shape == (6, 4, 4) and batch.actions.shape == (6, 3, 2) and batch.shaped_reward.shape == (6, 4)
    tasks = batch.task.numpy()
    assert len(set(tasks)) == 3 and (np.bincount(tasks, minlength=5)[list(set(tasks))] == 2).all()


def test_ring_buffer_overwrites_oldest_trial_per_task():
    replay = TrialReplay(1, 4, (4,), 2, ReplayConfig(capacity_frames_per_task=8), seed=0)  # 2 trials per task
    for k in range(3):
        replay.add(0, *_trial(4, k))
    assert replay.size(0) == 2
    assert sorted(replay.arrays["shaped_reward"][0, :, 0]) == [1.0, 2.0]


def test_sampling_is_deterministic_given_the_seed():
    def batch(seed):
        replay = TrialReplay(4, 4, (4,), 2, ReplayConfig(capacity_frames_per_task=40), seed=seed)
        for task in range(4):
            for k in range(5):
                replay.add(task, *_trial(4, 10 * task + k))
        return replay.sample(2, 3).shaped_reward.numpy()

    assert np.array_equal(batch(3), batch(3))
    assert not np.array_equal(batch(3), batch(4))


def test_pixels_are_stored_once_as_uint8():
    replay = TrialReplay(2, 5, (64, 128, 3), 7, ReplayConfig(capacity_frames_per_task=50), seed=0)
    assert replay.arrays["obs"].dtype == np.uint8 and replay.arrays["obs"].shape == (2, 10, 5, 64, 128, 3)


def test_memory_check_refuses_what_does_not_fit_and_names_the_disk_option(monkeypatch):
    monkeypatch.setattr("meld_agent.replay.available_memory_bytes", lambda: 24 * 2**30)  # a 24 GiB machine
    # the replay module's example: 30 tasks x 1e5 frames of 64x128x3 is ~69 GiB (68.8 with whole 41-frame trials)
    with pytest.raises(MemoryError, match=r"6[89]\.\d GiB.*storage='disk'"):
        TrialReplay(30, 41, (64, 128, 3), 7, ReplayConfig(capacity_frames_per_task=100_000), seed=0)


def test_disk_backed_storage_and_save_load_roundtrip(tmp_path):
    cfg = ReplayConfig(capacity_frames_per_task=40, storage="disk", directory=str(tmp_path / "mm"))
    replay = TrialReplay(2, 4, (8, 8, 3), 2, cfg, seed=0)
    assert isinstance(replay.arrays["obs"], np.memmap)
    rng = np.random.default_rng(0)
    for task in range(2):
        obs = rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8)
        replay.add(task, obs, np.zeros((3, 2), np.float32), np.full(4, task, np.float32), np.zeros(4, np.float32))
    replay.save(str(tmp_path / "ck"))
    other = TrialReplay(2, 4, (8, 8, 3), 2, ReplayConfig(capacity_frames_per_task=40), seed=99)
    other.load(str(tmp_path / "ck"))
    assert np.array_equal(other.arrays["obs"], np.asarray(replay.arrays["obs"]))
    assert np.array_equal(other.sample(2, 2).obs.numpy(), replay.sample(2, 2).obs.numpy())  # rng state restored too


def test_bad_trials_are_rejected_with_the_expected_shape():
    replay = TrialReplay(1, 4, (4,), 2, ReplayConfig(capacity_frames_per_task=40), seed=0)
    obs, actions, shaped, sparse = _trial(5, 0)
    with pytest.raises(ValueError, match=r"obs of shape \(5, 4\); expected \(4, 4\)"):
        replay.add(0, obs, actions, shaped, sparse)
    with pytest.raises(ValueError, match="task=3 out of range"):
        replay.add(3, *_trial(4, 0))


@pytest.mark.parametrize("window", [None, 5])
def test_batches_mark_the_first_frame_of_each_later_episode(window):
    length = 9  # 2 episodes of 4 steps: frame 4 is the second episode's first frame
    replay = TrialReplay(2, length, (4,), 2, ReplayConfig(capacity_frames_per_task=90, sequence_length=window), seed=0,
                         episode_steps=4)
    for task in range(2):
        replay.add(task, *_trial(length, task))
    for _ in range(10):
        batch = replay.sample(2, 4)
        frame_index = batch.obs.numpy()[:, :, 0]
        assert np.array_equal(batch.episode_start.numpy(), (frame_index == 4).astype(np.float32))
    plain = TrialReplay(1, length, (4,), 2, ReplayConfig(capacity_frames_per_task=90), seed=0)
    plain.add(0, *_trial(length, 0))
    assert plain.sample(1, 1).episode_start is None
    with pytest.raises(ValueError, match="episode_steps=3"):
        TrialReplay(1, length, (4,), 2, ReplayConfig(capacity_frames_per_task=90), seed=0, episode_steps=3)
