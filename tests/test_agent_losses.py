"""MELD's losses against hand-computed values (Eq. 5, SAC's soft Bellman target, tanh-Gaussian)."""
import math

import pytest
import torch

from meld_agent.losses import elbo_terms, gaussian_kl, gaussian_log_prob, sac_critic_target
from meld_agent.networks import Actor


def test_kl_of_identical_gaussians_is_zero():
    mean, std = torch.randn(3, 5), torch.rand(3, 5) + 0.1
    assert torch.allclose(gaussian_kl(mean, std, mean, std), torch.zeros(3), atol=1e-6)


def test_kl_against_hand_computed_value():
    # KL(N(1, 0.5^2) || N(0, 1)) = 0.5 * (0.25 + 1 - 1 - log 0.25)
    kl = gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[0.5]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]))
    assert kl.item() == pytest.approx(0.5 * (0.25 + 1.0 - 1.0 - math.log(0.25)), rel=1e-6)


def test_gaussian_log_prob_matches_torch_and_sums_event_dims():
    x, mean, std = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.rand(2, 3, 4) + 0.2
    expected = torch.distributions.Normal(mean, std).log_prob(x).sum((-2, -1))
    assert torch.allclose(gaussian_log_prob(x, mean, std, event_dims=2), expected, atol=1e-5)
    assert gaussian_log_prob(torch.tensor(0.0), torch.tensor(0.0), 1.0).item() == pytest.approx(-0.5 * math.log(2 * math.pi))


def test_elbo_terms_against_hand_computed_values():
    # one sequence of two frames, z1 of size 1
    obs_lp = torch.tensor([[-1.0, -3.0]])
    reward_lp = torch.tensor([[-0.5, -1.5]])
    z1_mean = torch.tensor([[[0.0], [1.0]]])
    z1_std = torch.ones(1, 2, 1)
    prior_mean, prior_std = torch.zeros(1, 1, 1), torch.ones(1, 1, 1)
    terms = elbo_terms(obs_lp, reward_lp, z1_mean, z1_std, prior_mean, prior_std)
    # KL_1 = KL(N(0,1)||N(0,1)) = 0 ; KL_2 = 0.5 * (1 + 1 - 1 - 0) = 0.5 ; averaged over the 2 frames
    assert terms.kl.item() == pytest.approx(0.25)
    assert terms.observation_log_prob.item() == pytest.approx(-2.0)
    assert terms.reward_log_prob.item() == pytest.approx(-1.0)
    assert terms.elbo(reward_weight=8.0).item() == pytest.approx(-2.0 + 8.0 * -1.0 - 0.25)


def test_first_step_kl_is_against_unit_gaussian():
    z1_mean, z1_std = torch.tensor([[[2.0]]]), torch.tensor([[[1.0]]])
    terms = elbo_terms(torch.zeros(1, 1), torch.zeros(1, 1), z1_mean, z1_std, torch.zeros(1, 0, 1), torch.ones(1, 0, 1))
    assert terms.kl.item() == pytest.approx(2.0)  # 0.5 * mean^2


def test_sac_target_hand_computed():
    y = sac_critic_target(reward=torch.tensor([1.0, 0.0]), next_q1=torch.tensor([2.0, 5.0]), next_q2=torch.tensor([3.0, 4.0]),
                          next_log_prob=torch.tensor([-1.0, 0.5]), alpha=0.2, gamma=0.9)
    # 1 + 0.9 * (min(2,3) + 0.2) ; 0 + 0.9 * (min(5,4) - 0.1)
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * 2.2, 0.9 * 3.9]))
    y_done = sac_critic_target(torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([3.0]), torch.tensor([-1.0]), 0.2, 0.9,
                               done=torch.tensor([1.0]))
    assert y_done.item() == pytest.approx(1.0)


def test_tanh_gaussian_log_prob_is_the_change_of_variables():
    torch.manual_seed(0)  # the actor's initialisation; unseeded, a sample could saturate tanh in float32
    actor = Actor(belief_size=3, action_size=1, hidden=(8,))
    g = torch.Generator().manual_seed(0)
    belief = torch.randn(5, 3, generator=g)
    action, log_prob = actor(belief, g)
    mean, log_std = actor.net(belief).chunk(2, dim=-1)
    assert action.abs().max() < 0.999  # atanh below is only well conditioned away from +-1
    u = torch.atanh(action)
    expected = torch.distributions.Normal(mean, log_std.clamp(-20, 2).exp()).log_prob(u).sum(-1) - torch.log(1 - action.pow(2)).sum(-1)
    assert torch.allclose(log_prob, expected, atol=1e-3)
