r"""Controlling the toy model of superposition: choosing a bifurcation branch (chapter 3) and
rewriting a trained pentagon (chapter 4), after Adam, Hoogland & Murfet (2026) §4.2 and §5.

Chapter 3 — a regular k-gon on features ``0..k-1`` with feature ``k`` dead at the origin (the
model has ``d = k + 1`` features) is a branch point: feature ``k`` can grow into any of the k
gaps. :func:`bifurcation_susceptibilities` estimates χ there by SGLD on the dead feature alone,
:func:`gap_weights` turns "put feature k in gap g" into training weights with one patterning
step, and :func:`perturbed_train` trains many seeds at once from the branch point with perturbed
gradient descent (gradient steps on the weighted exact loss, plus a small Gaussian kick every
few steps: the only thing that tells the seeds apart). :func:`new_feature_gap` reads the branch
each seed took.

Chapter 4 — a trained regular pentagon is moved to a differently ordered one (same loss, across a
barrier). :func:`rewrite` is the patterning loop for one model: at the epochs its schedule picks
(:class:`~patterning_core.loop.Single`, :class:`~patterning_core.loop.Periodic`,
:class:`~patterning_core.loop.EventTriggered`) it samples the posterior at the current weights,
estimates χ of the 15 observables and re-weights the data towards the target's observables
(:func:`metric_step`); a run is done when the cyclic order matches the target and a copy settled
under the natural weights is a regular pentagon. :func:`straight_path_barrier` measures the barrier
that plain gradient descent would have to cross.

Why not :func:`patterning_core.loop.pattern`: at S = 0.99 the natural weights span ten orders of
magnitude and the core loop (i) floors every weight at 1e-3, which by itself up-weights all inputs
with three or more active features by factors up to 3e5 at the first step, (ii) trains and samples
at fixed learning rate and nβ, which diverge once a re-weighting moves mass off the empty input,
and (iii) stops on an observable tolerance rather than on the cyclic order. The loop here reuses
the core's sampler, estimator, patterning step, re-weighting and trainer and fixes those three points.
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, replace
from typing import NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from ..devices import check_device
from ..patterning import PatterningStep, patterning_step, reweight
from ..sgld import SGLDConfig, SGLDDivergenceError, sample
from ..susceptibility import Susceptibilities, susceptibilities
from ..training import TrainConfig, train
from .model import (TMS, TMSConfig, input_types, natural_weights, per_sample_loss, population_loss, tms_data,
                         tms_observables)
from .polygons import cycle_edges, ideal_kgon, optimal_kgon, optimal_scale, plot_glyph, read_polygon

F64 = torch.float64


# ---------------------------------------------------------------------------------------------
# Chapter 3: the branch point and its gaps
# ---------------------------------------------------------------------------------------------


def dot_row(i: int, j: int, d: int) -> int:
    """Row of ``dot[i,j]`` in :func:`~patterning_core.tms.model.tms_observables` (i ≠ j)."""
    i, j = min(i, j), max(i, j)
    return list(itertools.combinations(range(d), 2)).index((i, j))


def gap_neighbours(k: int) -> list[tuple[int, int]]:
    """The k gaps of the k-gon ``0..k-1`` (counter-clockwise): gap g lies between g and g+1 mod k."""
    return [(g, (g + 1) % k) for g in range(k)]


def bifurcation_point(k: int, sparsity: float, device: torch.device | str | None = None) -> Tensor:
    """``W`` of shape ``(2, k+1)`` on ``device``: the loss-optimal regular k-gon on features ``0..k-1``
    at angles ``2πp/k`` (counter-clockwise) and feature ``k`` dead at the origin.

    The unit k-gon is rounded to 12 decimals before scaling, so that sums that vanish exactly (the
    square's orthogonal pairs, the triangle's three vectors) vanish in floating point too: otherwise
    ReLUs evaluated at ±1e-16 give the polygon and the dead feature spurious gradients of order 1e-6."""
    W = torch.round(ideal_kgon(k, d=k + 1, device=device) * 1e12) / 1e12
    return W * optimal_scale(W, sparsity)


def new_feature_gap(W: Tensor, k: int) -> Tensor:
    """Which gap the new feature ``k`` sits in, ``(seeds,)`` long; ``W`` is ``(seeds, 2, k+1)``.

    Gap ``g`` means feature ``k``'s counter-clockwise neighbours are ``g`` and ``g+1 mod k``;
    ``-1`` when they are not (the old features changed their cyclic order).
    """
    theta = torch.atan2(W[:, 1, :], W[:, 0, :])  # (seeds, k+1)
    rel = torch.remainder(theta - theta[:, :1], 2 * math.pi)  # angle counter-clockwise from feature 0
    order = torch.argsort(rel, dim=1)  # (seeds, k+1) features by angle
    pos = torch.argsort(order, dim=1)[:, k]  # position of feature k in that order
    rows = torch.arange(W.shape[0], device=W.device)
    before = order[rows, (pos - 1) % (k + 1)]
    after = order[rows, (pos + 1) % (k + 1)]
    ok = after == (before + 1) % k
    return torch.where(ok, before, torch.full_like(before, -1))


def bifurcation_susceptibilities(k: int, sparsity: float, config: SGLDConfig, seed: int = 0,
                                 dead_only: bool = True, device: torch.device | str = "cpu") -> Susceptibilities:
    r"""χ of all :func:`tms_observables` to the :math:`2^{k+1}` input weights at the branch point.

    With ``dead_only`` only the dead feature :math:`W_k` is sampled (a mask) and the k-gon stays at
    its optimum; otherwise all of ``W``. The loss is the exact population loss (all input types,
    natural weights). Returns the :class:`~patterning_core.susceptibility.Susceptibilities`
    (rows: observables, columns: inputs), sampled on ``device``.
    """
    d = k + 1
    model = TMS(TMSConfig(n_features=d, sparsity=sparsity)).double().to(device)
    model.W.data.copy_(bifurcation_point(k, sparsity, device))
    mask = torch.zeros(2, d, dtype=torch.bool, device=device)
    mask[:, k] = True
    draws = sample(model, per_sample_loss, tms_data(d, F64, device), config=config,
                   weights=natural_weights(d, sparsity, device=device),
                   observables=tms_observables, restrict={"W": mask} if dead_only else None, seed=seed, progress=False)
    return susceptibilities(draws)


def support_mask(d: int, max_cardinality: int, device: torch.device | str | None = None) -> Tensor:
    """``(2**d,)`` float mask of the input types with at most ``max_cardinality`` active features."""
    return (input_types(d, F64, device).sum(-1) <= max_cardinality).to(F64)


def metric_step(chi: Tensor, dmu: Tensor, h: Tensor, metric: float, ridge: float = 1e-3) -> PatterningStep:
    r"""The patterning step in the norm :math:`\sum_x dh_x^2 / h_x^{2m}`: :math:`dh = D(\chi D)^+ d\mu`,
    :math:`D = \mathrm{diag}(h^m)` (``m = 0``: the plain pseudo-inverse of
    :func:`~patterning_core.patterning.patterning_step`)."""
    D = h.to(F64) ** metric
    step = patterning_step(chi.to(F64) * D, dmu.to(F64), ridge=ridge)
    dh = D * step.dh
    return step._replace(dh=dh, dmu_pred=chi.to(F64) @ dh)


class GapStep(NamedTuple):
    weights: Tensor  # (2**d,) mean-one training weights h
    step: PatterningStep  # the patterning step (dh over the inputs, predicted dμ on the two rows)
    rows: Tensor  # (2,) observable rows constrained: dot[a,k], dot[b,k]


def gap_weights(sus: Susceptibilities, k: int, gap: int, sparsity: float, cos_target: float, *, scale: float = 1.0,
                metric: float = 0.0, max_cardinality: int | None = None, ridge: float = 1e-3) -> GapStep:
    r"""One patterning step that asks the dead feature ``k`` to sit at angle
    :math:`\arccos(\texttt{cos\_target})` from both neighbours of ``gap`` (other angles free).

    The step solves :math:`\chi\,dh = d\mu` on the two constrained rows with the smallest
    :math:`\sum_i dh_i^2 / h_{0,i}^{2m}` (``m = metric``; ``m = 0`` is the plain pseudo-inverse of
    the post, ``m = 1/2`` the χ² (Fisher) distance to the natural weights :math:`h_0`): with
    :math:`D = \mathrm{diag}(h_0^m)`, :math:`dh = D\,(\chi D)^{+} d\mu` (ridge as in
    :func:`~patterning_core.patterning.patterning_step`). Inputs with more than ``max_cardinality``
    active features get ``dh = 0`` (None: all inputs). Then
    ``h = max(h_0 + scale·dh, 10^{-12})`` normalized to mean 1. ``scale = 1`` is the
    linear-response step: it predicts :math:`\chi\,dh = d\mu`. Computed on the device of ``sus.chi``.
    """
    d = k + 1
    device = sus.chi.device
    a, b = gap_neighbours(k)[gap]
    rows = torch.tensor([dot_row(a, k, d), dot_row(b, k, d)], device=device)
    h0 = natural_weights(d, sparsity, device=device)
    chi = sus.chi[rows].to(F64)
    if max_cardinality is not None:
        chi = chi * support_mask(d, max_cardinality, device)  # columns outside the support get dh = 0
    step = metric_step(chi, cos_target - sus.mu[rows].to(F64), h0, metric, ridge)
    return GapStep(reweight(h0, step.dh, scale, "additive", floor=1e-12), step, rows)


@dataclass(frozen=True)
class NoisyTrainConfig:
    """Perturbed gradient descent on the exact weighted loss (Jin et al. 2017's escape from saddles)."""

    steps: int = 1000  # gradient steps
    lr: float = 3.0  # SGD learning rate (the loss is O(1 - S), so lr·(1 - S) is what matters)
    noise: float = 1e-3  # std of the Gaussian kick added to every entry of W
    every: int = 10  # gradient steps between kicks
    checkpoint_every: int | None = None  # record W every this many steps (a multiple of ``every``)


class NoisyTrainResult(NamedTuple):
    W: Tensor  # (seeds, 2, d) final weights
    checkpoints: list[tuple[int, Tensor]]  # (step, W (seeds, 2, d)), including step 0


def perturbed_train(W0: Tensor, weights: Tensor, config: NoisyTrainConfig, noise_seeds: Sequence[int]) -> NoisyTrainResult:
    """Train every seed (row of ``W0``, shape ``(seeds, 2, d)``) on its own weights ``(seeds, 2**d)``.

    The gradient steps are one batched :func:`~patterning_core.training.train` call per chunk of
    ``config.every`` steps; between chunks every row gets a kick ``N(0, noise²)`` drawn from its own
    generator ``noise_seeds[row]`` (rows with the same noise seed get the same kicks: a patterned
    run and its unpatterned twin see identical noise). Runs on ``W0``'s device (``weights`` must
    live there), with the noise generators there too.
    """
    seeds, _, d = W0.shape
    device = W0.device
    check_device("weights", weights.device, device, "W0")
    if len(noise_seeds) != seeds:
        raise ValueError(f"need one noise seed per row: {len(noise_seeds)} for {seeds} rows")
    if config.checkpoint_every and config.checkpoint_every % config.every:
        raise ValueError("checkpoint_every must be a multiple of every")
    model = TMS(TMSConfig(n_features=d)).double().to(device)
    data = tms_data(d, F64, device)
    gens = [torch.Generator(device=device).manual_seed(int(s)) for s in noise_seeds]
    sgd = TrainConfig(steps=config.every, lr=config.lr, optimizer="sgd", log_every=config.every)
    W, checkpoints = W0.to(F64).clone(), [(0, W0.to(F64).clone())]
    for step in range(0, config.steps, config.every):
        kicks = torch.stack([torch.randn(2, d, generator=g, dtype=F64, device=device) for g in gens])  # (seeds, 2, d)
        W = W + config.noise * kicks
        W = train(model, per_sample_loss, data, config=sgd, params={"W": W}, weights=weights, progress=False).params["W"]
        if config.checkpoint_every and (step + config.every) % config.checkpoint_every == 0:
            checkpoints.append((step + config.every, W.clone()))
    return NoisyTrainResult(W, checkpoints)


def settle(W: Tensor, sparsity: float, steps: int = 2000, lr: float = 3.0) -> Tensor:
    """Plain full-batch gradient descent under the natural weights, ``(seeds, 2, d)`` → same, on ``W``'s device."""
    d = W.shape[-1]
    model = TMS(TMSConfig(n_features=d)).double().to(W.device)
    cfg = TrainConfig(steps=steps, lr=lr, optimizer="sgd", log_every=steps)
    return train(model, per_sample_loss, tms_data(d, F64, W.device), config=cfg, params={"W": W.to(F64)},
                 weights=natural_weights(d, sparsity, device=W.device), progress=False).params["W"]


def confusion(target: Tensor, landed: Tensor, k: int) -> Tensor:
    """Counts ``(k, k+1)`` on the CPU: row = target gap, column = landed gap (last column: landed nowhere, -1)."""
    out = torch.zeros(k, k + 1, dtype=torch.long)
    for t, l in zip(target.tolist(), landed.tolist()):
        out[t, l if l >= 0 else k] += 1
    return out


class BranchRuns(NamedTuple):
    """Many seeds trained from one branch point, under several patterning settings and the baseline.

    Row ``r`` is one run: ``setting[r]`` indexes ``settings`` (-1: unpatterned baseline),
    ``target[r]`` is the gap asked for (for the baseline: the gap its patterned twins asked for),
    ``landed[r]`` the gap reached after settling. Runs with the same ``noise_seed`` saw the same kicks.
    """

    k: int
    settings: list[tuple[float, float]]  # (scale, metric) per setting
    setting: Tensor  # (rows,)
    target: Tensor  # (rows,)
    landed: Tensor  # (rows,)
    weights: Tensor  # (rows, 2**d) training weights
    checkpoints: list[tuple[int, Tensor]]  # (step, W (rows, 2, d)) during the patterned phase
    final: Tensor  # (rows, 2, d) after settling

    def rows(self, setting: int) -> Tensor:
        return (self.setting == setting).nonzero().squeeze(1)

    def success(self, setting: int) -> Tensor:
        """``(k,)`` fraction of runs of ``setting`` that landed in their target gap, per target gap."""
        r = self.rows(setting)
        hit = (self.landed[r] == self.target[r]).to(F64)
        return torch.stack([hit[self.target[r] == g].mean() for g in range(self.k)])

    def landed_share(self, setting: int) -> Tensor:
        """``(k,)`` share of the runs of ``setting`` that landed in each gap."""
        l = self.landed[self.rows(setting)]
        return torch.stack([(l == g).to(F64).mean() for g in range(self.k)])


def branch_runs(k: int, sparsity: float, sus: Susceptibilities, cos_target: float, settings: Sequence[tuple[float, float]],
                seeds_per_gap: int, config: NoisyTrainConfig, settle_steps: int = 2000, noise_offset: int = 0) -> BranchRuns:
    """Train ``seeds_per_gap`` seeds per gap for every (scale, metric) setting, plus as many unpatterned
    twins, all from the branch point and as one batch. Seed ``i`` of gap ``g`` gets the noise stream
    ``noise_offset + 1000 g + i`` in every setting and in the baseline. Runs on the device of ``sus``."""
    d = k + 1
    device = sus.chi.device
    h0 = natural_weights(d, sparsity, device=device)
    rows_h, setting, target, noise = [], [], [], []
    for s_idx, (scale, metric) in [*enumerate(settings), (-1, (0.0, 0.0))]:
        for g in range(k):
            h = h0 if s_idx < 0 else gap_weights(sus, k, g, sparsity, cos_target, scale=scale, metric=metric).weights
            rows_h += [h] * seeds_per_gap
            setting += [s_idx] * seeds_per_gap
            target += [g] * seeds_per_gap
            noise += [noise_offset + 1000 * g + i for i in range(seeds_per_gap)]
    H = torch.stack(rows_h)  # (rows, 2**d)
    W0 = bifurcation_point(k, sparsity, device).expand(H.shape[0], 2, d).clone()
    run = perturbed_train(W0, H, config, noise)
    final = settle(run.W, sparsity, settle_steps)
    return BranchRuns(k, list(settings), torch.tensor(setting, device=device), torch.tensor(target, device=device),
                      new_feature_gap(final, k), H,
                      run.checkpoints, final)


# ---------------------------------------------------------------------------------------------
# Chapter 3: plots
# ---------------------------------------------------------------------------------------------


def plot_concentration_field(weights: Sequence[Tensor], h0: Tensor, labels: list[str], row_labels: list[str],
                             title: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    r"""Heatmap of :math:`\log_{10} h/h_0` (clipped to ±2), one row per weight vector, one column per input."""
    ratio = torch.stack([h / h0 for h in weights]).clamp(1e-2, 1e2).log10().cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 0.5 * len(weights) + 1.2))
    im = ax.imshow(ratio, cmap="PiYG", vmin=-2, vmax=2, aspect="auto")
    ax.set(xticks=range(len(labels)), yticks=range(len(weights)), title=title)
    ax.set_xticklabels(labels, rotation=90, fontsize=6)
    ax.set_yticklabels(row_labels)
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label=r"$\log_{10} h/h_0$ (clipped at ±2)")
    return ax


def plot_confusion(runs: BranchRuns, setting: int, ax: plt.Axes, title: str, max_count: int) -> plt.Axes:
    """Target gap × landed gap counts of one setting (last column: landed in no gap)."""
    r = runs.rows(setting)
    mat = confusion(runs.target[r], runs.landed[r], runs.k).numpy()
    ax.imshow(mat, cmap="Blues", vmin=0, vmax=max_count)
    for (i, j), v in np.ndenumerate(mat):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax.set(title=title, xlabel="landed gap", ylabel="target gap" if setting >= 0 else "twin's target gap",
           xticks=range(runs.k + 1), xticklabels=[str(g) for g in range(runs.k)] + ["none"], yticks=range(runs.k))
    return ax


def plot_branch_trajectories(runs: BranchRuns, setting: int, steps: Sequence[int], title: str = "") -> plt.Figure:
    """Glyphs of the first run of ``setting`` for each target gap (rows) at checkpoint ``steps`` and settled."""
    snaps = dict(runs.checkpoints)
    rows = runs.rows(setting)
    picks = [int(rows[runs.target[rows] == g][0]) for g in range(runs.k)]
    fig, axes = plt.subplots(runs.k, len(steps) + 1, figsize=(1.6 * (len(steps) + 1), 1.6 * runs.k), squeeze=False)
    for row, r in enumerate(picks):
        for col, t in enumerate(steps):
            plot_glyph(snaps[t][r], axes[row, col], title=f"step {t}" if row == 0 else None)
        plot_glyph(runs.final[r], axes[row, -1], title="settled" if row == 0 else None)
        a, b = gap_neighbours(runs.k)[row]
        axes[row, 0].text(-1.5, 0, f"gap {a}–{b}", rotation=90, va="center", ha="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Chapter 4: rewriting a trained pentagon
# ---------------------------------------------------------------------------------------------


def pentagon_goal(arrangement: Sequence[int], sparsity: float, device: torch.device | str | None = None) -> Tensor:
    """The 15 observables of the loss-optimal regular pentagon with feature ``arrangement[p]`` at position p."""
    return tms_observables(optimal_kgon(5, sparsity, assignment=tuple(arrangement), device=device))


@dataclass(frozen=True)
class RewriteConfig:
    """The patterning loop of chapter 4 (one model). An *epoch* is ``steps`` full-batch SGD steps."""

    steps: int = 10  # gradient steps per epoch
    lr: float = 3.0  # SGD learning rate under the natural weights (rescaled with the non-empty inputs' weight share)
    scale: float = 0.01  # initial gain s of the step h = reweight(h_ref + s·dh)
    metric: float = 0.25  # norm of the patterning step, see metric_step
    integral: bool = False  # h_ref = current h (the post's h <- h + s·dh); False: h_ref = h0 (proportional control)
    gain_up: float = 2.0  # multiply s by this at an estimate where the tracking error fell by less than ``progress``
    progress: float = 0.1  # relative decrease of the tracking error |goal - mu| that counts as progress
    ridge: float = 1e-3  # relative ridge of the patterning step
    floor: float = 1e-12  # reweight floor (mean-one weights)
    max_epochs: int = 500
    settle_steps: int = 2000  # plain gradient steps under the natural weights used to test a candidate
    settle_every: int = 5  # once the cyclic order matches, test by settling every this many epochs
    regular_tol: float = 0.1  # radians: a settled pentagon is regular when every gap is within this of 72°


class RewriteRun(NamedTuple):
    weights: Tensor  # (epochs + 1, 32) h during each epoch (row 0: natural), last row repeated at the end
    W: Tensor  # (epochs + 1, 2, 5) weights at the start of each epoch and at the end
    weighted_loss: Tensor  # (epochs,) L_h after each epoch
    natural_loss: Tensor  # (epochs,) natural loss after each epoch
    estimate_epochs: list[int]  # epochs at which χ was estimated
    errors: list[float]  # tracking error |goal - mu| at each estimate
    gains: list[float]  # gain s used at each estimate
    reached_epoch: int | None  # first epoch after which the cyclic order matched the target
    done_epoch: int | None  # epoch after which settling under the natural weights gave the regular target pentagon
    settled: Tensor  # (2, 5) that settled pentagon (the last W if there was none)
    regularity_error: float  # of ``settled`` (radians)
    failure: str | None  # why the run stopped early (divergence), if it did

    @property
    def success(self) -> bool:
        return self.done_epoch is not None

    @property
    def num_estimates(self) -> int:
        return len(self.estimate_epochs)


def order_matches(W: Tensor, arrangement: Sequence[int]) -> bool:
    """Whether all five features are alive (norm > 0.3) and their cyclic order has the target's neighbour pairs."""
    p = read_polygon(W, threshold=0.3)
    return p.k == 5 and cycle_edges(p.order) == cycle_edges(tuple(arrangement))


def _informative(h: Tensor) -> float:
    """Weight share of the non-empty inputs (row 0, the empty input, has zero loss and zero gradient)."""
    return float(h[1:].sum() / h.sum())


def _settled_target(W: Tensor, arrangement: Sequence[int], sparsity: float, config: RewriteConfig) -> tuple[Tensor, float] | None:
    """Settle a copy of ``W`` under the natural weights; return it and its regularity error if it is the
    target pentagon, regular within tolerance."""
    settled = settle(W[None], sparsity, config.settle_steps, config.lr)[0]
    err = read_polygon(settled, threshold=0.3).regularity_error
    return (settled, err) if order_matches(settled, arrangement) and err <= config.regular_tol else None


def rewrite(W0: Tensor, arrangement: Sequence[int], sparsity: float, sgld: SGLDConfig, config: RewriteConfig,
            schedule, seed: int = 0) -> RewriteRun:
    r"""Pattern the pentagon ``W0`` (2, 5) towards the pentagon with cyclic order ``arrangement``.

    Each epoch: when ``schedule.due(...)`` (see :mod:`~patterning_core.loop`), sample the posterior at
    the current weights under the current ``h`` (with :math:`n\beta` per unit of informative data held
    fixed), estimate μ and χ of all 15 observables, and set ``h = reweight(h_ref + s·dh)`` with
    :func:`metric_step` towards the target's observables (``h_ref``: see ``config.integral``); the gain
    ``s`` grows by ``gain_up`` whenever the tracking error did not fall by ``progress`` since the last
    estimate. Then train one epoch on :math:`L_h`. Once the cyclic order matches the target, a copy is
    settled under the natural weights every ``settle_every`` epochs; the run is done when that copy
    is the regular target pentagon. Runs on ``W0``'s device.
    """
    device = W0.device
    model = TMS(TMSConfig(sparsity=sparsity)).double().to(device)
    data = tms_data(5, F64, device)
    h0 = natural_weights(5, sparsity, device=device)
    goal = pentagon_goal(arrangement, sparsity, device)
    W, h, gain, since = W0.to(F64).clone(), h0.clone(), config.scale, 0
    Ws, hs, wl, nl, est, errs, gains = [W], [h], [], [], [], [], []
    reached = done = failure = None
    settled, reg = W, float("nan")
    for epoch in range(config.max_epochs):
        try:
            if schedule.due(epoch, since, wl):
                model.W.data.copy_(W)
                cold = replace(sgld, nbeta=sgld.nbeta * _informative(h0) / _informative(h))
                sus = susceptibilities(sample(model, per_sample_loss, data, config=cold, weights=h,
                                              observables=tms_observables, seed=seed + epoch, progress=False))
                dmu = goal - sus.mu.to(F64)
                if errs and float(dmu.norm()) > (1 - config.progress) * errs[-1]:
                    gain *= config.gain_up  # no progress since the last estimate: a bigger step
                h_ref = h if config.integral else h0
                with warnings.catch_warnings():  # 15 observables of 9 degrees of freedom (10 weights less a rotation)
                    warnings.simplefilter("ignore")  # are redundant: part of dμ always lies outside χ's column space
                    dh = metric_step(sus.chi, dmu, h_ref, config.metric, config.ridge).dh
                h = reweight(h_ref, dh, gain, floor=config.floor)
                est.append(epoch), errs.append(float(dmu.norm())), gains.append(gain)
                since = 0
            lr = config.lr * _informative(h0) / _informative(h)  # the same step per unit of informative data
            sgd = TrainConfig(steps=config.steps, lr=lr, optimizer="sgd", log_every=config.steps)
            W = train(model, per_sample_loss, data, config=sgd, params={"W": W[None]}, weights=h, progress=False).params["W"][0]
        except (SGLDDivergenceError, FloatingPointError) as exc:
            failure = f"epoch {epoch}: {type(exc).__name__}"
            break
        since += 1
        wl.append(float(population_loss(W, sparsity, h)))
        nl.append(float(population_loss(W, sparsity)))
        Ws.append(W)
        hs.append(h)
        if order_matches(W, arrangement):
            reached = epoch + 1 if reached is None else reached
            if (epoch + 1 - reached) % config.settle_every == 0 and (hit := _settled_target(W, arrangement, sparsity, config)):
                done, (settled, reg) = epoch + 1, hit
                break
    if done is None:
        settled, reg = W, read_polygon(W, threshold=0.3).regularity_error
    return RewriteRun(torch.stack(hs), torch.stack(Ws), torch.tensor(wl), torch.tensor(nl), est, errs, gains, reached, done,
                      settled, reg, failure)


class PathBarrier(NamedTuple):
    t: Tensor  # (n_t,) position along the straight path, 0 = start, 1 = target
    loss: Tensor  # (n_t,) natural loss along the path
    barrier: float  # max loss along the path minus the start's loss
    end: Tensor  # (2, 5) the target realization at the end of the path


def straight_path_barrier(W0: Tensor, arrangement: Sequence[int], sparsity: float, n_t: int = 101, n_rot: int = 180) -> PathBarrier:
    """The lowest straight path from ``W0`` to any realization of the target pentagon.

    Candidates: every arrangement with the target's neighbour pairs (10: rotations and reflections of
    the positions) at every global rotation on a grid of ``n_rot`` angles; the path with the lowest
    maximum natural loss is returned. It bounds the barrier from above only: a curved path may be lower.
    Computed on ``W0``'s device.
    """
    edges = cycle_edges(tuple(arrangement))
    arrs = [a for a in itertools.permutations(range(5)) if cycle_edges(a) == edges]
    ends = torch.stack([optimal_kgon(5, sparsity, assignment=a, rotation=2 * math.pi * r / n_rot)
                        for a in arrs for r in range(n_rot)]).to(W0.device)  # (M, 2, 5)
    t = torch.linspace(0, 1, n_t, dtype=F64, device=W0.device)
    path = (1 - t)[:, None, None, None] * W0.to(F64) + t[:, None, None, None] * ends  # (n_t, M, 2, 5)
    loss = population_loss(path, sparsity)  # (n_t, M)
    best = int(loss.max(0).values.argmin())
    return PathBarrier(t, loss[:, best], float(loss[:, best].max() - loss[0, best]), ends[best])


# ---------------------------------------------------------------------------------------------
# Chapter 4: plots
# ---------------------------------------------------------------------------------------------


def plot_data_trajectory(run: RewriteRun, h0: Tensor, labels: list[str], title: str = "") -> plt.Figure:
    """The post's data-space trajectory: losses on top, :math:`\\log_{10} h/h_0` of every input type
    (rows, grouped by cardinality) over epochs (columns) below; χ estimates marked by ticks."""
    ratio = (run.weights[:-1] / h0).clamp(1e-3, 1e3).log10().T.cpu().numpy()  # (32, epochs)
    fig, (ax_l, ax_h) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True, gridspec_kw=dict(height_ratios=[1, 3.2]))
    epochs = np.arange(1, len(run.weighted_loss) + 1)
    ax_l.plot(epochs, run.weighted_loss, color="tab:red", label="weighted $L_h$")
    ax_l.plot(epochs, run.natural_loss, color="tab:blue", label="natural $L$")
    for e in run.estimate_epochs:
        ax_l.axvline(e, color="0.7", lw=0.8, ls=":")
    ax_l.set(yscale="log", ylabel="loss", title=title)
    ax_l.legend(fontsize=8)
    im = ax_h.imshow(ratio, aspect="auto", cmap="PiYG", vmin=-3, vmax=3, interpolation="nearest",
                     extent=(0, ratio.shape[1], ratio.shape[0] - 0.5, -0.5))
    card = [label.count("1") for label in labels]
    for r in range(1, len(labels)):
        if card[r] != card[r - 1]:
            ax_h.axhline(r - 0.5, color="k", lw=0.6)
    ax_h.set_yticks(range(len(labels)))
    ax_h.set_yticklabels(labels, fontsize=6, family="monospace")
    ax_h.set_xlabel("epoch")
    fig.colorbar(im, ax=[ax_l, ax_h], shrink=0.6, label=r"$\log_{10} h/h_0$ (clipped at ±3)")
    return fig


def plot_rewrite_snapshots(run: RewriteRun, epochs: Sequence[int], title: str = "") -> plt.Figure:
    """Glyphs of the model at the given epochs of ``run`` and of its settled pentagon."""
    fig, axes = plt.subplots(1, len(epochs) + 1, figsize=(1.8 * (len(epochs) + 1), 2.1))
    for ax, e in zip(axes, epochs):
        plot_glyph(run.W[e], ax, title=f"epoch {e}", labels=True, radius=1.5)
    plot_glyph(run.settled, axes[-1], title="settled" if run.success else "last", labels=True, radius=1.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
