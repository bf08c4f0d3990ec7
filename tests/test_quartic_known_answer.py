"""Known answer: the susceptibility at the TMS 4 → 5 bifurcation (Adam et al. 2026, §4.3).

With four unit features on a square and W_4 sampled from p ∝ exp(−β Σ_i ℓ_{e_i}), the dot-product
susceptibilities are ±α with α = 2/(3π^{3/2}) β^{1/2}, zero elsewhere (including the h_4 column).
"""
import math

import pytest
import torch

from patterning_core import SGLDConfig, sample, susceptibilities
from patterning_core.tms.model import TMS, TMSConfig, per_sample_loss, phi_dot
from patterning_core.tms.polygons import ideal_kgon

PATTERN = torch.tensor([[-1, 0, 1, 0, 0], [0, -1, 0, 1, 0], [1, 0, -1, 0, 0], [0, 1, 0, -1, 0]], dtype=torch.float64)


@pytest.mark.slow
def test_quartic_bifurcation_susceptibility_closed_form():
    beta = 50.0
    model = TMS(TMSConfig(sparsity=0.0)).double()
    model.W.data.copy_(ideal_kgon(4, d=5))
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[:, 4] = True
    cfg = SGLDConfig(step_size=1e-3, nbeta=5 * beta, gamma=0.0, num_chains=1024, num_draws=200, num_burnin=100, thin=2)
    s = sample(model, per_sample_loss, (torch.eye(5, dtype=torch.float64),), config=cfg,
               observables=lambda p: phi_dot(p)[:, [3, 6, 8, 9]], restrict={"W": mask}, seed=0, progress=False)
    sus = susceptibilities(s)
    alpha = 2 / (3 * math.pi**1.5) * math.sqrt(beta)
    assert s.beta_eff == pytest.approx(beta)
    nonzero = PATTERN != 0
    rel = (sus.chi - alpha * PATTERN)[nonzero].abs() / alpha
    assert rel.max() < 0.10, (sus.chi, alpha)
    z = sus.chi[~nonzero] / sus.std_err[~nonzero]
    assert z.abs().max() < 4.0, z
