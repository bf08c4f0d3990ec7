r"""SGLD on the localized tempered posterior, all chains in one vectorized step.

The target is

.. math::
    p_h(w) \propto \exp\!\Big(-n\beta\, L_h(w) - \tfrac{\gamma}{2}\lVert w - w^*\rVert^2\Big),
    \qquad L_h(w) = \frac{\sum_i h_i\, \ell_i(w)}{\sum_i h_i},

with per-sample weights :math:`h` (``h = 1`` is the natural distribution). One step is

.. math::
    \Delta w = -\frac{\varepsilon}{2}\big(n\beta\,\nabla L_h(w) + \gamma (w - w^*)\big) + \sqrt{\varepsilon}\,\xi,
    \qquad \xi \sim \mathcal N(0, I),

(Welling & Teh 2011; the localized form of Lau et al. 2023). The loop is thin: it picks each
chain's minibatch, evaluates the loss of every chain at once (``torch.func.vmap`` of
``functional_call`` over a leading chain dimension of the parameters, or the model's own chain
dimension when it declares ``chain_batched``; one backward pass of the chain-summed loss gives
every chain's own gradient), calls :func:`sgld_step`, and hands each recorded
draw to :class:`~patterning_core.stats.DrawStats`, which keeps running sums instead of traces.
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Callable, Literal, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from tqdm import tqdm

from .checks import check_finite, check_int, check_number, check_tensor, model_device
from .devices import check_device
from .stats import DrawStats

Batch = tuple[Tensor, ...]
PerSampleLoss = Callable[[Callable[..., Tensor], Batch], Tensor]
Observables = Callable[[dict[str, Tensor]], Tensor]
Params = dict[str, Tensor]


class SGLDDivergenceError(RuntimeError):
    """SGLD produced a non-finite or exploding loss."""


@dataclass(frozen=True)
class SGLDConfig:
    """Hyperparameters of one SGLD run (devinterp's names in brackets)."""

    step_size: float = 1e-3  # ε [lr]: smaller is more accurate and mixes slower
    nbeta: float = 30.0  # nβ: inverse temperature times sample size
    gamma: float = 100.0  # γ [localization]: pull towards w*; 0 = no localization
    num_chains: int = 4  # independent chains, advanced together as one batch
    num_draws: int = 200  # recorded draws per chain, after burn-in
    num_burnin: int = 100  # steps discarded before the first draw (never in any estimate)
    thin: int = 1  # steps between recorded draws
    batch_size: int | None = None  # None: full batch; else each chain draws its own minibatch
    blowup: float | None = None  # divergence if nβ(L - L*) exceeds this; None: 1e3·max(1, d)

    def __post_init__(self) -> None:
        """Every field finite, of its type (ints for counts) and of its sign."""
        check_number("SGLDConfig.step_size", self.step_size, positive=True)
        check_number("SGLDConfig.nbeta", self.nbeta, positive=True)
        check_number("SGLDConfig.gamma", self.gamma, nonnegative=True)
        for name in ("num_chains", "num_draws", "thin"):
            check_int(f"SGLDConfig.{name}", getattr(self, name), low=1)
        check_int("SGLDConfig.num_burnin", self.num_burnin, low=0)
        if self.batch_size is not None:
            check_int("SGLDConfig.batch_size (an int, or None for the full batch)", self.batch_size, low=1)
        if self.blowup is not None:
            check_number("SGLDConfig.blowup (a number, or None for the default)", self.blowup, positive=True)

    @property
    def num_steps(self) -> int:
        return self.num_burnin + self.num_draws * self.thin


@dataclass(frozen=True)
class Samples:
    """What one SGLD run recorded. Estimators (:func:`~patterning_core.llc.llc`,
    :func:`~patterning_core.susceptibility.susceptibilities`) are pure functions of it."""

    config: SGLDConfig
    loss_trace: Tensor  # (chains, draws) training loss L_h at each recorded draw
    anchor_loss: float  # L_h(w*)
    obs_trace: Tensor | None  # (chains, draws, K) observables, if kept
    probe_trace: Tensor | None  # (chains, draws, P) probe losses, if kept
    stats: DrawStats  # running sums of observables and probe losses, per chain
    weights_sum: float  # Σ_i h_i
    num_sampled: int  # number of sampled (unfrozen) scalar parameters
    observable_is_loss: bool  # True when no observables were given (φ = L)

    @property
    def beta_eff(self) -> float:
        """β in χ = −β·Cov[φ, ℓ_i − L]: nβ / Σ_i h_i (= β for h = 1)."""
        return self.config.nbeta / self.weights_sum


def sgld_step(
    w: Tensor, grad: Tensor, anchor: Tensor, noise: Tensor, *, step_size: float, nbeta: float, gamma: float
) -> Tensor:
    r"""One SGLD update of a parameter tensor (pure; any leading chain dimension).

    .. math::
        w' = w - \frac{\varepsilon}{2}\big(n\beta\,\nabla L_h(w) + \gamma (w - w^*)\big) + \sqrt{\varepsilon}\,\xi

    Args:
        w: current position, e.g. ``(chains, *shape)``.
        grad: :math:`\nabla L_h(w)`, same shape as ``w``.
        anchor: :math:`w^*`, broadcastable to ``w``.
        noise: :math:`\xi`, standard normal, same shape as ``w`` (zeros give a gradient step).
    """
    drift = nbeta * grad + gamma * (w - anchor)  # the one place nβ and γ enter
    return w - 0.5 * step_size * drift + math.sqrt(step_size) * noise


def sample(
    model: nn.Module,
    per_sample_loss: PerSampleLoss,
    data: Batch,
    *,
    config: SGLDConfig = SGLDConfig(),
    weights: Tensor | None = None,
    observables: Observables | None = None,
    probe: Batch | None | Literal[False] = None,
    restrict: Sequence[str] | Mapping[str, Tensor] | None = None,
    params: Mapping[str, Tensor] | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
    eval_batch_size: int | None = None,
    keep_probe_traces: bool = False,
    keep_obs_traces: bool = True,
    anchor_loss: float | None = None,
    progress: bool = True,
) -> Samples:
    r"""Draw from the localized tempered posterior around ``params`` (default: the model's own).

    Args:
        model: any ``nn.Module``; its forward runs through ``functional_call`` vmapped over chains.
            A model whose class sets ``chain_batched = True`` promises that its forward, under
            ``per_sample_loss``, takes parameters with a leading chain dimension and inputs with
            or without it (``(chains, B, ...)`` or ``(B, ...)``) and returns per-sample losses
            ``(chains, B, ...)``; then no ``vmap`` is used (the same numbers, less overhead for
            small models; e.g. :class:`~patterning_core.tms.model.TMS`).
        per_sample_loss: ``f(model_fn, batch) -> (B, ...)``; trailing dims are averaged for the
            training loss and flattened for probe losses.
        data: tuple of tensors with a common leading sample dimension ``n``.
        weights: per-sample weights ``h`` of shape ``(n,)`` (non-negative, not all zero).
        observables: ``φ(params) -> (chains, K)`` on parameters stacked over chains; ``None``
            records the training loss as the single observable (``K = 1``).
        probe: batch whose per-sample losses :math:`\ell_i` are recorded at every draw (default
            ``data``); ``False`` records none (an LLC-only run: no probe pass per draw, and
            :func:`~patterning_core.susceptibility.susceptibilities` refuses the result).
        restrict: sample only these parameters (names), or parameter → boolean mask
            broadcastable to ``(chains, *shape)``; all others stay at ``w*``.
        seed / generator: randomness; the same seed gives the same numbers on CPU.
        eval_batch_size: chunk size of the no-gradient passes -- the anchor loss over ``data`` and
            the probe losses at each draw; ``None``: ``config.batch_size`` for the anchor (the
            whole data set in full-batch mode) and the whole probe at once.
        anchor_loss: :math:`L_h(w^*)` if known; otherwise computed exactly on ``data``.

    Bad input is refused before the first step, by name: data, weights (and their sum), probe,
    parameters and :math:`L_h(w^*)` must be finite, and every tensor and the generator must live on
    the model's device (:class:`~patterning_core.devices.DeviceMismatchError` names both). So an
    :class:`SGLDDivergenceError` always means the chains themselves blew up.
    """
    device, anchor, n, h, probe = _validate_inputs(model, per_sample_loss, data, config, weights, observables, probe, params)
    gen = _generator(generator, seed, device)
    _check_batch_sizes(config.batch_size, eval_batch_size, n)
    c = config.num_chains

    masks = _masks(restrict, anchor, c)
    buffers = dict(model.named_buffers())
    frozen = {k: v for k, v in anchor.items() if k not in masks}
    w = {k: anchor[k].expand(c, *anchor[k].shape).clone() for k in masks}  # (chains, *shape)
    num_sampled = _num_sampled(masks, anchor, c)
    step_masks = {k: None if m.ndim == 0 and bool(m) else m for k, m in masks.items()}  # None: the whole tensor moves

    frozen_c = {k: v.expand(c, *v.shape) for k, v in frozen.items()}  # (chains, *shape), views
    native = bool(getattr(model, "chain_batched", False))  # the model takes the chain dimension itself: no vmap
    fixed = frozen_c if native else frozen

    def weighted_loss(wc: Params, batch: Batch, hb: Tensor, h_norm: Tensor) -> Tensor:
        per = _per_sample(model, per_sample_loss, {**fixed, **wc}, buffers, batch, chains=native)  # (B,) | (chains, B)
        return (hb * per).sum(-1) / h_norm

    def probe_losses(wc: Params, batch: Batch) -> Tensor:
        return _per_sample(model, per_sample_loss, {**fixed, **wc}, buffers, batch, flat=True, chains=native)  # (P,) | (chains, P)

    full = config.batch_size is None
    if native:
        loss_fn, probe_fn = weighted_loss, probe_losses
    else:
        loss_fn = vmap(weighted_loss, in_dims=(0, None if full else 0, None if full else 0, None))
        probe_fn = vmap(probe_losses, in_dims=(0, None))

    _check_loss_runs(model, per_sample_loss, anchor, buffers, data, probe)
    if anchor_loss is None:
        anchor_loss = _anchor_loss(model, per_sample_loss, anchor, buffers, data, h, eval_batch_size or config.batch_size)
    _check_anchor_loss(anchor_loss)
    blowup = config.blowup if config.blowup is not None else 1e3 * max(1, num_sampled)

    stats: DrawStats | None = None
    loss_trace, obs_trace, probe_trace = [], [], []
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    steps = tqdm(range(config.num_steps), desc="SGLD", disable=not progress, leave=False)
    for step in steps:
        if full:
            batch, hb, h_norm = data, h, h.sum()
        else:
            idx = torch.randint(n, (c, config.batch_size), generator=gen, device=device)  # (chains, B)
            batch, hb, h_norm = tuple(t[idx] for t in data), h[idx], config.batch_size * h.mean()
        w = {name: v.requires_grad_(True) for name, v in w.items()}
        loss = loss_fn(w, batch, hb, h_norm)  # (chains,); chains are independent, so
        grads = dict(zip(w, torch.autograd.grad(loss.sum(), list(w.values()))))  # ∇ of the sum = per-chain ∇L_h
        loss = loss.detach()

        bad = ~torch.isfinite(loss) | (config.nbeta * (loss - anchor_loss) > blowup)
        first_bad = torch.where((first_bad < 0) & bad.any(), step, first_bad)
        if step % 25 == 0 or step == config.num_steps - 1:
            _raise_if_diverged(int(first_bad), loss, config)

        k = step - config.num_burnin
        if k >= 0 and k % config.thin == 0:
            with torch.no_grad():
                stacked = {**frozen_c, **{k: v.detach() for k, v in w.items()}}
                phi = loss[:, None] if observables is None else _check_obs(observables(stacked), c, device)
                if probe is False:
                    ell = loss.new_zeros(c, 0)  # (chains, 0): no probe recorded
                else:
                    ell = torch.cat([probe_fn(stacked, chunk) for chunk in _chunks(probe, eval_batch_size)], dim=1)  # (chains, P)
            stats = _start_stats(phi, ell, loss) if stats is None else stats
            stats.update(phi, ell, loss)
            loss_trace.append(loss.detach())
            if keep_obs_traces:
                obs_trace.append(phi.detach())
            if keep_probe_traces:
                probe_trace.append(ell.detach())

        noise = {name: torch.randn(v.shape, generator=gen, device=device, dtype=v.dtype) for name, v in w.items()}
        w = {name: _masked_step(v, grads[name], anchor[name], noise[name], step_masks[name], config) for name, v in w.items()}

    return Samples(
        config=config,
        loss_trace=torch.stack(loss_trace, dim=1),
        anchor_loss=float(anchor_loss),
        obs_trace=torch.stack(obs_trace, dim=1) if keep_obs_traces else None,
        probe_trace=torch.stack(probe_trace, dim=1) if keep_probe_traces else None,
        stats=stats,
        weights_sum=float(h.sum()),
        num_sampled=num_sampled,
        observable_is_loss=observables is None,
    )


# ---------------------------------------------------------------------------- helpers


def _masked_step(w: Tensor, grad: Tensor, anchor: Tensor, noise: Tensor, mask: Tensor | None, config: SGLDConfig) -> Tensor:
    """:func:`sgld_step` where ``mask`` is True, ``w`` unchanged elsewhere (``None``: everywhere)."""
    new = sgld_step(w, grad, anchor, noise, step_size=config.step_size, nbeta=config.nbeta, gamma=config.gamma)
    return (new if mask is None else torch.where(mask, new, w)).detach()


def _per_sample(model: nn.Module, per_sample_loss: PerSampleLoss, params: Params, buffers: Params, batch: Batch,
                flat: bool = False, chains: bool = False) -> Tensor:
    """Per-sample losses (B,) — or (B·rest,) with ``flat`` — of one chain's parameters; with
    ``chains`` (a ``chain_batched`` model given stacked parameters) (chains, B) — or (chains, B·rest)."""
    per = per_sample_loss(_model_fn(model, params, buffers), batch)
    lead = per.shape[: 1 + chains]  # (B,) or (chains, B)
    return per.reshape(*lead[:-1], -1) if flat else per.reshape(*lead, -1).mean(dim=-1)


def _model_fn(model: nn.Module, params: Params, buffers: Params) -> Callable[..., Tensor]:
    """The model's forward at ``params`` (and ``buffers``)."""

    def model_fn(*args, **kwargs):
        return functional_call(model, (params, buffers), args, kwargs)

    return model_fn


def _anchor_loss(model, per_sample_loss, anchor, buffers, data, h, batch_size) -> float:
    """L_h(w*) on the whole data set, in chunks of ``batch_size``."""
    with torch.no_grad():
        per = torch.cat([_per_sample(model, per_sample_loss, anchor, buffers, b) for b in _chunks(data, batch_size)])
    return float((h * per).sum() / h.sum())


def _chunks(batch: Batch, size: int | None):
    n = batch[0].shape[0]
    size = n if size is None else size
    for start in range(0, n, size):
        yield tuple(t[start : start + size] for t in batch)


def _validate_inputs(model, per_sample_loss, data, config, weights, observables, probe, params):
    """Everything :func:`sample` can check before its first step; returns
    ``(device, anchor, n, h, probe)`` with ``probe`` resolved (``None`` → ``data``)."""
    device = model_device(model)
    if not isinstance(config, SGLDConfig):
        raise TypeError(f"config must be an SGLDConfig, got {type(config).__name__}")
    for name, fn in (("per_sample_loss", per_sample_loss), ("observables", observables)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
    anchor = _check_params(model, params, device)
    n = _check_data(data, device=device)
    h = _check_weights(weights, n, device)
    probe = data if probe is None else probe
    if probe is not False and probe is not data:
        _check_data(probe, name="probe", device=device)
    return device, anchor, n, h, probe


def _check_params(model: nn.Module, params: Mapping[str, Tensor] | None, device: torch.device) -> Params:
    """The anchor w* (default: the model's own parameters), detached: names the model knows, its
    shapes (one set, not stacked over seeds), its device, finite values."""
    own = dict(model.named_parameters())
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping name -> tensor, got {type(params).__name__}")
    for k, v in (params or own).items():
        name = f"params[{k!r}]" if params else f"the model's parameter {k!r}"
        if k not in own:
            raise KeyError(f"params names unknown parameter {k!r}; the model's parameters are {sorted(own)}")
        check_tensor(name, v)
        if v.shape != own[k].shape:
            raise ValueError(f"{name} has shape {tuple(v.shape)} but the model's {k!r} has shape {tuple(own[k].shape)} "
                             "(one set of parameters, not a stack over seeds: e.g. TrainResult.seed(s))")
        check_device(name, v.device, device)
        check_finite(name, v.detach(), "the anchor w* must be finite")
    return {k: v.detach() for k, v in (params or own).items()}


def _check_data(data: Batch, name: str = "data", device: torch.device | None = None) -> int:
    """The number of samples ``n`` of a tuple of tensors; with ``device``, also refuses tensors on
    another device and non-finite floating entries."""
    if not isinstance(data, tuple) or not data or not all(isinstance(t, Tensor) for t in data):
        raise TypeError(f"{name} must be a non-empty tuple of tensors, got {type(data).__name__}")
    sizes = [t.shape[0] if t.ndim else None for t in data]
    if None in sizes:
        raise ValueError(f"{name} tensors need a leading sample dimension, got shapes {[tuple(t.shape) for t in data]}")
    if len(set(sizes)) != 1:
        raise ValueError(f"{name} tensors must share their leading (sample) dimension, got shapes {[tuple(t.shape) for t in data]}")
    if sizes[0] == 0:
        raise ValueError(f"{name} has no samples: its leading dimension n is 0")
    for i, t in enumerate(data if device is not None else ()):
        check_device(f"{name}[{i}]", t.device, device)
        check_finite(f"{name}[{i}]", t, "every sample enters the loss (one of weight 0 as 0·NaN = NaN); drop or repair it")
    return sizes[0]


def _check_weights(weights: Tensor | None, n: int, device: torch.device, name: str = "weights", seeds: int | None = None) -> Tensor:
    """Per-sample weights h (n,) — or, given ``seeds``, (n,) or (seeds, n) — on ``device``:
    finite, non-negative, each row with a finite positive sum."""
    if weights is None:
        return torch.ones(n, device=device)
    if isinstance(weights, Tensor):
        check_device(name, weights.device, device)
    h = torch.as_tensor(weights, dtype=torch.get_default_dtype(), device=device)
    if h.shape not in ((n,), (seeds, n)):
        raise ValueError(f"{name} must have shape ({n},){'' if seeds is None else f' or ({seeds}, {n})'} to match data, got {tuple(h.shape)}")
    check_finite(name, h, f"{name} must be finite and non-negative")
    if (h < 0).any():
        raise ValueError(f"{name} must be finite and non-negative, got {int((h < 0).sum())} negative entries (min {float(h.min()):.3g})")
    total = h.sum(-1)  # () | (seeds,)
    if not torch.isfinite(total).all():
        raise ValueError(f"{name} sum to {total.max().item()} in {h.dtype} (the sum overflows): rescale them, e.g. {name} / {name}.max()")
    if (total <= 0).any():
        raise ValueError(f"{name} are all zero{'' if total.ndim == 0 else ' in some row'}: the weighted loss is undefined")
    return h


def _generator(generator: torch.Generator | None, seed: int, device: torch.device) -> torch.Generator:
    """The caller's generator (which must live on the model's device), or a fresh one seeded by ``seed``."""
    if generator is None:
        check_int("seed", seed, low=-(2**63))
        return torch.Generator(device=device).manual_seed(seed)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    check_device("generator", generator.device, device)
    return generator


def _check_batch_sizes(batch_size: int | None, eval_batch_size: int | None, n: int) -> None:
    """``eval_batch_size`` is a positive int or None; a ``batch_size`` above ``n`` is allowed, with a warning."""
    if eval_batch_size is not None:
        check_int("eval_batch_size (an int, or None)", eval_batch_size, low=1)
    if batch_size is not None and batch_size > n:
        warnings.warn(f"batch_size={batch_size} exceeds the n={n} samples: minibatches are drawn with replacement, so "
                      "each repeats samples; batch_size=None uses the full batch", stacklevel=3)


def _check_loss_runs(model: nn.Module, per_sample_loss: PerSampleLoss, anchor: Params, buffers: Params, data: Batch,
                     probe: Batch | Literal[False]) -> None:
    """``per_sample_loss`` runs at w* on the first two samples of ``data`` and of a separate ``probe``."""
    _check_loss_runs_on(model, per_sample_loss, anchor, buffers, data, "data")
    if probe is not False and probe is not data:
        _check_loss_runs_on(model, per_sample_loss, anchor, buffers, probe, "probe")


def _check_loss_runs_on(model: nn.Module, per_sample_loss: PerSampleLoss, anchor: Params, buffers: Params, batch: Batch, name: str) -> None:
    """Evaluate ``per_sample_loss`` on the first two samples of ``batch`` at w*, so that a batch the
    model cannot take fails here, by name, rather than as a bare shape error inside the loop."""
    head = tuple(t[:2] for t in batch)
    b = head[0].shape[0]
    try:
        with torch.no_grad():
            per = per_sample_loss(_model_fn(model, anchor, buffers), head)
    except Exception as e:  # noqa: BLE001 -- re-raised with the batch's name and shapes
        raise ValueError(f"per_sample_loss failed on {name} (its first {b} samples, shapes {[tuple(t.shape) for t in head]}) "
                         f"at w*: {type(e).__name__}: {e}") from e
    if not isinstance(per, Tensor) or per.ndim == 0 or per.shape[0] != b:
        got = tuple(per.shape) if isinstance(per, Tensor) else type(per).__name__
        raise ValueError(f"per_sample_loss must return per-sample losses of shape (B, ...); on {b} samples of {name} it returned {got}")


def _check_anchor_loss(anchor_loss: float) -> None:
    """L_h(w*), given or computed, must be a finite number before the first step."""
    if isinstance(anchor_loss, bool) or not isinstance(anchor_loss, numbers.Real):
        raise TypeError(f"anchor_loss must be a real number or None, got {type(anchor_loss).__name__}")
    if not math.isfinite(anchor_loss):
        raise ValueError(f"the anchor loss L(w*) = {anchor_loss} is not finite (passed as anchor_loss, or computed on the finite "
                         "data and weights: then the model's loss at w* is NaN or inf), so SGLD cannot start; check w* and the model")


def _masks(restrict, anchor: Params, chains: int) -> dict[str, Tensor]:
    """Boolean mask per sampled parameter, broadcastable to (chains, *shape)."""
    if restrict is None:
        return {k: torch.ones((), dtype=torch.bool, device=v.device) for k, v in anchor.items()}
    if isinstance(restrict, str):
        raise TypeError(f"restrict must be a list of parameter names or a mapping name -> mask, got the string {restrict!r}; "
                        f"did you mean restrict=[{restrict!r}]?")
    items = restrict.items() if isinstance(restrict, Mapping) else ((k, None) for k in restrict)
    masks = {}
    for name, mask in items:
        if name not in anchor:
            raise KeyError(f"restrict names unknown parameter {name!r}; parameters are {sorted(anchor)}")
        shape, device = anchor[name].shape, anchor[name].device
        if isinstance(mask, Tensor):
            check_device(f"restrict[{name!r}]", mask.device, device)
        mask = torch.ones((), dtype=torch.bool, device=device) if mask is None else torch.as_tensor(mask, device=device)
        if mask.dtype != torch.bool and not ((mask == 0) | (mask == 1)).all():
            raise ValueError(f"mask for {name!r} must be boolean (or 0/1), got {mask.dtype} values other than 0 and 1")
        mask = mask.bool()
        try:
            torch.broadcast_shapes(mask.shape, (chains, *shape))
        except RuntimeError:
            raise ValueError(f"mask for {name!r} has shape {tuple(mask.shape)}, not broadcastable to (chains, *shape) = {(chains, *shape)}") from None
        masks[name] = mask
    if not masks:
        raise ValueError("restrict selects no parameters")
    return masks


def _num_sampled(masks: dict[str, Tensor], anchor: Params, chains: int) -> int:
    """Sampled scalar entries of chain 0 (the LLC's d), counting broadcast masks without expanding
    them; warns when a chain samples nothing (it stays at w*: its λ̂ is 0 and its χ is 0)."""
    counts = 0
    for k, m in masks.items():
        full = (chains, *anchor[k].shape)
        m = m.reshape((1,) * (len(full) - m.ndim) + tuple(m.shape))  # (1 | chains, ...) aligned with full
        repeat = math.prod(full[1:]) // math.prod(m.shape[1:])  # entries each mask entry stands for
        counts = counts + (m.long() if m.ndim == 1 else m.sum(dim=tuple(range(1, m.ndim)))) * repeat  # (1 | chains,)
    counts = counts.expand(chains).tolist()
    empty = [i for i, k in enumerate(counts) if k == 0]
    if empty:
        warnings.warn(f"restrict samples no parameter entry in chain(s) {empty[:8]}{'...' if len(empty) > 8 else ''}: every "
                      "mask is all False there, so those chains stay at w* (their λ̂ is 0 and their χ is 0)", stacklevel=3)
    return counts[0]


def _check_obs(phi: Tensor, chains: int, device: torch.device) -> Tensor:
    if not isinstance(phi, Tensor):
        raise TypeError(f"observables must return a tensor of shape (chains, K) = ({chains}, K), got {type(phi).__name__}")
    if phi.ndim != 2 or phi.shape[0] != chains:
        raise ValueError(f"observables must return shape (chains, K) = ({chains}, K), got {tuple(phi.shape)}")
    check_device("the observables' output", phi.device, device)
    return phi


def _start_stats(phi: Tensor, ell: Tensor, loss: Tensor) -> DrawStats:
    """Running sums started at the first draw, which must be finite (else μ and χ would be NaN)."""
    check_finite("the observables' output at the first draw", phi, "μ and χ would be NaN; check observables")
    check_finite("the probe losses at the first draw", ell, "χ would be NaN; check the probe and per_sample_loss")
    return DrawStats.start(phi, ell, loss)


def _raise_if_diverged(first_bad: int, loss: Tensor, config: SGLDConfig) -> None:
    if first_bad < 0:
        return
    raise SGLDDivergenceError(
        f"SGLD diverged at step {first_bad} (loss now {loss.tolist()[:4]}...): step size ε={config.step_size}, "
        f"nβ={config.nbeta}, γ={config.gamma}. Lower the step size ε, or raise γ to localize more strongly."
    )
