r"""Re-weighted training, many seeds as one batched computation.

Each seed ``s`` minimizes its own weighted loss

.. math::
    L^{(s)}_h(w_s) = \frac{\sum_i h_{s,i}\,\ell_i(w_s)}{\sum_i h_{s,i}}.

The parameters of all seeds are stacked along a leading dimension and the forward runs through
``torch.func.functional_call`` vmapped over it. The optimizer sees :math:`\sum_s L^{(s)}`; since
its gradient with respect to :math:`w_s` is :math:`\nabla L^{(s)}` and SGD/Adam/AdamW act
elementwise, every seed follows exactly the trajectory it would follow alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Mapping, NamedTuple, Sequence

import torch
from torch import Tensor, nn
from torch.func import vmap
from tqdm import tqdm

from .checks import check_finite, check_int, check_number, check_tensor, model_device
from .devices import check_device
from .sgld import Batch, Params, PerSampleLoss, SGLDConfig, SGLDDivergenceError, _check_batch_sizes, _check_data, _check_weights, _per_sample, sgld_step


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer settings for :func:`train`."""

    steps: int = 1000  # optimizer steps
    lr: float = 1e-3  # learning rate
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"  # elementwise optimizers keep seeds independent
    batch_size: int | None = None  # None: full batch; else each seed draws its own minibatch
    weight_decay: float = 0.0  # L2 (sgd, adam) or decoupled (adamw) decay
    momentum: float = 0.0  # SGD momentum
    log_every: int = 1  # record the loss every this many steps
    shared_batches: bool = False  # all seeds draw the same minibatches (common random numbers across conditions)

    def __post_init__(self) -> None:
        """Every field finite, of its type (ints for counts) and of its sign."""
        check_int("TrainConfig.steps", self.steps, low=0)
        check_number("TrainConfig.lr", self.lr, positive=True)
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"TrainConfig.optimizer must be 'sgd', 'adam' or 'adamw', got {self.optimizer!r}")
        if self.batch_size is not None:
            check_int("TrainConfig.batch_size (an int, or None for the full batch)", self.batch_size, low=1)
        check_number("TrainConfig.weight_decay", self.weight_decay, nonnegative=True)
        check_number("TrainConfig.momentum", self.momentum, nonnegative=True)
        check_int("TrainConfig.log_every", self.log_every, low=1)
        if not isinstance(self.shared_batches, bool):
            raise TypeError(f"TrainConfig.shared_batches must be a bool, got {type(self.shared_batches).__name__}")


@dataclass(frozen=True)
class TrainResult:
    params: Params  # name -> (seeds, *shape), final parameters
    loss_trace: Tensor  # (seeds, logged) weighted training loss
    logged_steps: Tensor  # (logged,) step index of each logged loss
    checkpoints: list[tuple[int, Params]]  # (step, params) every checkpoint_every steps, incl. step 0
    optimizer_state: dict[str, dict[str, Tensor]] = field(default_factory=dict)  # name -> final optimizer state (pass back to resume)

    def seed(self, s: int) -> Params:
        """The final parameters of seed ``s`` (an anchor for :func:`~patterning_core.sgld.sample`)."""
        return {k: v[s] for k, v in self.params.items()}


def init_params(factory: Callable[[], nn.Module], seeds: Sequence[int]) -> Params:
    """Stack the parameters of ``factory()`` built under each seed: name -> (seeds, *shape).

    The global RNG (the CPU's and every CUDA device's) is forked, so the caller's random state is untouched.
    """
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable) or not (seeds := list(seeds)):
        raise ValueError(f"seeds must be a non-empty sequence of ints, got {seeds!r}")
    for s in seeds:
        check_int("each seed", s, low=-(2**63))
    models = []
    for s in seeds:
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            torch.manual_seed(int(s))
            models.append(factory())
    return {k: torch.stack([dict(m.named_parameters())[k].detach() for m in models]) for k, _ in models[0].named_parameters()}


def train(
    model: nn.Module,
    per_sample_loss: PerSampleLoss,
    data: Batch,
    *,
    config: TrainConfig = TrainConfig(),
    params: Params | None = None,
    weights: Tensor | None = None,
    seed: int = 0,
    checkpoint_every: int | None = None,
    optimizer_state: Mapping[str, Mapping[str, Tensor]] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train stacked parameters ``params`` (name -> (seeds, *shape)) on the weighted loss.

    Args:
        model: module whose forward is used (its own parameters are not modified).
        params: initial parameters stacked over seeds (see :func:`init_params`); default: the
            model's own parameters as a single seed.
        weights: ``(n,)`` shared by all seeds or ``(seeds, n)`` one row per seed; default ones.
        seed: seeds the minibatch draws (each seed draws its own minibatches unless
            ``config.shared_batches``).
        optimizer_state: resume the optimizer: parameter name -> its per-parameter state (e.g.
            AdamW's ``step``, ``exp_avg``, ``exp_avg_sq``), tensors shaped like the parameter
            (shared by all seeds) or stacked over seeds.

    Bad input is refused before the first step, by name (data, weights, parameters on the model's
    device and finite); a loss that stops being finite, on any step including the last, raises
    ``FloatingPointError``.
    """
    device = model_device(model)
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    n = _check_data(data, device=device)
    params = _check_stacked_params(model, params, device)
    num_seeds = next(iter(params.values())).shape[0]
    h = _check_weights(weights, n, device, seeds=num_seeds)
    _check_batch_sizes(config.batch_size, None, n)
    check_int("seed", seed, low=-(2**63))
    if checkpoint_every is not None:
        check_int("checkpoint_every (an int, or None)", checkpoint_every, low=1)
    h = h.expand(num_seeds, n)  # (seeds, n)
    buffers = dict(model.named_buffers())
    leaves = {k: v.detach().clone().to(device).requires_grad_(True) for k, v in params.items()}
    opt = _optimizer(config, list(leaves.values()))
    if optimizer_state is not None:
        for k, leaf in leaves.items():
            if k not in optimizer_state:
                raise KeyError(f"optimizer_state has no entry for parameter {k!r}; it has {sorted(optimizer_state)}")
            st = optimizer_state[k]
            opt.state[leaf] = {n: (v.detach().clone().to(device) if v.dim() == 0 else v.detach().to(device).expand_as(leaf).clone())
                               for n, v in st.items()}
    gen = torch.Generator(device=device).manual_seed(seed)
    full = config.batch_size is None
    loss_fn = _seeds_loss(model, per_sample_loss, buffers, full)
    losses, logged, checkpoints = [], [], []
    for step in tqdm(range(config.steps + 1), desc="train", disable=not progress, leave=False):
        if checkpoint_every and step % checkpoint_every == 0:
            checkpoints.append((step, {k: v.detach().clone() for k, v in leaves.items()}))
        batch, hb = _seed_batches(data, h, config.batch_size, gen, config.shared_batches)
        per_seed = loss_fn(leaves, batch, hb)  # (seeds,)
        if step % config.log_every == 0:
            losses.append(per_seed.detach())
            logged.append(step)
        if not torch.isfinite(per_seed).all():
            _raise_not_finite(per_seed, step, config)
        if step == config.steps:
            break
        opt.zero_grad(set_to_none=True)
        per_seed.sum().backward()
        opt.step()
    return TrainResult(
        params={k: v.detach() for k, v in leaves.items()},
        loss_trace=torch.stack(losses, dim=1),
        logged_steps=torch.tensor(logged, device=device),
        checkpoints=checkpoints,
        optimizer_state={k: {n: v.detach().clone() for n, v in opt.state[leaf].items()} for k, leaf in leaves.items()},
    )


class LangevinResult(NamedTuple):
    """Where :func:`langevin` left every seed."""

    params: Params  # name -> (seeds, *shape), the last position of every seed's chain
    loss_trace: Tensor  # (seeds, steps + 1) minibatch loss L_h before each step (the last: after the final step)


def langevin(
    model: nn.Module,
    per_sample_loss: PerSampleLoss,
    data: Batch,
    *,
    params: Mapping[str, Tensor],
    config: SGLDConfig,
    steps: int,
    weights: Tensor | None = None,
    seed: int = 0,
    progress: bool = True,
) -> LangevinResult:
    r"""Continue every seed of stacked ``params`` with ``steps`` SGLD steps on its weighted loss:
    one chain per seed, localized at the seed's own start :math:`w^*_s`,

    .. math::
        w_s' = w_s - \frac{\varepsilon}{2}\big(n\beta\,\nabla L^{(s)}_h(w_s) + \gamma (w_s - w^*_s)\big) + \sqrt{\varepsilon}\,\xi

    (:func:`~patterning_core.sgld.sgld_step`; ``config.num_chains``, ``num_draws`` and ``burnin`` are
    not used). With :math:`\gamma = 0` a seed's chain targets the tempered posterior
    :math:`\propto \exp(-n\beta L_h)`: "train longer with SGLD noise", the posterior-oriented
    continuation of issue 18 (Welling & Teh 2011). Minibatches (``config.batch_size``) are drawn per
    seed from ``seed``; the noise too, so two calls with the same ``seed`` and different ``weights``
    share their random numbers. A non-finite loss raises :class:`~patterning_core.sgld.SGLDDivergenceError`
    naming ε, nβ and γ.
    """
    device = model_device(model)
    if not isinstance(config, SGLDConfig):
        raise TypeError(f"config must be an SGLDConfig, got {type(config).__name__}")
    check_int("steps", steps, low=0)
    n = _check_data(data, device=device)
    start = _check_stacked_params(model, params, device)
    num_seeds = next(iter(start.values())).shape[0]
    h = _check_weights(weights, n, device, seeds=num_seeds).expand(num_seeds, n)  # (seeds, n)
    _check_batch_sizes(config.batch_size, None, n)
    buffers = dict(model.named_buffers())
    gen = torch.Generator(device=device).manual_seed(seed)
    full = config.batch_size is None
    loss_fn = _seeds_loss(model, per_sample_loss, buffers, full)
    w = {k: v.detach().clone() for k, v in start.items()}
    losses = []
    for step in tqdm(range(steps + 1), desc="langevin", disable=not progress, leave=False):
        batch, hb = _seed_batches(data, h, config.batch_size, gen)
        leaves = {k: v.requires_grad_(True) for k, v in w.items()}
        per_seed = loss_fn(leaves, batch, hb)  # (seeds,)
        losses.append(per_seed.detach())
        if not torch.isfinite(per_seed).all():
            bad = (~torch.isfinite(per_seed)).nonzero().squeeze(1).tolist()
            raise SGLDDivergenceError(f"Langevin loss is not finite at step {step} for seeds {bad} (ε={config.step_size}, "
                                      f"nβ={config.nbeta}, γ={config.gamma}): lower ε or raise γ")
        if step == steps:
            break
        grads = torch.autograd.grad(per_seed.sum(), list(leaves.values()))
        w = {k: sgld_step(v.detach(), g, start[k], torch.randn(v.shape, generator=gen, device=device, dtype=v.dtype),
                          step_size=config.step_size, nbeta=config.nbeta, gamma=config.gamma)
             for (k, v), g in zip(leaves.items(), grads)}
    return LangevinResult({k: v.detach() for k, v in w.items()}, torch.stack(losses, dim=1))


def _seeds_loss(model: nn.Module, per_sample_loss: PerSampleLoss, buffers: Params, full: bool) -> Callable[[Params, Batch, Tensor], Tensor]:
    """``(params (seeds, ...), batch, weights (seeds, B)) -> (seeds,)``: every seed's weighted mean loss on its
    batch (one batch shared by all seeds when ``full``, else one per seed)."""

    def seed_loss(p: Params, batch: Batch, hb: Tensor) -> Tensor:
        per = _per_sample(model, per_sample_loss, p, buffers, batch)  # (B,)
        return (hb * per).sum() / hb.sum()

    return vmap(seed_loss, in_dims=(0, None if full else 0, 0))


def _seed_batches(data: Batch, h: Tensor, batch_size: int | None, gen: torch.Generator, shared: bool = False) -> tuple[Batch, Tensor]:
    """This step's batch and weights ``(seeds, B)``: all of ``data`` and ``h`` (``batch_size`` None), else
    ``batch_size`` indices drawn per seed from ``gen`` (one draw for all seeds when ``shared``)."""
    if batch_size is None:
        return data, h
    num_seeds, n = h.shape
    idx = torch.randint(n, (1 if shared else num_seeds, batch_size), generator=gen, device=h.device)
    idx = idx.expand(num_seeds, -1)  # (seeds, B)
    return tuple(t[idx] for t in data), torch.gather(h, 1, idx)


def _check_stacked_params(model: nn.Module, params: Mapping[str, Tensor] | None, device: torch.device) -> Params:
    """Initial parameters stacked over seeds, name -> (seeds, *shape) (default: the model's own as one
    seed): names the model knows, its shapes behind one leading seed dimension, one seed count, the
    model's device, finite values."""
    own = dict(model.named_parameters())
    if params is None:
        return {k: v.detach()[None] for k, v in own.items()}
    if not isinstance(params, Mapping) or not params:
        raise TypeError(f"params must be a non-empty mapping name -> (seeds, *shape) tensor, got {params!r:.80}")
    seeds = set()
    for k, v in params.items():
        if k not in own:
            raise KeyError(f"params names unknown parameter {k!r}; the model's parameters are {sorted(own)}")
        check_tensor(f"params[{k!r}]", v)
        if v.shape[1:] != own[k].shape:
            raise ValueError(f"params[{k!r}] has shape {tuple(v.shape)}, the model's {k!r} {tuple(own[k].shape)}: params must be "
                             f"stacked over seeds, (seeds, *shape) = (S, {', '.join(map(str, own[k].shape))}) (one seed: v[None]; "
                             "many: init_params)")
        check_device(f"params[{k!r}]", v.device, device)
        check_finite(f"params[{k!r}]", v.detach(), "the initial parameters must be finite")
        seeds.add(v.shape[0])
    if len(seeds) != 1:
        raise ValueError(f"params disagree on the number of seeds (leading dimension): {sorted(seeds)}")
    return dict(params)


def _raise_not_finite(per_seed: Tensor, step: int, config: TrainConfig) -> None:
    bad = (~torch.isfinite(per_seed)).nonzero().squeeze(1).tolist()
    if step == 0:
        raise FloatingPointError(f"training loss is not finite at step 0, before any update, for seeds {bad}: "
                                 "the initial parameters give a NaN or inf loss on this data")
    raise FloatingPointError(f"training loss is not finite at step {step} for seeds {bad} (lr={config.lr}): lower the learning rate")


def _optimizer(config: TrainConfig, leaves: list[Tensor]) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(leaves, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(leaves, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(leaves, lr=config.lr, weight_decay=config.weight_decay)
