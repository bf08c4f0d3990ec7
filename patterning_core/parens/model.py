"""A small transformer that classifies parentheses strings as balanced or not.

Tokens (``(``, ``)``, PAD, see :mod:`patterning_core.parens.data`) are embedded, optionally
given a learned absolute position embedding, passed through ``n_layers`` pre-LayerNorm blocks
``x ← x + Attn(LN(x)); x ← x + MLP(LN(x))`` and read out by one linear map to a logit
``f(x)``, with ``P(balanced) = σ(f(x))``. Padding keys are masked out of attention. The
readout is either the mean of the final residual stream over real tokens (``pool="mean"``)
or a learned CLS token placed after the padding, which (even with a causal mask) attends to
every real token (``pool="cls"``). A causal head lets each real token see only its prefix, the
natural place to compute the running depth ``D_t`` that the Nested rule needs; a
bidirectional head sees the whole string, the natural place to compute the global count
``D_L`` that Equal-Count needs. ``attn="mixed"`` (half the heads of each kind, not a standard
architecture) offers both in one layer.

Loosely after the classifiers of Li et al. (2025), "Can Interpretation Predict Behavior on
Unseen Data?" (arXiv:2507.06445); sizes here are chosen to train in seconds on a CPU.

The forward pass is pure tensor code (no in-place updates, no ``.item()``, no branching on
data), so it runs under ``torch.func.functional_call`` vmapped over a leading seed dimension
of stacked parameters; see :func:`stack_params` and :func:`stacked_logits`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .data import PAD, VOCAB_SIZE, ParensBatch


@dataclass(frozen=True)
class ParensTransformerConfig:
    """Architecture of :class:`ParensTransformer`."""

    max_len: int = 16  # longest input string (T); sets the position table
    d_model: int = 16  # residual stream width
    n_heads: int = 1  # attention heads per layer (d_model % n_heads == 0)
    n_layers: int = 1  # transformer blocks
    d_mlp: int = 32  # hidden width of each MLP; 0 means attention-only blocks
    attn: str = "causal"  # "causal": every head sees only the prefix; "bidirectional"; "mixed": first
    #                         n_heads // 2 heads causal, the rest bidirectional
    pos_emb: bool = True  # learned absolute position embedding
    pool: str = "mean"  # "mean" over real tokens, or "cls" (a learned token after the padding)
    init_std: float = 1.0  # embeddings ~ N(0, init_std^2); linear weights ~ N(0, init_std^2 / fan_in)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.attn not in ("causal", "bidirectional", "mixed"):
            raise ValueError(f"attn must be 'causal', 'bidirectional' or 'mixed', got {self.attn!r}")
        if self.attn == "mixed" and self.n_heads < 2:
            raise ValueError("attn='mixed' needs n_heads >= 2")
        if self.pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {self.pool!r}")
        if min(self.max_len, self.d_model, self.n_heads, self.n_layers) < 1 or self.d_mlp < 0:
            raise ValueError(f"sizes must be positive: {self}")


class SelfAttention(nn.Module):
    """Multi-head softmax attention with a key-padding mask and per-head causal masks."""

    def __init__(self, config: ParensTransformerConfig, device: torch.device | str | None = None):
        super().__init__()
        self.n_heads = config.n_heads
        n_causal = {"causal": config.n_heads, "bidirectional": 0, "mixed": config.n_heads // 2}[config.attn]
        self.head_causal = [h < n_causal for h in range(config.n_heads)]  # static, per head
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, device=device)
        self.out = nn.Linear(config.d_model, config.d_model, device=device)

    def forward(self, x: Tensor, key_ok: Tensor) -> Tensor:
        """``x`` (B, T, d), ``key_ok`` (B, T) bool → (B, T, d)."""
        B, T, d = x.shape
        hs = d // self.n_heads
        q, k, v = self.qkv(x).split(d, dim=-1)  # 3 × (B, T, d)
        q, k, v = (z.view(B, T, self.n_heads, hs).transpose(1, 2) for z in (q, k, v))  # (B, nh, T, hs)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, T)
        prefix = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # (T, T)
        causal = torch.tensor(self.head_causal, device=x.device)[:, None, None]  # (nh, 1, 1)
        allowed = key_ok[:, None, None, :] & (prefix | ~causal)  # (B, nh, T, T)
        scores = scores.masked_fill(~allowed, float("-inf"))
        y = scores.softmax(dim=-1) @ v  # (B, nh, T, hs)
        return self.out(y.transpose(1, 2).reshape(B, T, d))


class Block(nn.Module):
    """Pre-LayerNorm residual block: attention, then (optionally) a ReLU MLP."""

    def __init__(self, config: ParensTransformerConfig, device: torch.device | str | None = None):
        super().__init__()
        self.ln_attn = nn.LayerNorm(config.d_model, device=device)
        self.attn = SelfAttention(config, device)
        self.has_mlp = config.d_mlp > 0
        if self.has_mlp:
            self.ln_mlp = nn.LayerNorm(config.d_model, device=device)
            self.mlp = nn.Sequential(
                nn.Linear(config.d_model, config.d_mlp, device=device),
                nn.ReLU(),
                nn.Linear(config.d_mlp, config.d_model, device=device),
            )

    def forward(self, x: Tensor, key_ok: Tensor) -> Tensor:
        x = x + self.attn(self.ln_attn(x), key_ok)  # (B, T, d)
        if self.has_mlp:
            x = x + self.mlp(self.ln_mlp(x))  # (B, T, d)
        return x


class ParensTransformer(nn.Module):
    """Balanced-parentheses classifier: ``tokens`` (B, T) long → logits (B,).

    With an integer ``seed`` the parameters come from a private ``torch.Generator`` and the
    global RNG is not touched, so ``ParensTransformer(config, seed=s)`` is reproducible. With
    ``seed=None`` the generator is seeded from the global RNG, like torch's own modules (what
    :func:`patterning_core.training.init_params`, which seeds the global RNG, expects).
    """

    def __init__(self, config: ParensTransformerConfig = ParensTransformerConfig(), seed: int | None = None):
        super().__init__()
        self.config = config
        meta = torch.device("meta")  # build without running torch's default (global-RNG) init
        self.tok_emb = nn.Embedding(VOCAB_SIZE, config.d_model, device=meta)
        if config.pos_emb:
            self.pos_emb = nn.Embedding(config.max_len, config.d_model, device=meta)
        if config.pool == "cls":
            self.cls = nn.Parameter(torch.empty(config.d_model, device=meta))
        self.blocks = nn.ModuleList(Block(config, meta) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model, device=meta)
        self.head = nn.Linear(config.d_model, 1, device=meta)
        self.to_empty(device="cpu")
        if seed is None:
            seed = int(torch.randint(2**62, (1,)))  # at construction, not in forward
        self.reset_parameters(torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Embeddings ~ N(0, s²), linear weights ~ N(0, s²/fan_in), biases 0, LayerNorm (1, 0)."""
        s = self.config.init_std
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                module.weight.normal_(0.0, s, generator=generator)
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0.0, s / math.sqrt(module.in_features), generator=generator)
                module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        if self.config.pool == "cls":
            self.cls.normal_(0.0, s, generator=generator)

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens`` (B, T) long with PAD after each string's end → logits (B,)."""
        B, T = tokens.shape
        if T > self.config.max_len:
            raise ValueError(f"input width {T} exceeds max_len={self.config.max_len}")
        real = tokens != PAD  # (B, T)
        x = self.tok_emb(tokens)  # (B, T, d)
        if self.config.pos_emb:
            x = x + self.pos_emb.weight[:T]  # (B, T, d)
        if self.config.pool == "cls":  # CLS after the padding, no position: logits ignore the width T
            x = torch.cat([x, self.cls.expand(B, 1, -1)], dim=1)  # (B, T+1, d)
            real = torch.cat([real, torch.ones(B, 1, dtype=torch.bool, device=tokens.device)], dim=1)
        for block in self.blocks:
            x = block(x, real)  # (B, T', d)
        x = self.ln_f(x)  # (B, T', d)
        if self.config.pool == "cls":
            pooled = x[:, -1]  # (B, d)
        else:
            w = real.to(x.dtype)  # (B, T)
            pooled = (x * w[..., None]).sum(dim=1) / w.sum(dim=1, keepdim=True)  # (B, d)
        return self.head(pooled).squeeze(-1)  # (B,)


# --- losses and metrics -----------------------------------------------------------------


def per_sample_loss(model: Callable[[Tensor], Tensor], batch: tuple[Tensor, ...]) -> Tensor:
    """Binary cross-entropy of each string: ``ℓ_i = −y_i log σ(f_i) − (1−y_i) log(1−σ(f_i))``.  # (B,)

    ``batch`` is a :class:`ParensBatch` or a plain tuple in its field order (what minibatch
    slicing of one gives), so this plugs into :func:`patterning_core.training.train`.
    """
    batch = ParensBatch(*batch)
    logits = model(batch.tokens)  # (B,)
    return F.binary_cross_entropy_with_logits(logits, batch.labels, reduction="none")


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Fraction correct along the last axis: logits (..., N), labels (N,) in {0, 1} → (...)."""
    if logits.shape[-1] != labels.shape[-1]:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} disagree")
    return ((logits > 0) == (labels > 0.5)).float().mean(dim=-1)


def balanced_rate(logits: Tensor) -> Tensor:
    """Fraction of strings called balanced (logit > 0): (..., N) → (...).

    On the OOD set this is 0 for a Nested model and 1 for an Equal-Count model.
    """
    return (logits > 0).float().mean(dim=-1)


# --- many seeds as one computation ---------------------------------------------------------


def stack_params(config: ParensTransformerConfig, seeds: Sequence[int]) -> dict[str, Tensor]:
    """Parameters of ``len(seeds)`` independently initialised models, stacked: each (S, ...)."""
    if len(seeds) == 0:
        raise ValueError("need at least one seed")
    models = [ParensTransformer(config, seed=s) for s in seeds]
    return {
        name: torch.stack([dict(m.named_parameters())[name].detach() for m in models])
        for name, _ in models[0].named_parameters()
    }


def stacked_logits(base: ParensTransformer, params: dict[str, Tensor], tokens: Tensor) -> Tensor:
    """Logits of every stacked model: params each (S, ...), tokens (N, T) or (S, N, T) → (S, N)."""
    def one(p: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(base, p, (x,))  # (N,)

    in_dims = (0, 0 if tokens.dim() == 3 else None)
    return torch.vmap(one, in_dims=in_dims)(params, tokens)
