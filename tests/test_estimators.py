"""Known answers for the LLC and susceptibility estimators."""
import pytest
import torch

from patterning_core import (SGLDConfig, llc, llc_from_losses, sample, susceptibilities,
                             susceptibilities_from_traces)
from patterning_core.toy import Monomial, MonomialConfig, Quadratic, monomial_loss, quadratic_loss, quadratic_posterior


def test_llc_from_losses_is_pure():
    losses = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    r = llc_from_losses(losses, anchor_loss=1.0, nbeta=10.0)
    assert r.mean == pytest.approx(10.0) and r.per_chain.tolist() == [10.0, 10.0] and r.std_err == 0.0


def test_stats_match_traces():
    """Streaming sums give the same χ as the covariance of kept traces."""
    g = torch.Generator().manual_seed(0)
    phi, ell, loss = torch.randn(3, 50, 2, generator=g), torch.randn(3, 50, 4, generator=g), torch.randn(3, 50, generator=g)
    chi = susceptibilities_from_traces(phi, ell, loss, beta=2.0).chi
    x = phi.reshape(-1, 2) - phi.reshape(-1, 2).mean(0)
    d = (ell - loss[..., None]).reshape(-1, 4)
    d = d - d.mean(0)
    torch.testing.assert_close(chi, (-2.0 * x.T @ d / 150).double())


@pytest.mark.slow
@pytest.mark.parametrize("powers", [(2,), (2, 2), (2, 2, 2), (4,), (4, 2)])
def test_llc_of_monomials(powers):
    """λ(½Σ w_i^{p_i}) = Σ 1/p_i exactly, for pure monomials without localization."""
    m = Monomial(MonomialConfig(powers=powers))
    cfg = SGLDConfig(step_size=2e-4, nbeta=100.0, gamma=0.0, num_chains=256, num_draws=1000, num_burnin=500, thin=2)
    r = llc(sample(m, monomial_loss, (torch.zeros(1, 1),), config=cfg, seed=1, progress=False))
    truth = m.learning_coefficient
    assert abs(r.mean - truth) < max(4 * r.std_err, 0.04 * truth), (r, truth)


def test_llc_of_quadratic_quick():
    m = Monomial(MonomialConfig(powers=(2, 2)))
    cfg = SGLDConfig(step_size=5e-4, nbeta=100.0, gamma=0.0, num_chains=128, num_draws=300, num_burnin=200, thin=2)
    r = llc(sample(m, monomial_loss, (torch.zeros(1, 1),), config=cfg, seed=2, progress=False))
    assert abs(r.mean - 1.0) < 0.1 and r.std_err < 0.05


def _gaussian_case(n=4, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g)
    prec = 0.5 + 1.5 * torch.rand(n, d, generator=g)
    return a, prec


@pytest.mark.slow
def test_susceptibility_of_gaussian_posterior():
    """φ(w) = w on a Gaussian posterior: χ equals ∂m/∂h of the closed-form mean."""
    a, prec = _gaussian_case()
    nbeta, gamma = 20.0, 2.0
    model = Quadratic(2)
    h = torch.ones(4)
    cfg = SGLDConfig(step_size=1e-3, nbeta=nbeta, gamma=gamma, num_chains=256, num_draws=800, num_burnin=300, thin=2)
    s = sample(model, quadratic_loss, (a, prec), config=cfg, observables=lambda p: p["w"], seed=3, progress=False)
    sus = susceptibilities(s)
    jac = torch.autograd.functional.jacobian(lambda hh: quadratic_posterior(hh, a, prec, nbeta, gamma, torch.zeros(2))[0], h)
    err = (sus.chi - jac.double()).abs()
    assert (err < 4 * sus.std_err + 0.05 * jac.abs().max()).all(), (sus.chi, jac, sus.std_err)
    mean, _ = quadratic_posterior(h, a, prec, nbeta, gamma, torch.zeros(2))
    assert torch.allclose(sus.mu.float(), mean, atol=4 * float(sus.mu_std_err.max()) + 0.01)


@pytest.mark.slow
def test_susceptibility_matches_finite_difference():
    """Reweight sample i by (1 + δ), sample again with the same seed: Δμ/δ ≈ χ_{·,i}.
    A non-Gaussian posterior: quartic plus quadratic per-sample losses."""
    a, prec = _gaussian_case(n=3, d=2, seed=5)

    class Quartic(Quadratic):
        def forward(self, a, p):
            return 0.5 * (p * (self.w - a) ** 2).sum(-1) + 0.3 * (self.w**4).sum(-1)

    cfg = SGLDConfig(step_size=2e-3, nbeta=10.0, gamma=1.0, num_chains=512, num_draws=600, num_burnin=300, thin=2)
    obs = lambda p: p["w"]
    run = lambda h: sample(Quartic(2), quadratic_loss, (a, prec), config=cfg, weights=h, observables=obs, seed=7, progress=False)
    base = run(torch.ones(3))
    chi = susceptibilities(base)
    delta = 0.2
    for i in range(3):
        h = torch.ones(3)
        h[i] += delta
        up = run(h)
        h[i] -= 2 * delta
        down = run(h)
        fd = (susceptibilities(up).mu - susceptibilities(down).mu) / (2 * delta)
        assert torch.allclose(fd, chi.chi[:, i], atol=0.15 * chi.chi.abs().max() + 4 * float(chi.std_err[:, i].max())), (i, fd, chi.chi[:, i])


def test_groups_pool_chains_separately():
    g = torch.Generator().manual_seed(1)
    phi, ell, loss = torch.randn(4, 30, 1, generator=g), torch.randn(4, 30, 3, generator=g), torch.randn(4, 30, generator=g)
    both = susceptibilities_from_traces(phi, ell, loss, beta=1.0, groups=torch.tensor([0, 0, 1, 1]))
    first = susceptibilities_from_traces(phi[:2], ell[:2], loss[:2], beta=1.0)
    assert both.chi.shape == (2, 3)
    torch.testing.assert_close(both.chi[0], first.chi[0])
