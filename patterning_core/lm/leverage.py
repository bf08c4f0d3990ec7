r"""Leverage before method: how far can re-weighting contexts move what a language model sees?

Chapter 5 re-weights training contexts to steer induction-head formation. Before asking whether a
*method* (PC2 of the susceptibilities) finds good weights, measure what *any* weights can do
(issue 17). The lever is the per-context share of induction-pattern tokens

.. math::
    s_i = \frac{1}{T-1}\sum_{t=1}^{T-1} m_{it},

:math:`m` = :func:`~patterning_core.lm.data.induction_pattern_mask` (token :math:`t` completes a
bigram seen earlier in its context), and mean-one weights :math:`w_i \in [\mathrm{lo}, \mathrm{hi}]`
move the token-weighted share to :math:`\sum_i w_i s_i / \sum_i w_i`. Its extremes are a linear
programme solved exactly by a greedy fill (:func:`extreme_weights`); the *oracle* weights
:math:`w \propto e^{\pm\sigma z}` (:math:`z` the standardised share, :func:`oracle_weights`) are the
chapter's weight form given the answer. Weights are realised by resampling every batch
(:func:`resample_indices`), so every condition keeps the same batch size.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .data import induction_pattern_mask

CHUNK = 512  # contexts per induction-mask call (memory: CHUNK * T^2 bools)


def induction_share(tokens: Tensor) -> Tensor:
    """Per-context share of induction-pattern tokens among positions ``1..T-1``: ``(N, T)`` int64 -> ``(N,)`` float64."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be (N, T), got shape {tuple(tokens.shape)}")
    out = [induction_pattern_mask(tokens[i: i + CHUNK])[:, 1:].double().mean(1) for i in range(0, len(tokens), CHUNK)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64, device=tokens.device)


def extreme_weights(scores: Tensor, lo: float, hi: float, up: bool) -> Tensor:
    r"""Mean-one weights in ``[lo, hi]`` that maximise (``up``) or minimise :math:`\sum_i w_i s_i`.

    The linear programme's optimum is the greedy (fractional-knapsack) fill: every weight starts at
    ``lo`` and the remaining budget :math:`N(1 - \mathrm{lo})` goes in steps of ``hi - lo`` to the
    highest (``up``) or lowest scores, one context taking the fractional remainder. ``(N,)`` -> ``(N,)``.
    """
    if not lo <= 1.0 <= hi:
        raise ValueError(f"need lo <= 1 <= hi for mean-one weights, got lo={lo}, hi={hi}")
    n = len(scores)
    order = torch.argsort(scores, descending=up, stable=True)
    w = torch.full((n,), lo, dtype=torch.float64, device=scores.device)
    budget = n * (1.0 - lo)
    full = int(budget // (hi - lo)) if hi > lo else n
    w[order[:full]] = hi
    if full < n:
        w[order[full]] += budget - full * (hi - lo)
    return w


def capped_mean_one(raw: Tensor, lo: float, hi: float, iters: int = 100) -> Tensor:
    """Positive weights rescaled to mean one and clipped to ``[lo, hi]``, alternately until both hold."""
    if not bool((raw > 0).all()):
        raise ValueError("raw weights must be positive")
    w = raw / raw.mean()
    for _ in range(iters):
        w = (w / w.mean()).clamp(lo, hi)
        if abs(float(w.mean()) - 1.0) < 1e-9:
            break
    return w


def weighted_share(scores: Tensor, w: Tensor) -> float:
    r""":math:`\sum_i w_i s_i / \sum_i w_i`."""
    if scores.shape != w.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and weights {tuple(w.shape)} must have the same shape")
    return float((w * scores).sum() / w.sum())


def oracle_weights(shares: Tensor, sign: float, strength: float, cap: tuple[float, float]) -> Tensor:
    r""":math:`w \propto \exp(\mathrm{sign}\cdot\mathrm{strength}\cdot z)`, ``z`` the standardised share,
    clipped to ``cap`` and renormalised to mean one. ``(N,)`` -> ``(N,)`` float64."""
    if not shares.std() > 0:
        raise ValueError("shares must not be constant (the standardised share is undefined)")
    z = (shares - shares.mean()) / shares.std()  # (N,)
    return capped_mean_one(torch.exp(sign * strength * z).double(), *cap)


def resample_indices(weights: Tensor, batch_size: int, generator: torch.Generator) -> Tensor:
    r"""``batch_size`` context indices drawn with replacement, :math:`P(i) = w_i / \sum_j w_j`: ``(B,)`` int64."""
    if weights.dim() != 1 or not bool((weights >= 0).all()) or not weights.sum() > 0:
        raise ValueError("weights must be a 1-D tensor of non-negative numbers with a positive sum")
    return torch.multinomial(weights, batch_size, replacement=True, generator=generator)


def leverage(scores: Tensor, lo: float = 0.25, hi: float = 4.0, strength: float = 1.5) -> dict:
    r"""Unweighted share and the ratios to it that the best (:func:`extreme_weights`) and the oracle
    (:func:`oracle_weights`) mean-one weights in ``[lo, hi]`` reach, up and down; with the oracle's
    effective-sample fraction :math:`(\sum w)^2 / (N\sum w^2)`."""
    base = float(scores.mean())
    if not base > 0:
        raise ValueError(f"scores must have a positive mean (no induction-pattern tokens at all?), got {base}")
    out = {"contexts": len(scores), "share": base}
    for name, up in (("up", True), ("down", False)):
        w_orc = oracle_weights(scores, 1.0 if up else -1.0, strength, (lo, hi))
        out[f"best_{name}"] = weighted_share(scores, extreme_weights(scores, lo, hi, up)) / base
        out[f"oracle_{name}"] = weighted_share(scores, w_orc) / base
        out[f"oracle_{name}_effective_n_fraction"] = float(w_orc.sum() ** 2 / (w_orc**2).sum()) / len(scores)
    return out
