"""SLAC is MELD without reward evidence (configuration, not a copy); random is the floor.
Both through their train commands and the leaderboard protocol's smoke preset."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from baselines.random import RandomAgent
from baselines.slac import SLAC, make_slac_config
from leaderboards import agents
from leaderboards import run as lb_run
from meld_agent import MELD, PRESETS, make_config
from meld_agent.config import flat
from meld_envs.interface import env_info

TINY_MELD = ["model.latent1_size=8", "model.latent2_size=16", "model.hidden_size=32", "sac.hidden_sizes=[32,32]",
             "train.initial_random_trials=2", "train.model_pretrain_ratio=0.02", "train.collect_tasks=1",
             "train.tasks_per_update=1", "train.model_batch_steps=41", "train.model_train_ratio=0.02",
             "train.ac_train_ratio=0.02", "replay.capacity_frames_per_task=500", "sac.batch_size=32"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: a second thread only adds contention on 2 cores
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("env_id", ["meld/Nav2D-v0", *PRESETS])
def test_slac_config_differs_from_meld_only_in_reward_evidence(env_id):
    meld, slac = flat(make_config(env_id)), flat(make_slac_config(env_id))
    assert {k for k in meld if meld[k] != slac[k]} == {"model.reward_input"}
    assert slac["model.reward_input"] == "none" and meld["model.reward_input"] != "none"


def test_slac_agent_is_the_meld_agent_without_reward_in_its_posterior():
    spec = env_info("meld/Nav2D-v0", "state")
    slac, meld = SLAC(spec, seed=0), MELD(spec, seed=0)
    assert isinstance(slac, MELD) and type(slac).__mro__[1] is MELD  # one thin layer: configuration only
    assert flat(slac.config) == {**flat(meld.config), "model.reward_input": "none"}
    assert slac.learner.model.reward_repeat == 0 and meld.learner.model.reward_repeat > 0
    obs = np.zeros(4, np.float32)
    slac.reset()
    a = slac.act(obs, 0.0)
    slac.reset()  # a trial's noise is seeded by its first observation: the same again
    assert np.allclose(slac.act(obs, 7.0), a)  # the reward changes nothing


def test_slac_refuses_reward_evidence():
    with pytest.raises(ValueError, match="SLAC has no reward evidence"):
        SLAC(env_info("meld/Nav2D-v0", "state"), seed=0, model__reward_input="shaped")
    with pytest.raises(ValueError, match="SLAC has no reward evidence"):
        make_slac_config("meld/Nav2D-v0", reward_input="sparse")


def test_builtin_names_resolve_to_the_baselines():
    assert agents.resolve_agent("slac") is SLAC
    assert agents.resolve_agent("random") is RandomAgent
    assert agents.resolve_agent("baselines.random:RandomAgent") is RandomAgent


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def test_slac_train_command_smoke_and_resume(tmp_path):
    sets = [x for s in TINY_MELD for x in ("--set", s)]
    common = ["-m", "baselines.slac.train", "--env", "meld/Nav2D-v0", "--obs-mode", "state", "--out", str(tmp_path / "s"),
              "--eval-every", "80", "--eval-tasks", "1", "--no-progress", "--threads", "1"]
    out = _cli(*common, "--steps", "80", *sets)
    assert out.returncode == 0, out.stderr
    config = json.load(open(tmp_path / "s" / "config.json"))
    assert config["model"]["reward_input"] == "none"
    out = _cli("-m", "baselines.slac.train", "--out", str(tmp_path / "s"), "--steps", "160", "--resume", "--no-progress")
    assert out.returncode == 0, out.stderr
    state = torch.load(tmp_path / "s" / "checkpoint" / "state.pt", weights_only=True)
    assert state["counters"]["env_steps"] == 160 and state["counters"]["updates"] >= 1
    assert "losses/model_loss" in open(tmp_path / "s" / "metrics.csv").read()
    bad = _cli("-m", "baselines.slac.train", "--out", str(tmp_path / "x"), "--steps", "10", "--set", "model.reward_input=shaped")
    assert bad.returncode == 2 and "SLAC has no reward evidence" in bad.stderr


def test_random_train_command_smoke_and_resume(tmp_path):
    common = ["-m", "baselines.random.train", "--env", "meld/Nav2D-v0", "--out", str(tmp_path / "r"), "--eval-every", "40",
              "--eval-tasks", "1", "--no-progress"]
    out = _cli(*common, "--steps", "40")
    assert out.returncode == 0, out.stderr
    assert {"config.json", "config.md", "run.json", "metrics.csv", "tb", "checkpoint"} <= set(os.listdir(tmp_path / "r"))
    out = _cli("-m", "baselines.random.train", "--out", str(tmp_path / "r"), "--steps", "80", "--resume", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "eval/success" in json.loads(out.stdout)
    again = _cli(*common, "--steps", "40")
    assert again.returncode == 2 and "--resume" in again.stderr


def _smoke(agent, tmp_path, *config):
    code = lb_run.main(["--agent", agent, "--env", "meld/Nav2D-v0", "--preset", "smoke", "--results", str(tmp_path),
                        "--workers", "1", *(["--config", *config] if config else [])])
    assert code == 0
    path = tmp_path / "smoke" / agent / "meld__Nav2D-v0" / "seed_0.jsonl"
    lines = [json.loads(line) for line in open(path)]
    evals = [r for r in lines if r["record"] == "eval"]
    assert len(evals) == 3 and lines[-1]["record"] == "end" and lines[-1]["env_steps"] <= 200
    return evals


def test_random_through_the_leaderboard_smoke_preset(tmp_path):
    _smoke("random", tmp_path)


def test_slac_through_the_leaderboard_smoke_preset(tmp_path):
    cfg = [s.replace("train.", "train__").replace("model.", "model__").replace("sac.", "sac__").replace("replay.", "replay__")
           for s in TINY_MELD]
    _smoke("slac", tmp_path, *cfg)
