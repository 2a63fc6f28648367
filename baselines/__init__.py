"""Baseline meta-RL agents of the MELD paper's comparison (section 5.1), each on MELD's conv encoder.

============  ======================================  =========================================
name          package                                 what it is
============  ======================================  =========================================
``pearl``     ``baselines.pearl`` (``PEARL``)         Rakelly et al. 2019: product-of-Gaussians
                                                      context encoder, SAC on (features, z)
``rl2``       ``baselines.rl2`` (``RL2``)             Duan et al. 2016 on sb3-contrib's
                                                      RecurrentPPO, one trial = one episode
``slac``      ``baselines.slac`` (``SLAC``)           Lee et al. 2019: MELD with
                                                      ``model.reward_input="none"``
``random``    ``baselines.random`` (``RandomAgent``)  uniform actions
============  ======================================  =========================================

Every agent follows the leaderboard's interface (``AgentClass(env_info, seed=..., **overrides)``,
``meta_train``, ``reset``, ``act``, ``save``, ``load``) and has ``python -m baselines.<name>.train``
(run folder with config, metrics.csv + TensorBoard, checkpoint, ``--resume``). Shared pieces come
from ``meld_agent`` by composition: conv encoder, actor, twin critic, soft Bellman target, per-task
trial replay, checkpoints, run logger. ``benchmarks/baselines_throughput.py`` measures throughput.
"""
