"""The meld-v1 protocol: step counting, what an agent sees at meta-test, success and returns."""
from __future__ import annotations

import numpy as np
import pytest

import meld_envs
from baselines.random import RandomAgent
from leaderboards import agents, protocol, run
from leaderboards.interface import Agent, BudgetExhausted


def _proto(env_id: str, **changes) -> protocol.EnvProtocol:
    p = protocol.preset("smoke").for_env(env_id)
    return protocol.EnvProtocol(**{**p.__dict__, **changes})


class GreedyAgent:
    """Tries to take far more steps than allowed, in three different ways."""

    def __init__(self, env_info, seed=0, how="wrapper"):
        self.env_info, self.how, self.taken, self.refusals = env_info, how, 0, 0

    def meta_train(self, ctx, steps):
        env = ctx.make_env(0)
        env.reset(seed=0)
        target = env.unwrapped if self.how == "unwrapped" else env
        for _ in range(10 * steps):
            try:
                _, _, term, trunc, _ = target.step(np.zeros(self.env_info.action_space.shape, np.float32))
                self.taken += 1
                if self.how == "unwrapped" and self.taken % 20 == 0 or term or trunc:
                    env.reset()
            except BudgetExhausted:
                self.refusals += 1
                if self.how != "swallow":
                    raise

    def reset(self):
        pass

    def act(self, obs, reward, info):
        return np.zeros(self.env_info.action_space.shape, np.float32)

    def save(self, path):
        pass

    def load(self, path):
        pass


@pytest.mark.parametrize("how", ["wrapper", "unwrapped", "swallow"])
def test_an_agent_cannot_step_past_its_allowance(how):
    proto = _proto("meld/Nav2D-v0")
    info = protocol.env_info(proto)
    agent = GreedyAgent(info, how=how)
    ctx = protocol.TrainContext(info)
    try:
        ctx.allow(37)
        if how == "swallow":
            agent.meta_train(ctx, 37)  # catches BudgetExhausted and keeps trying
            assert agent.refusals == 10 * 37 - 37
        else:
            with pytest.raises(BudgetExhausted, match="allowance is used up"):
                agent.meta_train(ctx, 37)
        assert agent.taken == ctx.steps_used == 37 and ctx.steps_remaining == 0
        ctx.allow(5)  # the next chunk's allowance; unused steps are not carried over
        assert ctx.steps_remaining == 5
        ctx.allow(0)  # what the runner does after meta_train: train envs are closed to meta-test
        env = ctx.make_env(1)
        env.reset(seed=0)
        with pytest.raises(BudgetExhausted):
            env.step(np.zeros(2, np.float32))
    finally:
        ctx.close()


def test_make_env_refuses_test_tasks():
    proto = _proto("meld/Nav2D-v0")
    ctx = protocol.TrainContext(protocol.env_info(proto))
    with pytest.raises(ValueError, match="train tasks only"):
        ctx.make_env(meld_envs.tasks("meld/Nav2D-v0", "test")[0])
    with pytest.raises(ValueError, match="out of range"):
        ctx.make_env(30)


class RecordingAgent(RandomAgent):
    def __init__(self, env_info, seed=0, **kw):
        super().__init__(env_info, seed, **kw)
        self.seen: list[tuple[float, dict]] = []
        self.resets = 0

    def reset(self):
        self.resets += 1

    def act(self, obs, reward, info):
        assert obs.dtype == np.uint8 and obs.shape == self.env_info.observation_space.shape
        self.seen.append((reward, dict(info)))
        return super().act(obs, reward, info)


def test_meta_test_on_sparse_tasks_shows_only_the_sparse_reward_and_episode_bounds():
    proto = _proto("meld/Nav2D-v0", trials_per_task=2)
    info = protocol.env_info(proto)
    assert info.sparse_at_test and info.episodes_per_trial == 2
    agent = RecordingAgent(info, action_scale=0.6)
    env = protocol.make_test_env(proto)
    try:
        metrics = protocol.evaluate(agent, proto, env)
    finally:
        env.close()
    assert agent.resets == len(proto.test_tasks) * 2  # one reset per trial
    assert len(agent.seen) == len(proto.test_tasks) * 2 * 2 * 20
    assert metrics["eval_env_steps"] == len(agent.seen)
    rewards = [r for r, _ in agent.seen]
    assert set(rewards) <= {0.0, 1.0}, "a shaped (distance) reward leaked to the agent"
    assert {k for _, i in agent.seen for k in i} <= {"episode_in_trial", "episode_end"}
    trial = agent.seen[:40]
    assert [i["episode_in_trial"] for _, i in trial] == [0] * 20 + [1] * 20
    assert [bool(i.get("episode_end")) for _, i in trial] == [False] * 20 + [True] + [False] * 19
    assert trial[0][0] == 0.0


def test_meta_test_on_dense_tasks_shows_the_task_reward():
    proto = _proto("meld/CheetahVel-v0")
    agent = RecordingAgent(protocol.env_info(proto))
    env = protocol.make_test_env(proto)
    try:
        metrics = protocol.evaluate(agent, proto, env)
    finally:
        env.close()
    rewards = [r for r, _ in agent.seen]
    assert min(rewards) < 0 and len(set(rewards)) > 10
    # the return of an episode is the sum of what the agent was shown (plus the last step's reward)
    assert len(metrics["return_per_episode"]) == 1 and metrics["return_per_episode"][0] < 0


class GoalSeekingAgent:
    """Cheats (knows the test goals) to produce a known success pattern: in episode 1 it reaches the
    goal and leaves it again before the end; in episode 2 it reaches the goal and stays."""

    def __init__(self, env_info, seed=0):
        self.goals = {t.index: meld_envs.envs.nav2d.Nav2DEnv.goal_position(t.params["goal_angle"])
                      for t in meld_envs.tasks("meld/Nav2D-v0", "test")}
        self.task = None

    def reset(self):
        self.pos, self.t = np.zeros(2), 0

    def act(self, obs, reward, info):
        if info.get("episode_end"):
            self.pos, self.t = np.zeros(2), 0
        self.t += 1
        leave = info["episode_in_trial"] == 0 and self.t > 12
        target = np.zeros(2) if leave else self.goals[self.task]
        action = np.clip((target - self.pos) / 0.25, -1, 1)
        self.pos = self.pos + 0.25 * action
        return action.astype(np.float32)


def test_success_is_the_final_steps_and_returns_are_per_episode(monkeypatch):
    import meld_envs.envs.nav2d  # noqa: F401  (for the goal positions)

    proto = _proto("meld/Nav2D-v0", test_tasks=(0, 1, 2))
    agent = GoalSeekingAgent(None)
    env = protocol.make_test_env(proto)
    original_run_trial = protocol._run_trial

    def run_trial(agent_, proto_, env_, task_index, trial):
        agent_.task = task_index
        return original_run_trial(agent_, proto_, env_, task_index, trial)

    monkeypatch.setattr(protocol, "_run_trial", run_trial)
    try:
        metrics = protocol.evaluate(agent, proto, env)
    finally:
        env.close()
    assert metrics["success_per_episode"] == [0.0, 1.0]  # episode 1 reached the goal but ended away from it
    assert metrics["success_rate"] == 1.0
    first, second = metrics["return_per_episode"]
    assert 0 < first < second <= 20


def test_budget_and_evaluation_points_of_the_presets():
    for env in meld_envs.ENVIRONMENTS:
        p = protocol.preset("paper").for_env(env.id)
        assert p.eval_steps[0] == 0 and p.eval_steps[-1] == p.budget_steps and len(p.eval_steps) == 21
        assert p.test_tasks == tuple(range(env.num_test_tasks))
        assert p.sparse_at_test == (env.episodes_per_trial > 1)
    assert protocol.preset("smoke").for_env("meld/Nav2D-v0").eval_steps == [0, 100, 200]


def test_env_all_means_every_registered_id_but_real_robots():
    expected = [e.id for e in meld_envs.ENVIRONMENTS if not getattr(e, "real_robot", False)]
    assert protocol.env_ids("all") == expected and "meld/Nav2D-v0" in expected
    assert all(protocol.env_ids([e.id]) == [e.id] for e in meld_envs.ENVIRONMENTS)  # any id by name
    assert protocol.env_ids(["meld/Nav2D-v0", "meld/Nav2D-v0"]) == ["meld/Nav2D-v0"]


@pytest.mark.parametrize("bad, match", [
    (lambda: protocol.preset("huge"), r"unknown preset 'huge'; available: paper, pixels-100k, state, smoke"),
    (lambda: protocol.env_ids(["meld/Nope-v0"]), r"unknown environment 'meld/Nope-v0'; available: all, meld/CheetahVel-v0"),
    (lambda: agents.resolve_agent("nope"), r"agent 'nope' is unknown\. Available agents: random"),
    (lambda: agents.resolve_agent("future"), r"agent 'future' is not available yet .*Available agents: random"),
    (lambda: agents.resolve_agent("no_such_module:Agent"), r"could not be imported"),
    (lambda: agents.resolve_agent("numpy:ndarray"), r"lacks the protocol methods meta_train"),
    (lambda: run.parse_seeds(["3-1"]), r"bad seed range"),
    (lambda: run.parse_seeds(["x"]), r"bad seed 'x'"),
])
def test_bad_input_names_what_exists(bad, match, monkeypatch):
    # a built-in agent whose package does not import
    monkeypatch.setitem(agents.BUILTIN_AGENTS, "future", "no_such_package.agent:Future")
    with pytest.raises(ValueError, match=match):
        bad()


def test_seed_ranges_and_config_overrides():
    assert run.parse_seeds(["0-2", "5", "1"]) == [0, 1, 2, 5]
    assert run.parse_overrides(["lr=3e-4", "name=x", "sizes=[1,2]"]) == (("lr", 3e-4), ("name", "x"), ("sizes", [1, 2]))


def test_agents_are_found_by_name_entry_point_and_path():
    assert agents.resolve_agent("random") is RandomAgent
    assert agents.resolve_agent("baselines.random:RandomAgent") is RandomAgent
    agent = RandomAgent(protocol.env_info(_proto("meld/Nav2D-v0")), seed=1)
    assert isinstance(agent, Agent)  # structural: no import of leaderboards in the agent
    assert agents.agent_config(agent) == {"action_scale": 1.0, "train_steps_per_call": None}


def test_task_split_hash_is_stable_and_distinguishes_envs():
    a = protocol.task_split_hash("meld/Nav2D-v0")
    assert a == protocol.task_split_hash("meld/Nav2D-v0") and a.startswith("sha256:")
    assert a != protocol.task_split_hash("meld/CheetahVel-v0")


def test_a_labs_agent_is_found_through_its_entry_point(tmp_path, monkeypatch):
    """A package installed with ``[project.entry-points."meld_bench.agents"] lab-agent = ...``."""
    (tmp_path / "lab_pkg.py").write_text("from baselines.random import RandomAgent as LabAgent\n")
    dist = tmp_path / "lab_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[meld_bench.agents]\nlab-agent = lab_pkg:LabAgent\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert agents.resolve_agent("lab-agent") is RandomAgent
    assert agents.available_agents()["lab-agent"] == "lab_pkg:LabAgent"
