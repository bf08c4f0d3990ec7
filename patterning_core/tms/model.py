r"""Toy model of superposition (TMS) with d = 5 features in m = 2 hidden dimensions.

The model (Elhage et al. 2022; the patterning post §2.1 uses it without a bias) is

.. math::
    \hat x = \mathrm{ReLU}(W^\top W x + b), \qquad W \in \mathbb{R}^{m \times d},

with :math:`b = 0` unless ``TMSConfig.bias`` is set (the Chen et al. 2023 variant). Column
:math:`W_i \in \mathbb{R}^2` is feature :math:`i`'s vector. Inputs are binary,
:math:`x \in \{0,1\}^d`, each feature on independently with probability :math:`p = 1 - S`.
There are only :math:`2^d = 32` input types, so the population loss is an exact finite sum

.. math::
    L_h(W) = \frac{\sum_x h_x\, \ell_x(W)}{\sum_x h_x}, \qquad
    \ell_x(W) = \sum_i I_i\,(x_i - \hat x_i)^2 ,

and with the natural weights :math:`h_x = 32\, q(x)` (mean 1) it equals
:math:`\sum_x q(x)\,\ell_x(W)`, the expected loss under the data distribution.

Input order (used by every function here): by number of active features, then by the tuple
of active indices as ``itertools.combinations`` yields it, i.e.
``00000, 10000, 01000, 00100, 00010, 00001, 11000, 10100, ...``. Row ``1 + i`` is the one-hot
input :math:`e_i`.

Observables (post §2.2): ``dot[i,j]`` :math:`= W_i\cdot W_j/(|W_i|_\epsilon|W_j|_\epsilon)` for
``i < j`` in ``itertools.combinations`` order (01, 02, 03, 04, 12, ...), where
:math:`|v|_\epsilon = \sqrt{|v|^2 + \epsilon}` keeps a dead (zero) feature finite
(its dot products are then 0), and ``norm[i]`` :math:`= |W_i|`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..devices import check_device

DOT_EPS = 1e-8  # epsilon inside the norms of the dot-product observable: |v|_eps = sqrt(|v|^2 + eps)


@dataclass(frozen=True)
class TMSConfig:
    """Configuration of the toy model of superposition."""

    n_features: int = 5  # d: number of features (input/output dimension)
    n_hidden: int = 2  # m: hidden dimension; 2 makes the feature vectors drawable
    sparsity: float = 0.9  # S: each feature is active with probability p = 1 - S
    importance: tuple[float, ...] | None = None  # I_i per feature; None means all ones (post's default)
    bias: bool = False  # add a learned output bias b (Chen et al. 2023); the post uses no bias
    init_scale: float = 0.01  # std of the i.i.d. Gaussian entries of W at initialisation (small init)

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must lie in [0, 1), got {self.sparsity}")
        if self.importance is not None and len(self.importance) != self.n_features:
            raise ValueError(f"importance has {len(self.importance)} entries, expected n_features={self.n_features}")

    def importance_tensor(self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
        """Importances :math:`I` as a tensor, shape ``(d,)``, on ``device`` (None: the CPU)."""
        if self.importance is None:
            return torch.ones(self.n_features, dtype=dtype, device=device)
        return torch.tensor(self.importance, dtype=dtype, device=device)


class TMS(nn.Module):
    """The ReLU autoencoder :math:`\\hat x = \\mathrm{ReLU}(W^\\top W x + b)`.

    Parameters: ``W`` of shape ``(n_hidden, n_features)`` and, if ``config.bias``, ``b`` of
    shape ``(n_features,)`` (initialised to zero). ``W`` entries are i.i.d.
    :math:`\\mathcal N(0, \\texttt{init\\_scale}^2)` drawn from ``generator`` on its device (or, when
    it is ``None``, from torch's global CPU generator, so callers such as ``init_params`` can seed
    it); the module is then moved to ``device`` (None: where ``W`` was drawn).
    """

    chain_batched = True  # forward takes W (chains, m, d), b (chains, d) and x (chains, B, d) or (B, d): sample() skips vmap

    def __init__(self, config: TMSConfig = TMSConfig(), generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.config = config
        drawn_on = generator.device if generator is not None else None
        w = torch.randn(config.n_hidden, config.n_features, generator=generator, device=drawn_on) * config.init_scale
        self.W = nn.Parameter(w)  # (m, d)
        if config.bias:
            self.b = nn.Parameter(torch.zeros(config.n_features, device=drawn_on))  # (d,)
        if device is not None:
            self.to(device)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct ``x`` of shape ``(B, d)``; returns ``(B, d)`` (with stacked parameters ``(..., B, d)``)."""
        return reconstruct(self.W, x, self.b if self.config.bias else None)


def reconstruct(W: Tensor, x: Tensor, b: Tensor | None = None) -> Tensor:
    """:math:`\\mathrm{ReLU}(W^\\top W x + b)` for stacked weights.

    Args:
        W: ``(..., m, d)`` weights (leading dims e.g. chains or seeds).
        x: ``(B, d)`` inputs, or ``(..., B, d)`` with leading dims broadcastable against W's.
        b: optional ``(..., d)`` bias.

    Returns:
        ``(..., B, d)`` reconstructions.
    """
    if x.shape[-1] != W.shape[-1]:
        raise ValueError(f"x has {x.shape[-1]} features (shape {tuple(x.shape)}) but W has shape {tuple(W.shape)}")
    h = torch.einsum("...md,...bd->...bm", W, x.to(W.dtype))  # (..., B, m)
    out = torch.einsum("...bm,...md->...bd", h, W)  # (..., B, d)
    if b is not None:
        out = out + b.unsqueeze(-2)
    return torch.relu(out)


# ---------------------------------------------------------------------------------------------
# Data: the 32 input types, their probabilities and the natural weights
# ---------------------------------------------------------------------------------------------


def input_types(d: int = 5, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
    """All :math:`2^d` binary inputs, shape ``(2**d, d)``, ordered by cardinality then by the
    active-index tuple in ``itertools.combinations`` order (row 0 is all-zero, rows 1..d are
    the one-hots :math:`e_0..e_{d-1}`), on ``device`` (None: the CPU)."""
    rows = []
    for k in range(d + 1):
        for active in itertools.combinations(range(d), k):
            row = [0.0] * d
            for i in active:
                row[i] = 1.0
            rows.append(row)
    return torch.tensor(rows, dtype=dtype, device=device)


def input_labels(d: int = 5) -> list[str]:
    """Bit-string labels of :func:`input_types`, e.g. ``"10100"`` (feature 0 first)."""
    return ["".join(str(int(v)) for v in row) for row in input_types(d).tolist()]


def input_probs(d: int = 5, sparsity: float = 0.9, dtype: torch.dtype = torch.float64,
                device: torch.device | str | None = None) -> Tensor:
    """:math:`q(x) = p^{|x|}(1-p)^{d-|x|}` with :math:`p = 1 - S`, shape ``(2**d,)``; sums to 1."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must lie in [0, 1], got {sparsity}")
    p = 1.0 - sparsity
    k = input_types(d, dtype=dtype, device=device).sum(-1)  # (2**d,)
    return p**k * (1.0 - p) ** (d - k)


def natural_weights(d: int = 5, sparsity: float = 0.9, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None) -> Tensor:
    """Natural per-sample weights :math:`h^0_x = 2^d q(x)` (mean 1), shape ``(2**d,)``.

    With these weights the weighted loss :math:`\\sum_x h_x\\ell_x / \\sum_x h_x` equals the
    population loss :math:`\\sum_x q(x)\\ell_x`.
    """
    q = input_probs(d, sparsity, dtype, device)
    return q / q.mean()


def tms_data(d: int = 5, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> tuple[Tensor]:
    """The data tuple ``(x,)`` with ``x = input_types(d)``, shape ``(2**d, d)``, on ``device``."""
    return (input_types(d, dtype, device),)


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------


def per_sample_loss(model, batch: tuple[Tensor, ...]) -> Tensor:
    """:math:`\\ell_x = \\sum_i (x_i - \\hat x_i)^2` with unit importance, shape ``(B,)``.

    ``model`` is any callable ``x (B, d) -> x_hat (B, d)``; ``batch = (x,)``. Pure tensor code,
    safe under ``torch.func.functional_call`` + ``vmap``. For other importances use
    :func:`make_per_sample_loss`.
    """
    (x,) = batch
    x_hat = model(x)  # (B, d)
    return ((x_hat - x) ** 2).sum(-1)


def make_per_sample_loss(importance: Tensor | tuple[float, ...] | None):
    """A ``per_sample_loss(model, batch) -> (B,)`` computing :math:`\\sum_i I_i (x_i - \\hat x_i)^2`.

    The importances are kept once and moved to the device (and dtype) of the reconstruction.
    """
    if importance is None:
        return per_sample_loss
    imp = torch.as_tensor(importance, dtype=torch.float64).clone()  # (d,); own copy

    def loss(model, batch: tuple[Tensor, ...]) -> Tensor:
        (x,) = batch
        x_hat = model(x)  # (B, d)
        return (imp.to(device=x_hat.device, dtype=x_hat.dtype) * (x_hat - x) ** 2).sum(-1)

    return loss


def per_input_losses(W: Tensor, x: Tensor | None = None, importance: Tensor | None = None,
                     b: Tensor | None = None) -> Tensor:
    """Per-input losses :math:`\\ell_x(W)` for stacked weights ``W (..., m, d)``; returns ``(..., B)``.

    ``x`` defaults to all :math:`2^d` input types; everything is computed on ``W``'s device (a
    given ``x`` or ``b`` must live there; ``importance`` may be a tuple or a tensor anywhere).
    """
    d = W.shape[-1]
    if x is not None:
        check_device("x", x.device, W.device, "W")
    if b is not None:
        check_device("b", b.device, W.device, "W")
    x = input_types(d, W.dtype, W.device) if x is None else x.to(W.dtype)
    imp = _importance(importance, d, W)
    return (imp * (reconstruct(W, x, b) - x) ** 2).sum(-1)  # (..., B)


def _importance(importance: Tensor | tuple[float, ...] | None, d: int, W: Tensor) -> Tensor:
    """Importances ``(d,)`` in ``W``'s dtype, on ``W``'s device (ones when None)."""
    if importance is None:
        return torch.ones(d, dtype=W.dtype, device=W.device)
    return torch.as_tensor(importance, dtype=W.dtype).to(W.device)


def population_loss(W: Tensor, sparsity: float, weights: Tensor | None = None,
                    importance: Tensor | None = None, b: Tensor | None = None) -> Tensor:
    """Exact weighted loss :math:`L_h(W) = \\sum_x h_x \\ell_x / \\sum_x h_x`, shape ``(...)``.

    ``weights`` (``(2**d,)`` or ``(..., 2**d)``) default to :func:`natural_weights`, giving the
    population loss :math:`\\sum_x q(x)\\ell_x(W)` at sparsity ``sparsity``. Computed on ``W``'s
    device; given ``weights`` must live there.
    """
    d = W.shape[-1]
    if weights is not None:
        check_device("weights", weights.device, W.device, "W")
    h = natural_weights(d, sparsity, W.dtype, W.device) if weights is None else weights.to(W.dtype)
    if h.shape[-1] != 2**d:
        raise ValueError(f"weights have shape {tuple(h.shape)}, expected (..., {2**d}) for d={d}")
    losses = per_input_losses(W, None, importance, b)  # (..., 2**d)
    return (h * losses).sum(-1) / h.sum(-1)


# ---------------------------------------------------------------------------------------------
# Observables
# ---------------------------------------------------------------------------------------------


def _pairs(d: int) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(d), 2))


def observable_names(d: int = 5) -> list[str]:
    """Names of :func:`tms_observables`: ``dot[i,j]`` for i<j, then ``norm[i]``."""
    return [f"dot[{i},{j}]" for i, j in _pairs(d)] + [f"norm[{i}]" for i in range(d)]


def _weights(params: dict[str, Tensor] | Tensor) -> Tensor:
    W = params["W"] if isinstance(params, dict) else params
    if W.dim() < 2:
        raise ValueError(f"W must have shape (..., n_hidden, n_features), got {tuple(W.shape)}")
    return W


def phi_dot(params: dict[str, Tensor] | Tensor) -> Tensor:
    """Normalised dot products :math:`W_i\\cdot W_j / (|W_i|_\\epsilon |W_j|_\\epsilon)`, i<j.

    ``params["W"]`` has shape ``(..., m, d)``; returns ``(..., d(d-1)/2)`` (10 for d = 5).
    """
    W = _weights(params)
    i, j = zip(*_pairs(W.shape[-1]))
    n = torch.sqrt((W**2).sum(-2) + DOT_EPS)  # (..., d)
    Wi, Wj = W[..., list(i)], W[..., list(j)]  # (..., m, P)
    return (Wi * Wj).sum(-2) / (n[..., list(i)] * n[..., list(j)])


def phi_norm(params: dict[str, Tensor] | Tensor) -> Tensor:
    """Feature norms :math:`|W_i|`; ``(..., m, d) -> (..., d)``."""
    return torch.linalg.vector_norm(_weights(params), dim=-2)


def tms_observables(params: dict[str, Tensor] | Tensor) -> Tensor:
    """The 15 observables of post §2.2: ``[phi_dot (10), phi_norm (5)]``, shape ``(..., 15)``."""
    return torch.cat([phi_dot(params), phi_norm(params)], dim=-1)


def init_weights(config: TMSConfig, seeds: int | list[int] | range, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> Tensor:
    """Small initialisations ``W``, one per seed, shape ``(len(seeds), m, d)`` (``seeds=n`` means
    ``range(n)``), on ``device``. Row ``i`` has i.i.d. N(0, init_scale^2) entries drawn from
    ``torch.Generator(device).manual_seed(seeds[i])``, so a seed's init does not depend on the
    others (the numbers differ between CPU and CUDA generators)."""
    seeds = range(seeds) if isinstance(seeds, int) else seeds
    rows = [torch.randn(config.n_hidden, config.n_features, dtype=dtype, device=device,
                        generator=torch.Generator(device=device).manual_seed(int(s))) for s in seeds]
    if not rows:
        raise ValueError("init_weights needs at least one seed")
    return torch.stack(rows) * config.init_scale  # (seeds, m, d)


__all__ = [
    "TMSConfig", "TMS", "reconstruct", "input_types", "input_labels", "input_probs", "natural_weights",
    "tms_data", "per_sample_loss", "make_per_sample_loss", "per_input_losses", "population_loss",
    "observable_names", "phi_dot", "phi_norm", "tms_observables", "init_weights", "DOT_EPS",
]
