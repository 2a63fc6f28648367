"""A training run killed at the worst moments resumes with nothing lost or logged twice."""
import csv
import os
from collections import Counter

import pytest

from meld_agent import checkpoint, make_config
from meld_agent.train import CHECKPOINT, train

TINY = dict(obs_mode="state", latent1_size=8, latent2_size=16, hidden_size=32, state_hidden_size=32, feature_size=32,
            sac__hidden_sizes=(32, 32), initial_random_trials=2, model_pretrain_ratio=0.02, collect_tasks=1,
            tasks_per_update=1, model_batch_steps=41, model_train_ratio=0.02, ac_train_ratio=0.02, num_train_tasks=2,
            capacity_frames_per_task=500, sac__batch_size=16)


class Killed(BaseException):
    """Stands in for SIGKILL at a chosen point (nothing after it runs but ``finally`` blocks)."""


def _rows(run, wall_time=False):
    with open(os.path.join(run, "metrics.csv"), newline="") as f:
        return [(int(r["env_step"]), r["tag"], *([r["wall_time"]] if wall_time else [])) for r in csv.DictReader(f)]


def _run(run, steps, resume):
    return train(make_config("meld/Nav2D-v0", **TINY), steps, run, eval_every=40, eval_tasks=1, resume=resume,
                 progress=False)


def _kill_save_at(monkeypatch, when):
    """Make the next checkpoint save die: 'before' it writes anything, or 'between' its two renames."""
    original_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if when == "between" and dst.endswith(CHECKPOINT):  # the old one is moved aside, the new one not yet in place
            raise Killed
        return original_replace(src, dst)

    def save(*args, **kwargs):
        if when == "before":
            raise Killed
        monkeypatch.setattr(checkpoint.os, "replace", replace)
        return original_save(*args, **kwargs)

    original_save = checkpoint.save
    monkeypatch.setattr(checkpoint, "save", save)


@pytest.mark.parametrize("when", ["between", "before"])
def test_a_kill_during_a_checkpoint_loses_nothing_and_duplicates_no_log_row(tmp_path, monkeypatch, when):
    run = str(tmp_path / "run")
    _run(run, 80, resume=False)
    rows_at_80 = _rows(run, wall_time=True)
    with monkeypatch.context() as m:
        _kill_save_at(m, when)
        with pytest.raises(Killed):
            _run(run, 120, resume=True)  # the evaluation at 120 is logged, its checkpoint is not committed
    if when == "between":  # only the moved-aside old one and the complete new one are left
        assert not os.path.exists(os.path.join(run, CHECKPOINT))
        assert os.path.isdir(os.path.join(run, CHECKPOINT + ".old")) and os.path.isdir(os.path.join(run, CHECKPOINT + ".partial"))
    assert ("eval/success", 120) in {(t, s) for s, t in _rows(run)}
    _run(run, 160, resume=True)
    assert _rows(run, wall_time=True)[:len(rows_at_80)] == rows_at_80  # kept as written: resumed, not restarted
    rows = _rows(run)
    evals = sorted(s for s, t in rows if t == "eval/success")
    assert evals == [40, 80, 120, 160]  # each evaluation once: none lost, none twice
    assert max(Counter(rows).values()) == 1  # no training row twice either
    assert not os.path.exists(os.path.join(run, CHECKPOINT + ".partial"))


def test_resume_before_any_checkpoint_says_so_and_starts_clean(tmp_path, monkeypatch, capsys):
    run = str(tmp_path / "run")
    with monkeypatch.context() as m:
        _kill_save_at(m, "before")
        with pytest.raises(Killed):
            _run(run, 40, resume=False)
    with pytest.raises(FileExistsError, match="pass --resume"):
        _run(run, 40, resume=False)  # a folder with progress is never silently restarted
    _run(run, 40, resume=True)
    assert "no checkpoint yet" in capsys.readouterr().err
    assert sorted(s for s, t in _rows(run) if t == "eval/success") == [40]


@pytest.mark.parametrize("args, message", [
    (["--eval-every", "0"], "--eval-every 0: must be a positive integer"),
    (["--eval-every", "-3"], "--eval-every -3: must be a positive integer"),
    (["--steps", "0"], "--steps 0: must be a positive integer"),
    (["--steps", "-5"], "--steps -5: must be a positive integer"),
    (["--env", "meld/Nope-v0"], "meld/Nope-v0"),
    (["--eval-tasks", "0"], "--eval-tasks 0: meld/Nav2D-v0 has 10 test tasks; allowed: 1..10"),
    (["--eval-tasks", "99"], "--eval-tasks 99"),
])
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, capsys, args, message):
    from meld_agent.train import main

    out = tmp_path / "run"
    base = {"--steps": "80", "--out": str(out), "--obs-mode": "state", "--no-progress": None}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [x for k, v in base.items() for x in ((k,) if v is None else (k, v))]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()
