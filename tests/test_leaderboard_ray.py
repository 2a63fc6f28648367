"""`--executor ray` against a real Ray cluster on 127.0.0.1 that talks to nothing beyond loopback.

Ray runs in a separate process (the CLI under ``subprocess``), started with the loopback-only
settings in its environment before it imports ray: listeners on 127.0.0.1, no usage reports, no
cloud-metadata probe (``$HOME/ray_bootstrap_config.yaml``), ``~/.ray`` in a scratch HOME. The
same ``RAY_*`` variables are also set here, before anything in this process could import ray.
The cluster is started by ``ray.init`` inside that process and shut down there; nothing is
stopped by name.
"""
from __future__ import annotations

import os

# before anything imports ray: setting them after `import ray` can hang a driver
_RAY_LOOPBACK = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
}
for _k, _v in _RAY_LOOPBACK.items():
    os.environ.setdefault(_k, _v)

import ipaddress  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

from baselines.random import RandomAgent  # noqa: E402
from leaderboards import results, validate  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))


class DiesOnceAgent(RandomAgent):
    """The first worker to meta-train dies outright (a lost worker); every later one works."""

    def __init__(self, env_info, seed=0, marker="", **overrides):
        super().__init__(env_info, seed, **overrides)
        self.marker = marker

    def meta_train(self, ctx, steps):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().meta_train(ctx, steps)
        os.close(fd)
        os._exit(1)


@pytest.mark.timeout(120)
def test_ray_executor_runs_every_run_and_retries_a_lost_worker(tmp_path):
    pytest.importorskip("ray")
    home = tmp_path / "home"
    home.mkdir()
    (home / "ray_bootstrap_config.yaml").write_text("provider: {type: local}\n")
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    marker = str(tmp_path / "died")
    out = str(tmp_path / "results")
    env = {**os.environ, **_RAY_LOOPBACK, "HOME": str(home), "PYTHONPATH": os.pathsep.join([REPO, TESTS])}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "leaderboards.run", "--agent", "test_leaderboard_ray:DiesOnceAgent",
             "--name", "dies-once", "--config", f"marker={marker}", "--env", "meld/Nav2D-v0", "--seeds", "0", "1",
             "--preset", "smoke", "--results", out, "--executor", "ray", "--ray-temp-dir", ray_tmp],
            capture_output=True, text=True, timeout=110, env=env, cwd=str(tmp_path))
        addresses = _addresses_in_logs(ray_tmp)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses
    assert os.path.exists(marker), "no worker died: the retry path was not exercised"
    assert "[resume]" in proc.stdout  # the retried task resumed from its checkpoint
    for seed in (0, 1):
        path = results.run_path(out, "smoke", "dies-once", "meld/Nav2D-v0", seed)
        assert validate.validate_file(path) == []
        assert [r.get("index") for r in results.read_records(path)] == [None, 0, 1, 2, None]


def _addresses_in_logs(ray_tmp: str) -> set[str]:
    """Every IPv4 address Ray's session logs mention (the node, GCS and raylet addresses)."""
    found: set[str] = set()
    for root, _, files in os.walk(ray_tmp):
        for name in files:
            if root.endswith("logs"):
                with open(os.path.join(root, name), errors="replace") as f:
                    found |= set(re.findall(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])", f.read()))
    return found
