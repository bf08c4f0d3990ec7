"""Tests of the chapter-6 helpers (patterning_core.parens.patterning): brute-force oracles on tiny
cases for the estimators and statistics, and a small end-to-end run of the sampling helpers."""
from __future__ import annotations

import itertools
from functools import partial
import math

import pytest
import torch

from patterning_core import SGLDConfig, TrainConfig
from patterning_core.parens.model import ParensTransformerConfig
from patterning_core.parens.data import ParensDataConfig, make_parens_data, to_string
from patterning_core.parens.patterning import (EQUAL_COUNT, MIDDLE, NESTED, STUCK, ParensSetting, SeedResults, classify, data_table,
                                               extremes, init_seeds, llc_at, log_odds, loss_chi, loss_susceptibility, normalize,
                                               paired_shift, pattern_weights, shift_test, spread, string_groups, susceptibility_gap,
                                               parallel_calls, train_seeds, worker_pool)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (fixture in conftest.py)


def test_loss_chi_is_minus_beta_times_the_pooled_covariance():
    g = torch.Generator().manual_seed(0)
    ell = torch.rand(3, 40, 5, generator=g, dtype=torch.float64)  # (chains, draws, n)
    nbeta = 7.0
    chi, se, loss = loss_chi(ell, nbeta)
    L = ell.mean(-1).reshape(-1)  # (chains·draws,)
    d = (ell - ell.mean(-1, keepdim=True)).reshape(-1, 5)
    cov = ((L - L.mean())[:, None] * (d - d.mean(0))).mean(0)
    torch.testing.assert_close(chi, -(nbeta / 5) * cov)
    assert abs(float(chi.sum())) < 1e-12  # the observable is the mean of the probe losses
    assert se.shape == (5,) and loss.shape == (3, 40)


def test_normalize_gap_and_its_first_order_effect():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, generator=g), torch.randn(50, generator=g)
    assert float(normalize(3 * a).pow(2).mean()) == pytest.approx(1.0)
    torch.testing.assert_close(susceptibility_gap(a, 2 * a), torch.zeros(50))
    gap = susceptibility_gap(chi_ec=a, chi_nested=b)
    # +gap lowers the Nested solution's normalized response and raises the Equal-Count one's
    assert float(normalize(b) @ gap) <= 0 <= float(normalize(a) @ gap)


def test_pattern_weights_are_mean_one_and_opposite():
    gap = torch.linspace(-2, 3, 11)
    up, down = pattern_weights(gap, "nested", 0.5), pattern_weights(gap, "equal_count", 0.5)
    for h in (up, down):
        assert float(h.mean()) == pytest.approx(1.0) and (h > 0).all()
    assert (up.diff() > 0).all() and (down.diff() < 0).all()
    assert torch.equal(pattern_weights(gap, "nested", 0.0), torch.ones(11))
    with pytest.raises(ValueError):
        pattern_weights(gap, "both", 0.5)


def test_shift_test_counts_pairs():
    base, treated = torch.tensor([0.3, 0.5, 0.2, 0.4]), torch.tensor([0.1, 0.35, 0.0])
    u_brute = sum(float(t > b_) + 0.5 * float(t == b_) for t, b_ in itertools.product(treated, base))
    lo, hi = shift_test(base, treated, "less"), shift_test(base, treated, "greater")
    assert lo.u == hi.u == u_brute
    assert lo.p < hi.p and lo.median_treated == pytest.approx(0.1)
    far = shift_test(torch.linspace(0.4, 0.6, 20), torch.linspace(0.0, 0.2, 20), "less")
    assert far.p < 1e-6


def test_paired_shift():
    base = torch.tensor([0.3, 0.5, 0.2, 0.4, 0.6, 0.1])
    res = paired_shift(base, base + torch.tensor([0.1, 0.2, -0.05, 0.1, 0.3, 0.2]), "greater")
    assert res.n_intended == 5 and res.n == 6 and res.mean == pytest.approx(0.1417, abs=1e-3)
    assert res.p < 0.05
    assert paired_shift(base, base, "less").p == 1.0


def test_log_odds():
    n = 100
    assert log_odds(0.0, 2.0, 0.0, 5.0, n) == pytest.approx(3 * math.log(n))  # equal loss: lower LLC wins
    assert log_odds(0.1, 2.0, 0.0, 2.0, n) == pytest.approx(-10.0)  # equal LLC: lower loss wins
    assert log_odds(0.1, 2.0, 0.3, 7.0, n) == -log_odds(0.3, 7.0, 0.1, 2.0, n)


def fake_results(train_acc, ood) -> SeedResults:
    s = len(ood)
    return SeedResults({"w": torch.zeros(s, 1)}, torch.zeros(s), torch.tensor(train_acc), torch.ones(s), torch.tensor(ood))


def test_classify_extremes_and_spread():
    res = fake_results([1.0, 1.0, 0.9, 1.0, 1.0, 0.995], [0.05, 0.7, 0.0, 0.3, 0.95, 0.5])
    cls = classify(res)
    assert cls.tolist() == [NESTED, EQUAL_COUNT, STUCK, MIDDLE, EQUAL_COUNT, MIDDLE]
    fitted = cls != STUCK
    assert extremes(res, fitted, 2) == ([0, 3], [4, 1])  # the stuck seed 2 (rate 0.0) is never picked
    assert spread(res, fitted, 3) == [0, 5, 4] and spread(res, fitted, None) == [0, 3, 5, 1, 4]


def test_string_groups_partition_the_training_set():
    data = make_parens_data(ParensDataConfig(n_train=60, n_test=20, n_ood=20, max_len=10), seed=2)
    g = string_groups(data.train)
    total = sum(m.long() for m in g.values())
    assert (total == 1).all()
    for i, s in enumerate(to_string(t) for t in data.train.tokens):
        d = s.count("(") - s.count(")")
        assert bool(g["unbalanced, D_L > 0"][i]) == (d > 0) and bool(g["unbalanced, D_L < 0"][i]) == (d < 0)
    rows = data_table(data)
    assert [r["strings"] for r in rows] == [60, 20, 20] and rows[2]["equal count, not nested"] == 20


@pytest.fixture(scope="module")
def tiny():
    setting = ParensSetting(model=ParensTransformerConfig(max_len=8, d_model=8, n_heads=2, d_mlp=8, attn="mixed"),
                            train=TrainConfig(steps=30, lr=1e-2, batch_size=8, log_every=10))
    data = make_parens_data(ParensDataConfig(n_train=24, n_test=16, n_ood=16, max_len=8), seed=0)
    init = init_seeds(setting, [0, 1])
    return setting, data, init, train_seeds(setting, data, init)


def test_train_seeds_is_reproducible_and_responds_to_weights(tiny):
    setting, data, init, res = tiny
    again = train_seeds(setting, data, init)
    for k in res.params:
        assert torch.equal(res.params[k], again.params[k])
    h = torch.linspace(0.2, 1.8, 24)
    other = train_seeds(setting, data, init, weights=h)
    assert not torch.equal(other.params["head.weight"], res.params["head.weight"])
    assert res.ood_rate.shape == res.train_acc.shape == (2,)


def test_worker_pool_gives_the_same_numbers(tiny):
    """Spawned workers (one thread each, like the chapter) train bit-identically to this process, and
    parallel_calls keeps the keys' order; off the CPU the executor runs each call in place and hands back
    its error as a pool would."""
    setting, data, init, res = tiny
    h = torch.linspace(0.2, 1.8, 24)
    pool = worker_pool("cpu", workers=2)
    try:
        far = parallel_calls({"weighted": partial(train_seeds, setting, data, init, weights=h),
                              "plain": partial(train_seeds, setting, data, init)}, pool)
    finally:
        pool.shutdown()
    assert list(far) == ["weighted", "plain"]
    here = train_seeds(setting, data, init, weights=h)
    for k in here.params:
        assert torch.equal(far["weighted"].params[k], here.params[k]) and torch.equal(far["plain"].params[k], res.params[k])
    assert torch.equal(far["weighted"].ood_rate, here.ood_rate) and torch.equal(far["weighted"].train_loss, here.train_loss)
    inline = worker_pool("cuda")  # a string is enough: nothing touches the device here
    assert torch.equal(inline.submit(train_seeds, setting, data, init).result().ood_rate, res.ood_rate)
    assert torch.equal(parallel_calls({0: partial(train_seeds, setting, data, init)})[0].ood_rate, res.ood_rate)
    with pytest.raises(ValueError, match="weights"):
        inline.submit(train_seeds, setting, data, init, weights=torch.ones(5)).result()


def test_loss_susceptibility_and_llc_run_end_to_end(tiny):
    setting, data, _, res = tiny
    cfg = SGLDConfig(step_size=1e-4, nbeta=50.0, gamma=100.0, num_chains=3, num_draws=20, num_burnin=10, batch_size=8)
    r = loss_susceptibility(setting, res.seed(0), data.train, cfg, seed=0)
    assert r.chi.shape == r.chi_std_err.shape == (24,) and r.loss_trace.shape == (3, 20)
    assert abs(float(r.chi.sum())) < 1e-8 * max(1.0, float(r.chi.abs().sum()))
    assert math.isfinite(r.llc.mean) and r.llc.per_chain.shape == (3,)
    # the LLC is nβ times the excess of the full training loss over the anchor's
    assert r.llc.mean == pytest.approx(cfg.nbeta * float(r.loss_trace.double().mean() - r.anchor_loss), rel=1e-6)
    a = llc_at(setting, res.seed(0), data.train, cfg, seed=0)
    b = llc_at(setting, res.seed(0), data.train, cfg, seed=0, weights=torch.linspace(0.5, 1.5, 24))
    assert math.isfinite(a.mean) and math.isfinite(b.mean) and a.mean != b.mean
    # the full LLC response (issue 18) from the same draws: its λ̂ is the one above, its parts add up, it sums to zero
    resp = r.response
    assert resp.llc == pytest.approx(r.llc.mean, rel=1e-3)  # the same draws; anchor loss in float64 here, float32 there
    torch.testing.assert_close(resp.total, resp.covariance + resp.direct)
    torch.testing.assert_close(resp.covariance, cfg.nbeta * r.chi.double(), rtol=1e-4, atol=1e-8)
    assert abs(float(resp.total.sum())) < 1e-8 * max(1.0, float(resp.total.abs().sum()))
