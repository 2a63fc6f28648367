"""Exploration episodes and action modes in the protocol: an agent's ``exploration_episodes`` run unscored on the
trial's task first, with their own deterministic seeds and counted steps; an agent without the attribute gets none;
the results header, the eval records and the report carry both declarations."""
import json
import os
import textwrap

import pytest

from leaderboards import protocol, report, results, runner, validate
from leaderboards.runner import RunSpec
from meld_envs import interface

ENV = "meld/Nav2D-v0"  # sparse: trials of 2 episodes, so the exploration episodes come before a multi-episode trial


class Explorer(interface.RandomAgent):
    """A random agent that asks for exploration episodes and records, at every act, the env's task and its info."""

    def __init__(self, info, env=None, episodes=None, **kw):
        super().__init__(info, **kw)
        self.env, self.log = env, []
        if episodes is not None:
            self.exploration_episodes = episodes

    def reset(self):
        self.log = []

    def act(self, obs, reward=0.0, info=None):
        self.log.append((self.env.unwrapped.task.index, dict(info or {})))
        return super().act(obs, reward, info)


@pytest.fixture
def nav():
    info = interface.env_info(ENV, "state")
    env = interface.make_test_env(ENV, obs_mode="state")
    seeds = []
    base = env.unwrapped
    reset = base.reset

    def recording_reset(*, seed=None, options=None):
        seeds.append(seed)
        return reset(seed=seed, options=options)

    base.reset = recording_reset  # every reset reaches the base env: the seeds the protocol used, in order
    yield info, env, seeds
    env.close()


def test_exploration_episodes_run_unscored_on_the_trials_task_before_the_trial(nav):
    info, env, seeds = nav
    T, E = info.max_episode_steps, info.episodes_per_trial
    seed = interface.eval_seed(3, 0)
    agent = Explorer(info, env, 2, seed=0)
    result = interface.run_trial(agent, env, 3, seed)
    assert result.exploration_steps == 2 * T and len(result.exploration_returns) == 2  # Nav2D never terminates early
    assert result.steps == E * T and len(result.episode_returns) == E  # the scored trial is whole, after them
    assert {task for task, _ in agent.log} == {3}  # every step, exploration included, on the trial's task
    infos = [i for _, i in agent.log]
    assert len(infos) == 2 * T + E * T
    assert infos[0] == {"exploration": True, "exploration_episode": 0}
    assert [i.get("exploration_episode") for i in infos[:2 * T]] == [0] * T + [1] * T
    assert all(i["exploration"] for i in infos[:2 * T]) and not any("exploration" in i for i in infos[2 * T:])
    assert infos[T] == {"exploration": True, "exploration_episode": 1, "episode_end": True}  # a new episode begins
    assert infos[2 * T] == {"episode_in_trial": 0, "episode_end": True}  # the scored trial begins
    # seeds: the exploration episodes' own, derived from the trial's, deterministic and distinct from it
    expected = [interface.exploration_seed(seed, 0), interface.exploration_seed(seed, 1), seed]
    assert seeds[:3] == expected and len(set(expected)) == 3
    assert interface.exploration_seed(seed, 0) == expected[0] and interface.exploration_seed(seed + 1, 0) != expected[0]
    with pytest.raises(ValueError, match="episode=-1"):
        interface.exploration_seed(seed, -1)


def test_an_agent_without_the_attribute_gets_no_exploration_and_bad_values_are_refused(nav):
    info, env, seeds = nav
    seed = interface.eval_seed(3, 0)
    plain = interface.RandomAgent(info, seed=0)
    assert interface.exploration_episodes_of(plain) == 0 and interface.meta_test_actions_of(plain) == "sampled"
    result = interface.run_trial(plain, env, 3, seed)
    assert result.exploration_steps == 0 and result.exploration_returns == [] and seeds[0] == seed
    for bad in (-1, True, 1.5, "2"):
        with pytest.raises(ValueError, match=rf"Explorer.exploration_episodes={bad!r}: must be an integer >= 0"):
            interface.run_trial(Explorer(info, env, bad, seed=0), env, 3, seed)
    odd = Explorer(info, env, 0, seed=0)
    odd.meta_test_actions = "greedy"
    with pytest.raises(ValueError, match="meta_test_actions='greedy'; allowed: 'sampled', 'mean'"):
        interface.meta_test_actions_of(odd)
    assert interface.meta_test_actions_of(Explorer(info, env, 0, seed=0)) == "sampled"  # RandomAgent's, inherited


_AGENT = textwrap.dedent("""
    from meld_envs.interface import RandomAgent

    class Explorer(RandomAgent):
        exploration_episodes = 1
        meta_test_actions = "mean"

    class Quiet(RandomAgent):  # says nothing about its actions
        meta_test_actions = None
""")


def test_the_results_header_and_the_report_carry_exploration_episodes_and_action_mode(tmp_path, monkeypatch):
    (tmp_path / "explorer_agents.py").write_text(_AGENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    d = str(tmp_path / "results")
    specs = [RunSpec(agent="explorer_agents:Explorer", env_id=ENV, seed=0, preset="smoke", results_dir=d, agent_name="explorer"),
             RunSpec(agent="explorer_agents:Quiet", env_id=ENV, seed=0, preset="smoke", results_dir=d, agent_name="quiet")]
    for spec in specs:
        assert runner.run(spec, log=lambda m: None)["status"] == "done"
        assert validate.validate_file(spec.path) == []
    proto = protocol.preset("smoke").for_env(ENV)
    records = results.read_records(specs[0].path)
    assert records[0]["agent"]["exploration_episodes"] == 1 and records[0]["agent"]["meta_test_actions"] == "mean"
    evals = [r for r in records if r["record"] == "eval"]
    scored = len(proto.test_tasks) * proto.trials_per_task * proto.episodes_per_trial * proto.max_episode_steps
    explored = len(proto.test_tasks) * proto.trials_per_task * 1 * proto.max_episode_steps
    assert all(r["exploration_env_steps"] == explored and r["eval_env_steps"] == scored + explored for r in evals)
    assert all(len(t["exploration_return"]) == proto.trials_per_task and len(t["exploration_return"][0]) == 1
               for t in evals[-1]["per_task"])
    quiet = results.read_records(specs[1].path)
    assert quiet[0]["agent"]["exploration_episodes"] == 0 and quiet[0]["agent"]["meta_test_actions"] is None
    assert all(r["exploration_env_steps"] == 0 and r["eval_env_steps"] == scored for r in quiet if r["record"] == "eval")

    out = str(tmp_path / "report")
    summary, refused = report.report(d, out, reps=50, log=lambda m: None)
    assert refused == []
    assert summary["per_env"][ENV]["explorer"]["exploration_episodes"] == [1]
    assert summary["per_env"][ENV]["quiet"]["meta_test_actions"] == ["unstated"]
    md = open(os.path.join(out, "leaderboard.md")).read()
    assert "| Exploration episodes, actions |" in md and "| Exploration episodes | Actions |" in md
    assert "| 1 (mean actions) |" in md and "| 0 (unstated actions) |" in md  # overall, next to the scores
    assert f"| {ENV} | explorer |" in md and "| 1 | mean |" in md and "| 0 | unstated |" in md  # per environment
    html = open(os.path.join(out, "leaderboard.html")).read()
    assert ">Exploration episodes<" in html and "unstated" in html
    assert json.load(open(os.path.join(out, "summary.json")))["per_env"][ENV]["explorer"]["meta_test_actions"] == ["mean"]

    # a header that claims no exploration but records exploration steps, or declares bad values, is refused
    check = lambda recs: results.check_records(recs, protocol_version=protocol.PROTOCOL_VERSION)  # noqa: E731
    lying = [{**quiet[0]}] + [({**r, "exploration_env_steps": 5} if r["record"] == "eval" else r) for r in quiet[1:]]
    assert any("exploration_env_steps 5 outside 0..0" in p for p in check(lying))
    bad = [{**quiet[0], "agent": {**quiet[0]["agent"], "exploration_episodes": -2, "meta_test_actions": "greedy"}}] + quiet[1:]
    problems = check(bad)
    assert any("exploration_episodes=-2" in p for p in problems) and any("meta_test_actions='greedy'" in p for p in problems)
    old = [{**quiet[0], "agent": {k: v for k, v in quiet[0]["agent"].items() if k not in results.AGENT_OPTIONAL_FIELDS}}]
    old += [{k: v for k, v in r.items() if k != "exploration_env_steps"} for r in quiet[1:]]
    assert check(old) == [] and results.exploration_episodes(old[0]) == 0 and results.meta_test_actions(old[0]) == "unstated"
