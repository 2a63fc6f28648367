"""Simulated devices that speak the real wire protocols: for tests, and for trying the drivers
without a robot. Run one with `python -m hardware.sim dynamixel|rig|rosbridge`.
"""
