"""The features extractor of the RL² policy: MELD's conv encoder on the image, concatenated with
the previous action, the reward and the done flag (Duan et al. 2016), ahead of sb3's LSTM."""
from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor

from meld_agent.networks import ConvEncoder, StateEncoder


class TrialFeatures(BaseFeaturesExtractor):
    """``Dict(image, prev_action, reward, done)`` -> ``[N, F + A + 2]``.

    sb3 hands images channel-first (its ``VecTransposeImage``) and already scaled to [0, 1]
    (``normalize_images``), so the conv layers of ``ConvEncoder`` are applied directly.
    """

    def __init__(self, observation_space: gym.spaces.Dict, conv_filters: tuple[int, ...] = (32, 64, 128, 256, 256),
                 conv_kernels: tuple[int, ...] = (5, 3, 3, 3, 4), feature_size: int = 256, state_hidden_size: int = 256) -> None:
        image = observation_space["image"]
        extra = int(observation_space["prev_action"].shape[0]) + 2
        self.pixels = len(image.shape) == 3
        if self.pixels:
            c, h, w = image.shape if image.shape[0] == 3 else (image.shape[2], image.shape[0], image.shape[1])
            encoder: torch.nn.Module = ConvEncoder((h, w, c), tuple(conv_filters), tuple(conv_kernels))
            # sb3's orthogonal init views weights as 2-D, which channels_last weights refuse: switch back on first use
            encoder.to(memory_format=torch.contiguous_format)
        else:
            encoder = StateEncoder(int(image.shape[0]), state_hidden_size, feature_size)
        super().__init__(observation_space, features_dim=encoder.out_size + extra)
        self.encoder = encoder
        self._channels_last = False

    def forward(self, obs: dict[str, Tensor]) -> Tensor:
        image = obs["image"]
        if self.pixels:
            if not self._channels_last:  # same Parameter objects, so optimizers keep their references
                self.encoder.to(memory_format=torch.channels_last)
                self._channels_last = True
            if image.shape[-1] == 3:  # channel-last input (not through VecTransposeImage)
                image = image.permute(0, 3, 1, 2)
            feats = self.encoder.net(image.float().contiguous(memory_format=torch.channels_last)).flatten(1)
        else:
            feats = self.encoder(image)
        return torch.cat([feats, obs["prev_action"], obs["reward"], obs["done"]], dim=-1)
