"""Baseline meta-RL agents (PEARL, RL^2, SLAC, random) on MELD's conv encoder.

Not built yet: see the issue "Baseline agents".
"""
