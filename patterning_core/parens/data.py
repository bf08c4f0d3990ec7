"""Parentheses-balancing data with two algorithms that both fit the training set.

Strings over ``{(, )}`` are labelled *balanced* (1) or *unbalanced* (0). Write the depth
profile of a string ``x_1 … x_L`` as ``D_t = Σ_{s ≤ t} (+1 if x_s = "(" else −1)``. Two
rules classify strings:

* **Nested**: ``min_t D_t ≥ 0`` and ``D_L = 0`` (the real balanced-parentheses rule);
* **Equal-Count**: ``D_L = 0`` (as many ``(`` as ``)``).

Nested implies Equal-Count, so they disagree exactly on the strings with ``D_L = 0`` and
``min_t D_t < 0``. The *training* distribution leaves those strings out, so both rules fit it
perfectly; the *OOD* set consists of nothing but those strings, where Nested answers
"unbalanced" and Equal-Count answers "balanced". This is the task of Li et al. (2025),
"Can Interpretation Predict Behavior on Unseen Data?" (arXiv:2507.06445), used in Wang &
Murfet (2026), "Patterning", Section 4.5, for binary algorithm selection.

Distributions (all lengths even, drawn uniformly from ``{min_len, min_len + 2, …, max_len}``
per string, so Equal-Count cannot be read off parity):

* balanced (fraction ``frac_balanced`` of the training set): uniform over Dyck words of the
  drawn length, sampled directly (not by rejection) from the ballot-number recursion;
* unbalanced, "near miss" (fraction ``frac_near_miss`` of the unbalanced part): a uniform
  Dyck word with one uniformly chosen position flipped, so ``D_L = ±2``;
* unbalanced, "random": uniform over strings of the drawn length with ``D_L ≠ 0``;
* OOD: uniform over strings of the drawn length with ``D_L = 0`` that are not Dyck words
  (random arrangement of ``L/2`` of each symbol, Dyck words rejected; the acceptance rate
  is ``1 − 2/(L + 2)``).

With the defaults the training set is exactly 50 % balanced. Strings are right-padded with
``PAD``; in ``labels`` the training label is the Nested label (the true one), so on the OOD
set every label is 0 and the "balanced rate" of a model equals ``1 − accuracy``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

OPEN, CLOSE, PAD = 0, 1, 2  # token ids
VOCAB_SIZE = 3  # "(", ")", PAD


@dataclass(frozen=True)
class ParensDataConfig:
    """Sizes and length range of the parentheses data sets."""

    n_train: int = 512  # training strings
    n_test: int = 512  # held-out in-distribution strings (same distribution as training)
    n_ood: int = 512  # equal-count, not-nested strings
    min_len: int = 2  # shortest string (even, ≥ 2)
    max_len: int = 16  # longest string (even); also the padded width T
    frac_balanced: float = 0.5  # fraction of training / test strings that are Dyck words
    frac_near_miss: float = 0.5  # fraction of unbalanced strings that are one-flip Dyck words

    def __post_init__(self) -> None:
        if self.min_len < 2 or self.min_len % 2 or self.max_len % 2 or self.max_len < self.min_len:
            raise ValueError(f"need even 2 <= min_len <= max_len, got {self.min_len}, {self.max_len}")
        for name in ("frac_balanced", "frac_near_miss"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        for name in ("n_train", "n_test", "n_ood"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class ParensBatch(NamedTuple):
    """A padded set of strings with both algorithms' labels."""

    tokens: Tensor  # (N, T) long in {OPEN, CLOSE, PAD}; PAD only after position lengths[i]
    lengths: Tensor  # (N,) long, the unpadded lengths L_i
    mask: Tensor  # (N, T) bool, True on real tokens
    labels: Tensor  # (N,) float in {0, 1}: the true (Nested) label
    nested: Tensor  # (N,) bool, Nested says balanced
    equal_count: Tensor  # (N,) bool, Equal-Count says balanced
    min_depth: Tensor  # (N,) long, min_t D_t (0 for a Dyck word)


class ParensData(NamedTuple):
    """Training, in-distribution test and OOD sets drawn from one seed."""

    train: ParensBatch
    test: ParensBatch
    ood: ParensBatch
    config: ParensDataConfig
    seed: int


def depth_profile(tokens: Tensor) -> Tensor:
    """Running depth ``D_t``; constant after the end of the string.  # (N, T) long"""
    step = torch.where(tokens == OPEN, 1, torch.where(tokens == CLOSE, -1, 0))  # (N, T)
    return step.cumsum(dim=-1)


def nested_label(tokens: Tensor) -> Tensor:
    """Nested rule: depth never negative and ends at zero.  # (N,) bool"""
    depth = depth_profile(tokens)  # (N, T)
    return (depth.min(dim=-1).values >= 0) & (depth[..., -1] == 0)


def equal_count_label(tokens: Tensor) -> Tensor:
    """Equal-Count rule: as many ``(`` as ``)``.  # (N,) bool"""
    return depth_profile(tokens)[..., -1] == 0


def to_string(tokens: Tensor) -> str:
    """Render one row of tokens as text, dropping padding (for display and tests)."""
    return "".join("()"[t] for t in tokens.tolist() if t != PAD)


def from_strings(strings: list[str], width: int | None = None) -> ParensBatch:
    """Build a :class:`ParensBatch` from text such as ``["(())", ")("]``."""
    if not strings or any(not s or set(s) - {"(", ")"} for s in strings):
        raise ValueError("need non-empty strings over '(' and ')'")
    width = max(map(len, strings)) if width is None else width
    if width < max(map(len, strings)):
        raise ValueError(f"width {width} is shorter than the longest string")
    tokens = torch.full((len(strings), width), PAD, dtype=torch.long)
    for i, s in enumerate(strings):
        tokens[i, : len(s)] = torch.tensor([OPEN if c == "(" else CLOSE for c in s])
    return _batch(tokens, torch.tensor([len(s) for s in strings]))


def _batch(tokens: Tensor, lengths: Tensor) -> ParensBatch:
    depth = depth_profile(tokens)  # (N, T)
    nested = nested_label(tokens)
    return ParensBatch(
        tokens=tokens,
        lengths=lengths,
        mask=tokens != PAD,
        labels=nested.float(),
        nested=nested,
        equal_count=depth[:, -1] == 0,
        min_depth=depth.min(dim=-1).values.clamp(max=0),
    )


def _ballot_table(max_len: int) -> Tensor:
    """``W[r, d]``: number of ways to finish from depth ``d`` in ``r`` steps, never below 0, ending at 0.

    ``W[0, 0] = 1`` and ``W[r, d] = W[r-1, d+1] + W[r-1, d-1]`` (the second term only for
    ``d ≥ 1``). Float64 is exact here up to Catalan(26) ≈ 1.7e13 < 2^53.
    """
    w = torch.zeros(max_len + 1, max_len + 2, dtype=torch.float64)  # (r, d)
    w[0, 0] = 1.0
    for r in range(1, max_len + 1):
        w[r, :-1] += w[r - 1, 1:]  # step "(" : d -> d + 1
        w[r, 1:] += w[r - 1, :-1]  # step ")" : d -> d - 1
    return w


def sample_lengths(n: int, config: ParensDataConfig, generator: torch.Generator) -> Tensor:
    """Even lengths uniform on ``{min_len, …, max_len}``.  # (n,) long"""
    n_choices = (config.max_len - config.min_len) // 2 + 1
    return config.min_len + 2 * torch.randint(n_choices, (n,), generator=generator)


def sample_dyck(lengths: Tensor, width: int, generator: torch.Generator) -> Tensor:
    """Uniform Dyck words of the given even lengths, right-padded to ``width``.  # (N, width)

    Position ``t`` of a string of length ``L`` at depth ``d`` gets ``(`` with probability
    ``W[L−t−1, d+1] / W[L−t, d]``, which makes every Dyck word of length ``L`` equally likely.
    """
    if (lengths % 2).any() or (lengths > width).any() or (lengths < 2).any():
        raise ValueError("Dyck lengths must be even, >= 2 and <= width")
    w = _ballot_table(width)
    n = lengths.shape[0]
    tokens = torch.full((n, width), PAD, dtype=torch.long)
    depth = torch.zeros(n, dtype=torch.long)
    u = torch.rand(n, width, generator=generator, dtype=torch.float64)  # (N, T)
    for t in range(width):
        active = t < lengths
        remaining = (lengths - t).clamp(min=1)
        p_open = w[remaining - 1, (depth + 1).clamp(max=width + 1)] / w[remaining, depth].clamp(min=1.0)
        is_open = u[:, t] < p_open
        tokens[:, t] = torch.where(active, torch.where(is_open, OPEN, CLOSE), PAD)
        depth = depth + torch.where(active, torch.where(is_open, 1, -1), 0)
    return tokens


def _uniform_strings(lengths: Tensor, width: int, generator: torch.Generator) -> Tensor:
    bits = torch.randint(2, (lengths.shape[0], width), generator=generator)  # (N, T)
    return torch.where(torch.arange(width) < lengths[:, None], bits, PAD)


def _balanced_shuffles(lengths: Tensor, width: int, generator: torch.Generator) -> Tensor:
    """Uniform arrangements of ``L/2`` opens and ``L/2`` closes (random-key argsort)."""
    pos = torch.arange(width)
    keys = torch.rand(lengths.shape[0], width, generator=generator)  # (N, T)
    keys = torch.where(pos < lengths[:, None], keys, 2.0)  # padding sorts last
    rank = keys.argsort(dim=-1).argsort(dim=-1)  # rank of each real position among real ones
    tokens = torch.where(rank < (lengths // 2)[:, None], OPEN, CLOSE)
    return torch.where(pos < lengths[:, None], tokens, PAD)


def _resample_until(sampler, accept, lengths: Tensor, width: int, generator: torch.Generator) -> Tensor:
    """Rejection sampling row by row: redraw rows until ``accept(tokens)`` holds for all."""
    tokens = sampler(lengths, width, generator)
    for _ in range(1000):
        bad = ~accept(tokens)
        if not bad.any():
            return tokens
        tokens[bad] = sampler(lengths[bad], width, generator)
    raise RuntimeError("rejection sampling did not finish; is the target set empty?")


def sample_unequal(lengths: Tensor, width: int, generator: torch.Generator) -> Tensor:
    """Uniform strings with ``D_L ≠ 0`` (both rules say unbalanced).  # (N, width)"""
    return _resample_until(_uniform_strings, lambda x: ~equal_count_label(x), lengths, width, generator)


def sample_near_miss(lengths: Tensor, width: int, generator: torch.Generator) -> Tensor:
    """A uniform Dyck word with one uniformly chosen symbol flipped (``D_L = ±2``).  # (N, width)"""
    tokens = sample_dyck(lengths, width, generator)
    flip = (torch.rand(lengths.shape[0], generator=generator) * lengths).long()  # (N,) in [0, L)
    at_flip = torch.arange(width) == flip[:, None]  # (N, T)
    return torch.where(at_flip, 1 - tokens, tokens)


def sample_ood(lengths: Tensor, width: int, generator: torch.Generator) -> Tensor:
    """Uniform equal-count strings that are not Dyck words.  # (N, width)"""
    return _resample_until(_balanced_shuffles, lambda x: ~nested_label(x), lengths, width, generator)


def _in_distribution(n: int, config: ParensDataConfig, generator: torch.Generator) -> ParensBatch:
    width = config.max_len
    n_bal = round(n * config.frac_balanced)
    n_near = round((n - n_bal) * config.frac_near_miss)
    n_rand = n - n_bal - n_near
    parts = [
        sample_dyck(sample_lengths(n_bal, config, generator), width, generator),
        sample_near_miss(sample_lengths(n_near, config, generator), width, generator),
        sample_unequal(sample_lengths(n_rand, config, generator), width, generator),
    ]
    tokens = torch.cat(parts)[torch.randperm(n, generator=generator)]  # (N, T), classes shuffled
    return _batch(tokens, (tokens != PAD).sum(dim=-1))


def to_device(data: ParensData, device: torch.device | str) -> ParensData:
    """The same data sets with every tensor on ``device``."""
    move = lambda b: ParensBatch(*(t.to(device) for t in b))
    return data._replace(train=move(data.train), test=move(data.test), ood=move(data.ood))


def make_parens_data(config: ParensDataConfig = ParensDataConfig(), seed: int = 0) -> ParensData:
    """Draw the training, test and OOD sets from ``seed`` (same seed, same tensors)."""
    generator = torch.Generator().manual_seed(seed)
    train = _in_distribution(config.n_train, config, generator)
    test = _in_distribution(config.n_test, config, generator)
    ood_tokens = sample_ood(sample_lengths(config.n_ood, config, generator), config.max_len, generator)
    ood = _batch(ood_tokens, (ood_tokens != PAD).sum(dim=-1))
    return ParensData(train=train, test=test, ood=ood, config=config, seed=seed)
