"""SLAC (Lee et al. 2019) as the paper's baseline (MELD section 5.1): MELD's latent state model
*without* reward evidence (the posterior sees images and actions only), SAC on its belief.

It is MELD's code under one configuration change, ``model.reward_input="none"`` (``SLAC_OVERRIDES``),
not a copy: the model still reconstructs rewards (SLAC's model has a reward decoder) and the critic
still learns from the shaped reward during meta-training; only the task evidence is gone, so the
policy can learn no more than "the average task" (MELD section 5.1).

Which SLAC this is: MELD's agent without reward evidence, so its actor and critic both read MELD's belief (the
posterior's means and standard deviations). The original SLAC (Lee et al. 2019; slac.pytorch) feeds its actor the
history of image features and actions and its critic latent samples; that is not what runs here. At meta-test it
acts with the mean action, as slac.pytorch's evaluation (``exploit``) does (``SLAC.meta_test_actions``).

    python -m leaderboards.run --agent slac --env meld/CheetahVel-v0
    python -m baselines.slac.train --env meld/CheetahVel-v0 --steps 100000 --out runs/slac_cheetah
"""
from baselines.slac.agent import SLAC, SLAC_OVERRIDES, make_slac_config

__all__ = ["SLAC", "SLAC_OVERRIDES", "make_slac_config"]
