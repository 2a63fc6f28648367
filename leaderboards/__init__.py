"""The standard meld-bench protocol (``meld-v1``), its runner, results, statistics and reports.

    python -m leaderboards.run --agent random --env all --preset smoke
    python -m leaderboards.report results/ --out report/
    python -m leaderboards.validate their_results/

See ``leaderboards/README.md``; the agent contract is ``meld_envs.interface``, re-exported as ``leaderboards.interface``.
"""
