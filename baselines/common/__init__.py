"""Pieces every baseline shares: config overrides on frozen dataclasses, the env spec of an agent,
and the train-run loop (chunks of meta-training, evaluation on held-out tasks, checkpoint, resume).

Networks, SAC, replay, checkpoints and logs come from ``meld_agent`` by composition.
"""
