r"""Susceptibilities: the linear response of posterior expectations to per-sample weights.

Convention. For the localized tempered posterior with normalized weighted loss
:math:`p_h(w) \propto \exp(-n\beta\,\sum_i h_i\ell_i(w)/\sum_j h_j)\,\varphi_\gamma(w)`,

.. math::
    \chi_{k,i} = \frac{\partial\,\mathbb E_h[\phi_k]}{\partial h_i}
    = -\beta_{\rm eff}\,\mathrm{Cov}_h\!\big[\phi_k,\ \ell_i - L_h\big],
    \qquad \beta_{\rm eff} = \frac{n\beta}{\sum_j h_j},

the fluctuation–dissipation form (Baker et al. 2025; Wang & Murfet 2026, eq. 2). For the natural
weights ``h = 1`` on ``n`` samples, :math:`\beta_{\rm eff} = \beta`. The ``- L_h`` comes from the
normalization :math:`\sum_j h_j`; for an unnormalized posterior
:math:`\propto \exp(-\beta\sum_i h_i\ell_i)` drop it (it changes nothing when
:math:`\mathrm{Cov}[\phi, L] = 0`). Probe samples that are not training samples get the same
formula: :math:`\chi_{k,i}` is then the response to adding sample ``i`` with weight :math:`dh_i`.

Covariances pool all draws of all chains (slowly mixing chains that sit in different parts of
the posterior still contribute their between-chain covariance); the standard error treats each
chain's contribution as one independent estimate.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .checks import check_number, check_tensor
from .stats import DrawStats


class Susceptibilities(NamedTuple):
    chi: Tensor  # (K, P) χ_{k,i}; with groups, rows are (group, observable) pairs, group-major
    std_err: Tensor  # (K, P) standard error over chains (nan where a group has one chain)
    mu: Tensor  # (K,) posterior mean of each observable
    mu_std_err: Tensor  # (K,)
    beta: float  # β_eff used


def susceptibilities_from_stats(stats: DrawStats, beta: float, groups: Tensor | None = None) -> Susceptibilities:
    """χ from per-chain running sums; ``groups`` (chains,) pools chains group by group.

    Refuses sums that are not finite (an observable or probe loss was NaN or inf at some draw:
    μ and χ would be NaN) and a ``beta`` that is not a finite positive number.
    """
    _check_stats(stats, beta)
    c, device = stats.num_chains, stats.sum_phi.device
    groups = torch.zeros(c, dtype=torch.long, device=device) if groups is None else torch.as_tensor(groups, device=device)
    if groups.shape != (c,):
        raise ValueError(f"groups must have shape (chains,) = ({c},), got {tuple(groups.shape)}")
    if groups.is_floating_point() or groups.is_complex():
        raise TypeError(f"groups must hold integer group labels, got {groups.dtype}")
    n = stats.count
    chis, ses, mus, mu_ses = [], [], [], []
    for g in torch.unique(groups):
        idx = (groups == g).nonzero().squeeze(1)
        s_phi, s_d, s_phi_d = stats.sum_phi[idx] / n, stats.sum_d[idx] / n, stats.sum_phi_d[idx] / n
        m_phi, m_d = s_phi.mean(0), s_d.mean(0)  # pooled (shifted) means: (K,), (P,)
        cov_c = s_phi_d - m_phi[None, :, None] * s_d[:, None, :] - s_phi[:, :, None] * m_d[None, None, :] + m_phi[None, :, None] * m_d[None, None, :]
        chi_c = -beta * cov_c  # (chains_g, K, P); their mean is the pooled estimate
        chis.append(chi_c.mean(0))
        ses.append(_std_err(chi_c))
        mus.append(m_phi + stats.shift_phi)
        mu_ses.append(_std_err(s_phi))
    return Susceptibilities(torch.cat(chis), torch.cat(ses), torch.cat(mus), torch.cat(mu_ses), float(beta))


def susceptibilities_from_traces(phi: Tensor, ell: Tensor, loss: Tensor, beta: float, groups: Tensor | None = None) -> Susceptibilities:
    """χ from full traces: ``phi`` (chains, draws, K), ``ell`` (chains, draws, P), ``loss`` (chains, draws)."""
    for name, t in (("phi", phi), ("ell", ell), ("loss", loss)):
        check_tensor(name, t)
    if not (phi.ndim == 3 and ell.ndim == 3 and loss.ndim == 2 and phi.shape[:2] == ell.shape[:2] == loss.shape):
        raise ValueError(f"need phi (C,T,K), ell (C,T,P), loss (C,T); got {tuple(phi.shape)}, {tuple(ell.shape)}, {tuple(loss.shape)}")
    if phi.shape[1] == 0:
        raise ValueError("the traces hold no draws (their second dimension is 0): there is nothing to estimate")
    stats = DrawStats.start(phi[:, 0], ell[:, 0], loss[:, 0])
    for t in range(phi.shape[1]):
        stats.update(phi[:, t], ell[:, t], loss[:, t])
    return susceptibilities_from_stats(stats, beta, groups)


def susceptibilities(samples, groups: Tensor | None = None, beta: float | None = None) -> Susceptibilities:
    """χ of a :class:`~patterning_core.sgld.Samples` run; ``beta`` defaults to ``samples.beta_eff``."""
    if not hasattr(samples, "stats") or not isinstance(samples.stats, DrawStats):
        raise TypeError(f"susceptibilities() takes the Samples that sample() returned, got {type(samples).__name__}")
    if samples.stats.sum_d.shape[-1] == 0:
        raise ValueError("this run recorded no probe losses (sample(..., probe=False)): there is no χ to estimate; "
                         "pass probe=None (the training data) or a probe batch")
    return susceptibilities_from_stats(samples.stats, samples.beta_eff if beta is None else beta, groups)


def _check_stats(stats: DrawStats, beta: float) -> None:
    if not isinstance(stats, DrawStats):
        raise TypeError(f"stats must be a DrawStats, got {type(stats).__name__}")
    check_number("beta", beta, positive=True)
    if stats.count < 1:
        raise ValueError("stats hold no draws: there is nothing to estimate")
    for what, sums in (("observables φ", (stats.sum_phi, stats.shift_phi)), ("probe losses ℓ", (stats.sum_d, stats.sum_phi_d, stats.shift_d))):
        if not all(bool(torch.isfinite(t).all()) for t in sums):
            raise ValueError(f"the {what} were NaN or inf at some draw: μ and χ would be NaN; check the observables, the probe and the loss")


def _std_err(x: Tensor) -> Tensor:
    """Standard error over the leading (chain) dimension; nan for a single chain."""
    if x.shape[0] < 2:
        return torch.full(x.shape[1:], float("nan"), dtype=x.dtype, device=x.device)
    return x.std(dim=0, unbiased=True) / x.shape[0] ** 0.5
