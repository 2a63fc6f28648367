"""kill -9 of ``leaderboards.run --workers 2``: its workers die with it, and the same command runs again at once."""
import glob
import os
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOW_AGENT = """
import os, time
from baselines.random import RandomAgent

class SlowAgent(RandomAgent):
    def meta_train(self, ctx, steps):
        time.sleep(float(os.environ["SLOW_AGENT_S"]))
        super().meta_train(ctx, steps)
"""


def _workers(parent: int) -> list[int]:
    """Pids of ``parent``'s spawned pool workers."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            pid = int(stat.split("/")[2])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline:
            found.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_runner_and_the_command_runs_again(tmp_path):
    (tmp_path / "slow_agent.py").write_text(SLOW_AGENT)
    results = str(tmp_path / "results")
    command = [sys.executable, "-m", "leaderboards.run", "--agent", "slow_agent:SlowAgent", "--env", "meld/Nav2D-v0",
               "meld/CheetahVel-v0", "--preset", "smoke", "--workers", "2", "--results", results, "--no-progress"]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}", "SLOW_AGENT_S": "120"}
    runner = subprocess.Popen(command, cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(glob.glob(os.path.join(results, "**", ".*.lock"), recursive=True)) < 2:  # both runs are under way
            assert time.monotonic() < deadline and runner.poll() is None, "the runs did not start"
            time.sleep(0.2)
        workers = _workers(runner.pid)
        assert len(workers) == 2
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        deadline = time.monotonic() + 15
        while any(_alive(w) for w in workers):
            assert time.monotonic() < deadline, "a worker outlived its killed parent"
            time.sleep(0.2)
    finally:
        if runner.poll() is None:
            runner.kill()
    again = subprocess.run(command, cwd=str(tmp_path), env={**env, "SLOW_AGENT_S": "0"}, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "is held" not in again.stdout + again.stderr
    assert (again.stdout + again.stderr).count("taking it over") == 2
