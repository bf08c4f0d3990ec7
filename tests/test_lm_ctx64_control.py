"""The pure pieces of experiments/lm_ctx64_control.py: weighted resampling and the oracle weights."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from lm_ctx64_control import ControlConfig, condition_weights, oracle_weights, resample_indices  # noqa: E402


def test_resampling_draws_contexts_in_proportion_to_weight():
    w = torch.tensor([0.25, 1.0, 4.0, 2.75], dtype=torch.float64)  # mean one
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([resample_indices(w, 8, g) for _ in range(5000)])  # (40000,)
    freq = torch.bincount(draws, minlength=4).double() / len(draws)
    expected = w / w.sum()
    # multinomial s.e. <= sqrt(0.25 / 40000) = 0.0025; 4 s.e.
    assert torch.allclose(freq, expected, atol=0.01), (freq, expected)


def test_resampling_is_seeded_and_rejects_bad_weights():
    w = torch.ones(10, dtype=torch.float64)
    a = resample_indices(w, 8, torch.Generator().manual_seed(3))
    b = resample_indices(w, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (8,)
    with pytest.raises(ValueError, match="weights"):
        resample_indices(torch.tensor([1.0, -1.0]), 2, torch.Generator())


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_oracle_weights_mean_one_within_cap_and_monotone(sign):
    shares = torch.rand(2000, generator=torch.Generator().manual_seed(1)).double() ** 3  # skewed, like real shares
    lo, hi = 0.25, 4.0
    w = oracle_weights(shares, sign, 1.5, (lo, hi))
    assert abs(float(w.mean()) - 1.0) < 1e-6
    assert float(w.min()) >= lo - 1e-12 and float(w.max()) <= hi + 1e-12
    assert float(w.max()) == pytest.approx(hi) if sign > 0 else float(w.min()) == pytest.approx(lo)  # the cap binds
    order = torch.argsort(shares)
    assert bool((sign * w[order].diff() >= -1e-12).all())  # more induction share -> more (up) / less (down) weight
    ratio = float((w * shares).sum() / w.sum() / shares.mean())
    assert ratio > 1.2 if sign > 0 else ratio < 0.8


def test_shuffled_is_a_permutation_of_oracle_up():
    shares = torch.rand(500, generator=torch.Generator().manual_seed(2)).double()
    cfg = ControlConfig()
    up = condition_weights("oracle_up", shares, cfg, seed=0)
    sh = condition_weights("shuffled", shares, cfg, seed=0)
    assert torch.equal(up.sort().values, sh.sort().values) and not torch.equal(up, sh)
    assert torch.equal(condition_weights("baseline", shares, cfg, seed=0), torch.ones(500, dtype=torch.float64))
    with pytest.raises(ValueError, match="condition"):
        condition_weights("induce", shares, cfg, seed=0)


def test_uniform_attention_chance_level_matches_the_closed_form():
    from lm_ctx64_control import uniform_attention_pm

    n = 32
    closed = sum(1.0 / (t + 1) for t in range(n, 2 * n)) / n  # query t >= N has one target, weight 1/(t+1)
    assert uniform_attention_pm(n) == pytest.approx(closed, rel=1e-6)
