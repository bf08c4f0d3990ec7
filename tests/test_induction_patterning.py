"""Per-head susceptibilities, their linear-response scores, and retraining under sequence weights."""
from __future__ import annotations

import pytest
import torch

from patterning_core import SGLDConfig, TrainConfig
from patterning_core.lm.heads import (HeadResponse, _head_block, head_param_covariance, head_susceptibilities,
                                                 linear_scores)
from patterning_core.lm.induction import repeated_random_tokens
from patterning_core.lm.patterning import optimizer_state_by_name, retrain, sequence_weights
from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer, per_token_loss

TINY = AttnOnlyConfig(vocab_size=20, n_layers=2, n_heads=2, d_model=8, d_head=4, n_ctx=12)


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    model = AttnOnlyTransformer(TINY, seed=0)
    return model, torch.randint(1, 20, (24, 12), generator=g)


def _cfg(**kw):
    base = dict(step_size=1e-3, nbeta=10.0, gamma=100.0, num_chains=2, num_draws=6, num_burnin=2, batch_size=4)
    return SGLDConfig(**{**base, **kw})


def test_head_susceptibilities_shapes_and_seed(tiny):
    model, x = tiny
    a = head_susceptibilities(model, x[:16], x[16:20], x[20:], config=_cfg(), seed=1, progress=False)
    b = head_susceptibilities(model, x[:16], x[16:20], x[20:], config=_cfg(), seed=1, progress=False)
    assert a.chi.shape == a.std_err.shape == (4, 4, 11) and a.matrix().shape == (4, 44)
    assert a.labels == ["0.0", "0.1", "1.0", "1.1"] and a.mu.shape == (4,)
    torch.testing.assert_close(a.chi, b.chi)
    with pytest.raises(ValueError, match="probe_tokens"):
        head_susceptibilities(model, x[:16], x[16:20].float(), x[20:], config=_cfg(), progress=False)


def test_covariance_run_shares_the_chains_of_the_susceptibility_run(tiny):
    model, x = tiny
    hs = head_susceptibilities(model, x[:16], x[16:20], x[20:], config=_cfg(), seed=2, progress=False)
    resp = head_param_covariance(model, x[:16], x[20:], config=_cfg(), seed=2, progress=False)
    torch.testing.assert_close(resp.mu, hs.mu)  # same chains: same posterior mean of every observable
    assert resp.cov.shape == (4, _head_block(dict(model.named_parameters()), 0, 0).numel())


def test_linear_scores_are_minus_beta_times_a_directional_derivative(tiny):
    model, x = tiny
    params = dict(model.named_parameters())
    n = _head_block(params, 0, 0).numel()
    g = torch.Generator().manual_seed(3)
    resp = HeadResponse(torch.randn(4, n, generator=g, dtype=torch.float64), torch.zeros(4), ((0, 0), (0, 1), (1, 0), (1, 1)), 2.5)
    u = torch.tensor([0.5, -1.0, 0.0, 2.0], dtype=torch.float64)
    got = linear_scores(model, resp, u, x[:5])
    # finite difference along v = sum_c u_c cov_c placed in each head's block
    eps = 1e-3
    plus, minus = AttnOnlyTransformer(TINY, seed=0), AttnOnlyTransformer(TINY, seed=0)
    with torch.no_grad():
        for (l, h), uc, c in zip(resp.heads, u.tolist(), resp.cov):
            off = 0
            for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V"):
                k = dict(plus.named_parameters())[f"blocks.{l}.attn.{name}"][h].numel()
                for m, sgn in ((plus, 1), (minus, -1)):
                    p = dict(m.named_parameters())[f"blocks.{l}.attn.{name}"][h]
                    p += sgn * eps * uc * c[off: off + k].reshape(p.shape).float()
                off += k
        fd = (per_token_loss(plus, x[:5]).mean(1) - per_token_loss(minus, x[:5]).mean(1)).double() / (2 * eps)
    torch.testing.assert_close(got.double(), -2.5 * fd, rtol=2e-2, atol=1e-4)
    with pytest.raises(ValueError, match="direction"):
        linear_scores(model, resp, u[:3], x[:5])


def test_sequence_weights_mean_one_capped_and_oriented():
    s = torch.linspace(-3, 3, 101)
    h = sequence_weights(s, 2.0, max_ratio=4.0)
    assert h.mean().item() == pytest.approx(1.0, abs=1e-6)
    assert h.min() >= 0.25 - 1e-6 and h.max() <= 4.0 + 1e-6 and h.max() / h.min() > 10
    assert (h.diff() >= -1e-7).all()  # up-weights high scores
    assert (sequence_weights(s, -2.0).diff() <= 1e-7).all()
    torch.testing.assert_close(sequence_weights(s, 0.0), torch.ones(101))
    with pytest.raises(ValueError):
        sequence_weights(s[:1], 1.0)


def test_retrain_equal_weights_give_equal_runs_and_weights_matter(tiny):
    model, x = tiny
    probe = repeated_random_tokens(4, 5, torch.arange(1, 20), torch.Generator().manual_seed(0))
    w = torch.stack([torch.ones(24), torch.ones(24), torch.linspace(0.1, 3, 24)])
    cfg = TrainConfig(steps=6, lr=1e-2, optimizer="adamw", batch_size=4)
    r = retrain(model, x, w, ("a", "b", "c"), probe, config=cfg, eval_every=3, progress=False)
    assert r.steps.tolist() == [0, 3, 6] and r.prefix_matching.shape == (3, 3, 2, 2) and r.best_l1.shape == (3, 3)
    torch.testing.assert_close(r.prefix_matching[0], r.prefix_matching[1])
    assert not torch.allclose(r.prefix_matching[0, -1], r.prefix_matching[2, -1])
    assert len(r.formation_steps(0.0)) == 3 and r.formation_steps(2.0) == [None] * 3
    with pytest.raises(ValueError, match="conditions"):
        retrain(model, x, w[:2], ("a", "b", "c"), probe, config=cfg, progress=False)


def test_optimizer_state_by_name_maps_parameter_order(tiny):
    model, x = tiny
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    per_token_loss(model, x[:2]).mean().backward()
    opt.step()
    st = optimizer_state_by_name(model, opt.state_dict())
    for name, p in model.named_parameters():
        assert st[name]["exp_avg"].shape == p.shape
    model.zero_grad()
