r"""Mode structure of the plant χ: its SVD read as control channels.

:math:`\chi = \sum_j \sigma_j u_j v_j^\top`: :math:`u_j` is a direction in observable space,
:math:`v_j` the data-space pattern that drives it, :math:`\sigma_j` its principal gain
(Skogestad & Postlethwaite 2005; Adam et al. 2026 §5). The ridge of the patterning step replaces
:math:`1/\sigma_j` by the filter :math:`\sigma_j/(\sigma_j^2 + \alpha)`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .checks import check_finite, check_number, check_tensor


class Modes(NamedTuple):
    gains: Tensor  # (r,) singular values σ_j, descending
    obs_dirs: Tensor  # (K, r) u_j
    data_dirs: Tensor  # (P, r) v_j
    condition_number: float  # σ_1 / σ_r
    ridge_filter: Tensor  # (r,) σ/(σ² + α); 0 for a mode below rank_tol·σ_1
    explained: Tensor  # (r,) σ_j² / Σσ²


def modes(chi: Tensor, ridge: float = 1e-3, rank_tol: float = 1e-6) -> Modes:
    """SVD of ``chi`` (K, P). ``ridge`` is relative, as in :func:`~.patterning.patterning_step`;
    a mode whose gain is below ``rank_tol·σ_1`` counts as zero (as there) and its filter is 0
    (without a ridge it would be 1/σ of rounding noise).

    Signs are fixed so that each data direction has a positive sum (then ``+v`` means
    "up-weight on balance"). Refuses a χ that is not finite or is all zero (it has no modes).
    """
    if check_tensor("chi", chi).ndim != 2:
        raise ValueError(f"chi must have shape (K, P), got {tuple(chi.shape)}")
    check_number("ridge", ridge, nonnegative=True)
    check_number("rank_tol", rank_tol, nonnegative=True)
    check_finite("chi", chi, "χ must be finite (re-estimate it: more draws, a smaller SGLD step size)")
    if not chi.any():
        raise ValueError("chi is all zero: it has no modes (no gains, directions or explained variance)")
    u, s, vh = torch.linalg.svd(chi.double(), full_matrices=False)
    v = vh.T
    sign = torch.where(v.sum(0) < 0, -1.0, 1.0).to(v)
    u, v = u * sign, v * sign
    alpha = ridge * float((s**2).sum()) / chi.shape[0]
    cond = float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
    filt = torch.where(s > rank_tol * s[0], s / (s**2 + alpha), torch.zeros_like(s))  # a zero mode passes nothing
    return Modes(s, u, v, cond, filt, s**2 / (s**2).sum())
