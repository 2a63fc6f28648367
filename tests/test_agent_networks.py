"""MELD's networks: encoder/decoder shapes (64x64 and 64x128), reward evidence, no AC gradient into the model."""
import pytest
import torch

from meld_agent.config import ModelConfig, make_config
from meld_agent.networks import ConvDecoder, ConvEncoder, FullConv2d, FullConvTranspose2d, LatentModel
from meld_agent.replay import TrialBatch
from meld_agent.update import Learner

FILTERS, KERNELS = (32, 64, 128, 256, 256), (5, 3, 3, 3, 4)


@pytest.mark.parametrize("shape", [(64, 64, 3), (64, 128, 3)])
def test_encoder_decoder_shapes_for_one_and_two_cameras(shape):
    enc = ConvEncoder(shape, FILTERS, KERNELS)
    frames = torch.randint(0, 255, (6, *shape), dtype=torch.uint8)
    features = enc(frames)
    assert features.shape == (6, 256)
    dec = ConvDecoder(288, shape, FILTERS, KERNELS)
    out = dec(torch.randn(6, 288))
    assert out.shape == (6, 3, shape[0], shape[1])
    assert out.is_contiguous(memory_format=torch.channels_last)
    last = [m for m in enc.net if isinstance(m, torch.nn.Conv2d)][-1]
    assert last.kernel_size == (4, 4 * shape[1] // shape[0])  # rectangular for side-by-side cameras


def _same_values_and_gradients(fast, slow, x):
    """``fast`` (with ``slow``'s parameters) gives ``slow``'s output and gradients on ``x``; returns its output."""
    slow.load_state_dict(fast.state_dict())
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    outs = [fast(xs[0]), slow(xs[1])]
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(outs[1])
    for out in outs:
        out.backward(grad)
    for a, b in [(xs[0].grad, xs[1].grad), (fast.weight.grad, slow.weight.grad), (fast.bias.grad, slow.bias.grad)]:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    return outs[0]


@pytest.mark.parametrize("kernel", [(4, 4), (4, 8)])
def test_full_convolutions_as_matrix_products_equal_the_convolutions(kernel):
    """The encoder's last and the decoder's first layer compute what nn.Conv2d / ConvTranspose2d do,
    values and gradients, on channels_last inputs as the networks give them."""
    torch.manual_seed(0)
    conv = FullConv2d(16, 8, kernel)
    _same_values_and_gradients(conv, torch.nn.Conv2d(16, 8, kernel),
                               torch.randn(5, 16, *kernel).contiguous(memory_format=torch.channels_last))
    out = _same_values_and_gradients(FullConvTranspose2d(12, 6, kernel), torch.nn.ConvTranspose2d(12, 6, kernel),
                                     torch.randn(5, 12, 1, 1))
    assert out.is_contiguous(memory_format=torch.channels_last)
    bigger = torch.randn(2, 16, kernel[0] + 2, kernel[1] + 1)  # not a full-cover input: the convolution itself
    torch.testing.assert_close(conv(bigger), torch.nn.functional.conv2d(bigger, conv.weight, conv.bias))


def test_bfloat16_convolutions_keep_float32_weights_outputs_and_gradients():
    shape, filters, kernels = (32, 32, 3), (8, 16, 16, 32, 32), (5, 3, 3, 3, 2)
    frames = torch.randint(0, 255, (12, *shape), dtype=torch.uint8)
    z = torch.randn(12, 20)
    for module, x in ((ConvEncoder(shape, filters, kernels), frames), (ConvDecoder(20, shape, filters, kernels), z)):
        fast = type(module)(*((shape,) if isinstance(module, ConvEncoder) else (20, shape)), filters, kernels, torch.bfloat16)
        fast.load_state_dict(module.state_dict())
        exact, approx = module(x), fast(x)
        assert approx.dtype == torch.float32 and approx.shape == exact.shape
        assert ((approx - exact).norm() / exact.norm()).item() < 2e-2  # bfloat16 keeps 8 bits of mantissa
        approx.square().mean().backward()
        grads = [q.grad for q in fast.parameters()]
        assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
        assert all(q.dtype == torch.float32 for q in fast.parameters())
    with pytest.raises(ValueError, match="model.conv_dtype='float16'; allowed: 'float32', 'bfloat16'"):
        make_config("meld/Nav2D-v0", model__conv_dtype="float16")


def test_encoder_rejects_an_unsupported_image():
    with pytest.raises(ValueError, match=r"image shape \(60, 64, 3\)"):
        ConvEncoder((60, 64, 3), FILTERS, KERNELS)


def _model(reward_input, obs_shape=(4,)):
    torch.manual_seed(0)
    return LatentModel(obs_shape, 2, ModelConfig(reward_input=reward_input, latent1_size=8, latent2_size=16, hidden_size=32))


@pytest.mark.parametrize("reward_input, changes", [("shaped", True), ("none", False)])
def test_reward_is_evidence_in_the_posterior_unless_slac(reward_input, changes):
    model = _model(reward_input)
    obs, actions = torch.randn(2, 5, 4), torch.randn(2, 4, 2)
    post = [model.posterior(model.evidence(obs, r), actions, torch.Generator().manual_seed(0))
            for r in (torch.zeros(2, 5), torch.ones(2, 5))]
    assert post[0].z1_mean.shape == (2, 5, 8) and post[0].belief().shape == (2, 5, 2 * (8 + 16))
    assert (not torch.allclose(post[0].z1_mean, post[1].z1_mean)) == changes


def test_online_filter_matches_batched_posterior():
    model = _model("shaped")
    obs, actions, rewards = torch.randn(1, 4, 4), torch.randn(1, 3, 2), torch.randn(1, 4)
    evidence = model.evidence(obs, rewards)
    post = model.posterior(evidence, actions, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    z2 = None
    for t in range(4):
        (m1, s1, z1), (m2, s2, z2) = model.filter_step(evidence[:, t], z2, None if t == 0 else actions[:, t - 1], g)
        assert torch.allclose(m1, post.z1_mean[:, t], atol=1e-6) and torch.allclose(m2, post.z2_mean[:, t], atol=1e-6)


def test_episode_start_flag_enters_the_transitions_when_on():
    torch.manual_seed(0)
    model = LatentModel((4,), 2, ModelConfig(latent1_size=8, latent2_size=16, hidden_size=32), episode_start_input=True)
    z2, action = torch.randn(1, 16), torch.randn(1, 2)
    means = [model.z1_prior(z2, model.transition_input(action, torch.tensor([flag])))[0] for flag in (0.0, 1.0)]
    assert not torch.allclose(means[0], means[1])
    with pytest.raises(ValueError, match="episode_start"):
        model.transition_input(action, None)
    assert _model("shaped").transition_input(action, None) is action  # off: a_{t-1} alone


def _batch(b=3, length=6, obs=(4,)):
    episode_start = torch.zeros(b, length)
    episode_start[:, length // 2] = 1.0  # 2-episode trials, as the Nav2D preset's model reads them
    return TrialBatch(torch.randn(b, length, *obs), torch.rand(b, length - 1, 2) * 2 - 1, torch.randn(b, length),
                      torch.zeros(b, length), torch.zeros(b, dtype=torch.long), episode_start)


def test_actor_critic_gradients_do_not_reach_the_model():
    cfg = make_config("meld/Nav2D-v0", obs_mode="state", latent1_size=8, latent2_size=16, hidden_size=32)
    learner = Learner((4,), 2, cfg, seed=0, device=torch.device("cpu"))
    before = [p.clone() for p in learner.model.parameters()]
    actor_before = [p.clone() for p in learner.actor.parameters()]
    metrics = learner.train_step(_batch(), model=False, actor_critic=True)
    assert all(torch.equal(a, b) for a, b in zip(before, learner.model.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(actor_before, learner.actor.parameters()))
    assert "losses/critic_loss" in metrics and "losses/model_loss" not in metrics


def test_model_step_lowers_the_loss_on_a_fixed_batch():
    cfg = make_config("meld/Nav2D-v0", obs_mode="state", latent1_size=8, latent2_size=16, hidden_size=32, model__learning_rate=1e-3)
    learner = Learner((4,), 2, cfg, seed=0, device=torch.device("cpu"))
    batch = _batch()
    losses = [learner.train_step(batch, model=True, actor_critic=False)["losses/model_loss"] for _ in range(60)]
    assert losses[-1] < losses[0] - 1.0


def test_parameters_are_initialised_from_the_seed_without_touching_global_rng():
    cfg = make_config("meld/Nav2D-v0", obs_mode="state")
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = Learner((4,), 2, cfg, seed=7, device=torch.device("cpu"))
    assert torch.equal(state, torch.get_rng_state())
    b = Learner((4,), 2, cfg, seed=7, device=torch.device("cpu"))
    c = Learner((4,), 2, cfg, seed=8, device=torch.device("cpu"))
    pa, pb, pc = (next(x.model.parameters()) for x in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_sac_learns_a_contextual_bandit():
    """The best action is +0.5 or -0.5 depending on the sign of the belief's first entry."""
    from meld_agent.config import SACConfig
    from meld_agent.networks import Actor, TwinCritic
    from meld_agent.update import SACUpdate

    torch.manual_seed(0)
    actor, critic = Actor(4, 1, (32, 32)), TwinCritic(4, 1, (32, 32))
    sac = SACUpdate(actor, critic, 1, SACConfig(gamma=0.0, initial_alpha=0.05), torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)

    def error():
        b = torch.randn(512, 4, generator=g)
        return (actor(b, deterministic=True)[0][:, 0] - 0.5 * torch.sign(b[:, 0])).abs().mean().item()

    before = error()
    for _ in range(400):
        b = torch.randn(128, 4, generator=g)
        a = torch.rand(128, 1, generator=g) * 2 - 1
        sac.update(b, a, -(a[:, 0] - 0.5 * torch.sign(b[:, 0])).abs(), torch.randn(128, 4, generator=g))
    assert error() < min(0.3, before - 0.2)
