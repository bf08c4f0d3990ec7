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

from .checks import check_finite, check_number, check_tensor

ESS_WARN = 0.1  # reweight() warns when the effective sample size drops below this fraction of h0's (of n for h0 = 1)


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

    Refuses a χ or dμ that is not finite, a χ that is all zero (no re-weighting moves anything),
    and, with ``ridge = 0``, a singular χχᵀ.
    """
    _check_step_inputs(chi, dmu, ridge, rank_tol, warn_tol)
    chi, dmu = chi.double(), dmu.double().to(chi.device)
    gram = chi @ chi.T  # (K, K)
    alpha = ridge * float(torch.trace(gram)) / chi.shape[0]
    try:
        v = torch.linalg.solve(gram + alpha * torch.eye(chi.shape[0], dtype=gram.dtype, device=gram.device), dmu)
    except torch.linalg.LinAlgError:
        raise ValueError(f"χχᵀ + αI is singular (ridge={ridge}): some observables respond identically (χ has rank < K = "
                         f"{chi.shape[0]}); use ridge > 0 or drop the dependent observables") from None
    dh = chi.T @ v  # (P,)
    u, s, _ = torch.linalg.svd(chi, full_matrices=False)
    u_r = u[:, s > rank_tol * s.max()] if s.numel() and s.max() > 0 else u[:, :0]
    unreachable = dmu - u_r @ (u_r.T @ dmu)
    norm = float(unreachable.norm())
    if norm > warn_tol * float(dmu.norm()):
        warnings.warn(f"target partly unreachable: ‖dμ outside the column space of χ‖ = {norm:.3g} (‖dμ‖ = {float(dmu.norm()):.3g})", stacklevel=2)
    return PatterningStep(dh, chi @ dh, unreachable, norm, alpha)


def _check_step_inputs(chi: Tensor, dmu: Tensor, ridge: float, rank_tol: float, warn_tol: float) -> None:
    check_tensor("chi", chi)
    check_tensor("dmu", dmu)
    if chi.ndim != 2:
        raise ValueError(f"chi must have shape (K, P), got {tuple(chi.shape)}")
    if dmu.shape != (chi.shape[0],):
        raise ValueError(f"dmu must have shape (K,) = ({chi.shape[0]},) to match chi {tuple(chi.shape)}, got {tuple(dmu.shape)}")
    for name, value in (("ridge", ridge), ("rank_tol", rank_tol), ("warn_tol", warn_tol)):
        check_number(name, value, nonnegative=True)
    check_finite("chi", chi, "χ must be finite (re-estimate it: more draws, a smaller SGLD step size)")
    check_finite("dmu", dmu, "the target change dμ must be finite")
    if not chi.any():
        raise ValueError("chi is all zero: no re-weighting can move the observables (is the probe the training data, and "
                         "do the observables depend on the sampled parameters?)")


def reweight(h0: Tensor, dh: Tensor, scale: float, method: Literal["additive", "exponential"] = "additive", floor: float = 1e-3,
             ess_warn: float = ESS_WARN) -> Tensor:
    r"""Turn a direction ``dh`` into training weights with mean 1 (Adam et al. 2026, §4.1).

    * additive: :math:`h = \max(h_0 + s\,dh,\ \varepsilon)\,/\,\mathrm{mean}(\cdot)`
    * exponential: :math:`h \propto h_0 \exp(s\,dh)`, normalized to mean 1.

    ``h0`` may carry a leading batch dimension (e.g. seeds); means are over the last one.

    Warns when the effective sample size :math:`(\sum h)^2/\sum h^2` of a row falls below
    ``ess_warn`` (default :data:`ESS_WARN` = 10%) of that of ``h0`` -- of ``n`` for ``h0 = 1``: the
    weights then rest on a few samples. Refuses what would give NaN weights: a non-finite ``dh`` or
    ``scale``, a ``scale·dh`` that overflows, an all-zero ``h0`` row for the exponential method.
    """
    _check_reweight_inputs(h0, dh, scale, method, floor, ess_warn)
    dh = dh.to(h0)
    z = scale * dh
    if not torch.isfinite(z).all():
        raise ValueError(f"scale·dh overflows in {z.dtype} (scale={scale:g}, max |dh| = {float(dh.abs().max()):.3g}): the weights "
                         "are undefined; lower the scale")
    if method == "additive":
        h = torch.clamp(h0 + z, min=floor)
    else:
        if (h0.sum(-1) <= 0).any():
            raise ValueError("h0 is all zero (in some row): exponential re-weighting multiplies it, so every weight would be 0/0")
        h = h0 * torch.exp(z - z.max(dim=-1, keepdim=True).values)
    h = h / h.mean(dim=-1, keepdim=True)
    _warn_if_concentrated(h, h0, ess_warn)
    return h


def _check_reweight_inputs(h0: Tensor, dh: Tensor, scale: float, method: str, floor: float, ess_warn: float) -> None:
    check_tensor("h0", h0)
    check_tensor("dh", dh)
    if h0.shape[-1] != dh.shape[-1]:
        raise ValueError(f"h0 {tuple(h0.shape)} and dh {tuple(dh.shape)} must share their last dimension")
    if (h0 < 0).any() or not torch.isfinite(h0).all():
        raise ValueError("h0 must be finite and non-negative")
    check_finite("dh", dh, "the re-weighting direction must be finite")
    check_number("scale", scale)
    check_number("floor", floor, positive=True)
    check_number("ess_warn", ess_warn, nonnegative=True)
    if method not in ("additive", "exponential"):
        raise ValueError(f"method must be 'additive' or 'exponential', got {method!r}")


def effective_sample_size(h: Tensor) -> Tensor:
    r""":math:`(\sum_i h_i)^2 / \sum_i h_i^2` over the last dimension (``n`` for equal weights, 1 for one sample)."""
    return h.sum(-1) ** 2 / (h * h).sum(-1)


def _warn_if_concentrated(h: Tensor, h0: Tensor, ess_warn: float) -> None:
    ess, ess0 = effective_sample_size(h.double()), effective_sample_size(h0.double())
    low = ess < ess_warn * ess0
    if low.any():
        i = int(low.nonzero()[0, 0]) if low.ndim else 0
        e, e0 = (ess[i], ess0[i]) if low.ndim else (ess, ess0)
        warnings.warn(f"re-weighting concentrates the data: effective sample size (Σh)²/Σh² = {float(e):.3g} of n = {h.shape[-1]} "
                      f"(h0: {float(e0):.3g}), below {ess_warn:.0%} of h0's; lower the scale", stacklevel=3)
