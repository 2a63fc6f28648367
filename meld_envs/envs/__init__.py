"""One module per environment; each is registered in ``meld_envs.registry``."""
