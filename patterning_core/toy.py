r"""Potentials with known answers, for tests and the quickstart.

* :class:`Monomial`: :math:`K(w) = \sum_i c_i w_i^{p_i}` (even :math:`p_i`); under
  :math:`p(w) \propto e^{-n\beta K(w)}` the learning coefficient is exactly
  :math:`\lambda = \sum_i 1/p_i` at any :math:`n\beta` (Watanabe 2009, §1.4).
* :class:`Quadratic`: per-sample losses :math:`\ell_i(w) = \tfrac12\sum_j A_{ij}(w_j - a_{ij})^2`.
  The weighted posterior is Gaussian with closed-form mean :math:`m(h)`, so the susceptibility
  of :math:`\phi(w) = w` is the Jacobian :math:`\partial m/\partial h` (:func:`quadratic_posterior`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class MonomialConfig:
    powers: tuple[int, ...] = (2, 4)  # p_i, even; λ = Σ 1/p_i
    coeffs: tuple[float, ...] | None = None  # c_i; None = all 1/2 (K = ½ Σ w_i^{p_i})


class Monomial(nn.Module):
    """A 'model' whose loss is the potential itself; the data are irrelevant (one dummy sample)."""

    def __init__(self, config: MonomialConfig = MonomialConfig()):
        super().__init__()
        if any(p % 2 or p < 2 for p in config.powers):
            raise ValueError(f"powers must be even and >= 2, got {config.powers}")
        coeffs = config.coeffs or tuple(0.5 for _ in config.powers)
        if len(coeffs) != len(config.powers):
            raise ValueError(f"{len(coeffs)} coeffs for {len(config.powers)} powers")
        self.config = config
        self.w = nn.Parameter(torch.zeros(len(config.powers)))  # (d,) minimum at the origin
        self.register_buffer("p", torch.tensor(config.powers, dtype=torch.get_default_dtype()))
        self.register_buffer("c", torch.tensor(coeffs, dtype=torch.get_default_dtype()))

    def forward(self, x: Tensor) -> Tensor:
        k = (self.c * self.w.pow(self.p)).sum()  # K(w), scalar
        return k.expand(x.shape[0])  # (B,) the same loss for every (dummy) sample

    @property
    def learning_coefficient(self) -> float:
        return float(sum(1.0 / p for p in self.config.powers))


def monomial_loss(model, batch: tuple[Tensor, ...]) -> Tensor:
    """Per-sample loss of :class:`Monomial`: (B,)."""
    return model(batch[0])


class Quadratic(nn.Module):
    """Parameters ``w`` (d,); a sample is a pair (a_i, A_i) of centre and diagonal precision."""

    def __init__(self, dim: int):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(dim))  # (d,)

    def forward(self, a: Tensor, prec: Tensor) -> Tensor:
        return 0.5 * (prec * (self.w - a) ** 2).sum(-1)  # (B,)


def quadratic_loss(model, batch: tuple[Tensor, ...]) -> Tensor:
    return model(*batch)


def quadratic_posterior(h: Tensor, a: Tensor, prec: Tensor, nbeta: float, gamma: float, anchor: Tensor) -> tuple[Tensor, Tensor]:
    r"""Mean (d,) and diagonal variance (d,) of :math:`p_h \propto e^{-n\beta L_h - \gamma/2\|w-w^*\|^2}`.

    Precision :math:`\Lambda = \tfrac{n\beta}{\sum h}\sum_i h_i A_i + \gamma`,
    mean :math:`\Lambda^{-1}\big(\tfrac{n\beta}{\sum h}\sum_i h_i A_i a_i + \gamma w^*\big)`.
    Differentiable in ``h``.
    """
    scale = nbeta / h.sum()
    lam = scale * (h[:, None] * prec).sum(0) + gamma
    mean = (scale * (h[:, None] * prec * a).sum(0) + gamma * anchor) / lam
    return mean, 1.0 / lam
