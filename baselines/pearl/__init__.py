"""PEARL (Rakelly et al., ICML 2019) on MELD's conv encoder: a probabilistic context encoder over
transitions (obs features, action, reward) combined as a product of Gaussians, KL to N(0, I)
weighted 0.1, latent size 5; SAC conditioned on the observation's features and a sampled z; the
context encoder learns through the critic's loss; training contexts come from each task's encoder
buffer of recent prior-policy trials, as in the authors' code (oyster). Meta-test: the agent declares
``exploration_episodes`` (oyster's ``num_exp_traj_eval``), which the protocol runs unscored on the
trial's task; they act with z from the prior, and every scored episode acts with the posterior
inferred from all that came before (MELD section 5.1 evaluates PEARL only after this exploration
phase), taking the policy's mean action. ``baselines/pearl/agent.py`` lists the deviations from oyster.

    python -m leaderboards.run --agent pearl --env meld/Nav2D-v0
    python -m baselines.pearl.train --env meld/Nav2D-v0 --steps 100000 --out runs/pearl_nav
"""
from baselines.pearl.agent import PEARL
from baselines.pearl.config import PRESETS, SMALL, ContextConfig, EncoderConfig, PEARLConfig, PEARLTrainConfig, make_config
from baselines.pearl.networks import ContextEncoder, kl_to_standard_normal, product_of_gaussians

__all__ = ["PEARL", "PEARLConfig", "ContextConfig", "EncoderConfig", "PEARLTrainConfig", "PRESETS", "SMALL", "make_config",
           "ContextEncoder", "product_of_gaussians", "kl_to_standard_normal"]
