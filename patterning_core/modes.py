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


class Modes(NamedTuple):
    gains: Tensor  # (r,) singular values σ_j, descending
    obs_dirs: Tensor  # (K, r) u_j
    data_dirs: Tensor  # (P, r) v_j
    condition_number: float  # σ_1 / σ_r
    ridge_filter: Tensor  # (r,) σ/(σ² + α)
    explained: Tensor  # (r,) σ_j² / Σσ²


def modes(chi: Tensor, ridge: float = 1e-3) -> Modes:
    """SVD of ``chi`` (K, P). ``ridge`` is relative, as in :func:`~.patterning.patterning_step`.

    Signs are fixed so that each data direction has a positive sum (then ``+v`` means
    "up-weight on balance").
    """
    if chi.ndim != 2:
        raise ValueError(f"chi must have shape (K, P), got {tuple(chi.shape)}")
    u, s, vh = torch.linalg.svd(chi.double(), full_matrices=False)
    v = vh.T
    sign = torch.where(v.sum(0) < 0, -1.0, 1.0).to(v)
    u, v = u * sign, v * sign
    alpha = ridge * float((s**2).sum()) / chi.shape[0]
    cond = float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
    return Modes(s, u, v, cond, s / (s**2 + alpha), s**2 / (s**2).sum())
