r"""The patterning loop: a self-tuning regulator on the data distribution.

Repeat (Adam et al. 2026 §5.1): sample the posterior at the current weights → estimate
:math:`\mu` and :math:`\chi` → tracking error :math:`\delta\mu = \mu_{\rm goal} - \mu` →
:math:`\delta h = \chi^\dagger_\alpha \delta\mu` → :math:`h \leftarrow` reweight(:math:`h + s\,\delta h`)
→ train one *epoch* (``train.steps`` optimizer steps) on :math:`L_h` → repeat.

When χ is re-estimated is the schedule: :class:`Single` (once, then train on), :class:`Periodic`
(every ``every`` epochs) or :class:`EventTriggered` (when the weighted loss plateaus — the
post's adaptive controller, after Åström's event-triggered control).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Literal

import torch
from torch import Tensor, nn
from tqdm import tqdm

from .checks import check_finite, check_int, check_number, check_tensor, model_device
from .patterning import patterning_step, reweight
from .sgld import (Batch, Observables, Params, PerSampleLoss, SGLDConfig, _check_data, _check_obs, _check_params, _check_weights,
                   _per_sample, sample)
from .susceptibility import susceptibilities
from .training import TrainConfig, train


@dataclass(frozen=True)
class Target:
    """Goal values of the observables; ``mask`` marks the constrained ones (others are free)."""

    values: Tensor  # (K,) μ_goal
    mask: Tensor | None = None  # (K,) bool; None = all constrained
    tol: float = 0.05  # reached when every constrained |φ(w) − goal| < tol

    def __post_init__(self) -> None:
        check_tensor("Target.values", self.values)
        if self.values.ndim != 1 or not self.values.numel():
            raise ValueError(f"Target.values must have shape (K,), one goal per observable, got {tuple(self.values.shape)}")
        check_finite("Target.values", self.values, "every goal must be a finite number (mask=False leaves one free)")
        if self.mask is not None:
            k = self.values.shape[0]
            if check_tensor("Target.mask", self.mask).shape != (k,):
                raise ValueError(f"Target.mask must have shape ({k},), got {tuple(self.mask.shape)}")
            if self.mask.dtype != torch.bool:
                raise TypeError(f"Target.mask must be a bool tensor, got {self.mask.dtype}")
            if not self.mask.any():
                raise ValueError("Target.mask is all False: it constrains no observable")
        check_number("Target.tol", self.tol, positive=True)

    def rows(self) -> Tensor:
        """Indices of the constrained observables, on the device of ``values``."""
        if self.mask is None:
            return torch.arange(self.values.shape[0], device=self.values.device)
        return self.mask.nonzero().squeeze(1)

    def error(self, phi: Tensor) -> float:
        """max |φ − goal| over the constrained observables."""
        r = self.rows()
        return float((phi[r] - self.values[r].to(phi)).abs().max())


@dataclass(frozen=True)
class Single:
    """Estimate χ once, at epoch 0."""

    def due(self, epoch: int, since: int, weighted_losses: list[float]) -> bool:
        return epoch == 0


@dataclass(frozen=True)
class Periodic:
    """Re-estimate χ every ``every`` epochs."""

    every: int = 10  # epochs between estimates

    def due(self, epoch: int, since: int, weighted_losses: list[float]) -> bool:
        return epoch == 0 or since >= self.every


@dataclass(frozen=True)
class EventTriggered:
    """Re-estimate χ when the weighted loss has plateaued: its relative change over the last
    ``window`` epochs is below ``rel_tol`` (and at least ``min_gap`` epochs have passed)."""

    window: int = 3  # epochs over which the plateau is judged
    rel_tol: float = 1e-2  # relative change counted as a plateau
    min_gap: int = 2  # minimum epochs between estimates
    max_gap: int | None = None  # force an estimate after this many epochs (None: never)

    def due(self, epoch: int, since: int, weighted_losses: list[float]) -> bool:
        if epoch == 0 or (self.max_gap is not None and since >= self.max_gap):
            return True
        if since < max(self.min_gap, self.window) or len(weighted_losses) <= self.window:
            return False
        old, new = weighted_losses[-1 - self.window], weighted_losses[-1]
        return abs(old - new) <= self.rel_tol * max(abs(old), 1e-12)


Schedule = Single | Periodic | EventTriggered


@dataclass(frozen=True)
class PatterningTrajectory:
    weights: Tensor  # (epochs + 1, n) h before each epoch, and the final h
    point_obs: Tensor  # (epochs + 1, K) φ(w) at the start of each epoch and at the end
    weighted_loss: Tensor  # (epochs,) L_h after each epoch
    natural_loss: Tensor  # (epochs,) L under the natural weights after each epoch
    estimate_epochs: list[int]  # epochs at which χ was estimated
    mu: Tensor  # (estimates, K) posterior means at the estimates
    predicted_dmu: Tensor  # (estimates, K_target) χ·dh at the estimates
    params: Params  # final parameters
    snapshots: list[tuple[int, Params]] = field(default_factory=list)  # (epoch, params)
    reached_epoch: int | None = None  # first epoch after which the target was met

    @property
    def num_estimates(self) -> int:
        return len(self.estimate_epochs)


def pattern(
    model: nn.Module,
    per_sample_loss: PerSampleLoss,
    data: Batch,
    *,
    observables: Observables,
    target: Target,
    sgld: SGLDConfig,
    train_config: TrainConfig,
    schedule: Schedule = EventTriggered(),
    h0: Tensor | None = None,
    natural_weights: Tensor | None = None,
    scale: float = 1.0,
    ridge: float = 1e-3,
    method: Literal["additive", "exponential"] = "additive",
    max_epochs: int = 100,
    stop_when_reached: bool = True,
    params: Params | None = None,
    snapshot_every: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> PatterningTrajectory:
    """Run the patterning loop from ``params`` (default: the model's own) and record it.

    Everything runs on the model's device: ``data``, ``h0``, ``natural_weights`` and ``params``
    must live there (the target's values are moved there). ``target`` needs one goal per
    observable (``mask`` leaves some free).
    """
    device = model_device(model)
    n = _check_data(data, device=device)
    h, h_nat = _initial_weights(h0, natural_weights, n, device)
    w = {k: v.clone() for k, v in _check_params(model, params, device).items()}
    _check_loop_args(observables, scale, ridge, method, max_epochs, snapshot_every)
    point = lambda p: _check_obs(observables({k: v[None] for k, v in p.items()}), 1, device)[0].detach()
    target = _target_for(target, point(w), device)
    weights, obs, wl, nl, est, mus, preds, snaps = [h], [point(w)], [], [], [], [], [], []
    reached, since = None, 0
    for epoch in tqdm(range(max_epochs), desc="patterning", disable=not progress):
        if schedule.due(epoch, since, torch.stack(wl).tolist() if wl else []):  # one sync per epoch
            s = sample(model, per_sample_loss, data, config=sgld, weights=h, observables=observables, params=w, seed=seed + epoch, progress=False)
            sus = susceptibilities(s)
            rows = target.rows()
            step = patterning_step(sus.chi[rows].float(), target.values[rows] - sus.mu[rows].float(), ridge=ridge)
            h = reweight(h, step.dh.float(), scale, method)
            est.append(epoch), mus.append(sus.mu.float()), preds.append(step.dmu_pred.float())
            since = 0
        r = train(model, per_sample_loss, data, config=train_config, params={k: v[None] for k, v in w.items()}, weights=h, seed=seed + epoch, progress=False)
        w = r.seed(0)
        since += 1
        wl.append(r.loss_trace[0, -1])
        nl.append(_weighted_loss(model, per_sample_loss, data, w, h_nat))
        weights.append(h)
        obs.append(point(w))
        if snapshot_every and (epoch + 1) % snapshot_every == 0:
            snaps.append((epoch + 1, w))
        if reached is None and target.error(obs[-1]) < target.tol:
            reached = epoch + 1
            if stop_when_reached:
                break
    return PatterningTrajectory(
        weights=torch.stack(weights), point_obs=torch.stack(obs), weighted_loss=torch.stack(wl), natural_loss=torch.stack(nl),
        estimate_epochs=est, mu=torch.stack(mus), predicted_dmu=torch.stack(preds), params=w, snapshots=snaps, reached_epoch=reached,
    )


def _initial_weights(h0: Tensor | None, natural_weights: Tensor | None, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """The starting weights h (default ones) and the natural weights (default h), checked, on ``device``."""
    for name, given in (("h0", h0), ("natural_weights", natural_weights)):
        if given is not None:
            _check_weights(given, n, device, name=name)
    h = torch.ones(n, device=device) if h0 is None else torch.as_tensor(h0, device=device).clone()
    return h, h.clone() if natural_weights is None else torch.as_tensor(natural_weights, device=device)


def _check_loop_args(observables, scale: float, ridge: float, method: str, max_epochs: int, snapshot_every: int | None) -> None:
    if not callable(observables):
        raise TypeError(f"observables must be a function φ(params) -> (chains, K), got {type(observables).__name__}")
    check_number("scale", scale)
    check_number("ridge", ridge, nonnegative=True)
    if method not in ("additive", "exponential"):
        raise ValueError(f"method must be 'additive' or 'exponential', got {method!r}")
    check_int("max_epochs", max_epochs, low=1)
    if snapshot_every is not None:
        check_int("snapshot_every (an int, or None)", snapshot_every, low=1)


def _target_for(target: Target, phi: Tensor, device: torch.device) -> Target:
    """``target`` on ``device``, after checking it has one goal per observable (``phi`` (K,) at w*)."""
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, got {type(target).__name__}")
    if target.values.shape != phi.shape:
        raise ValueError(f"target has {target.values.shape[0]} values but the observables return K = {phi.shape[0]}: give one "
                         "goal per observable (mask=False leaves one free)")
    mask = None if target.mask is None else target.mask.to(device)
    return replace(target, values=target.values.to(device), mask=mask)


def _weighted_loss(model: nn.Module, per_sample_loss: PerSampleLoss, data: Batch, params: Params, h: Tensor) -> Tensor:
    with torch.no_grad():
        per = _per_sample(model, per_sample_loss, params, dict(model.named_buffers()), data)
    return (h * per).sum() / h.sum()
