"""Networks of MELD: encoder/decoder, the two-layer latent state model, actor and critics.

Only ``nn.Module`` s live here (no optimizers, no losses). Shapes: ``B`` batch, ``L`` frames of a
sequence, ``N = B*L``; images are ``uint8 [..., H, W, 3]`` (64x64, or 64x128 for two cameras side by
side), states ``float32 [..., S]``.

Paper references: MELD (Zhao et al., CoRL 2020) section 4.2 and appendix A; the latent model follows
SLAC (Lee et al., 2020), whose two layers are

    p(z1_1) = N(0, I)                      q(z1_1 | x_1, r_1)
    p(z2_1 | z1_1)                         q(z2_1 | z1_1) = p(z2_1 | z1_1)
    p(z1_t | z2_{t-1}, a_{t-1})            q(z1_t | x_t, r_t, z2_{t-1}, a_{t-1})
    p(z2_t | z1_t, z2_{t-1}, a_{t-1})      q(z2_t | ...) = p(z2_t | z1_t, z2_{t-1}, a_{t-1})

with the reward r_t as evidence next to the image x_t (MELD Eq. 5).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from meld_agent.config import ACTIVATION_CHOICES, ModelConfig

_MIN_STD = 1e-5
_LOG_STD_MIN, _LOG_STD_MAX = -20.0, 2.0
# float32 constants of the tanh-Gaussian log-density (as Python floats: no tensor made per call)
_HALF_LOG_2PI = float(0.5 * torch.log(torch.tensor(2 * torch.pi)))
_LOG_2 = float(torch.log(torch.tensor(2.0)))


_LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's, which the reference's model networks use


def activation(name: str, inplace: bool = False) -> nn.Module:
    """``"leaky_relu"`` (slope 0.2: the reference's model networks) or ``"relu"`` (paper A's text; SAC's networks)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(_LEAKY_SLOPE, inplace=inplace)
    if name == "relu":
        return nn.ReLU(inplace=inplace)
    raise ValueError(f"activation {name!r}; allowed: {', '.join(map(repr, ACTIVATION_CHOICES))}")


def mlp(sizes: list[int], out_activation: bool = False, act: str = "relu") -> nn.Sequential:
    """Fully connected layers with ``act`` between them (and after the last with ``out_activation``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or out_activation:
            layers.append(activation(act))
    return nn.Sequential(*layers)


class Gaussian(nn.Module):
    """A diagonal Gaussian whose mean and std are an MLP of its (concatenated) inputs (SLAC's
    ``MultivariateNormalDiag``): 2 hidden layers; ``std = softplus(.) + 1e-5``."""

    def __init__(self, in_size: int, out_size: int, hidden: int, fixed_std: float | None = None, act: str = "relu") -> None:
        super().__init__()
        self.fixed_std = fixed_std
        self.net = mlp([in_size, hidden, hidden, out_size if fixed_std is not None else 2 * out_size], act=act)

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        return self._parameters_of(self.net(torch.cat(inputs, dim=-1) if len(inputs) > 1 else inputs[0]))

    def _parameters_of(self, out: Tensor) -> tuple[Tensor, Tensor]:
        if self.fixed_std is not None:
            return out, torch.full_like(out, self.fixed_std)
        mean, raw_std = out.chunk(2, dim=-1)
        return mean, F.softplus(raw_std) + _MIN_STD

    def from_first_layer(self, pre_activation: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and std given the first ``Linear``'s output (the caller computed it, e.g. in parts)."""
        out = pre_activation
        for layer in self.layers_after_first:
            out = layer(out)
        return self._parameters_of(out)

    @property
    def layers_after_first(self) -> list[nn.Module]:
        return list(self.net)[1:]

    @property
    def first(self) -> nn.Linear:
        return self.net[0]


def _kernels(image_shape: tuple[int, int, int], kernels: tuple[int, ...]) -> list[tuple[int, int]]:
    """(height, width) of each conv kernel: square for one camera, k x (n k) for n cameras side by side (paper A:
    "rectangular filters"; the reference's (10, 5), (6, 3), (6, 3), (6, 3), (8, 4) for two cameras stacked)."""
    h, w, c = image_shape
    if c != 3 or h % 16 or w % h:
        raise ValueError(f"image shape {image_shape}: expected (H, k*H, 3) with H a multiple of 16, e.g. (64, 64, 3) or (64, 128, 3)")
    if h // 16 != kernels[-1]:
        raise ValueError(f"image height {h} and last conv kernel {kernels[-1]}: the 4 stride-2 layers leave {h // 16} rows")
    return [(k, k * (w // h)) for k in kernels]


def _same_padding(kernel: tuple[int, int]) -> tuple[int, int]:
    """Padding of a stride-2 convolution that halves each side, as TensorFlow's "SAME" pads even inputs."""
    return (kernel[0] - 1) // 2, (kernel[1] - 1) // 2


class FullConv2d(nn.Conv2d):
    """A valid convolution whose kernel covers its whole input (``[N, C, k, k'] -> [N, F, 1, 1]``),
    computed as the matrix product it is. Same parameters, initialisation and result as
    ``nn.Conv2d``; the generic convolution kernel spends ~3x longer on this shape (forward + backward
    on 288 frames: 46-54 ms against 16-17 ms, BENCHMARKS.md). Other input sizes fall back to it."""

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != self.weight.shape[-2:] or self.padding != (0, 0):
            return super().forward(x)
        # NHWC order on both sides: a view of a channels_last input, a small copy of the weight
        flat = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        weight = self.weight.permute(0, 2, 3, 1).reshape(self.out_channels, -1)
        return F.linear(flat, weight, self.bias).reshape(x.shape[0], self.out_channels, 1, 1)


class FullConvTranspose2d(nn.ConvTranspose2d):
    """The transpose of ``FullConv2d``: ``[N, Z, 1, 1] -> [N, C, k, k']`` as one matrix product,
    returned in ``channels_last`` layout. Same parameters and result as ``nn.ConvTranspose2d``."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if x.shape[-2:] != (1, 1) or output_size is not None or self.stride != (1, 1) or self.padding != (0, 0):
            return super().forward(x, output_size)
        c, (kh, kw) = self.out_channels, self.kernel_size
        weight = self.weight.permute(0, 2, 3, 1).reshape(self.in_channels, kh * kw * c)  # [Z, (h, w, c)]
        bias = None if self.bias is None else self.bias.repeat(kh * kw)
        out = F.linear(x.flatten(1), weight.t(), bias)  # [N, (h, w, c)]: NHWC
        return out.reshape(x.shape[0], kh, kw, c).permute(0, 3, 1, 2)  # NCHW view, channels_last strides


def _check_conv_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"conv dtype {dtype}; allowed: torch.float32, torch.bfloat16")
    return dtype


def _conv_precision(x: Tensor, dtype: torch.dtype) -> torch.autocast:
    """The conv stack's compute precision: bfloat16 autocast for ``dtype=torch.bfloat16``, a no-op for float32."""
    return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)


class ConvEncoder(nn.Module):
    """Images ``uint8 [N, H, W, 3]`` -> features ``[N, filters[-1]]``: paper A's five conv layers
    (32-64-128-256-256 filters in its text, d-2d-4d-8d-8d for the reference's ``base_depth`` d; kernels
    5-3-3-3-4, each twice as wide for 64x128 two-camera images), four with stride 2, the last one valid. Runs in
    ``channels_last`` (NHWC frames are already laid out that way, so no copy is made); activations act in place (a
    convolution's backward needs its input, not its output)."""

    def __init__(self, image_shape: tuple[int, int, int], filters: tuple[int, ...], kernels: tuple[int, ...],
                 dtype: torch.dtype = torch.float32, act: str = "relu") -> None:
        super().__init__()
        self.dtype = _check_conv_dtype(dtype)  # compute dtype of the convolutions (autocast); parameters and output stay float32
        shapes = _kernels(image_shape, kernels)
        layers: list[nn.Module] = []
        c_in = 3
        for f, k in zip(filters[:-1], shapes[:-1]):
            layers += [nn.Conv2d(c_in, f, k, stride=2, padding=_same_padding(k)), activation(act, inplace=True)]
            c_in = f
        layers += [FullConv2d(c_in, filters[-1], shapes[-1]), activation(act, inplace=True)]
        self.net = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.out_size = filters[-1]

    def forward(self, frames: Tensor) -> Tensor:
        # NHWC uint8 -> NCHW view with channels_last strides; scale to [0, 1] as SLAC does
        x = frames.permute(0, 3, 1, 2).float().div_(255.0).contiguous(memory_format=torch.channels_last)
        with _conv_precision(x, self.dtype):
            return self.net(x).flatten(1).float()


class ConvDecoder(nn.Module):
    """Latents ``[N, Z]`` -> image means ``[N, 3, H, W]`` in [0, 1] units (channels_last): the
    transpose of ``ConvEncoder`` (paper A), SLAC's fixed-variance image likelihood."""

    def __init__(self, latent_size: int, image_shape: tuple[int, int, int], filters: tuple[int, ...], kernels: tuple[int, ...],
                 dtype: torch.dtype = torch.float32, act: str = "relu") -> None:
        super().__init__()
        self.dtype = _check_conv_dtype(dtype)  # as ConvEncoder's
        shapes = _kernels(image_shape, kernels)
        layers: list[nn.Module] = [FullConvTranspose2d(latent_size, filters[-1], shapes[-1]), activation(act, inplace=True)]
        chans = list(filters[:-1])[::-1] + [3]  # 256 -> 128 -> 64 -> 32 -> 3
        ks = shapes[:-1][::-1]  # 3, 3, 3, 5 (x n cameras wide)
        c_in = filters[-1]
        for i, (c_out, k) in enumerate(zip(chans[1:], ks)):
            pad = _same_padding(k)  # and the output padding that doubles each side exactly
            layers.append(nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=pad,
                                             output_padding=(2 * pad[0] - k[0] + 2, 2 * pad[1] - k[1] + 2)))
            if i < len(ks) - 1:
                layers.append(activation(act, inplace=True))
            c_in = c_out
        self.net = nn.Sequential(*layers).to(memory_format=torch.channels_last)

    def forward(self, z: Tensor) -> Tensor:
        x = z.reshape(z.shape[0], z.shape[1], 1, 1).contiguous(memory_format=torch.channels_last)
        with _conv_precision(x, self.dtype):
            return self.net(x).float()


class StateEncoder(nn.Module):
    """States ``float32 [N, S]`` -> features ``[N, F]`` (the ``obs_mode="state"`` path)."""

    def __init__(self, state_size: int, hidden: int, feature_size: int, act: str = "relu") -> None:
        super().__init__()
        self.net = mlp([state_size, hidden, hidden, feature_size], out_activation=True, act=act)
        self.out_size = feature_size

    def forward(self, states: Tensor) -> Tensor:
        return self.net(states.float())


class StateDecoder(nn.Module):
    """Latents ``[N, Z]`` -> state means ``[N, S]``."""

    def __init__(self, latent_size: int, hidden: int, state_size: int, act: str = "relu") -> None:
        super().__init__()
        self.net = mlp([latent_size, hidden, hidden, state_size], act=act)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class Posterior(NamedTuple):
    """Posterior over a sequence: every field ``[B, L, size]``. The belief b_t is
    ``(z1_mean, z1_std, z2_mean, z2_std)`` (the reference's ``latentDistribution`` input)."""

    z1_mean: Tensor
    z1_std: Tensor
    z1: Tensor
    z2_mean: Tensor
    z2_std: Tensor
    z2: Tensor

    def belief(self) -> Tensor:
        return torch.cat([self.z1_mean, self.z1_std, self.z2_mean, self.z2_std], dim=-1)

    def latent(self) -> Tensor:
        return torch.cat([self.z1, self.z2], dim=-1)


def belief_latent_mean(belief: Tensor, latent1_size: int, latent2_size: int) -> Tensor:
    """The latent means ``(z1_mean, z2_mean)`` ``[..., z1+z2]`` held in a belief ``[..., 2(z1+z2)]`` laid out as
    ``Posterior.belief`` lays it out; what ``decode_reward`` reads to show the belief's reward prediction."""
    return torch.cat([belief[..., :latent1_size], belief[..., 2 * latent1_size:2 * latent1_size + latent2_size]], dim=-1)


class FilterState(NamedTuple):
    """What the online filter carries from step t-1 to t (Algorithm 2): the z2 sample."""

    z2: Tensor  # [B, latent2_size]


def _sample(mean: Tensor, std: Tensor, generator: torch.Generator | Sequence[torch.Generator] | None) -> Tensor:
    """``mean + std * noise``; with one generator per row, row i's noise is a one-row draw from generator i (what a
    batch of 1 from it would draw)."""
    if isinstance(generator, Sequence):
        noise = torch.cat([torch.randn((1, *mean.shape[1:]), generator=g, device=mean.device, dtype=mean.dtype)
                           for g in generator])
    else:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + std * noise


class LatentModel(nn.Module):
    """MELD's latent state model (Eq. 5) with SLAC's two latent layers.

    ``obs_shape`` is ``(H, W, 3)`` for images or ``(S,)`` for states. With
    ``config.reward_input == "none"`` no reward enters the posterior: that is SLAC. ``episode_start_input``
    (``extensions.episode_start_input``) appends the later-episode flag to a_{t-1} in every transition.
    """

    def __init__(self, obs_shape: tuple[int, ...], action_size: int, config: ModelConfig,
                 episode_start_input: bool = False) -> None:
        super().__init__()
        self.config = config
        self.episode_start_input = episode_start_input
        self.obs_shape = tuple(obs_shape)
        self.action_size = action_size
        z1, z2, h = config.latent1_size, config.latent2_size, config.hidden_size
        a = action_size + int(episode_start_input)  # what the transitions read for a_{t-1}
        act = config.activation
        self.pixels = len(self.obs_shape) == 3
        if self.pixels:
            dtype = getattr(torch, config.conv_dtype)
            self.encoder: nn.Module = ConvEncoder(self.obs_shape, config.conv_filters, config.conv_kernels, dtype, act)
            self.decoder: nn.Module = ConvDecoder(z1 + z2, self.obs_shape, config.conv_filters, config.conv_kernels, dtype, act)
        else:
            self.encoder = StateEncoder(self.obs_shape[0], config.state_hidden_size, config.feature_size, act)
            self.decoder = StateDecoder(z1 + z2, config.state_hidden_size, self.obs_shape[0], act)
        self.reward_repeat = 0 if config.reward_input == "none" else config.reward_repeat
        evidence = self.encoder.out_size + self.reward_repeat
        self.z1_first_posterior = Gaussian(evidence, z1, h, act=act)  # q(z1_1 | x_1, r_1)
        self.z2_first = Gaussian(z1, z2, h, act=act)  # p(z2_1 | z1_1) = q(z2_1 | z1_1)
        self.z1_prior = Gaussian(z2 + a, z1, h, act=act)  # p(z1_t | z2_{t-1}, a_{t-1})
        self.z1_posterior = Gaussian(evidence + z2 + a, z1, h, act=act)  # q(z1_t | x_t, r_t, z2_{t-1}, a_{t-1})
        self.z2_transition = Gaussian(z1 + z2 + a, z2, h, act=act)  # p(z2_t | z1_t, z2_{t-1}, a_{t-1}) = q(...)
        self.reward_decoder = Gaussian(z1 + z2, 1, h, fixed_std=config.reward_std, act=act)  # p(r_t | z_t)

    def transition_input(self, actions: Tensor, episode_start: Tensor | None) -> Tensor:
        """What the transitions read for a_{t-1}: ``actions [..., A]``, with the flag ``episode_start [...]``
        of frame t appended when ``episode_start_input`` is on (it must then be given)."""
        if not self.episode_start_input:
            return actions
        if episode_start is None:
            raise ValueError("extensions.episode_start_input is on but no episode_start flags were given")
        return torch.cat([actions, episode_start.unsqueeze(-1).to(actions.dtype)], dim=-1)

    @property
    def belief_size(self) -> int:
        return 2 * (self.config.latent1_size + self.config.latent2_size)

    def evidence(self, obs: Tensor, reward: Tensor) -> Tensor:
        """Observations ``[..., *obs_shape]`` and rewards ``[...]`` -> evidence ``[..., E]``; every frame
        goes through the encoder in one call (reward repeated ``reward_repeat`` times, reference)."""
        lead = obs.shape[: obs.dim() - len(self.obs_shape)]
        features = self.encoder(obs.reshape(-1, *self.obs_shape)).reshape(*lead, -1)
        if self.reward_repeat == 0:
            return features
        return torch.cat([features, reward.unsqueeze(-1).expand(*lead, self.reward_repeat).to(features.dtype)], dim=-1)

    def filter_step(self, evidence: Tensor, prev_z2: Tensor | None, prev_action: Tensor | None,
                    generator: torch.Generator | Sequence[torch.Generator] | None = None
                    ) -> tuple[tuple[Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]:
        """One step of posterior inference (Algorithm 1 lines 5/8, Algorithm 2 lines 1/4).
        ``evidence [B, E]``; ``prev_z2 [B, z2]`` and ``prev_action [B, A]`` are None at the first step.
        Returns ``(z1_mean, z1_std, z1), (z2_mean, z2_std, z2)``."""
        if prev_z2 is None:
            z1_mean, z1_std = self.z1_first_posterior(evidence)
            z1 = _sample(z1_mean, z1_std, generator)
            z2_mean, z2_std = self.z2_first(z1)
        else:
            z1_mean, z1_std = self.z1_posterior(evidence, prev_z2, prev_action)
            z1 = _sample(z1_mean, z1_std, generator)
            z2_mean, z2_std = self.z2_transition(z1, prev_z2, prev_action)
        return (z1_mean, z1_std, z1), (z2_mean, z2_std, _sample(z2_mean, z2_std, generator))

    def posterior_noise(self, batch: int, length: int, generator: torch.Generator | None,
                        device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        """The standard normal noise of a posterior pass, ``[L, B, z1]`` and ``[L, B, z2]``, drawn in the order
        ``filter_step`` draws it step by step (z1's then z2's at each step), so a pass equals the online filter's."""
        c = self.config
        device = device if device is not None else next(self.parameters()).device
        draws = [torch.randn(batch, size, generator=generator, device=device)
                 for _ in range(length) for size in (c.latent1_size, c.latent2_size)]
        return torch.stack(draws[0::2]), torch.stack(draws[1::2])

    def posterior(self, evidence: Tensor, actions: Tensor, generator: torch.Generator | None = None,
                  noise: tuple[Tensor, Tensor] | None = None) -> Posterior:
        """Filter a batch of sequences: ``evidence [B, L, E]``, ``actions [B, L-1, A]`` (as ``transition_input``
        gives them) -> ``Posterior``; ``noise`` is ``posterior_noise``'s (drawn from ``generator`` when None).
        Images were encoded in one call; so is everything the recurrence reads that does not depend on the previous
        latent (see ``posterior_from_noise``)."""
        if noise is None:
            noise = self.posterior_noise(evidence.shape[0], evidence.shape[1], generator, evidence.device)
        return Posterior(*self.posterior_from_noise(evidence, actions, *noise))

    def posterior_from_noise(self, evidence: Tensor, actions: Tensor, noise1: Tensor, noise2: Tensor) -> tuple[Tensor, ...]:
        """``filter_step`` over every step with the given noise (a pure function of its inputs, which
        ``torch.compile`` can capture). The first layers of q(z1_t | x_t, r_t, z2_{t-1}, a_{t-1}) and
        p(z2_t | z1_t, z2_{t-1}, a_{t-1}) are split by input: the evidence's and the actions' parts (and the biases)
        for all steps in one matrix product before the loop, z2_{t-1}'s for both networks in one product per step,
        z1_t's in one more. Same parameters and distribution as ``filter_step``; only float summation order differs."""
        b, length, e = evidence.shape
        z1_size, z2_size = self.config.latent1_size, self.config.latent2_size
        m1, s1 = self.z1_first_posterior(evidence[:, 0])
        z1 = m1 + s1 * noise1[0]
        m2, s2 = self.z2_first(z1)
        z2 = m2 + s2 * noise2[0]
        outs = [[m1], [s1], [z1], [m2], [s2], [z2]]
        if length > 1:
            q, tr = self.z1_posterior, self.z2_transition
            wq, wt = q.first.weight, tr.first.weight  # [h, E + z2 + a], [h, z1 + z2 + a]
            h = wq.shape[0]
            q_pre = F.linear(torch.cat([evidence[:, 1:], actions], dim=-1),
                             torch.cat([wq[:, :e], wq[:, e + z2_size:]], dim=1), q.first.bias)
            t_pre = F.linear(actions, wt[:, z1_size + z2_size:], tr.first.bias)
            q_pre, t_pre = q_pre.transpose(0, 1), t_pre.transpose(0, 1)  # [L-1, B, h]: step t-1 is a view
            w_z2 = torch.cat([wq[:, e:e + z2_size], wt[:, z1_size:z1_size + z2_size]], dim=0).t()  # [z2, 2h]
            w_z1 = wt[:, :z1_size].t()  # [z1, h]
            for t in range(1, length):
                from_z2 = z2 @ w_z2  # [B, 2h]: both networks' z2_{t-1} parts
                m1, s1 = q.from_first_layer(q_pre[t - 1] + from_z2[:, :h])
                z1 = m1 + s1 * noise1[t]
                m2, s2 = tr.from_first_layer(torch.addmm(t_pre[t - 1] + from_z2[:, h:], z1, w_z1))
                z2 = m2 + s2 * noise2[t]
                for out, x in zip(outs, (m1, s1, z1, m2, s2, z2)):
                    out.append(x)
        return tuple(torch.stack(out, dim=1) for out in outs)

    def prior_z1(self, post: Posterior, actions: Tensor) -> tuple[Tensor, Tensor]:
        """p(z1_t | z2_{t-1}, a_{t-1}) for t >= 2 given posterior samples, in one batched call: ``[B, L-1, z1]``."""
        return self.z1_prior(post.z2[:, :-1], actions)

    def decode_observation(self, latent: Tensor) -> Tensor:
        """``[N, z1+z2]`` -> observation means (images ``[N, 3, H, W]`` in [0, 1], states ``[N, S]``)."""
        return self.decoder(latent)

    def decode_reward(self, latent: Tensor) -> tuple[Tensor, Tensor]:
        """``[..., z1+z2]`` -> reward mean and std ``[...]``."""
        mean, std = self.reward_decoder(latent)
        return mean.squeeze(-1), std.squeeze(-1)


class Actor(nn.Module):
    """tanh-Gaussian policy on the belief (SAC): ``[N, D]`` -> actions in [-1, 1]."""

    def __init__(self, belief_size: int, action_size: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp([belief_size, *hidden, 2 * action_size])

    def forward(self, belief: Tensor, generator: torch.Generator | Sequence[torch.Generator] | None = None,
                deterministic: bool = False, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Action ``[N, A]`` and its log-probability ``[N]`` (with the tanh change of variables); ``noise [N, A]``, when
        given, is the standard normal draw (otherwise drawn from ``generator``)."""
        mean, log_std = self.net(belief).chunk(2, dim=-1)
        log_std = log_std.clamp(_LOG_STD_MIN, _LOG_STD_MAX)
        std = log_std.exp()
        if deterministic:
            u = mean
        else:
            u = _sample(mean, std, generator) if noise is None else mean + std * noise
        log_prob = (-0.5 * ((u - mean) / std) ** 2 - log_std - _HALF_LOG_2PI).sum(-1)
        # log(1 - tanh(u)^2) computed stably (as in SAC's reference code)
        log_prob = log_prob - (2.0 * (_LOG_2 - u - F.softplus(-2.0 * u))).sum(-1)
        return torch.tanh(u), log_prob


class TwinCritic(nn.Module):
    """Two Q-networks on (belief, action) (SAC's clipped double Q), computed as one batched network: layer i's
    weights of both are stacked in ``weight{i} [2, out, in]`` and ``bias{i} [2, out]``; the first layer is one matrix
    product over both, the others batched ones (``baddbmm``). Initialised as two ``mlp`` s would be (the same draws),
    ReLU between layers. State dicts of separate networks (``q1.{j}.weight`` ...) load too, converted on load;
    ``stack_optimizer_state`` converts an optimizer's state the same way."""

    def __init__(self, belief_size: int, action_size: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        q1 = mlp([belief_size + action_size, *hidden, 1])
        q2 = mlp([belief_size + action_size, *hidden, 1])
        self.layers = 0
        for a, b in zip(q1, q2):
            if isinstance(a, nn.Linear):
                self.register_parameter(f"weight{self.layers}", nn.Parameter(torch.stack([a.weight.detach(), b.weight.detach()])))
                self.register_parameter(f"bias{self.layers}", nn.Parameter(torch.stack([a.bias.detach(), b.bias.detach()])))
                self.layers += 1
        self._register_load_state_dict_pre_hook(self._stack_separate_critics)

    def forward(self, belief: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([belief, action], dim=-1)  # [N, in]
        w, b = self.weight0, self.bias0
        x = F.linear(x, w.flatten(0, 1), b.flatten()).unflatten(-1, (2, -1)).transpose(0, 1)  # [2, N, h]
        for i in range(1, self.layers):
            x = torch.baddbmm(getattr(self, f"bias{i}").unsqueeze(1), F.relu(x), getattr(self, f"weight{i}").transpose(1, 2))
        return x[0].squeeze(-1), x[1].squeeze(-1)

    @staticmethod
    def _stack_separate_critics(state_dict: dict, prefix: str, *args) -> None:
        """``q1.{j}.weight``/``q2.{j}.weight`` (and biases) of separate networks -> ``weight{i}``/``bias{i}``."""
        keys = sorted((k for k in state_dict if k.startswith(prefix + "q1.")), key=lambda k: int(k[len(prefix) + 3:].split(".")[0]))
        layers = sorted({int(k[len(prefix) + 3:].split(".")[0]) for k in keys})
        for i, j in enumerate(layers):
            for name in ("weight", "bias"):
                pair = [state_dict.pop(f"{prefix}{q}.{j}.{name}") for q in ("q1", "q2")]
                state_dict[f"{prefix}{name}{i}"] = torch.stack(pair)

    def stack_optimizer_state(self, state: dict) -> dict:
        """An optimizer state dict over separate networks' parameters (q1's, then q2's, in their ``parameters()``
        order) -> the same over this module's stacked ones; one already over these is returned as it is."""
        n = 2 * self.layers  # weight{i}, bias{i}
        params = [p for group in state["param_groups"] for p in group["params"]]
        if len(params) == n:
            return state
        if len(state["param_groups"]) != 1 or len(params) != 2 * n:
            raise ValueError(f"an optimizer state over {len(params)} parameters; this critic has {n} (or {2 * n} separate)")
        new_state = {}
        for i in range(n):
            a, b = state["state"].get(params[i]), state["state"].get(params[n + i])
            if a is not None and b is not None:
                new_state[i] = {k: torch.stack([v, b[k]]) if torch.is_tensor(v) and v.dim() > 0 else v for k, v in a.items()}
        return {"state": new_state, "param_groups": [{**state["param_groups"][0], "params": list(range(n))}]}
