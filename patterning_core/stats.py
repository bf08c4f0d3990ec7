r"""Running sums of draws: means and cross-covariances without keeping traces.

At every recorded draw :math:`t` each chain :math:`c` contributes an observable vector
:math:`\phi_t` (K,), probe losses :math:`\ell_t` (P,) and the training loss :math:`L_t`.
We keep per-chain sums of :math:`\phi`, :math:`d = \ell - L`, :math:`\ell` and the outer
product :math:`\phi d^\top`, in float64 and shifted by the first draw's chain average (so the
sums do not cancel catastrophically). Memory is ``chains × K × P``, independent of the number of
draws. Per-chain sums give per-chain estimates, hence standard errors over chains.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class DrawStats:
    """Per-chain running sums (mutated only by :meth:`update`, inside the sampler)."""

    count: int  # draws per chain so far
    shift_phi: Tensor  # (K,) common shift of φ
    shift_d: Tensor  # (P,) common shift of d = ℓ − L
    shift_ell: Tensor  # (P,)
    sum_phi: Tensor  # (chains, K)
    sum_phi2: Tensor  # (chains, K)
    sum_d: Tensor  # (chains, P)
    sum_ell: Tensor  # (chains, P)
    sum_phi_d: Tensor  # (chains, K, P)

    @classmethod
    def start(cls, phi: Tensor, ell: Tensor, loss: Tensor) -> "DrawStats":
        """Empty sums, shifted by the chain-average of the first draw."""
        d = ell - loss[:, None]
        c, k, p = phi.shape[0], phi.shape[1], ell.shape[1]
        z = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=phi.device)
        return cls(
            count=0,
            shift_phi=phi.double().mean(0),
            shift_d=d.double().mean(0),
            shift_ell=ell.double().mean(0),
            sum_phi=z(c, k),
            sum_phi2=z(c, k),
            sum_d=z(c, p),
            sum_ell=z(c, p),
            sum_phi_d=z(c, k, p),
        )

    def update(self, phi: Tensor, ell: Tensor, loss: Tensor) -> None:
        """Add one draw: ``phi`` (chains, K), ``ell`` (chains, P), ``loss`` (chains,)."""
        x = phi.double() - self.shift_phi  # (chains, K)
        d = (ell.double() - loss.double()[:, None]) - self.shift_d  # (chains, P)
        self.count += 1
        self.sum_phi += x
        self.sum_phi2 += x * x
        self.sum_d += d
        self.sum_ell += ell.double() - self.shift_ell
        self.sum_phi_d += x[:, :, None] * d[:, None, :]

    @property
    def num_chains(self) -> int:
        return self.sum_phi.shape[0]

    def chain_means_phi(self) -> Tensor:
        """(chains, K) per-chain means of φ."""
        return self.sum_phi / self.count + self.shift_phi

    def chain_means_ell(self) -> Tensor:
        """(chains, P) per-chain means of the probe losses."""
        return self.sum_ell / self.count + self.shift_ell
