r"""Stagewise development of the TMS (chapter 1): read stages off a training run and measure the
local learning coefficient (LLC) along it and at the ideal k-gons.

Training itself is :func:`~patterning_core.training.train` on seeds stacked by
:func:`~patterning_core.training.init_params`; this module only adds

* :func:`training_set` - a finite training set of ``n`` inputs drawn from :math:`q` (minibatch SGD
  on it is the "SGD with noise" setting of Chen et al. 2023);
* :func:`trajectory` - the exact population loss and the polygon reading of every checkpoint,
  in two ways: *strict* (:func:`~patterning_core.tms.polygons.classify_polygon`: a regular k-gon with
  every other feature dead) and *loose* (:func:`~patterning_core.tms.polygons.count_alive`: how many
  features have norm > 0.5, whatever their angles);
* :func:`stages` / :func:`first_visits` / :func:`climbs` / :func:`precedes` - stage lists in units of
  training steps and the test "the stages ``ks`` are all visited, and first visited in this order";
  :func:`seed_stages` and :func:`stage_summary` apply them to every seed of a trajectory;
* :func:`longest_stage_before` - the seed to follow for the staircase figure;
* :func:`plateau_points` - one ``W`` in the middle of each long strict stage;
* :func:`llc_at` - SGLD LLC estimates at a list of ``W`` (the exact loss over the 32 input types,
  natural weights, full batch), optionally sampling only the alive features;
* :func:`sample_cloud` - SGLD draws of ``W`` around one point, for
  :func:`~patterning_core.tms.polygons.plot_sample_cloud`;
* :func:`critical_n` - the Bayesian crossover :math:`n_c (L_B - L_A) = (\lambda_A - \lambda_B)\log n_c`.

Everything here is float64 for the sampler (loss differences of order ``λ/nβ`` are small next to
the loss) and float32 for training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from ..llc import LLCResult, llc
from .model import TMS, TMSConfig, input_probs, input_types, natural_weights, per_sample_loss, population_loss, tms_data
from .polygons import Stage, classify_polygon, count_alive, stage_runs
from ..sgld import SGLDConfig, sample
from ..training import TrainResult

ALIVE = 0.5  # a feature is alive when its norm exceeds this (the polygons module's default)


def training_set(sparsity: float, n: int, seed: int = 0, d: int = 5,
                 device: torch.device | str = "cpu") -> tuple[Tensor]:
    """``(x,)`` with ``x`` of shape ``(n, d)`` on ``device``: ``n`` i.i.d. draws from :math:`q` (feature
    on with probability ``1 - sparsity``), from ``torch.Generator(device).manual_seed(seed)``."""
    gen = torch.Generator(device=device).manual_seed(seed)
    q = input_probs(d, sparsity, torch.float64, device)  # (2**d,)
    idx = torch.multinomial(q, n, replacement=True, generator=gen)  # (n,)
    return (input_types(d, device=device)[idx],)


@dataclass(frozen=True)
class Trajectory:
    """Checkpoints of a seed-batched training run, read as polygons.

    Attributes:
        steps: ``(T,)`` training step of each checkpoint.
        W: ``(seeds, T, 2, d)`` weights.
        loss: ``(seeds, T)`` exact population loss at sparsity ``sparsity`` (float64).
        strict: ``(seeds, T)`` :func:`~patterning_core.tms.polygons.classify_polygon` (``-1``: no clean polygon).
        alive: ``(seeds, T)`` number of features with norm > 0.5.
    """

    sparsity: float
    steps: Tensor
    W: Tensor
    loss: Tensor
    strict: Tensor
    alive: Tensor

    @property
    def num_seeds(self) -> int:
        return self.W.shape[0]


def trajectory(result: TrainResult, sparsity: float, tol: float = 0.2, dead: float = 0.2) -> Trajectory:
    """Read every checkpoint of ``result`` (trained with ``checkpoint_every``) as a polygon."""
    if not result.checkpoints:
        raise ValueError("the training run kept no checkpoints: pass checkpoint_every to train()")
    steps = torch.tensor([s for s, _ in result.checkpoints])
    W = torch.stack([p["W"] for _, p in result.checkpoints], dim=1)  # (seeds, T, 2, d)
    loss = population_loss(W.double(), sparsity)  # (seeds, T)
    strict = classify_polygon(W, alive=ALIVE, dead=dead, tol=tol)
    return Trajectory(sparsity, steps, W, loss, strict, count_alive(W, ALIVE))


def stages(labels: Tensor, steps: Tensor, min_steps: int = 20) -> list[Stage]:
    """Stages (runs of one label, ``-1`` skipped) lasting at least ``min_steps`` training steps,
    with ``start`` and ``length`` in training steps. ``labels`` and ``steps`` are ``(T,)`` with
    evenly spaced ``steps``."""
    every = int(steps[1] - steps[0]) if len(steps) > 1 else 1
    runs = stage_runs(labels, min_length=max(1, -(-min_steps // every)))
    return [Stage(r.k, int(steps[r.start]), r.length * every) for r in runs]


def first_visits(runs: list[Stage]) -> dict[int, int]:
    """Step at which each label is first seen as a stage."""
    out: dict[int, int] = {}
    for r in runs:
        out.setdefault(r.k, r.start)
    return out


def climbs(runs: list[Stage], ks: Sequence[int] = (2, 3, 4, 5)) -> bool:
    """Whether every label in ``ks`` occurs as a stage and their first visits come in this order."""
    first = first_visits(runs)
    return all(k in first for k in ks) and all(first[a] < first[b] for a, b in zip(ks, ks[1:]))


def precedes(runs: list[Stage], a: int, b: int) -> bool:
    """Whether label ``a`` occurs as a stage and is first visited before label ``b`` (which must occur too)."""
    first = first_visits(runs)
    return a in first and b in first and first[a] < first[b]


def seed_stages(traj: "Trajectory", min_steps: int = 10) -> list[tuple[list[Stage], list[Stage]]]:
    """Per seed: (strict stages, loose stages) of at least ``min_steps`` steps, without the all-dead start (label 0)."""
    return [([r for r in stages(traj.strict[s], traj.steps, min_steps) if r.k > 0],
             [r for r in stages(traj.alive[s], traj.steps, min_steps) if r.k > 0]) for s in range(traj.num_seeds)]


def stage_summary(traj: "Trajectory", min_steps: int = 10) -> dict[str, float]:
    """Fractions of seeds with each stage pattern (see the keys) and with each final state."""
    per_seed = seed_stages(traj, min_steps)
    final = traj.strict[:, -1]

    def frac(flags) -> float:
        flags = list(flags)
        return sum(bool(f) for f in flags) / len(flags)

    return dict(
        climb_loose=frac(climbs(lo) for _, lo in per_seed),  # alive count visits 2, 3, 4, 5 in this order
        climb_strict=frac(climbs(st) for st, _ in per_seed),  # regular 2-, 3-, 4-, 5-gon stages in this order
        strict4=frac(any(r.k == 4 for r in st) for st, _ in per_seed),  # a regular-square stage
        four_then_five=frac(precedes(lo, 4, 5) for _, lo in per_seed),  # four alive features, then five
        end5=frac(final == 5),  # ends as a regular pentagon
        end4=frac(final == 4),  # ends as a regular square with a dead fifth feature
        end_other=frac(final < 4),  # neither (e.g. two features sharing a vertex)
    )


def longest_stage_before(traj: "Trajectory", k: int = 4, final: int = 5, min_steps: int = 10,
                         climb: Sequence[int] | None = None) -> int:
    """The seed that spends longest with ``k`` alive features among the seeds that end as a regular
    ``final``-gon (and, with ``climb``, whose alive count visits ``climb`` in order); ties go to the lowest
    seed. Falls back to all seeds when none qualifies."""
    per_seed = seed_stages(traj, min_steps)
    time_k = [sum(r.length for r in lo if r.k == k) for _, lo in per_seed]
    ok = [s for s in range(traj.num_seeds) if int(traj.strict[s, -1]) == final
          and (climb is None or climbs(per_seed[s][1], climb))] or list(range(traj.num_seeds))
    return max(ok, key=lambda s: (time_k[s], -s))


def critical_n(delta_loss: float, delta_llc: float) -> float:
    r"""The sample size :math:`n_c > e` where :math:`n\,\Delta L = \Delta\lambda \log n` (the Bayesian crossover
    of two critical points, :math:`\Delta L > 0` the loss gap, :math:`\Delta\lambda > 0` the LLC gap), by bisection
    on :math:`\log n` (the larger root)."""
    if delta_loss <= 0 or delta_llc <= 0:
        raise ValueError("need a positive loss gap and a positive LLC gap")
    f = lambda u: math.exp(u) * delta_loss - delta_llc * u  # noqa: E731  (u = log n; convex, minimal at u0)
    lo = math.log(delta_llc / delta_loss)  # u0
    if f(lo) >= 0:
        raise ValueError("no crossover: the lower-loss point wins at every n")
    hi = lo + 1.0
    while f(hi) <= 0:
        hi += 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return math.exp(hi)


def sequence(runs: list[Stage]) -> str:
    """Compact text of a stage list, e.g. ``"2 → 3 → 4 (2.1k) → 5"``; long stages show their length."""
    def fmt(r: Stage) -> str:
        return f"{r.k} ({r.length / 1000:.1f}k)" if r.length >= 500 else str(r.k)
    return " → ".join(fmt(r) for r in runs) or "-"


@dataclass(frozen=True)
class PlateauPoint:
    """The weights in the middle of one strict stage of one seed."""

    seed: int  # index into the trajectory's seeds
    k: int
    step: int  # training step of the chosen checkpoint
    length: int  # stage length in steps
    W: Tensor  # (2, d)


def plateau_points(traj: Trajectory, ks: Sequence[int] = (4, 5), min_steps: int = 200) -> list[PlateauPoint]:
    """For every seed, the first strict stage of each ``k`` in ``ks`` lasting ``min_steps`` steps, at its middle."""
    out = []
    every = int(traj.steps[1] - traj.steps[0])
    for s in range(traj.num_seeds):
        seen = set()
        for r in stages(traj.strict[s], traj.steps, min_steps):
            if r.k in ks and r.k not in seen:
                seen.add(r.k)
                t = int((r.start + r.length // 2 - int(traj.steps[0])) // every)
                out.append(PlateauPoint(s, r.k, int(traj.steps[t]), r.length, traj.W[s, t].clone()))
    return out


def _model(W: Tensor, sparsity: float) -> TMS:
    """A float64 TMS at ``W`` on ``W``'s device."""
    model = TMS(TMSConfig(n_features=W.shape[-1], sparsity=sparsity)).double().to(W.device)
    model.W.data.copy_(W.double())
    return model


def alive_mask(W: Tensor, threshold: float = ALIVE) -> Tensor:
    """``(2, d)`` boolean mask of the columns of alive features (norm > ``threshold``)."""
    return (torch.linalg.vector_norm(W, dim=0) > threshold).expand(W.shape[0], -1)


def llc_at(Ws: Sequence[Tensor] | Tensor, sparsity: float, config: SGLDConfig, seed: int = 0,
           alive_only: bool = False, progress: bool = False) -> list[LLCResult]:
    r"""SGLD LLC estimates :math:`\hat\lambda = n\beta(\mathbb E L - L(w^*))` at each ``W (2, d)`` of ``Ws``.

    The loss is the exact population loss (the 32 input types, natural weights, full batch), so
    ``config.nbeta`` plays the role of :math:`n\beta` for a sample of size :math:`n`. Run ``i`` uses
    seed ``seed + i``. With ``alive_only`` the dead features (norm <= 0.5) are frozen at ``w*`` and
    only the alive ones are sampled. Sampled on the device of the ``Ws``.
    """
    device = Ws[0].device
    data = tms_data(Ws[0].shape[-1], torch.float64, device)
    h = natural_weights(Ws[0].shape[-1], sparsity, device=device)
    out = []
    for i, W in enumerate(Ws):
        restrict = {"W": alive_mask(W)} if alive_only else None
        s = sample(_model(W, sparsity), per_sample_loss, data, config=config, weights=h, restrict=restrict,
                   seed=seed + i, keep_obs_traces=False, progress=progress)
        out.append(llc(s))
    return out


def sample_cloud(W: Tensor, sparsity: float, config: SGLDConfig, seed: int = 0) -> Tensor:
    """SGLD draws of ``W`` around ``W (2, d)``, chains and draws flattened: ``(chains·draws, 2, d)``, on ``W``'s device."""
    data = tms_data(W.shape[-1], torch.float64, W.device)
    s = sample(_model(W, sparsity), per_sample_loss, data, config=config,
               weights=natural_weights(W.shape[-1], sparsity, device=W.device),
               observables=lambda p: p["W"].flatten(1), seed=seed, progress=False)
    return s.obs_trace.reshape(-1, *W.shape)


__all__ = [
    "ALIVE", "training_set", "Trajectory", "trajectory", "stages", "first_visits", "climbs", "precedes", "seed_stages",
    "stage_summary", "longest_stage_before", "critical_n", "sequence",
    "PlateauPoint", "plateau_points", "alive_mask", "llc_at", "sample_cloud",
]
