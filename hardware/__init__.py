"""Drivers for the WidowX arm, cameras and task-reset rig, with simulated devices for tests.

Not built yet: see the issue "WidowX cable insertion".
"""
