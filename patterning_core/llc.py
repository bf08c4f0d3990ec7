r"""Local learning coefficient from SGLD loss traces.

.. math::
    \hat\lambda(w^*) = n\beta\,\big(\mathbb E_{w\sim p}[L(w)] - L(w^*)\big)

(Lau, Furman, Wang, Murfet & Wei 2023, "The local learning coefficient", eq. 11). Burn-in is
never part of ``losses``: the sampler records draws only after it. One estimate per chain; the
reported error is the standard error over chains.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .checks import check_finite, check_number, check_tensor


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
