"""Attention-only transformer language model (the chapter-5/7 model of Wang & Murfet 2026).

Architecture (after Hoogland et al. 2024, "The developmental landscape of in-context learning",
used by the patterning paper): token embedding, ``n_layers`` attention-only blocks
(pre-LayerNorm, no MLPs), final LayerNorm, unembedding. Positional embeddings are
*shortformer-style* (Press et al. 2021): they are added to the inputs of the queries and keys only,
never to the residual stream or the values,

.. math::
    q_h = (\\mathrm{LN}(x) + p) W_Q^h,\\quad k_h = (\\mathrm{LN}(x) + p) W_K^h,\\quad
    v_h = \\mathrm{LN}(x) W_V^h,\\quad
    x \\leftarrow x + \\sum_h \\mathrm{softmax}\\big(q_h k_h^\\top/\\sqrt{d_h} + M\\big) v_h W_O^h,

with the causal mask :math:`M`. Every head weight carries an explicit head dimension
(``blocks.{l}.attn.W_Q`` is ``(n_heads, d_model, d_head)``) so one head's parameters are selected
by a boolean mask over that index (:func:`head_param_masks`), e.g. to restrict SGLD to one head.

**Chains.** The forward pass is a pure function of the parameters (no in-place ops, no ``.item()``)
and every parameter may carry a leading chain dimension (``W_E`` ``(chains, V, d)``, ...; a
parameter without one, or expanded with stride 0, is shared by all chains), with tokens
``(B, T)`` or ``(chains, B, T)``. Chains and heads are folded into the batch of
:func:`torch.nn.functional.scaled_dot_product_attention` (causal; the flash / memory-efficient
kernels on CUDA), so no ``(T, T)`` pattern is materialized. :meth:`AttnOnlyTransformer.chain_batched`
tells :func:`~patterning_core.sgld.sample` to call the model on stacked parameters without
``vmap``; :meth:`~AttnOnlyTransformer.run_with_patterns` (one set of parameters, explicit
softmax) stays for measurements of attention.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class AttnOnlyConfig:
    vocab_size: int = 512  # BPE vocabulary (data/lm/tokenizer-512.json)
    n_layers: int = 2  # attention-only blocks
    n_heads: int = 4  # heads per layer
    d_model: int = 64  # residual stream width
    d_head: int = 16  # per-head query/key/value width
    n_ctx: int = 256  # longest context (rows of the positional embedding)
    init_std: float | None = None  # std of the normal init of all matrices; None: 0.8/sqrt(d_model) (TransformerLens)
    ln_eps: float = 1e-5  # LayerNorm epsilon
    positional: str = "sinusoidal"  # "learned" W_pos, or fixed "sinusoidal" (Press et al. 2021's original choice)
    fused_attention: bool = False  # unstacked forward() via F.scaled_dot_product_attention: ~2x faster on CPU, no patterns
    chain_native: bool = True  # sample() calls forward on stacked parameters, no vmap (False: vmap, explicit softmax)

    @property
    def std(self) -> float:
        """The init standard deviation actually used."""
        return 0.8 / math.sqrt(self.d_model) if self.init_std is None else self.init_std

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layers", "n_heads", "d_model", "d_head", "n_ctx"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.positional not in ("learned", "sinusoidal"):
            raise ValueError(f"positional must be 'learned' or 'sinusoidal', got {self.positional!r}")

    @classmethod
    def ci(cls) -> "AttnOnlyConfig":
        """The CPU model (~0.1M parameters) chosen by ``experiments/lm_sweep.py``: V 512, 4 heads of 16, d 64, ctx 256."""
        return cls()

    @classmethod
    def paper(cls) -> "AttnOnlyConfig":
        """The paper's ~3M-parameter model: 8 heads, d_model 256, d_head 32, vocab 5000, ctx 1024."""
        return cls(vocab_size=5000, n_heads=8, d_model=256, d_head=32, n_ctx=1024, positional="learned")


def sinusoidal_positions(n_ctx: int, d_model: int) -> torch.Tensor:
    """Vaswani et al. (2017) positions: ``P[t, 2i] = sin(t / 10000^{2i/d})``, ``P[t, 2i+1] = cos(...)``, (n_ctx, d)."""
    t = torch.arange(n_ctx, dtype=torch.float32)[:, None]  # (n_ctx, 1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)  # (ceil(d/2),)
    P = torch.zeros(n_ctx, d_model)
    P[:, 0::2] = torch.sin(t * freq)
    P[:, 1::2] = torch.cos(t * freq)[:, : d_model // 2]
    return P  # (n_ctx, d)


# ---------------------------------------------------------------------------- chain-stacked pieces


def _lead(p: torch.Tensor, ndim: int) -> torch.Tensor:
    """``p`` with a leading chain dim: ``(chains, *shape)``, or ``(1, *shape)`` when it is shared (no chain
    dim, or one expanded with stride 0 -- e.g. a frozen weight -- which is then not copied per chain)."""
    if p.dim() == ndim:
        return p[None]
    return p[:1] if p.stride(0) == 0 else p


def _proj(x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``x`` (Cx, B, T, n) times ``W`` (Cw, n, m) chain by chain -> (C, B, T, m); Cx, Cw in {1, C}."""
    if W.shape[0] == 1:
        return x @ W[0]  # one matrix for every chain: a single matmul
    C, (B, T, n) = W.shape[0], x.shape[1:]
    return (x.expand(C, B, T, n).reshape(C, B * T, n) @ W).view(C, B, T, -1)  # batched over chains


def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm over the last dim with per-chain affine ``w, b`` (Cw, d); x (Cx, B, T, d)."""
    if w.shape[0] == 1 and b.shape[0] == 1:
        return F.layer_norm(x, x.shape[-1:], w[0], b[0], eps)
    return F.layer_norm(x, x.shape[-1:], eps=eps) * w[:, None, None] + b[:, None, None]


def _heads_in(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All heads' projections ``x W^h + b^h`` side by side: x (Cx, B, T, d), W (Cw, H, d, e),
    b (Cb, H, e) -> (C, B, T, H·e)."""
    Cw, H, d, e = W.shape
    return _proj(x, W.permute(0, 2, 1, 3).reshape(Cw, d, H * e)) + b.reshape(b.shape[0], 1, 1, H * e)


# ---------------------------------------------------------------------------- modules


class Attention(nn.Module):
    """Multi-head causal self-attention with per-head weight tensors."""

    def __init__(self, cfg: AttnOnlyConfig):
        super().__init__()
        H, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = nn.Parameter(torch.randn(H, d, e) * cfg.std)  # (H, d, e)
        self.W_K = nn.Parameter(torch.randn(H, d, e) * cfg.std)  # (H, d, e)
        self.W_V = nn.Parameter(torch.randn(H, d, e) * cfg.std)  # (H, d, e)
        self.W_O = nn.Parameter(torch.randn(H, e, d) * cfg.std)  # (H, e, d)
        self.b_Q = nn.Parameter(torch.zeros(H, e))  # (H, e)
        self.b_K = nn.Parameter(torch.zeros(H, e))  # (H, e)
        self.b_V = nn.Parameter(torch.zeros(H, e))  # (H, e)
        self.b_O = nn.Parameter(torch.zeros(d))  # (d,)
        self.register_buffer("causal", torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool).tril(), persistent=False)

    def qkv(self, h: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-head queries, keys, values, each (B, H, T, e), from ``h`` (B, T, d) and ``pos`` (T, d)."""
        hp = h + pos  # (B, T, d) -- positions enter queries and keys only
        q = torch.einsum("btd,hde->bhte", hp, self.W_Q) + self.b_Q[:, None, :]  # (B, H, T, e)
        k = torch.einsum("btd,hde->bhte", hp, self.W_K) + self.b_K[:, None, :]  # (B, H, T, e)
        v = torch.einsum("btd,hde->bhte", h, self.W_V) + self.b_V[:, None, :]  # (B, H, T, e)
        return q, k, v

    def forward(self, h: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``h`` (B, T, d) normalised residual, ``pos`` (T, d) -> (output (B, T, d), pattern (B, H, T, T))."""
        T = h.shape[1]
        q, k, v = self.qkv(h, pos)  # (B, H, T, e) each
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, T, T)
        scores = scores.masked_fill(~self.causal[:T, :T], float("-inf"))
        pattern = scores.softmax(dim=-1)  # (B, H, T, T)
        z = pattern @ v  # (B, H, T, e)
        out = torch.einsum("bhte,hed->btd", z, self.W_O) + self.b_O  # (B, T, d)
        return out, pattern

    def stacked(self, h: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """The same output for chain-stacked parameters via the fused kernel (no pattern):
        ``h`` (Cx, B, T, d), ``pos`` (Cp, 1, T, d) -> (C, B, T, d)."""
        H, e = self.W_Q.shape[-3], self.W_Q.shape[-1]
        hp = h + pos  # positions enter queries and keys only
        q, k, v = torch.broadcast_tensors(_heads_in(hp, _lead(self.W_Q, 3), _lead(self.b_Q, 2)),
                                          _heads_in(hp, _lead(self.W_K, 3), _lead(self.b_K, 2)),
                                          _heads_in(h, _lead(self.W_V, 3), _lead(self.b_V, 2)))  # (C, B, T, H·e)
        C, B, T = q.shape[:3]
        q, k, v = (y.reshape(C * B, T, H, e).transpose(1, 2) for y in (q, k, v))  # (C·B, H, T, e): chains and heads in the batch
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (C·B, H, T, e)
        z = z.transpose(1, 2).reshape(C, B, T, H * e)  # (C, B, T, H·e)
        W_O = _lead(self.W_O, 3)  # (Cw, H, e, d)
        return _proj(z, W_O.reshape(W_O.shape[0], H * e, -1)) + _lead(self.b_O, 1)[:, None, None]  # (C, B, T, d)


class Block(nn.Module):
    def __init__(self, cfg: AttnOnlyConfig):
        super().__init__()
        self.ln = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
        self.attn = Attention(cfg)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, pattern = self.attn(self.ln(x), pos)
        return x + out, pattern  # (B, T, d), (B, H, T, T)


class AttnOnlyTransformer(nn.Module):
    """``tokens (B, T) -> logits (B, T, V)``; with chain-stacked parameters ``(chains, B, T, V)``
    (module docstring); :meth:`run_with_patterns` also returns attention."""

    def __init__(self, cfg: AttnOnlyConfig, seed: int | None):
        """Initialise from ``seed`` (the global RNG is left untouched); ``seed=None`` draws from
        the global RNG instead, for callers that seed it themselves (``training.init_params``)."""
        super().__init__()
        self.cfg = cfg
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.W_E = nn.Parameter(torch.randn(cfg.vocab_size, cfg.d_model) * cfg.std)  # (V, d)
            if cfg.positional == "learned":
                self.W_pos = nn.Parameter(torch.randn(cfg.n_ctx, cfg.d_model) * cfg.std)  # (n_ctx, d)
            else:
                self.register_buffer("W_pos", sinusoidal_positions(cfg.n_ctx, cfg.d_model), persistent=False)
            self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
            self.ln_final = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
            self.W_U = nn.Parameter(torch.randn(cfg.d_model, cfg.vocab_size) * cfg.std)  # (d, V)
            self.b_U = nn.Parameter(torch.zeros(cfg.vocab_size))  # (V,)

    @property
    def chain_batched(self) -> bool:
        """Whether :func:`~patterning_core.sgld.sample` calls this model on stacked parameters, without
        ``vmap`` (``cfg.chain_native``; measured 1.9-5.6x faster than ``vmap`` on the CPU, ``bench/lm_chains_speed.py``)."""
        return self.cfg.chain_native

    def _check_len(self, T: int) -> None:
        if T > self.cfg.n_ctx:
            raise ValueError(f"context length {T} exceeds n_ctx={self.cfg.n_ctx}")

    def run_with_patterns(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens`` (B, T) int64 -> (logits (B, T, V), patterns (B, L, H, T, T))."""
        T = tokens.shape[-1]
        self._check_len(T)
        x = self.W_E[tokens]  # (B, T, d)
        pos = self.W_pos[:T]  # (T, d)
        patterns = []
        for block in self.blocks:
            x, p = block(x, pos)
            patterns.append(p)
        logits = self.ln_final(x) @ self.W_U + self.b_U  # (B, T, V)
        return logits, torch.stack(patterns, dim=1)  # (B, T, V), (B, L, H, T, T)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` (B, T) or (chains, B, T) int64 -> logits (B, T, V), or (chains, B, T, V) when the
        parameters or the tokens carry a chain dim (then always via the fused kernel)."""
        stacked = self.W_E.dim() == 3 or tokens.dim() == 3
        if not stacked and not self.cfg.fused_attention:
            return self.run_with_patterns(tokens)[0]
        logits = self._stacked(tokens if tokens.dim() == 3 else tokens[None])  # (C, B, T, V)
        return logits if stacked else logits[0]

    def _stacked(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` (Ct, B, T) -> logits (C, B, T, V) for parameters with or without a chain dim."""
        self._check_len(tokens.shape[-1])
        T, d = tokens.shape[-1], self.cfg.d_model
        W_E = _lead(self.W_E, 2)  # (Ce, V, d)
        if W_E.shape[0] == 1:
            x = F.embedding(tokens, W_E[0])  # (Ct, B, T, d)
        else:  # chain c's tokens index rows c·V + token of the chains' stacked embeddings
            C = W_E.shape[0]
            offset = torch.arange(C, device=tokens.device)[:, None, None] * W_E.shape[1]  # (C, 1, 1)
            x = F.embedding(tokens.expand(C, *tokens.shape[1:]) + offset, W_E.reshape(-1, d))  # (C, B, T, d)
        pos = _lead(self.W_pos, 2)[:, None, :T]  # (Cp, 1, T, d)
        for block in self.blocks:
            h = _layer_norm(x, _lead(block.ln.weight, 1), _lead(block.ln.bias, 1), self.cfg.ln_eps)
            x = x + block.attn.stacked(h, pos)  # (C, B, T, d)
        h = _layer_norm(x, _lead(self.ln_final.weight, 1), _lead(self.ln_final.bias, 1), self.cfg.ln_eps)
        return _proj(h, _lead(self.W_U, 2)) + _lead(self.b_U, 1)[:, None, None]  # (C, B, T, V)


def per_token_loss(model: Callable[[torch.Tensor], torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy :math:`\\ell_{b,t} = -\\log p(x_{b,t+1} \\mid x_{b,\\le t})`.

    Args:
        model: any callable ``tokens (B, T) -> logits (B, T, V)``; a chain-stacked model may
            return ``(chains, B, T, V)`` and take tokens ``(chains, B, T)``.
        tokens: ``(B, T)`` or ``(chains, B, T)`` int64.
    Returns:
        ``(B, T-1)`` losses, or ``(chains, B, T-1)``; entry ``t`` is the loss of predicting token ``t+1``.
    """
    if tokens.dim() not in (2, 3) or tokens.shape[-1] < 2:
        raise ValueError(f"tokens must be (B, T) or (chains, B, T) with T >= 2, got shape {tuple(tokens.shape)}")
    logits = model(tokens)  # (..., B, T, V)
    targets = F.pad(tokens[..., 1:], (0, 1), value=-100).expand(logits.shape[:-1])  # (..., B, T); the last position has none
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none", ignore_index=-100)
    return losses.view(targets.shape)[..., :-1]  # (..., B, T-1), without copying the logits (no slice of them)


def autocast_loss(per_sample_loss: Callable, dtype: torch.dtype | None = torch.bfloat16) -> Callable:
    """``per_sample_loss(model_fn, batch)`` computed under :func:`torch.autocast` in ``dtype`` (matmuls
    and attention in low precision, on the device of ``batch[0]``), its losses returned in float32;
    the SGLD update, noise and statistics stay in float32. ``dtype=None`` returns it unchanged."""
    if dtype is None:
        return per_sample_loss
    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"dtype must be torch.bfloat16, torch.float16 or None, got {dtype}")

    def loss(model_fn: Callable, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        with torch.autocast(batch[0].device.type, dtype=dtype):
            out = per_sample_loss(model_fn, batch)
        return out.float()

    return loss


def head_param_masks(model: AttnOnlyTransformer, layer: int, head: int) -> dict[str, torch.Tensor]:
    """Boolean masks, one per parameter name, selecting the weights of one attention head.

    ``W_Q, W_K, W_V, W_O, b_Q, b_K, b_V`` of block ``layer`` are True at index ``head`` of their
    head dimension; every other parameter (and the shared output bias ``b_O``) is all False.
    Multiply an SGLD update by ``mask`` to move only that head. The masks live on the model's device.
    """
    cfg = model.cfg
    if not (0 <= layer < cfg.n_layers and 0 <= head < cfg.n_heads):
        raise ValueError(f"(layer, head)=({layer}, {head}) outside {cfg.n_layers} layers x {cfg.n_heads} heads")
    prefix = f"blocks.{layer}.attn."
    masks = {}
    for name, p in model.named_parameters():
        m = torch.zeros_like(p, dtype=torch.bool)
        if name.startswith(prefix) and name[len(prefix):] in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V"):
            m[head] = True
        masks[name] = m
    return masks
