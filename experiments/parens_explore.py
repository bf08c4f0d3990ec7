"""Explore settings where many seeds fit the parentheses task but split between algorithms.

For each named setting, trains S seeds as ONE computation (parameters stacked along a leading
seed axis, ``torch.func.functional_call`` vmapped over it, loss = Σ_s mean-loss_s, one Adam),
then reports per seed: train / test accuracy and the OOD "balanced" rate (0 = Nested-like,
1 = Equal-Count-like), with quantiles, a 10-bin histogram and the wall time.

This holds a minimal local trainer for exploration only; the chapter uses
``patterning_core.training.train``.

Usage::

    PYTHONPATH=. .venv/bin/python experiments/parens_explore.py                       # list settings
    PYTHONPATH=. .venv/bin/python experiments/parens_explore.py mixed1_nm1 causal1    # run some
"""
from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from patterning_core.parens.model import (
    ParensTransformer,
    ParensTransformerConfig,
    accuracy,
    balanced_rate,
    stack_params,
    stacked_logits,
)
from patterning_core.parens.data import OPEN, CLOSE, ParensBatch, ParensDataConfig, make_parens_data


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings of the local multi-seed trainer."""

    steps: int = 1000  # optimiser steps
    lr: float = 3e-3  # Adam learning rate
    batch_size: int = 32  # strings per step per seed (each seed its own draw); 0 = full batch
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    cosine: bool = False  # decay the learning rate to 0 along a half cosine (after warmup)
    warmup: int = 0  # steps of linear learning-rate warmup
    eval_every: int = 250  # steps between evaluations in the trajectory


@dataclass(frozen=True)
class Setting:
    """One experiment: data, model and training configuration and the seeds."""

    data: ParensDataConfig = ParensDataConfig()  # data sizes and lengths
    model: ParensTransformerConfig = ParensTransformerConfig()  # architecture
    train: TrainConfig = TrainConfig()  # optimiser
    n_seeds: int = 32  # models trained together
    data_seed: int = 0  # seed of the data sets (shared by all models)


class SeedStats(NamedTuple):
    """Per-seed results, each (S,), plus the OOD trajectory (n_evals, S)."""

    ood_split: Tensor  # (S, 3): OOD balanced rate on strings "(…)", with min depth -1, with min depth <= -2
    train_acc: Tensor  # (S,) final training accuracy
    test_acc: Tensor  # (S,) in-distribution held-out accuracy
    ood_balanced: Tensor  # (S,) fraction of OOD strings called balanced (0 Nested, 1 Equal-Count)
    ood_trajectory: Tensor  # (n_evals, S) the same, every eval_every steps
    train_acc_trajectory: Tensor  # (n_evals, S) training accuracy, every eval_every steps
    seconds: float  # wall time of training and the evaluations along the way


def weighted_loss(logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """``Σ_s Σ_i h_si ℓ_si / Σ_i h_si`` for logits, labels, weights each (S, B)."""
    loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")  # (S, B)
    return ((weights * loss).sum(dim=-1) / weights.sum(dim=-1)).sum()


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of ``cfg.lr`` at ``step``: linear warmup, then constant or half-cosine to 0."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    if not cfg.cosine:
        return 1.0
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train_stacked(
    setting: Setting, train: ParensBatch, weights: Tensor | None = None, seed: int = 0
) -> Iterator[tuple[dict[str, Tensor], ParensTransformer]]:
    """Train ``setting.n_seeds`` models (init seeds 0..S-1) on ``train``; weights h (N,) or (S, N).

    Yields the stacked parameters (each (S, ...)) and the base module after every step.
    """
    cfg, S, N = setting.train, setting.n_seeds, train.tokens.shape[0]
    base = ParensTransformer(setting.model)
    params = {k: v.clone().requires_grad_(True) for k, v in stack_params(setting.model, range(S)).items()}
    h = torch.ones(S, N) if weights is None else weights.expand(S, N)
    opt = torch.optim.AdamW(params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: _lr_factor(step, cfg))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(cfg.steps):
        if cfg.batch_size:
            idx = torch.randint(N, (S, cfg.batch_size), generator=gen)  # (S, B), own draw per seed
            tokens, labels, w = train.tokens[idx], train.labels[idx], h.gather(1, idx)
        else:
            tokens, labels, w = train.tokens, train.labels.expand(S, N), h
        loss = weighted_loss(stacked_logits(base, params, tokens), labels, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        yield params, base


def run(setting: Setting) -> SeedStats:
    """Train and evaluate one setting."""
    torch.set_num_threads(1)
    data = make_parens_data(setting.data, seed=setting.data_seed)
    t0 = time.perf_counter()
    traj, traj_acc = [], []
    for step, (params, base) in enumerate(train_stacked(setting, data.train), start=1):
        if step % setting.train.eval_every == 0 or step == setting.train.steps:
            with torch.no_grad():
                traj.append(balanced_rate(stacked_logits(base, params, data.ood.tokens)))
                traj_acc.append(accuracy(stacked_logits(base, params, data.train.tokens), data.train.labels))
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        test_acc = accuracy(stacked_logits(base, params, data.test.tokens), data.test.labels)
        ood_logits = stacked_logits(base, params, data.ood.tokens)  # (S, N_ood)
    ood = data.ood
    wrapped = (ood.tokens[:, 0] == OPEN) & (ood.tokens.gather(1, ood.lengths[:, None] - 1)[:, 0] == CLOSE)
    groups = (wrapped, ood.min_depth == -1, ood.min_depth <= -2)
    split = torch.stack([balanced_rate(ood_logits[:, g]) for g in groups], dim=1)  # (S, 3)
    return SeedStats(split, traj_acc[-1], test_acc, traj[-1], torch.stack(traj), torch.stack(traj_acc), seconds)


def summarize(name: str, setting: Setting, stats: SeedStats) -> str:
    """A few lines: fit, OOD quantiles, histogram, time."""
    q = torch.quantile(stats.ood_balanced, torch.tensor([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]))
    hist = torch.histc(stats.ood_balanced, bins=10, min=0.0, max=1.0).int().tolist()
    fit = stats.train_acc >= 0.99
    fit_ood = stats.ood_balanced[fit]
    lines = [
        f"== {name}: {setting.model}",
        f"   data {setting.data}",
        f"   train {setting.train}, seeds {setting.n_seeds}",
        f"   wall {stats.seconds:.1f}s = {stats.seconds / setting.n_seeds:.2f}s/seed",
        f"   train acc: min {stats.train_acc.min():.3f} median {stats.train_acc.median():.3f}; "
        f"seeds >= 0.99: {int(fit.sum())}/{setting.n_seeds}; test acc median {stats.test_acc.median():.3f} "
        f"min {stats.test_acc.min():.3f}",
        "   OOD balanced rate quantiles [0,.1,.25,.5,.75,.9,1]: " + " ".join(f"{v:.2f}" for v in q.tolist()),
        f"   histogram (10 bins on [0,1]): {hist}",
        f"   among fitted seeds: <0.1: {int((fit_ood < 0.1).sum())}, 0.1-0.9: "
        f"{int(((fit_ood >= 0.1) & (fit_ood <= 0.9)).sum())}, >0.9: {int((fit_ood > 0.9).sum())}",
        "   OOD rate on '(...)' strings / min depth -1 / min depth <= -2, per seed: "
        + " ".join(f"{a:.2f}/{b:.2f}/{c:.2f}" for a, b, c in stats.ood_split.tolist()),
        "   OOD rate over training (median per eval): "
        + " ".join(f"{v:.2f}" for v in stats.ood_trajectory.median(dim=1).values.tolist()),
        "   train acc over training (median per eval): "
        + " ".join(f"{v:.2f}" for v in stats.train_acc_trajectory.median(dim=1).values.tolist()),
        "   per-seed OOD rate: " + " ".join(f"{v:.2f}" for v in stats.ood_balanced.tolist()),
    ]
    return "\n".join(lines)


M, D, T = ParensTransformerConfig, ParensDataConfig, TrainConfig
SETTINGS: dict[str, Setting] = {
    # one layer, mean pool ("nm1": all unbalanced training strings are one-flip near misses)
    "causal1": Setting(model=M(n_heads=2)),
    "bidir1": Setting(model=M(attn="bidirectional", n_heads=2)),
    "bidir1_nopos": Setting(model=M(attn="bidirectional", n_heads=2, pos_emb=False)),  # can only count
    "bidir1_nm1": Setting(data=D(frac_near_miss=1.0), model=M(attn="bidirectional", n_heads=2)),
    "mixed1": Setting(model=M(attn="mixed", n_heads=4)),
    "mixed1_nm1": Setting(data=D(frac_near_miss=1.0), model=M(attn="mixed", n_heads=4)),
    "mixed1_nm1_d1": Setting(data=D(frac_near_miss=1.0), model=M(attn="mixed", n_heads=4), data_seed=1),
    "mixed1_nm1_2k": Setting(data=D(frac_near_miss=1.0), model=M(attn="mixed", n_heads=4),
                             train=T(steps=2000, eval_every=500)),
    # two causal layers read out by a CLS token
    "causal2_cls": Setting(model=M(n_layers=2, n_heads=2, pool="cls")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="settings to run")
    args = parser.parse_args()
    if not args.names:
        for name, s in SETTINGS.items():
            print(name, s)
        return
    for name in args.names:
        stats = run(SETTINGS[name])
        print(summarize(name, SETTINGS[name], stats), flush=True)


if __name__ == "__main__":
    main()
