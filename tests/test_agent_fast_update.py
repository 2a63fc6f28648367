"""The update's faster forms compute what the plain forms compute, up to float summation order: the posterior pass with
its split first layers against ``filter_step`` step by step, the batched twin critic against two separate networks
(and their checkpoints), the actor loss on detached critic weights, fused Adam, the actor-critic steps that share a
posterior pass, and a compiled update against the eager one."""
import copy

import pytest
import torch
from torch import nn

from meld_agent.config import ModelConfig, make_config
from meld_agent.networks import LatentModel, TwinCritic, mlp
from meld_agent.replay import TrialBatch
from meld_agent.update import Learner, actor_loss_of, adam

SMALL = {"latent1_size": 8, "latent2_size": 16, "hidden_size": 32, "state_hidden_size": 32, "feature_size": 16,
         "sac__hidden_sizes": (32, 32), "sac__batch_size": 16}


def _batch(b=3, length=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    episode_start = torch.zeros(b, length)
    episode_start[:, length // 2] = 1.0
    return TrialBatch(torch.randn(b, length, 4, generator=g), torch.rand(b, length - 1, 2, generator=g) * 2 - 1,
                      torch.randn(b, length, generator=g), torch.zeros(b, length), torch.zeros(b, dtype=torch.long),
                      episode_start)


def test_posterior_pass_equals_the_step_by_step_filter_with_its_gradients():
    torch.manual_seed(0)
    model = LatentModel((4,), 2, ModelConfig(latent1_size=8, latent2_size=16, hidden_size=32), episode_start_input=True)
    batch = _batch()
    actions = model.transition_input(batch.actions, batch.episode_start[:, 1:])
    evidence = model.evidence(batch.obs, batch.shaped_reward)
    post = model.posterior(evidence, actions, torch.Generator().manual_seed(3))
    g, z2, steps = torch.Generator().manual_seed(3), None, []
    for t in range(batch.obs.shape[1]):  # the plain form: whole first layers on concatenated inputs, step by step
        step = model.filter_step(evidence[:, t], z2, None if t == 0 else actions[:, t - 1], g)
        steps.append(step)
        z2 = step[1][2]
    plain = [torch.stack([s[i][j] for s in steps], dim=1) for i in range(2) for j in range(3)]
    for got, want in zip(post, plain):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    grads = [torch.autograd.grad(sum(x.square().sum() for x in outs), list(model.parameters()), allow_unused=True,
                                 retain_graph=True) for outs in (post, plain)]
    for got, want in zip(*grads):
        assert (got is None) == (want is None)
        if got is not None:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def _separate(critic: TwinCritic, belief: int, action: int, hidden: tuple[int, ...]) -> nn.Module:
    """Two ``mlp`` Q-networks holding ``critic``'s weights: the plain form, with its state-dict keys q1.*/q2.*."""
    plain = nn.Module()
    plain.q1, plain.q2 = mlp([belief + action, *hidden, 1]), mlp([belief + action, *hidden, 1])
    with torch.no_grad():
        for k in range(2):
            linears = [m for m in getattr(plain, f"q{k + 1}") if isinstance(m, nn.Linear)]
            for i, lin in enumerate(linears):
                lin.weight.copy_(getattr(critic, f"weight{i}")[k])
                lin.bias.copy_(getattr(critic, f"bias{i}")[k])
    return plain


def test_batched_twin_critic_equals_two_networks_and_loads_their_state():
    torch.manual_seed(0)
    critic = TwinCritic(6, 2, (32, 32))
    torch.manual_seed(0)  # initialised as two mlps are, from the same draws
    q1, q2 = mlp([8, 32, 32, 1]), mlp([8, 32, 32, 1])
    assert torch.equal(critic.weight0[0], q1[0].weight) and torch.equal(critic.bias2[1], q2[4].bias)
    plain = _separate(critic, 6, 2, (32, 32))
    belief, action = torch.randn(10, 6), torch.randn(10, 2)
    x = torch.cat([belief, action], dim=-1)
    got = critic(belief, action)
    torch.testing.assert_close(got[0], plain.q1(x).squeeze(-1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1], plain.q2(x).squeeze(-1), rtol=1e-5, atol=1e-6)
    loaded = TwinCritic(6, 2, (32, 32))
    loaded.load_state_dict(plain.state_dict())  # a checkpoint of separate networks converts on load
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), critic.parameters()))
    # and the critic optimizer's state with it: one step of each from the same gradients
    plain_opt, opt = torch.optim.Adam(plain.parameters(), lr=1e-2), torch.optim.Adam(loaded.parameters(), lr=1e-2)
    for module, o in ((plain, plain_opt), (loaded, opt)):
        q = module(belief, action) if module is loaded else (module.q1(x).squeeze(-1), module.q2(x).squeeze(-1))
        o.zero_grad()
        (q[0].square().mean() + q[1].square().mean()).backward()
        o.step()
    fresh = TwinCritic(6, 2, (32, 32))
    fresh.load_state_dict(plain.state_dict())
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    fresh_opt.load_state_dict(fresh.stack_optimizer_state(plain_opt.state_dict()))
    for k, v in fresh_opt.state_dict()["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(v[name], opt.state_dict()["state"][k][name], rtol=1e-5, atol=1e-7)
    assert fresh.stack_optimizer_state(opt.state_dict()) is not None  # a stacked state passes as it is


def test_actor_loss_reaches_the_actor_and_not_the_critic_weights():
    from meld_agent.networks import Actor

    torch.manual_seed(0)
    actor, critic = Actor(6, 2, (32, 32)), TwinCritic(6, 2, (32, 32))
    state, alpha, noise = torch.randn(10, 6), torch.tensor(0.3), torch.randn(10, 2)
    loss, log_prob = actor_loss_of(actor, critic, state, alpha, noise)
    loss.backward()
    assert all(p.grad is None for p in critic.parameters())
    got = [p.grad.clone() for p in actor.parameters()]
    actor.zero_grad()
    action, log_prob2 = actor(state, noise=noise)
    q1, q2 = critic(state, action)  # the plain form: gradients reach the critic too
    want_loss = (alpha * log_prob2 - torch.min(q1, q2)).mean()
    want_loss.backward()
    assert torch.equal(loss, want_loss) and torch.equal(log_prob, log_prob2)
    for a, p in zip(got, actor.parameters()):
        torch.testing.assert_close(a, p.grad)


def test_fused_adam_equals_the_per_parameter_loop():
    torch.manual_seed(0)
    net = mlp([6, 32, 32, 3])
    other = copy.deepcopy(net)
    opts = [adam(net.parameters(), 1e-3), torch.optim.Adam(other.parameters(), lr=1e-3, foreach=False, fused=False)]
    x = torch.randn(16, 6)
    for _ in range(5):
        for module, o in zip((net, other), opts):
            o.zero_grad()
            module(x).square().mean().backward()
            o.step()
    for a, b in zip(net.parameters(), other.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def _learner(**overrides):
    cfg = make_config("meld/Nav2D-v0", obs_mode="state", device="cpu", **SMALL, **overrides)
    return Learner((4,), 2, cfg, seed=0, device=torch.device("cpu"))


def test_actor_critic_steps_sharing_a_pass_are_the_separate_steps_when_a_pass_holds_one_batch():
    batches = [_batch(seed=i) for i in range(4)]
    separate = _learner()
    want = [separate.train_step(b, model=False, actor_critic=True) for b in batches]
    one_each = _learner()
    one_each.posterior_pass_frames = 1  # a pass per batch: the same draws in the same order as separate steps
    got = one_each.actor_critic_steps(batches)
    for g, w in zip(got, want):
        assert {k: float(v) for k, v in g.items()} == {k: float(v) for k, v in w.items()}
    shared = [_learner(), _learner()]  # one pass over all four: deterministic, close to the separate steps
    runs = [learner.actor_critic_steps(batches) for learner in shared]
    assert [{k: float(v) for k, v in m.items()} for m in runs[0]] == [{k: float(v) for k, v in m.items()} for m in runs[1]]
    assert all(torch.equal(a, b) for a, b in zip(shared[0].actor.parameters(), shared[1].actor.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(shared[0].model.parameters(), separate.model.parameters()))  # no model step


def test_allowed_transitions_are_computed_once_per_shape_and_equal_the_boundary_mask():
    """The draw's allowed indices come from a per-shape table (no ``nonzero`` per step); on batches from a replay
    (one episode layout for every trial, whatever rows are drawn) the table is the batch's own ``boundary_free``."""
    from meld_agent.update import boundary_free
    learner = _learner()
    for seed in range(3):
        batch = _batch(seed=seed)
        steps = batch.obs.shape[1] - 1
        want = torch.nonzero(boundary_free(batch, steps).flatten()).flatten()
        assert torch.equal(learner.allowed_transitions(batch, steps), want)
        crossing = [row * steps + batch.obs.shape[1] // 2 - 1 for row in range(batch.obs.shape[0])]  # into episode 2
        assert not set(crossing) & set(want.tolist()) and want.numel() == batch.obs.shape[0] * (steps - 1)
    assert len(learner._allowed) == 1  # one shape, one table
    learner.allowed_transitions(_batch(b=5), 5)
    assert len(learner._allowed) == 2


@pytest.mark.slow  # compiling the model and actor-critic losses takes ~100 s on one core of the 2-core CPU
def test_compiled_update_gives_the_eager_losses():
    eager, compiled = _learner(), _learner(train__compile="default")
    for i in range(3):  # model + actor-critic steps, then actor-critic steps sharing a pass
        batch = _batch(seed=i)
        got, want = compiled.train_step(batch), eager.train_step(batch)
        assert got.keys() == want.keys()
        for k in want:
            assert float(got[k]) == pytest.approx(float(want[k]), rel=1e-4, abs=1e-5), k
    got = compiled.actor_critic_steps([_batch(seed=5), _batch(seed=6)])
    want = eager.actor_critic_steps([_batch(seed=5), _batch(seed=6)])
    for g, w in zip(got, want):
        for k in w:
            assert float(g[k]) == pytest.approx(float(w[k]), rel=1e-4, abs=1e-5), k
