r"""Local learning coefficient from SGLD loss traces, and its response to per-sample weights.

.. math::
    \hat\lambda(w^*) = n\beta\,\big(\mathbb E_{w\sim p}[L(w)] - L(w^*)\big)

(Lau, Furman, Wang, Murfet & Wei 2023, "The local learning coefficient", eq. 11). Burn-in is
never part of ``losses``: the sampler records draws only after it. One estimate per chain; the
reported error is the standard error over chains.

Under per-sample weights :math:`h` (the weighted loss :math:`L_h = \sum_i h_i\ell_i/\sum_j h_j` of
:mod:`patterning_core.sgld`, posterior :math:`p_h(w) \propto e^{-n\beta L_h(w) - \frac\gamma2\lVert w-w^*\rVert^2}`)
the estimate :math:`\hat\lambda(h) = n\beta(\mathbb E_h[L_h] - L_h(w^*))` depends on :math:`h` twice:
through the posterior (the susceptibility) and through the loss it averages. With
:math:`\partial L_h/\partial h_i = (\ell_i - L_h)/\sum_j h_j` and :math:`\beta_h = n\beta/\sum_j h_j`,

.. math::
    \frac{\partial\hat\lambda}{\partial h_i}
    = \underbrace{n\beta\,\chi_i}_{\text{covariance}}
    + \underbrace{\beta_h\big[(\mathbb E\ell_i - \ell_i(w^*)) - (\mathbb E L_h - L_h(w^*))\big]}_{\text{direct}},
    \qquad \chi_i = -\beta_h\,\mathrm{Cov}_h[L_h,\ \ell_i - L_h]

(:func:`llc_response`). The covariance term alone is what treating :math:`n\beta\chi_i` as
:math:`\partial\hat\lambda/\partial h_i` gives; for a quadratic basin centred at :math:`w^*` with
:math:`\gamma = 0` the two terms cancel exactly (:math:`\lambda = d/2` whatever the weights). The
tests check that, the closed form of a localized Gaussian, and finite differences with common random
numbers on a singular model. Used by chapter 6 to target the LLC gap between two algorithms.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .checks import check_finite, check_number, check_tensor
from .devices import check_device


class LLCResult(NamedTuple):
    mean: float  # λ̂ averaged over chains
    std_err: float  # standard error over chains (nan for one chain)
    per_chain: Tensor  # (chains,) λ̂ of each chain


def llc_from_losses(losses: Tensor, anchor_loss: float, nbeta: float) -> LLCResult:
    """λ̂ from a loss trace ``losses`` of shape (chains, draws) recorded after burn-in.

    Refuses an empty or non-finite trace, a non-finite ``anchor_loss`` and an ``nbeta`` that is
    not a finite positive number (each would make λ̂ NaN or meaningless)."""
    if check_tensor("losses", losses).ndim != 2 or 0 in losses.shape:
        raise ValueError(f"losses must have shape (chains, draws), both >= 1, got {tuple(losses.shape)}")
    check_finite("losses", losses, "λ̂ would be NaN; the chains diverged or the loss is not finite")
    check_number("anchor_loss", anchor_loss)
    check_number("nbeta", nbeta, positive=True)
    per_chain = nbeta * (losses.double().mean(dim=1) - anchor_loss)  # (chains,)
    c = per_chain.shape[0]
    se = float(per_chain.std(unbiased=True) / c**0.5) if c > 1 else float("nan")
    return LLCResult(float(per_chain.mean()), se, per_chain)


def llc(samples) -> LLCResult:
    """λ̂ of a :class:`~patterning_core.sgld.Samples` run (its training loss trace)."""
    if not hasattr(samples, "loss_trace") or not hasattr(samples, "anchor_loss"):
        raise TypeError(f"llc() takes the Samples that sample() returned, got {type(samples).__name__}")
    return llc_from_losses(samples.loss_trace, samples.anchor_loss, samples.config.nbeta)


# --------------------------------------------------------------------------- the response of λ̂ to per-sample weights


class LLCResponse(NamedTuple):
    """:math:`\\partial\\hat\\lambda/\\partial h_i` and its two parts, each ``(n,)``."""

    total: Tensor  # covariance + direct
    covariance: Tensor  # nβ·χ_i = −nβ·β_h·Cov[L_h, ℓ_i − L_h]
    direct: Tensor  # β_h·[(E ℓ_i − ℓ_i(w*)) − (E L_h − L_h(w*))]
    std_err: Tensor  # standard error of ``total`` over chains (nan for one chain)
    llc: float  # λ̂ = nβ (E L_h − L_h(w*)) from the same traces
    llc_std_err: float
    per_chain: Tensor  # (chains, n) each chain's estimate of ``total`` (for the error of sums over groups)


def llc_response(ell: Tensor, anchor_ell: Tensor, nbeta: float, weights: Tensor | None = None) -> LLCResponse:
    r"""Full response of :math:`\hat\lambda` to the weights, from per-sample loss traces.

    Args:
        ell: ``(chains, draws, n)`` per-sample losses :math:`\ell_i` at every recorded draw of a run
            sampled under ``weights`` (all ``n`` samples of the weighted loss, not a minibatch).
        anchor_ell: ``(n,)`` the per-sample losses at :math:`w^*`.
        nbeta: the run's :math:`n\beta`.
        weights: ``(n,)`` the weights :math:`h` the run used (default ones).

    Covariances pool all draws of all chains; each chain's own estimate (against the pooled means)
    gives the standard error, as in :mod:`patterning_core.susceptibility`.
    """
    if ell.ndim != 3:
        raise ValueError(f"ell must have shape (chains, draws, n), got {tuple(ell.shape)}")
    n = ell.shape[-1]
    if anchor_ell.shape != (n,):
        raise ValueError(f"anchor_ell must have shape ({n},) to match ell {tuple(ell.shape)}, got {tuple(anchor_ell.shape)}")
    check_number("nbeta", nbeta, positive=True)
    dev = ell.device  # everything is computed where the traces live
    check_device("anchor_ell", anchor_ell.device, dev, "ell")
    h = _weights(weights, n, dev)
    ell, anchor_ell = ell.double(), anchor_ell.double()
    beta = nbeta / float(h.sum())
    loss = ell @ h / h.sum()  # (chains, draws) L_h at every draw
    anchor_loss = anchor_ell @ h / h.sum()
    d = ell - loss[..., None]  # (chains, draws, n) ℓ_i − L_h
    m_loss, m_d = loss.mean(), d.mean(dim=(0, 1))  # pooled means
    cov_c = ((loss - m_loss)[..., None] * (d - m_d)).mean(1)  # (chains, n), each chain against the pooled means
    covariance_c = -nbeta * beta * cov_c
    direct_c = beta * ((ell.mean(1) - anchor_ell) - (loss.mean(1) - anchor_loss)[:, None])  # (chains, n)
    total_c = covariance_c + direct_c
    lam_c = nbeta * (loss.mean(1) - anchor_loss)  # (chains,)
    c = ell.shape[0]
    se = total_c.std(0, unbiased=True) / c**0.5 if c > 1 else torch.full((n,), float("nan"), dtype=torch.float64, device=dev)
    lam_se = float(lam_c.std(unbiased=True) / c**0.5) if c > 1 else float("nan")
    return LLCResponse(total_c.mean(0), covariance_c.mean(0), direct_c.mean(0), se, float(lam_c.mean()), lam_se, total_c)


def directional(response: LLCResponse, dh: Tensor) -> tuple[float, float]:
    r"""Predicted first-order change :math:`\sum_i \partial\hat\lambda/\partial h_i\,dh_i` and its standard error over chains."""
    check_device("dh", dh.device, response.per_chain.device, "the response")
    per = response.per_chain @ dh.double()  # (chains,)
    c = per.shape[0]
    return float(per.mean()), float(per.std(unbiased=True) / c**0.5) if c > 1 else float("nan")


def free_energy_response(anchor_ell: Tensor, n: int, weights: Tensor | None = None) -> Tensor:
    r"""Response of the loss term :math:`nL_h(w^*)` of the free energy to the weights: ``(n_samples,)``.

    :math:`\partial\,[nL_h(w^*)]/\partial h_i = n\,(\ell_i(w^*) - L_h(w^*))/\sum_j h_j`. Beside
    :math:`\log n\cdot\partial\hat\lambda/\partial h_i` it gives the response of
    :math:`F = nL_h(w^*) + \hat\lambda\log n` (Watanabe 2009).
    """
    h = _weights(weights, anchor_ell.shape[-1], anchor_ell.device)
    a = anchor_ell.double()
    return n * (a - a @ h / h.sum()) / h.sum()


def _weights(weights: Tensor | None, n: int, device: torch.device) -> Tensor:
    """``(n,)`` float64 weights on ``device`` (ones by default); refuses bad ones and a device mismatch by name."""
    if weights is None:
        return torch.ones(n, dtype=torch.float64, device=device)
    h = torch.as_tensor(weights, dtype=torch.float64, device=weights.device if isinstance(weights, Tensor) else device)
    check_device("weights", h.device, device, "the losses")
    if h.shape != (n,) or (h < 0).any() or not torch.isfinite(h).all() or h.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative, not all zero, of shape ({n},); got shape {tuple(h.shape)}")
    return h
