"""The reference MELD agent (latent state model with reward evidence + SAC on its belief).

Not built yet: see the issue "The reference MELD agent (meld_agent/)".
"""
