"""Properties of the SGLD step and loop, and its error messages."""
import math

import pytest
import torch
from torch import nn

from patterning_core import SGLDConfig, SGLDDivergenceError, sample, sgld_step
from patterning_core.toy import Monomial, MonomialConfig, Quadratic, monomial_loss, quadratic_loss


def _quadratic_data(n=6, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), 0.5 + torch.rand(n, d, generator=g)


def test_zero_noise_step_is_gradient_step():
    """With ξ = 0, one SGLD step is gradient descent on nβL + γ/2‖w − w*‖² with rate ε/2."""
    a, prec = _quadratic_data()
    model = Quadratic(3)
    w = torch.randn(3, requires_grad=True)
    anchor = torch.randn(3)
    eps, nbeta, gamma = 1e-2, 7.0, 3.0
    loss = quadratic_loss(lambda *b: 0.5 * (b[1] * (w - b[0]) ** 2).sum(-1), (a, prec)).mean()
    (g,) = torch.autograd.grad(loss, w, retain_graph=True)
    (g_full,) = torch.autograd.grad(nbeta * loss + 0.5 * gamma * ((w - anchor) ** 2).sum(), w)
    new = sgld_step(w.detach(), g, anchor, torch.zeros(3), step_size=eps, nbeta=nbeta, gamma=gamma)
    torch.testing.assert_close(new, w.detach() - 0.5 * eps * g_full)
    assert model.w.shape == (3,)


def test_localization_pulls_towards_anchor():
    w, anchor = torch.tensor([2.0, -3.0]), torch.zeros(2)
    new = sgld_step(w, torch.zeros(2), anchor, torch.zeros(2), step_size=0.1, nbeta=1.0, gamma=1.0)
    assert (new.abs() < w.abs()).all()


def test_loop_without_noise_matches_gradient_descent():
    """The loop with a zero-noise generator would be GD; check the first draws by hand instead:
    same seed ⇒ identical numbers, different seeds ⇒ different numbers."""
    a, prec = _quadratic_data()
    cfg = SGLDConfig(step_size=1e-3, nbeta=10.0, gamma=1.0, num_chains=3, num_draws=20, num_burnin=5)
    run = lambda seed: sample(Quadratic(3), quadratic_loss, (a, prec), config=cfg, seed=seed, progress=False)
    s1, s2, s3 = run(0), run(0), run(1)
    assert torch.equal(s1.loss_trace, s2.loss_trace) and torch.equal(s1.obs_trace, s2.obs_trace)
    assert not torch.equal(s1.loss_trace, s3.loss_trace)
    assert s1.loss_trace.shape == (3, 20)


def test_chains_are_independent():
    """Chain c's trajectory does not depend on how many other chains run beside it (its noise
    differs, but its statistics must agree); and no two chains are identical."""
    m = Monomial(MonomialConfig(powers=(2, 2)))
    cfg = SGLDConfig(step_size=1e-3, nbeta=50.0, gamma=0.0, num_chains=8, num_draws=50, num_burnin=10)
    s = sample(m, monomial_loss, (torch.zeros(1, 1),), config=cfg, seed=0, progress=False)
    traces = s.loss_trace
    for i in range(8):
        for j in range(i + 1, 8):
            assert not torch.allclose(traces[i], traces[j])
    # lag-0 correlation between chains is small
    x = traces - traces.mean(1, keepdim=True)
    corr = (x @ x.T) / (x.norm(dim=1)[:, None] * x.norm(dim=1)[None, :])
    off = corr[~torch.eye(8, dtype=torch.bool)]
    assert off.abs().mean() < 0.3


def test_restricted_sampling_leaves_frozen_parameters():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor([1.0, 2.0]))
            self.b = nn.Parameter(torch.tensor([3.0]))

        def forward(self, x):
            return ((self.a - 1) ** 2).sum() + (self.b - 3) ** 2 + 0 * x[:, 0]

    obs = lambda p: torch.cat([p["a"], p["b"]], dim=1)  # (chains, 3)
    cfg = SGLDConfig(step_size=1e-2, nbeta=10.0, gamma=1.0, num_chains=4, num_draws=10, num_burnin=0)
    s = sample(Two(), lambda m, b: m(b[0]), (torch.zeros(2, 1),), config=cfg, observables=obs, restrict=["b"], progress=False)
    assert torch.equal(s.obs_trace[..., :2], torch.tensor([1.0, 2.0]).expand(4, 10, 2))
    assert s.obs_trace[..., 2].std() > 0
    # per-chain mask: chain 0 samples a[0] only, the others a[1] only
    mask = torch.tensor([[True, False]] + [[False, True]] * 3)
    s = sample(Two(), lambda m, b: m(b[0]), (torch.zeros(2, 1),), config=cfg, observables=obs, restrict={"a": mask}, progress=False)
    assert (s.obs_trace[0, :, 1] == 2.0).all() and (s.obs_trace[1:, :, 0] == 1.0).all()
    assert s.obs_trace[0, :, 0].std() > 0 and s.obs_trace[1:, :, 1].std() > 0


def test_minibatch_chains_draw_their_own_batches():
    a, prec = _quadratic_data(n=50)
    cfg = SGLDConfig(step_size=1e-4, nbeta=10.0, gamma=1.0, num_chains=4, num_draws=5, num_burnin=0, batch_size=5)
    s = sample(Quadratic(3), quadratic_loss, (a, prec), config=cfg, progress=False)
    first = s.loss_trace[:, 0]  # all chains start at w*, so differences come from the batches
    assert len(set(first.tolist())) == 4


def test_divergence_names_step_size():
    m = Monomial(MonomialConfig(powers=(4,)))
    with torch.no_grad():
        m.w.fill_(1.0)
    cfg = SGLDConfig(step_size=10.0, nbeta=100.0, gamma=0.0, num_chains=2, num_draws=50, num_burnin=0)
    with pytest.raises(SGLDDivergenceError, match=r"step size ε=10.0.*nβ=100.0.*γ=0.0"):
        sample(m, monomial_loss, (torch.zeros(1, 1),), config=cfg, progress=False)


def test_bad_inputs_have_clear_errors():
    a, prec = _quadratic_data()
    cfg = SGLDConfig(num_chains=2, num_draws=2, num_burnin=0)
    q = Quadratic(3)
    with pytest.raises(ValueError, match=r"shape \(6,\).*\(5,\)"):
        sample(q, quadratic_loss, (a, prec), config=cfg, weights=torch.ones(5), progress=False)
    with pytest.raises(ValueError, match="non-negative"):
        sample(q, quadratic_loss, (a, prec), config=cfg, weights=-torch.ones(6), progress=False)
    with pytest.raises(ValueError, match="all zero"):
        sample(q, quadratic_loss, (a, prec), config=cfg, weights=torch.zeros(6), progress=False)
    with pytest.raises(ValueError, match=r"leading .*\[\(6, 3\), \(5, 3\)\]"):
        sample(q, quadratic_loss, (a, prec[:5]), config=cfg, progress=False)
    with pytest.raises(ValueError, match=r"\(chains, K\) = \(2, K\)"):
        sample(q, quadratic_loss, (a, prec), config=cfg, observables=lambda p: p["w"][0], progress=False)
    with pytest.raises(KeyError, match="unknown parameter 'v'"):
        sample(q, quadratic_loss, (a, prec), config=cfg, restrict=["v"], progress=False)
    with pytest.raises(ValueError, match="step_size"):
        SGLDConfig(step_size=0.0)
    with pytest.raises(ValueError, match=r"mask for 'w' has shape \(4,\)"):
        sample(q, quadratic_loss, (a, prec), config=cfg, restrict={"w": torch.ones(4, dtype=torch.bool)}, progress=False)


def test_burnin_is_excluded():
    m = Monomial(MonomialConfig(powers=(2,)))
    cfg = SGLDConfig(step_size=1e-3, nbeta=10.0, gamma=0.0, num_chains=2, num_draws=7, num_burnin=13, thin=3)
    s = sample(m, monomial_loss, (torch.zeros(1, 1),), config=cfg, progress=False)
    assert s.loss_trace.shape == (2, 7) and s.stats.count == 7
    assert cfg.num_steps == 13 + 21
    assert not math.isclose(float(s.loss_trace[0, 0]), 0.0)  # first draw is after burn-in, not w*


def test_no_probe_run_keeps_the_chains_and_refuses_susceptibilities():
    """``probe=False`` records no per-sample losses but draws the same chains (the probe pass uses no
    randomness); susceptibilities() then says why it cannot estimate χ."""
    from patterning_core import susceptibilities

    a, prec = _quadratic_data(n=40)
    cfg = SGLDConfig(step_size=1e-3, nbeta=10.0, gamma=1.0, num_chains=3, num_draws=15, num_burnin=5, batch_size=4)
    with_probe = sample(Quadratic(3), quadratic_loss, (a, prec), config=cfg, seed=3, progress=False, keep_probe_traces=True)
    without = sample(Quadratic(3), quadratic_loss, (a, prec), config=cfg, seed=3, progress=False, probe=False)
    assert torch.equal(with_probe.loss_trace, without.loss_trace) and with_probe.anchor_loss == without.anchor_loss
    assert with_probe.probe_trace.shape == (3, 15, 40) and without.stats.sum_d.shape == (3, 0)
    with pytest.raises(ValueError, match="no probe losses"):
        susceptibilities(without)


def test_eval_batch_size_chunks_the_anchor_and_probe_passes_without_changing_them():
    a, prec = _quadratic_data(n=30)
    cfg = SGLDConfig(step_size=1e-3, nbeta=10.0, gamma=1.0, num_chains=2, num_draws=5, num_burnin=0, batch_size=3)
    runs = [sample(Quadratic(3), quadratic_loss, (a, prec), config=cfg, seed=0, progress=False, keep_probe_traces=True,
                   eval_batch_size=e) for e in (None, 7, 30)]
    for r in runs[1:]:
        assert math.isclose(r.anchor_loss, runs[0].anchor_loss, rel_tol=1e-6)
        torch.testing.assert_close(r.probe_trace, runs[0].probe_trace)
        assert torch.equal(r.loss_trace, runs[0].loss_trace)


@pytest.mark.parametrize("mode", ["minibatch", "full", "restricted"])
def test_chain_batched_model_skips_vmap_with_the_same_numbers(mode):
    """TMS declares ``chain_batched``: sample() then calls it on stacked parameters directly. The
    same run through vmap (a subclass that does not declare it) gives the same draws."""
    from patterning_core.tms.model import TMS, TMSConfig, natural_weights, per_sample_loss, tms_data

    class VmappedTMS(TMS):
        chain_batched = False

    cfg_m = TMSConfig(bias=True)
    x = (torch.rand(200, 5, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    kw = dict(config=SGLDConfig(step_size=1e-3, nbeta=50.0, gamma=100.0, num_chains=5, num_draws=30, num_burnin=10,
                                batch_size=None if mode == "full" else 16),
              seed=4, progress=False, keep_probe_traces=True, observables=lambda p: p["W"].flatten(1))
    data = tms_data() if mode == "full" else (x,)
    if mode == "full":
        kw["weights"] = natural_weights().float()
    if mode == "restricted":
        kw["restrict"] = {"W": torch.tensor([True, False]).repeat(5, 1)[:, :, None].expand(5, 2, 5)}
    runs = [sample(cls(cfg_m, generator=torch.Generator().manual_seed(0)), per_sample_loss, data, **kw) for cls in (TMS, VmappedTMS)]
    for a in ("loss_trace", "obs_trace", "probe_trace"):
        torch.testing.assert_close(getattr(runs[0], a), getattr(runs[1], a), rtol=1e-5, atol=1e-6)
    assert runs[0].anchor_loss == pytest.approx(runs[1].anchor_loss, rel=1e-6)
    if mode == "restricted":  # the frozen half of W never moves
        assert (runs[0].obs_trace[:, :, 5:] == runs[0].obs_trace[:, :1, 5:]).all()
