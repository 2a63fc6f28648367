"""Every result says which renderer drew its observations (frames differ in the last bits between renderers)."""
import os

from leaderboards import results, run

import meld_envs


def test_renderer_info_names_the_backend_and_the_gl_strings():
    info = meld_envs.renderer_info()
    assert info["backend"] == os.environ["MUJOCO_GL"]
    assert "error" not in info and all(info[k] not in ("", "?") for k in ("vendor", "renderer", "version"))
    assert meld_envs.renderer_info() is info  # read once per process


def test_a_results_header_records_the_renderer(tmp_path):
    out = str(tmp_path / "results")
    assert run.main(["--agent", "random", "--env", "meld/Nav2D-v0", "--preset", "smoke", "--results", out, "--workers", "1"]) == 0
    (path,) = results.find_results(out)
    header = results.read_records(path)[0]
    assert header["renderer"] == meld_envs.renderer_info()


def test_a_training_run_records_the_renderer(tmp_path):
    import json

    from meld_agent import make_config
    from meld_agent.train import train

    config = make_config("meld/Nav2D-v0", obs_mode="state", train__initial_random_trials=1, train__num_train_tasks=1)
    train(config, 40, str(tmp_path / "run"), eval_every=40, eval_tasks=1, progress=False)
    with open(tmp_path / "run" / "trainer.json") as f:
        assert json.load(f)["renderer"] == meld_envs.renderer_info()


def test_the_report_names_the_renderer(tmp_path):
    from leaderboards import report

    out = str(tmp_path / "results")
    assert run.main(["--agent", "random", "--env", "meld/Nav2D-v0", "--preset", "smoke", "--results", out, "--workers", "1"]) == 0
    assert report.main([out, "--out", str(tmp_path / "report")]) == 0
    info = meld_envs.renderer_info()
    for name in ("leaderboard.md", "leaderboard.html"):
        with open(tmp_path / "report" / name) as f:
            text = f.read()
        assert info["renderer"] in text and info["backend"] in text, name
