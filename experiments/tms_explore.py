"""Chapter 1 exploration: does gradient descent on the exact TMS loss pass through k-gon stages?

Trains many seeds at once (``W`` of shape ``(seeds, 2, 5)``, loss summed over seeds) with plain
SGD on the exact population loss from a small Gaussian init, and reads the polygon stage at every
step in two ways:

* strict: :func:`classify_polygon` - the alive features (norm > 0.5) form a *regular* k-gon
  (adjacent angles within ``--tol`` rad of 2 pi / k) and every other feature has norm < ``--dead``
  (default 0.5, i.e. only the regularity of the alive features is checked);
* loose: the number of features with norm > 0.5, whatever their arrangement.

A stage is a run of one label lasting at least ``--min-steps`` steps. A seed has *ordered stages*
when its stage list ends ``2, 3, 4, 5`` (strictly increasing throughout). The learning rate is
given as ``lr * p`` (``p = 1 - S``) because the gradient of the population loss scales with p.
With ``--batch-size B`` each seed instead sees B inputs drawn from q per step (minibatch SGD).
With ``--bias`` the model has a learned output bias b (the variant of Chen et al. 2023), trained at
learning rate ``--lr-bias`` (default ``lr * p``: the gradient of b is O(1), that of W is O(p)); with
``--optimizer adam`` both use Adam at ``--lr-p`` as the plain learning rate.

It also prints the expansion of the exact loss for a dead feature next to a unit k-gon,
``a(theta) r + b(theta) r^2`` (units of one one-hot input): the (k+1)-th feature grows fast next to
a digon (b down to -2), at half speed next to a triangle (b down to -1) and not at all, to second
order, next to the square (b ~ 0: the post's 1 + r^4); the slope a < 0 from pair inputs, of size
~ p/(1-p), pulls a dead feature *towards* alive ones (the trap of two features sharing a vertex).

Usage::

    .venv/bin/python experiments/tms_explore.py --sparsity 0.95 0.99 0.999 --seeds 16 --steps 3000
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from patterning_core.tms.model import (TMSConfig, init_weights, input_probs, natural_weights, per_input_losses,
                                        population_loss)
from patterning_core.tms.polygons import (Stage, classify_polygon, count_alive, dead_feature_expansion, ideal_kgon,
                                      optimal_kgon, stage_runs)


@dataclass(frozen=True)
class ExploreResult:
    """Per-seed stage lists and the summary of one (S, lr, init) setting."""

    sparsity: float
    lr: float
    steps: int
    init_scale: float
    seconds: float
    strict: list[list[Stage]]  # per seed
    loose: list[list[Stage]]  # per seed
    final_label: list[int]  # classify_polygon at the last step, per seed
    final_loss: list[float]  # per seed


def ordered(stages: list[Stage]) -> bool:
    """Stage labels strictly increasing and ending 2, 3, 4, 5."""
    ks = [s.k for s in stages]
    return ks[-4:] == [2, 3, 4, 5] and all(a < b for a, b in zip(ks, ks[1:]))


def explore(sparsity: float, lr_p: float, steps: int, init_scale: float, seeds: int, seed: int,
            min_steps: int, tol: float, dead: float, batch_size: int | None = None, bias: bool = False,
            lr_bias: float | None = None, optimizer: str = "sgd") -> ExploreResult:
    """Train ``seeds`` models with SGD (or Adam) on the exact loss (or on minibatches of ``batch_size``
    inputs drawn from q, one stream per seed) and read their stages at every step."""
    lr = lr_p / (1.0 - sparsity) if optimizer == "sgd" else lr_p
    W = init_weights(TMSConfig(init_scale=init_scale), range(seed, seed + seeds), torch.float64)  # (seeds, 2, 5)
    W.requires_grad_(True)
    b = torch.zeros(seeds, W.shape[-1], dtype=W.dtype, requires_grad=True) if bias else None  # (seeds, 5)
    groups = [{"params": [W], "lr": lr}]
    if bias:
        groups.append({"params": [b], "lr": (lr_p if optimizer == "sgd" else lr) if lr_bias is None else lr_bias})
    opt = torch.optim.SGD(groups, lr=lr) if optimizer == "sgd" else torch.optim.Adam(groups, lr=lr)
    h = natural_weights(5, sparsity)  # (32,)
    q = input_probs(5, sparsity).expand(seeds, 32)  # (seeds, 32)
    gen = torch.Generator().manual_seed(seed + 1)
    strict_lab, loose_lab = [], []
    t0 = time.perf_counter()
    for _ in range(steps):
        if batch_size is None:
            loss = population_loss(W, sparsity, h, b=b)  # (seeds,)
        else:
            idx = torch.multinomial(q, batch_size, replacement=True, generator=gen)  # (seeds, B)
            counts = torch.zeros(seeds, 32, dtype=W.dtype).scatter_add_(1, idx, torch.ones_like(idx, dtype=W.dtype))
            loss = (counts * per_input_losses(W, b=b)).sum(-1) / batch_size  # (seeds,)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
        with torch.no_grad():
            strict_lab.append(classify_polygon(W, dead=dead, tol=tol))  # (seeds,)
            loose_lab.append(count_alive(W))  # (seeds,)
    seconds = time.perf_counter() - t0
    S_lab, L_lab = torch.stack(strict_lab, 1), torch.stack(loose_lab, 1)  # (seeds, steps)
    with torch.no_grad():
        final_loss = population_loss(W, sparsity, h, b=b).tolist()
    return ExploreResult(sparsity, lr, steps, init_scale, seconds,
                         [stage_runs(S_lab[i], min_steps) for i in range(seeds)],
                         [stage_runs(L_lab[i], min_steps) for i in range(seeds)],
                         S_lab[:, -1].tolist(), final_loss)


def fmt(stages: list[Stage]) -> str:
    return " ".join(f"{s.k}[{s.length}]" for s in stages) or "-"


def kgon_losses(sparsity: float) -> str:
    """Exact loss of the ideal k-gons (unit norm / optimal norm), k = 1..5."""
    parts = []
    for k in range(1, 6):
        unit = float(population_loss(ideal_kgon(k), sparsity))
        W = optimal_kgon(k, sparsity)
        best = float(population_loss(W, sparsity))
        norm = float(torch.linalg.vector_norm(W[:, 0]))
        parts.append(f"k={k}: {unit:.3e} (unit) {best:.3e} (norm {norm:.3f})")
    return "; ".join(parts)


def expansion_table(sparsity: float) -> str:
    """min/max over theta of the slope a and curvature b next to the unit k-gon, k = 2, 3, 4."""
    parts = []
    for k in (2, 3, 4):
        e = dead_feature_expansion(k, sparsity)
        parts.append(f"k={k}: a in [{e.slope.min():.2e}, {e.slope.max():.2e}], "
                     f"b in [{e.curvature.min():.3f}, {e.curvature.max():.3f}]")
    return "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.95, 0.99, 0.999])
    ap.add_argument("--lr-p", type=float, default=0.03, help="learning rate times p = 1 - S")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--init-scale", type=float, nargs="+", default=[0.01])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-steps", type=int, default=10, help="shortest run counted as a stage")
    ap.add_argument("--tol", type=float, default=0.2, help="regularity tolerance (rad) of a strict stage")
    ap.add_argument("--dead", type=float, default=0.5, help="non-alive features of a strict stage must be below this")
    ap.add_argument("--batch-size", type=int, default=None, help="minibatch size (default: exact loss)")
    ap.add_argument("--bias", action="store_true", help="learned output bias (Chen et al. 2023 variant)")
    ap.add_argument("--lr-bias", type=float, default=None, help="learning rate of the bias (default lr * p for SGD)")
    ap.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="adam: --lr-p is the plain learning rate")
    ap.add_argument("--verbose", action="store_true", help="print every seed's stages")
    args = ap.parse_args()
    torch.set_num_threads(1)

    batch = ("exact" if args.batch_size is None else str(args.batch_size)) + (" +bias" if args.bias else "") + (
        " adam" if args.optimizer == "adam" else "")
    print("| S | batch | lr | lr*p | init | steps | strict 2-3-4-5 | loose 2-3-4-5 | strict 4-gon stage "
          "| ends regular 5-gon | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for S in args.sparsity:
        for scale in args.init_scale:
            r = explore(S, args.lr_p, args.steps, scale, args.seeds, args.seed, args.min_steps, args.tol,
                        args.dead, args.batch_size, args.bias, args.lr_bias, args.optimizer)
            n = args.seeds
            strict_ok = sum(ordered(s) for s in r.strict)
            loose_ok = sum(ordered(s) for s in r.loose)
            has4 = sum(any(st.k == 4 for st in s) for s in r.strict)
            end5 = sum(lab == 5 for lab in r.final_label)
            print(f"| {S} | {batch} | {r.lr:.3g} | {args.lr_p} | {scale} | {r.steps} | {strict_ok}/{n} "
                  f"| {loose_ok}/{n} | {has4}/{n} | {end5}/{n} | {r.seconds:.1f} |", flush=True)
            if args.verbose:
                for i in range(n):
                    print(f"    seed {args.seed + i:2d}  strict: {fmt(r.strict[i]):28s} loose: {fmt(r.loose[i]):34s} "
                          f"final label {r.final_label[i]:2d}  loss {r.final_loss[i]:.4e}")
    for S in args.sparsity:
        print(f"ideal k-gon losses at S={S}: {kgon_losses(S)}")
        print(f"dead feature next to a unit k-gon at S={S}: {expansion_table(S)}")


if __name__ == "__main__":
    main()
