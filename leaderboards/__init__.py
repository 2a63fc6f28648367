"""The standard meld-bench protocol, its runner, results and reports.

Not built yet: see the issue "Leaderboards".
"""
