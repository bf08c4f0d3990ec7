r"""The patterning step: invert the susceptibility matrix to get a data re-weighting.

Given a target change :math:`d\mu` of the observables, the minimum-norm re-weighting with
:math:`\chi\,dh \approx d\mu` is (Wang & Murfet 2026 eq. 5; Adam et al. 2026 §4.1)

.. math::
    dh = \chi^\top(\chi\chi^\top + \alpha I)^{-1} d\mu .

The ridge :math:`\alpha` is *scale-aware*: it is given relative to the mean eigenvalue of the
Gram matrix :math:`G = \chi\chi^\top`, so the same value works whatever the units of χ. Per mode
it turns :math:`1/\sigma` into :math:`\sigma/(\sigma^2 + \alpha)` (see :mod:`.modes`).
"""
from __future__ import annotations

import warnings
from typing import Literal, NamedTuple

import torch
from torch import Tensor


class PatterningStep(NamedTuple):
    dh: Tensor  # (P,) re-weighting direction
    dmu_pred: Tensor  # (K,) predicted change χ·dh
    unreachable: Tensor  # (K,) part of dμ outside χ's column space
    unreachable_norm: float  # ‖unreachable‖
    ridge_abs: float  # α in the units of G (relative ridge × mean eigenvalue of G)


def patterning_step(chi: Tensor, dmu: Tensor, ridge: float = 1e-3, rank_tol: float = 1e-6, warn_tol: float = 1e-3) -> PatterningStep:
    """Minimum-norm ridge re-weighting ``dh`` that moves the observables by ``dmu``.

    Args:
        chi: (K, P) susceptibilities.
        dmu: (K,) target change of the observables.
        ridge: α relative to ``trace(χχᵀ)/K``.
        rank_tol: singular values below ``rank_tol·σ_max`` count as zero for reachability.
        warn_tol: warn when ``‖unreachable‖ > warn_tol·‖dμ‖``.
    """
    if chi.ndim != 2:
        raise ValueError(f"chi must have shape (K, P), got {tuple(chi.shape)}")
    if dmu.shape != (chi.shape[0],):
        raise ValueError(f"dmu must have shape (K,) = ({chi.shape[0]},) to match chi {tuple(chi.shape)}, got {tuple(dmu.shape)}")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    chi, dmu = chi.double(), dmu.double().to(chi.device)
    gram = chi @ chi.T  # (K, K)
    alpha = ridge * float(torch.trace(gram)) / chi.shape[0]
    v = torch.linalg.solve(gram + alpha * torch.eye(chi.shape[0], dtype=gram.dtype, device=gram.device), dmu)
    dh = chi.T @ v  # (P,)
    u, s, _ = torch.linalg.svd(chi, full_matrices=False)
    u_r = u[:, s > rank_tol * s.max()] if s.numel() and s.max() > 0 else u[:, :0]
    unreachable = dmu - u_r @ (u_r.T @ dmu)
    norm = float(unreachable.norm())
    if norm > warn_tol * float(dmu.norm()):
        warnings.warn(f"target partly unreachable: ‖dμ outside the column space of χ‖ = {norm:.3g} (‖dμ‖ = {float(dmu.norm()):.3g})", stacklevel=2)
    return PatterningStep(dh, chi @ dh, unreachable, norm, alpha)


def reweight(h0: Tensor, dh: Tensor, scale: float, method: Literal["additive", "exponential"] = "additive", floor: float = 1e-3) -> Tensor:
    r"""Turn a direction ``dh`` into training weights with mean 1 (Adam et al. 2026, §4.1).

    * additive: :math:`h = \max(h_0 + s\,dh,\ \varepsilon)\,/\,\mathrm{mean}(\cdot)`
    * exponential: :math:`h \propto h_0 \exp(s\,dh)`, normalized to mean 1.

    ``h0`` may carry a leading batch dimension (e.g. seeds); means are over the last one.
    """
    if h0.shape[-1] != dh.shape[-1]:
        raise ValueError(f"h0 {tuple(h0.shape)} and dh {tuple(dh.shape)} must share their last dimension")
    if (h0 < 0).any() or not torch.isfinite(h0).all():
        raise ValueError("h0 must be finite and non-negative")
    dh = dh.to(h0)
    if method == "additive":
        h = torch.clamp(h0 + scale * dh, min=floor)
    elif method == "exponential":
        z = scale * dh
        h = h0 * torch.exp(z - z.max(dim=-1, keepdim=True).values)
    else:
        raise ValueError(f"method must be 'additive' or 'exponential', got {method!r}")
    return h / h.mean(dim=-1, keepdim=True)
