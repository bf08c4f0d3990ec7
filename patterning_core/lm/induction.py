"""Induction-circuit measures: prefix matching, in-context loss drop, formation step.

Probe data are repeated random-token sequences ``[r_1 .. r_N, r_1 .. r_N]`` (Olsson et al. 2022,
"In-context learning and induction heads"). On the second copy an induction head attends from
``r_i`` to the token *after* the earlier ``r_i`` and copies it, so

* the **prefix-matching score** of a head is the attention mass that each query position ``t``
  puts on the positions ``s + 1`` with ``x_s = x_t, s < t``, averaged over the query positions that
  have such a target (:func:`prefix_matching_score`; a pure function of a pattern tensor and the
  tokens). A uniform causal pattern scores about ``1/(t+1)`` per query; a perfect induction head 1;
* the **in-context loss drop** is the mean next-token loss on the first copy minus that on the
  second (:func:`in_context_loss_drop`): ``~0`` without induction, up to ``log V`` with it;
* the **formation step** is the first checkpoint at which the best layer-1 head's prefix-matching
  score reaches a stated threshold (:func:`formation_step`).
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F

from ..devices import check_device


class InductionMeasures(NamedTuple):
    prefix_matching: torch.Tensor  # (L, H) prefix-matching score of every head
    loss_first_half: float  # mean next-token loss predicting tokens of the first copy
    loss_second_half: float  # mean next-token loss predicting tokens of the second copy
    loss_drop: float  # loss_first_half - loss_second_half

    @property
    def best_l1_head(self) -> tuple[int, float]:
        """(head index, score) of the best head in the last layer (layer 1 of a 2-layer model)."""
        score, head = self.prefix_matching[-1].max(dim=0)
        return int(head), float(score)


def repeated_random_tokens(
    n_seqs: int, half_len: int, token_pool: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """``(n_seqs, 2 * half_len)`` sequences ``[r, r]`` with ``r`` drawn uniformly from ``token_pool``.

    Draws are without replacement within a sequence (so the only repeats are the induction
    targets) when the pool is large enough, else with replacement. The draws come from
    ``generator`` on its own device; the sequences are returned on ``token_pool``'s device.
    """
    pool = torch.as_tensor(token_pool, dtype=torch.long).flatten()
    gdev = generator.device
    if half_len < 1 or n_seqs < 1:
        raise ValueError(f"need n_seqs >= 1 and half_len >= 1, got {n_seqs}, {half_len}")
    if len(pool) >= half_len:
        idx = torch.stack([torch.randperm(len(pool), generator=generator, device=gdev)[:half_len] for _ in range(n_seqs)])
    else:
        idx = torch.randint(len(pool), (n_seqs, half_len), generator=generator, device=gdev)
    first = pool[idx.to(pool.device)]  # (n_seqs, half_len)
    return torch.cat([first, first], dim=1)  # (n_seqs, 2 * half_len)


def prefix_target_mask(tokens: torch.Tensor) -> torch.Tensor:
    """``M[b, t, j]`` True iff ``j = s + 1`` for some ``s < t`` with ``x_s = x_t`` -- ``(B, T, T)`` bool."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be (B, T), got shape {tuple(tokens.shape)}")
    same = tokens[:, :, None] == tokens[:, None, :]  # (B, T, T): x_t == x_s
    T = tokens.shape[1]
    earlier = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril(-1)  # s < t
    match = same & earlier  # (B, T, s)
    return F.pad(match, (1, 0))[:, :, :T]  # shift s -> s + 1: (B, T, j)


def prefix_matching_score(patterns: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean attention mass on prefix-matching targets, per head.

    .. math::
        \\mathrm{PM}_{l,h} = \\frac{1}{|Q|}\\sum_{(b,t)\\in Q}\\ \\sum_{j:\\,x_{j-1}=x_t,\\ j\\le t} A^{l,h}_{b,t,j},

    where ``Q`` is the set of query positions with at least one target.

    Args:
        patterns: ``(B, L, H, T, T)`` attention probabilities (query, key); any leading shape
            between ``B`` and ``(T, T)`` is kept.
        tokens: ``(B, T)`` the sequences the patterns were computed on.
    Returns:
        ``patterns.shape[1:-2]`` scores, e.g. ``(L, H)``.
    """
    if patterns.shape[0] != tokens.shape[0] or patterns.shape[-2:] != (tokens.shape[1], tokens.shape[1]):
        raise ValueError(f"patterns {tuple(patterns.shape)} do not match tokens {tuple(tokens.shape)}")
    check_device("tokens", tokens.device, patterns.device, "the attention patterns")
    target = prefix_target_mask(tokens)  # (B, T, T)
    has_target = target.any(-1)  # (B, T)
    if not bool(has_target.any()):
        raise ValueError("no token repeats in `tokens`, prefix matching is undefined")
    extra = patterns.dim() - 3
    tgt = target.view(target.shape[0], *([1] * extra), *target.shape[1:]).to(patterns.dtype)
    mass = (patterns * tgt).sum(-1)  # (B, ..., T)
    q = has_target.view(has_target.shape[0], *([1] * extra), has_target.shape[1]).to(patterns.dtype)
    return (mass * q).sum(dim=(0, -1)) / (q.sum(dim=(0, -1)))  # (...)


def previous_token_score(patterns: torch.Tensor) -> torch.Tensor:
    """Mean attention from each position ``t >= 1`` to ``t - 1`` (the first half of the circuit).

    Args:
        patterns: ``(B, ..., T, T)`` attention probabilities, e.g. ``(B, L, H, T, T)``.
    Returns:
        ``patterns.shape[1:-2]`` scores in ``[0, 1]``.
    """
    if patterns.shape[-1] < 2 or patterns.shape[-1] != patterns.shape[-2]:
        raise ValueError(f"patterns must end in (T, T) with T >= 2, got {tuple(patterns.shape)}")
    return patterns.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))  # (...)


def in_context_loss_drop(losses: torch.Tensor, half_len: int) -> tuple[float, float, float]:
    """(first-copy loss, second-copy loss, drop) from per-token losses ``(B, 2N-1)`` on ``[r, r]``.

    Loss index ``i`` predicts token ``i + 1``; the first copy's predictions are indices
    ``0 .. N-2`` (tokens 1..N-1; token 0 is never predicted) and the second copy's are
    ``N .. 2N-2`` (tokens N+1..2N-1). Index ``N-1`` -- predicting the second copy's first token,
    which nothing in the context announces -- is excluded.
    """
    if losses.dim() != 2 or losses.shape[1] != 2 * half_len - 1:
        raise ValueError(f"losses must be (B, {2 * half_len - 1}), got {tuple(losses.shape)}")
    first = losses[:, : half_len - 1].mean()
    second = losses[:, half_len:].mean()
    return float(first), float(second), float(first - second)


@torch.no_grad()
def measure_induction(
    run_with_patterns: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    probe: torch.Tensor,
) -> InductionMeasures:
    """All measures on a repeated-sequence probe ``(B, 2N)`` from :func:`repeated_random_tokens`.

    ``run_with_patterns`` maps tokens to ``(logits (B, T, V), patterns (B, L, H, T, T))``, e.g.
    ``model.run_with_patterns``.
    """
    half_len = probe.shape[1] // 2
    logits, patterns = run_with_patterns(probe)
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), probe[:, 1:], reduction="none")  # (B, 2N-1)
    first, second, drop = in_context_loss_drop(losses, half_len)
    return InductionMeasures(prefix_matching_score(patterns, probe), first, second, drop)


def formation_step(steps: Sequence[int], best_l1_scores: Sequence[float], threshold: float) -> int | None:
    """First checkpoint step whose best layer-1 prefix-matching score is ``>= threshold``; None if never."""
    if len(steps) != len(best_l1_scores):
        raise ValueError("steps and scores must have the same length")
    for step, score in zip(steps, best_l1_scores):
        if score >= threshold:
            return int(step)
    return None
