"""Tests of the full LLC response to per-sample weights (patterning_core.llc.llc_response, issue 18):
the known answer for a Gaussian posterior (zero for a quadratic basin without localization, the
closed form's gradient with it) and finite differences with common random numbers on a singular model."""
from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from patterning_core import SGLDConfig, llc, sample
from patterning_core.llc import directional, free_energy_response, llc_response
from patterning_core.toy import quadratic_posterior

pytestmark = pytest.mark.usefixtures("one_thread")


def _quadratic(n: int = 6, d: int = 3, seed: int = 0, scale: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = scale * torch.randn(n, d, generator=g, dtype=torch.float64)  # centres a_i
    prec = 0.2 + 4 * torch.rand(n, d, generator=g, dtype=torch.float64)  # diagonal precisions A_i
    w_star = (prec * a).sum(0) / prec.sum(0)  # argmin of L (h = 1)
    return a, prec, w_star


def _gaussian_traces(a, prec, w_star, nbeta, gamma, chains=8, draws=20000, seed=1) -> tuple[Tensor, Tensor]:
    """Exact posterior draws at h = 1 turned into per-sample loss traces (chains, draws, n) and ℓ(w*)."""
    mean, var = quadratic_posterior(torch.ones(a.shape[0], dtype=torch.float64), a, prec, nbeta, gamma, w_star)
    g = torch.Generator().manual_seed(seed)
    w = mean + var.sqrt() * torch.randn(chains, draws, a.shape[1], generator=g, dtype=torch.float64)  # (C, T, d)
    ell = 0.5 * (prec * (w[:, :, None, :] - a) ** 2).sum(-1)  # (C, T, n)
    return ell, 0.5 * (prec * (w_star - a) ** 2).sum(-1)


def test_quadratic_basin_response_is_zero_though_each_term_is_not():
    a, prec, w_star = _quadratic(scale=0.1)
    nbeta = 50.0
    ell, anchor = _gaussian_traces(a, prec, w_star, nbeta, gamma=0.0)
    r = llc_response(ell, anchor, nbeta)
    assert r.llc == pytest.approx(a.shape[1] / 2, rel=0.02)  # λ = d/2
    # the covariance term alone has a known non-zero value, −(1/2n) Σ_j (A_ij/Ā_j − 1) ...
    known = -((prec / prec.mean(0)) - 1).sum(-1) / (2 * a.shape[0])
    assert ((r.covariance - known).abs() < 4 * r.std_err + 1e-9).all() and (known.abs() > 10 * r.std_err).any()
    assert (r.total.abs() < 4 * r.std_err + 1e-9).all()  # ... and the direct term cancels it
    assert r.total.abs().max() < 0.05 * r.covariance.abs().max()


def test_localized_quadratic_matches_the_closed_form_gradient():
    a, prec, w_star = _quadratic(seed=2)
    w_star = w_star + 0.1  # not the minimum: both terms matter
    nbeta, gamma = 40.0, 30.0

    def lam(h: Tensor) -> Tensor:
        mean, var = quadratic_posterior(h, a, prec, nbeta, gamma, w_star)
        rho = h / h.sum()
        e_loss = (rho[:, None] * 0.5 * prec * ((mean - a) ** 2 + var)).sum()
        return nbeta * (e_loss - (rho[:, None] * 0.5 * prec * (w_star - a) ** 2).sum())

    h = torch.ones(a.shape[0], dtype=torch.float64, requires_grad=True)
    exact = torch.autograd.grad(lam(h), h)[0]
    ell, anchor = _gaussian_traces(a, prec, w_star, nbeta, gamma, draws=50000, seed=3)
    r = llc_response(ell, anchor, nbeta)
    assert r.llc == pytest.approx(float(lam(h)), rel=0.02)
    assert ((r.total - exact).abs() < 5 * r.std_err + 1e-3).all(), (r.total, exact, r.std_err)
    assert (exact - r.covariance).abs().max() > 10 * r.std_err.max()  # the covariance term alone is wrong here


class Singular(nn.Module):
    """Two parameters; a sample of kind 0 has loss ½x²(w₁w₂)², one of kind 1 ½x²w₁⁴ (a singular basin at 0)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, x: Tensor, kind: Tensor) -> Tensor:
        f = torch.where(kind == 0, self.w[0] * self.w[1], self.w[0] ** 2)
        return 0.5 * (x * f) ** 2  # (B,)


def _singular_loss(model, batch):
    return model(*batch)


def test_finite_differences_with_common_random_numbers_on_a_singular_model():
    """Moving a group's weight by ±δ, the same seed (common random numbers) on both sides: the measured
    change of λ̂ matches Σ_group ∂λ̂/∂h_i·δ, and the covariance term alone does not."""
    g = torch.Generator().manual_seed(0)
    n = 20
    kind = (torch.arange(n) >= 12).long()  # 12 of kind 0, 8 of kind 1
    x = 0.5 + torch.rand(n, generator=g)
    data, model = (x, kind), Singular()
    cfg = SGLDConfig(step_size=4e-3, nbeta=50.0, gamma=1.0, num_chains=16, num_draws=2000, num_burnin=500)
    run = sample(model, _singular_loss, data, config=cfg, seed=5, keep_probe_traces=True, keep_obs_traces=False, progress=False)
    with torch.no_grad():
        anchor = model(*data)
    r = llc_response(run.probe_trace, anchor, cfg.nbeta)
    assert r.llc == pytest.approx(llc(run).mean, rel=1e-6)
    delta, group = 0.5, (kind == 0).double()  # kind 1 is the mirror image: Σ_i ∂λ̂/∂h_i = 0
    pred, se = directional(r, delta * group)
    lam = [llc(sample(model, _singular_loss, data, config=cfg, seed=5, weights=1 + s * delta * group.float(),
                      probe=False, keep_obs_traces=False, progress=False)).mean for s in (1, -1)]
    measured = (lam[0] - lam[1]) / 2
    cov_only = float(r.covariance @ (delta * group))
    print(f"predicted Δλ̂ {pred:+.4f} ± {se:.4f}, measured {measured:+.4f}, covariance term alone {cov_only:+.4f}")
    assert abs(float(r.total.sum())) < 1e-9  # scaling every weight changes nothing
    assert abs(measured - pred) < 3 * se and abs(measured - cov_only) > 3 * se


def test_free_energy_response_sums_to_zero_and_checks_shapes():
    anchor = torch.tensor([0.1, 0.3, 0.2])
    dF = free_energy_response(anchor, n=3)
    assert float(dF.sum()) == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(dF, (anchor.double() - 0.2))
    with pytest.raises(ValueError, match="anchor_ell"):
        llc_response(torch.zeros(2, 5, 3), torch.zeros(4), 10.0)
    with pytest.raises(ValueError, match="ell must"):
        llc_response(torch.zeros(5, 3), torch.zeros(3), 10.0)


def test_llc_response_stays_on_the_traces_device_and_names_a_mismatch():
    from patterning_core import DeviceMismatchError

    ell = torch.rand(3, 5, 4)  # (chains, draws, n)
    r = llc_response(ell, torch.zeros(4), nbeta=10.0)
    assert r.total.device == ell.device and r.per_chain.shape == (3, 4)
    with pytest.raises(DeviceMismatchError, match="anchor_ell is on meta but ell is on cpu"):
        llc_response(ell, torch.zeros(4, device="meta"), nbeta=10.0)
    with pytest.raises(DeviceMismatchError, match="weights is on meta"):
        llc_response(ell, torch.zeros(4), nbeta=10.0, weights=torch.ones(4, device="meta"))
    with pytest.raises(DeviceMismatchError, match="dh is on meta"):
        directional(r, torch.ones(4, device="meta"))
