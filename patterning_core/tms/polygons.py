r"""Polygon geometry of the TMS feature vectors: ideal k-gons, reading polygons off ``W``,
the pentagon's gap patterns, and the post's glyph plots.

In the polygon regime (high sparsity, post §2.1) the alive feature vectors :math:`W_i` sit at
equal norm on the vertices of a regular k-gon and the others are dead (:math:`W_i = 0`).

Gap patterns (post §5.2). An *arrangement* ``a`` puts feature ``a[p]`` at position ``p`` of a
regular pentagon (positions counter-clockwise). Its gap pattern is the string
:math:`g_p = \mathrm{ringdist}(a[p], a[p+1 \bmod 5]) \in \{1, 2\}`, the distance of the two
features on the *original* ring 0-1-2-3-4. Relabelling all features by a dihedral symmetry of the
original ring preserves every gap, so the 120 arrangements fall into 120/10 = 12 classes, one
per pattern. The break count is the number of 2s (original neighbour pairs destroyed).
What the observables ``phi_dot`` see is coarser in a different way: only which features are
adjacent (an undirected cycle, :func:`pentagon_targets`), so an arrangement and its mirror image
read in the other direction are one target although their gap strings differ. Both views give
12 classes with break counts {0: 1, 2: 5, 3: 5, 5: 1}; counts 1 and 4 never occur.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from ..devices import check_device
from .model import _importance, input_types, natural_weights, population_loss, reconstruct

FEATURE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")  # f0, f1, ...


# ---------------------------------------------------------------------------------------------
# Ideal k-gons
# ---------------------------------------------------------------------------------------------


def ideal_kgon(k: int, d: int = 5, assignment: tuple[int, ...] | list[int] | None = None,
               norm: float = 1.0, rotation: float = 0.0, dtype: torch.dtype = torch.float64,
               device: torch.device | str | None = None) -> Tensor:
    """Weights ``(2, d)`` of a regular k-gon: feature ``assignment[p]`` at angle
    ``rotation + 2 pi p / k`` with length ``norm``; features not in ``assignment`` are 0. Built on
    the CPU, returned on ``device`` (None: the CPU).

    ``assignment`` defaults to ``(0, 1, ..., k-1)``. ``k = 1`` gives one feature, ``k = 2`` the
    antipodal pair (digon).
    """
    assignment = tuple(range(k)) if assignment is None else tuple(int(a) for a in assignment)
    if len(assignment) != k or len(set(assignment)) != k or not all(0 <= a < d for a in assignment):
        raise ValueError(f"assignment {assignment} must list k={k} distinct features in [0, {d})")
    W = torch.zeros(2, d, dtype=dtype)
    for p, f in enumerate(assignment):
        angle = rotation + 2 * math.pi * p / k
        W[0, f], W[1, f] = norm * math.cos(angle), norm * math.sin(angle)
    return W.to(device)


def optimal_scale(W: Tensor, sparsity: float, weights: Tensor | None = None,
                  importance: Tensor | None = None) -> Tensor:
    r"""The factor :math:`a^*` minimising the exact loss of :math:`aW` (no bias), shape ``(...)``.

    Since :math:`\hat x(aW) = a^2\,\mathrm{ReLU}(W^\top W x) =: u\,c_x` the loss is quadratic in
    :math:`u = a^2`, :math:`L(u) = \sum_x h_x \sum_i I_i (x_i - u c_{x,i})^2 / \sum h`, minimised
    at :math:`u^* = \sum h I x c / \sum h I c^2`. ``W`` is ``(..., m, d)``; computed on its device (given ``weights`` must live there).
    """
    d = W.shape[-1]
    if weights is not None:
        check_device("weights", weights.device, W.device, "W")
    x = input_types(d, W.dtype, W.device)  # (2**d, d)
    h = natural_weights(d, sparsity, W.dtype, W.device) if weights is None else weights.to(W.dtype)
    imp = _importance(importance, d, W)
    c = reconstruct(W, x)  # (..., 2**d, d)
    num = (h.unsqueeze(-1) * imp * x * c).sum((-1, -2))
    den = (h.unsqueeze(-1) * imp * c * c).sum((-1, -2))
    return torch.sqrt(num / den)


def optimal_kgon(k: int, sparsity: float, d: int = 5, assignment: tuple[int, ...] | None = None,
                 rotation: float = 0.0, weights: Tensor | None = None,
                 device: torch.device | str | None = None) -> Tensor:
    """The regular k-gon (see :func:`ideal_kgon`) at the norm minimising the exact loss, ``(2, d)``, on ``device``."""
    W = ideal_kgon(k, d, assignment, 1.0, rotation, device=device)
    return W * optimal_scale(W, sparsity, weights)


class DeadFeatureExpansion(NamedTuple):
    """Loss near a k-gon with one dead feature at :math:`r(\\cos\\theta, \\sin\\theta)`:
    :math:`L(r,\\theta) - L(0) \\approx a(\\theta)\\,r + b(\\theta)\\,r^2`, per unit of ``scale``."""

    theta: Tensor  # (n,) angles
    slope: Tensor  # (n,) a(theta) / scale
    curvature: Tensor  # (n,) b(theta) / scale


def dead_feature_expansion(k: int, sparsity: float, d: int = 5, n_theta: int = 360, r: float = 1e-4,
                           weights: Tensor | None = None) -> DeadFeatureExpansion:
    r"""Fit :math:`a(\theta) r + b(\theta) r^2` to the exact loss when feature ``k`` (dead) of the
    unit k-gon on features ``0..k-1`` is moved to radius ``r`` and ``2r`` at angle ``theta``.

    Results are divided by :math:`q(e_i) = p(1-p)^{d-1}` (or, with ``weights``, by the weight
    share of one one-hot input), so in the one-hot limit :math:`S \to 1` they read in units of one
    one-hot input: then :math:`a = 0` and :math:`b = -2 + 2\sum_j \mathrm{ReLU}(\cos(\theta-\phi_j))^2`
    (-2 sin^2 theta for the digon, in [-1, 0] for the triangle, 0 for the square: the post's
    :math:`H = 1 + r^4`). Pair inputs add a negative slope :math:`a \propto p/(1-p)`.
    """
    if not 1 <= k < d:
        raise ValueError(f"need 1 <= k < d so that feature k is a dead feature; got k={k}, d={d}")
    W0 = ideal_kgon(k, d)
    theta = torch.linspace(0, 2 * math.pi, n_theta + 1, dtype=torch.float64)[:-1]  # (n,)
    h = natural_weights(d, sparsity) if weights is None else weights.to(torch.float64)
    scale = float(h[1] / h.sum())  # weight share of the one-hot e_0 (row 1 of input_types)

    def excess(rad: float) -> Tensor:  # (n,)
        dead = torch.stack([rad * torch.cos(theta), rad * torch.sin(theta)], -1)  # (n, 2)
        rest = W0[:, k + 1:].expand(n_theta, 2, d - k - 1)
        W = torch.cat([W0[:, :k].expand(n_theta, 2, k), dead.unsqueeze(-1), rest], -1)  # (n, 2, d)
        return population_loss(W, sparsity, h) - population_loss(W0, sparsity, h)

    l1, l2 = excess(r), excess(2 * r)
    b = (l2 / (2 * r) - l1 / r) / r
    a = l1 / r - b * r
    return DeadFeatureExpansion(theta, a / scale, b / scale)


# ---------------------------------------------------------------------------------------------
# Reading a polygon off W
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Polygon:
    """A polygon read from one ``W`` of shape ``(2, d)``.

    Attributes:
        k: number of alive features (norm > threshold).
        alive: alive feature indices, ascending.
        order: alive features in counter-clockwise angular order, starting from the smallest index.
        angles: angle (radians, in [0, 2 pi)) of each feature in ``order``.
        gaps: angle from ``order[p]`` to ``order[p+1]`` (cyclically), length k; sums to 2 pi.
        regularity_error: max |gap - 2 pi / k| (0 for a regular k-gon; 0 when k <= 1).
        norms: norms of all d features.
    """

    k: int
    alive: tuple[int, ...]
    order: tuple[int, ...]
    angles: tuple[float, ...]
    gaps: tuple[float, ...]
    regularity_error: float
    norms: tuple[float, ...]

    def is_regular(self, tol: float = 0.1) -> bool:
        """Whether every adjacent angle is within ``tol`` radians of 2 pi / k."""
        return self.regularity_error <= tol


def read_polygon(W: Tensor, threshold: float = 0.5) -> Polygon:
    """Read the polygon of ``W`` (shape ``(2, d)``): features with norm > ``threshold`` are alive."""
    if W.dim() != 2 or W.shape[0] != 2:
        raise ValueError(f"read_polygon needs W of shape (2, d), got {tuple(W.shape)}")
    Wd = W.detach().to("cpu", torch.float64)  # a (2, d) reading: on the CPU, no per-element device syncs
    norms = torch.linalg.vector_norm(Wd, dim=0)
    alive = [i for i in range(Wd.shape[1]) if norms[i] > threshold]
    theta = {i: math.atan2(float(Wd[1, i]), float(Wd[0, i])) % (2 * math.pi) for i in alive}
    if not alive:
        return Polygon(0, (), (), (), (), 0.0, tuple(norms.tolist()))
    ccw = sorted(alive, key=lambda i: theta[i])
    start = ccw.index(min(alive))
    order = tuple(ccw[start:] + ccw[:start])
    k = len(order)
    if k == 1:
        gaps = (2 * math.pi,)
    else:
        gaps = tuple((theta[order[(p + 1) % k]] - theta[order[p]]) % (2 * math.pi) for p in range(k))
    err = 0.0 if k == 1 else max(abs(g - 2 * math.pi / k) for g in gaps)
    return Polygon(k, tuple(alive), order, tuple(theta[i] for i in order), gaps, err, tuple(norms.tolist()))


def count_alive(W: Tensor, threshold: float = 0.5) -> Tensor:
    """Number of features with norm > ``threshold``; ``(..., 2, d) -> (...)`` integer tensor."""
    return (torch.linalg.vector_norm(W, dim=-2) > threshold).sum(-1)


def regularity(W: Tensor, threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """Vectorised polygon reading: ``(k, err)`` for ``W`` of shape ``(..., 2, d)``.

    ``k (...)`` counts features with norm > ``threshold``; ``err (...)`` is the max deviation of
    the adjacent angles of the alive features from 2 pi / k (0 when k <= 1), as in
    :func:`read_polygon`.
    """
    norms = torch.linalg.vector_norm(W, dim=-2)  # (..., d)
    alive = norms > threshold
    k = alive.sum(-1)  # (...)
    theta = torch.remainder(torch.atan2(W[..., 1, :], W[..., 0, :]), 2 * math.pi)  # (..., d)
    srt = torch.sort(torch.where(alive, theta, torch.full_like(theta, math.inf)), dim=-1).values  # alive first
    d = W.shape[-1]
    j = torch.arange(d, device=W.device)  # (d,)
    kk = k.unsqueeze(-1)  # (..., 1)
    nxt = torch.where(j + 1 < kk, srt.roll(-1, dims=-1), srt[..., :1] + 2 * math.pi)  # (..., d)
    gaps = nxt - srt
    target = 2 * math.pi / kk.clamp(min=1).to(W.dtype)
    dev = torch.where(j < kk, (gaps - target).abs(), torch.zeros_like(gaps))
    dev = torch.nan_to_num(dev, nan=0.0, posinf=0.0)
    return k, dev.amax(-1)


def classify_polygon(W: Tensor, alive: float = 0.5, dead: float = 0.2, tol: float = 0.2) -> Tensor:
    """Polygon stage of ``W (..., 2, d)``: ``k`` when the features with norm > ``alive`` form a
    regular k-gon (adjacent angles within ``tol`` radians of 2 pi / k) and every other feature has
    norm < ``dead``; ``-1`` otherwise (in transit or not a polygon). ``(...)`` integer tensor."""
    k, err = regularity(W, alive)
    norms = torch.linalg.vector_norm(W, dim=-2)
    clean = ((norms > alive) | (norms < dead)).all(-1) & (err <= tol)
    return torch.where(clean, k, torch.full_like(k, -1))


@dataclass(frozen=True)
class Stage:
    """A run of identical stage labels: label ``k`` from step ``start`` for ``length`` steps."""

    k: int
    start: int
    length: int


def stage_runs(labels: Tensor | list[int], min_length: int = 1, skip: tuple[int, ...] = (-1,)) -> list[Stage]:
    """Runs of equal labels (e.g. :func:`classify_polygon` over training, shape ``(steps,)``) of at
    least ``min_length`` steps, skipping labels in ``skip``; consecutive runs with the same label
    (separated only by dropped runs) are merged into one stage spanning both."""
    seq = labels.tolist() if isinstance(labels, Tensor) else list(labels)
    runs: list[Stage] = []
    start = 0
    for t in range(1, len(seq) + 1):
        if t == len(seq) or seq[t] != seq[start]:
            if seq[start] not in skip and t - start >= min_length:
                if runs and runs[-1].k == seq[start]:
                    runs[-1] = Stage(seq[start], runs[-1].start, t - runs[-1].start)
                else:
                    runs.append(Stage(seq[start], start, t - start))
            start = t
    return runs


def cycle_edges(order: tuple[int, ...] | list[int]) -> frozenset[frozenset[int]]:
    """Undirected neighbour pairs of a cyclic order (which features are adjacent)."""
    k = len(order)
    return frozenset(frozenset((order[p], order[(p + 1) % k])) for p in range(k) if k > 1)


# ---------------------------------------------------------------------------------------------
# Gap patterns of the pentagon
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapPattern:
    """One class of pentagon arrangements under relabelling by the dihedral group of the ring.

    Attributes:
        pattern: gap string, e.g. ``"11212"`` (``g_p`` for position pairs (p, p+1)).
        breaks: number of 2s (original neighbour pairs destroyed).
        representative: canonical arrangement: f0 kept at position 0, fewest moved features, then
            lexicographically first. (This matches the post's §5.2 table except for ``22121``,
            where the post shows ``(f1 f2 f3)``, another member of the same class.)
        cycles: the representative in cycle notation, e.g. ``"(f1 f2)"`` (feature -> new position).
        size: number of arrangements with this pattern (10 for the pentagon).
    """

    pattern: str
    breaks: int
    representative: tuple[int, ...]
    cycles: str
    size: int


def ring_distance(i: int, j: int, n: int = 5) -> int:
    """Distance of positions ``i`` and ``j`` on a ring of ``n``."""
    return min((i - j) % n, (j - i) % n)


def gap_pattern(arrangement: tuple[int, ...] | list[int]) -> str:
    """Gap string of an arrangement (feature ``a[p]`` at position ``p``) of a regular n-gon."""
    n = len(arrangement)
    return "".join(str(ring_distance(arrangement[p], arrangement[(p + 1) % n], n)) for p in range(n))


def dihedral_group(n: int = 5) -> list[tuple[int, ...]]:
    """The 2n symmetries of the ring 0..n-1 as permutations ``g`` (``g[i]`` is the image of i)."""
    rotations = [tuple((i + r) % n for i in range(n)) for r in range(n)]
    return rotations + [tuple((r - i) % n for i in range(n)) for r in range(n)]


def cycle_notation(arrangement: tuple[int, ...] | list[int]) -> str:
    """Cycles of the map feature -> its new position; ``"id"`` for the identity."""
    n = len(arrangement)
    pos = {f: p for p, f in enumerate(arrangement)}
    seen, cycles = set(), []
    for start in range(n):
        if start in seen or pos[start] == start:
            continue
        cyc, f = [], start
        while f not in seen:
            seen.add(f)
            cyc.append(f)
            f = pos[f]
        cycles.append("(" + " ".join(f"f{c}" for c in cyc) + ")")
    return "".join(cycles) or "id"


def gap_patterns(n: int = 5) -> list[GapPattern]:
    """Enumerate all n! arrangements, group them into orbits of relabelling ``a -> g o a`` by the
    dihedral group, and return one :class:`GapPattern` per orbit, sorted by (breaks, pattern)."""
    group = dihedral_group(n)
    orbits: dict[tuple[int, ...], set[tuple[int, ...]]] = {}
    for a in itertools.permutations(range(n)):
        orbit = frozenset(tuple(g[f] for f in a) for g in group)
        orbits.setdefault(min(orbit), set()).update(orbit)
    out = []
    for orbit in orbits.values():
        patterns = {gap_pattern(a) for a in orbit}
        if len(patterns) != 1:
            raise RuntimeError(f"gap pattern not invariant on an orbit: {patterns}")
        rep = min(orbit, key=lambda a: (a[0] != 0, sum(a[p] != p for p in range(n)), a))
        pattern = patterns.pop()
        out.append(GapPattern(pattern, pattern.count("2"), rep, cycle_notation(rep), len(orbit)))
    return sorted(out, key=lambda g: (g.breaks, g.pattern))


@dataclass(frozen=True)
class PentagonTarget:
    """One observably distinct regular pentagon: a cyclic order of the features up to rotation and
    reflection of the *positions* (``a -> a o g``), i.e. an undirected Hamiltonian cycle.

    All arrangements of one target have the same ``phi_dot`` (adjacent pairs at cos 72 deg, the
    rest at cos 144 deg). Attributes: ``edges`` (adjacent feature pairs), ``breaks`` (edges not in
    the original ring 0-1-2-3-4), ``arrangement`` (canonical: starts with f0, lexicographically
    first), ``size`` (arrangements realising it, 10).
    """

    edges: frozenset[frozenset[int]]
    breaks: int
    arrangement: tuple[int, ...]
    size: int


def pentagon_targets(n: int = 5) -> list[PentagonTarget]:
    """The (n-1)!/2 observable targets (12 for n = 5), sorted by (breaks, arrangement).

    These are orbits of the *right* action (moving positions), whereas :func:`gap_patterns` are
    orbits of the *left* action (relabelling features); both partitions have 12 classes and the
    same break-count histogram {0: 1, 2: 5, 3: 5, 5: 1}, but they are different partitions: e.g.
    ``(0,1,2,4,3)`` and ``(0,3,4,2,1)`` are one target (the same pentagon read in opposite
    directions) with gap strings ``11212`` and ``21211``.
    """
    ring = cycle_edges(tuple(range(n)))
    groups: dict[frozenset, list[tuple[int, ...]]] = {}
    for a in itertools.permutations(range(n)):
        groups.setdefault(cycle_edges(a), []).append(a)
    out = [PentagonTarget(e, len(e - ring), min(arrs), len(arrs)) for e, arrs in groups.items()]
    return sorted(out, key=lambda t: (t.breaks, t.arrangement))


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def _color(i: int) -> str:
    return FEATURE_COLORS[i % len(FEATURE_COLORS)]


def plot_glyph(W: Tensor, ax: plt.Axes | None = None, title: str | None = None, radius: float = 1.2,
               labels: bool = False) -> plt.Axes:
    """The post's glyph: each feature vector ``W[:, i]`` (``W`` is ``(2, d)``) as a line from the
    origin with a coloured dot at its tip, over a light unit circle."""
    if ax is None:
        _, ax = plt.subplots(figsize=(2.2, 2.2))
    Wn = W.detach().to(torch.float64).cpu().numpy()
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="0.85", lw=0.8, zorder=0)
    for i in range(Wn.shape[1]):
        ax.plot([0, Wn[0, i]], [0, Wn[1, i]], color="0.3", lw=1.2, zorder=1)
        ax.scatter(Wn[0, i], Wn[1, i], color=_color(i), s=28, zorder=2)
        if labels:
            ax.annotate(f"f{i}", (Wn[0, i], Wn[1, i]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_glyph_strip(Ws: list[Tensor] | Tensor, titles: list[str] | None = None, size: float = 2.0,
                     **kwargs) -> plt.Figure:
    """A row of glyphs, one per ``W`` of shape ``(2, d)`` (a list or a ``(n, 2, d)`` tensor)."""
    Ws = list(Ws)
    fig, axes = plt.subplots(1, len(Ws), figsize=(size * len(Ws), size), squeeze=False)
    for j, (ax, W) in enumerate(zip(axes[0], Ws)):
        plot_glyph(W, ax, None if titles is None else titles[j], **kwargs)
    fig.tight_layout()
    return fig


def plot_sample_cloud(samples: Tensor, values: Tensor | None = None, ax: plt.Axes | None = None,
                      anchor: Tensor | None = None, features: list[int] | None = None, cmap: str = "Greys",
                      radius: float = 1.3, s: float = 3.0) -> plt.Axes:
    """SGLD sample clouds: each draw's feature tips as points, shaded by ``values`` (e.g. loss).

    Args:
        samples: ``(n, 2, d)`` draws of ``W`` (flatten chains and draws first).
        values: ``(n,)`` shade per draw (darker = larger); ``None`` colours points by feature.
        anchor: optional ``(2, d)`` centre ``w*``, drawn as a glyph on top.
        features: which features to draw (default all).
    """
    if samples.dim() != 3 or samples.shape[1] != 2:
        raise ValueError(f"samples must have shape (n, 2, d), got {tuple(samples.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    S = samples.detach().to(torch.float64).cpu().numpy()
    feats = range(S.shape[2]) if features is None else features
    v = None if values is None else values.detach().to(torch.float64).cpu().numpy().reshape(-1)
    if v is not None and v.shape[0] != S.shape[0]:
        raise ValueError(f"values has {v.shape[0]} entries but samples has {S.shape[0]} draws")
    for i in feats:
        if v is None:
            ax.scatter(S[:, 0, i], S[:, 1, i], s=s, color=_color(i), alpha=0.3, lw=0)
        else:
            ax.scatter(S[:, 0, i], S[:, 1, i], s=s, c=v, cmap=cmap, lw=0)
    if anchor is not None:
        plot_glyph(anchor, ax, radius=radius)
    else:
        ax.set_xlim(-radius, radius)
        ax.set_ylim(-radius, radius)
        ax.set_aspect("equal")
    return ax
