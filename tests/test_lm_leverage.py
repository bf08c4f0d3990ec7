"""patterning_core.lm.leverage: known answers for the share, the exact LP optimum, the oracle and resampling."""
from __future__ import annotations

import pytest
import torch
from scipy.optimize import linprog

from patterning_core.lm.leverage import (capped_mean_one, extreme_weights, induction_share, leverage, oracle_weights,
                                         resample_indices, weighted_share)


def test_induction_share_counts_repeated_bigrams():
    # [A B C A B C]: tokens 4 (B after A) and 5 (C after B) complete bigrams seen before: 2 of positions 1..5
    x = torch.tensor([[0, 1, 2, 0, 1, 2], [0, 1, 2, 3, 4, 5]])
    assert torch.allclose(induction_share(x), torch.tensor([2 / 5, 0.0], dtype=torch.float64))
    tokens = torch.tensor([[1, 2, 1, 2, 1], [1, 2, 3, 4, 5]])
    # row 0: t=3 completes (1,2) seen at t=1; t=4 completes (2,1) seen at t=2 -> 2 of 4
    assert induction_share(tokens).tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="shape"):
        induction_share(torch.zeros(6, dtype=torch.long))


@pytest.mark.parametrize("up", [True, False])
def test_extreme_weights_is_the_linear_programmes_optimum(up):
    s = torch.rand(37, generator=torch.Generator().manual_seed(0)).double()
    lo, hi = 0.25, 4.0
    w = extreme_weights(s, lo, hi, up)
    assert abs(float(w.mean()) - 1) < 1e-12 and float(w.min()) >= lo and float(w.max()) <= hi
    n = len(s)
    res = linprog((-s if up else s).numpy(), A_eq=torch.ones(1, n).numpy(), b_eq=[n], bounds=[(lo, hi)] * n)
    assert float((w * s).sum()) == pytest.approx(float((-1 if up else 1) * res.fun), rel=1e-9)


def test_extreme_weights_solve_the_capped_mean_one_programme():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(101, generator=g, dtype=torch.float64)
    for up in (True, False):
        w = extreme_weights(s, 0.25, 4.0, up)
        assert abs(float(w.mean()) - 1.0) < 1e-12 and float(w.min()) >= 0.25 and float(w.max()) <= 4.0
        best = weighted_share(s, w)
        for _ in range(200):  # no random feasible weighting does better
            r = capped_mean_one(torch.rand(101, generator=g, dtype=torch.float64) * 4 + 0.1, 0.25, 4.0)
            other = weighted_share(s, r)
            assert (other <= best + 1e-12) if up else (other >= best - 1e-12)
    with pytest.raises(ValueError, match="lo <= 1 <= hi"):
        extreme_weights(s, 1.5, 4.0, True)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_oracle_weights_mean_one_within_cap_and_monotone(sign):
    shares = torch.rand(2000, generator=torch.Generator().manual_seed(1)).double() ** 3
    w = oracle_weights(shares, sign, 1.5, (0.25, 4.0))
    assert abs(float(w.mean()) - 1.0) < 1e-6 and float(w.min()) >= 0.25 - 1e-12 and float(w.max()) <= 4 + 1e-12
    order = torch.argsort(shares)
    assert bool((sign * w[order].diff() >= -1e-12).all())
    best = extreme_weights(shares, 0.25, 4.0, sign > 0)  # the oracle cannot beat the LP optimum
    assert sign * weighted_share(shares, w) <= sign * weighted_share(shares, best) + 1e-12
    with pytest.raises(ValueError, match="constant"):
        oracle_weights(torch.ones(5, dtype=torch.float64), 1.0, 1.5, (0.25, 4.0))


def test_capped_mean_one_and_weighted_share_refuse_bad_input():
    with pytest.raises(ValueError, match="positive"):
        capped_mean_one(torch.tensor([1.0, 0.0]), 0.25, 4.0)
    with pytest.raises(ValueError, match="shape"):
        weighted_share(torch.ones(3), torch.ones(4))


def test_resampling_follows_the_weights_and_is_seeded():
    w = torch.tensor([0.25, 1.0, 4.0, 2.75], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([resample_indices(w, 8, g) for _ in range(5000)])  # (40000,)
    freq = torch.bincount(draws, minlength=4).double() / len(draws)
    assert torch.allclose(freq, w / w.sum(), atol=0.01)  # multinomial s.e. <= 0.0025
    a, b = (resample_indices(w, 8, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="weights"):
        resample_indices(torch.tensor([1.0, -1.0]), 2, torch.Generator())


def test_leverage_reports_the_lp_optimum_and_the_oracle_as_ratios():
    s = torch.rand(500, generator=torch.Generator().manual_seed(4)).double() ** 2
    r = leverage(s, 0.25, 4.0, 1.5)
    base = float(s.mean())
    assert r["contexts"] == 500 and r["share"] == pytest.approx(base)
    assert r["best_up"] == pytest.approx(weighted_share(s, extreme_weights(s, 0.25, 4.0, True)) / base)
    assert r["oracle_down"] == pytest.approx(weighted_share(s, oracle_weights(s, -1.0, 1.5, (0.25, 4.0))) / base)
    assert r["best_down"] <= r["oracle_down"] < 1 < r["oracle_up"] <= r["best_up"]
    assert 0 < r["oracle_up_effective_n_fraction"] <= 1
    with pytest.raises(ValueError, match="positive mean"):
        leverage(torch.zeros(5, dtype=torch.float64))
