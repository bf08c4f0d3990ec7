"""Explorations behind chapters 3 (choosing the branch) and 4 (rewriting minima).

``bif``: at the k -> k+1 branch point (regular k-gon, feature k dead at the origin) estimate chi
by SGLD on the dead feature, take one patterning step per gap, train every seed with perturbed
gradient descent and report the success rate per (scale, max cardinality of re-weighted inputs,
metric m) next to the unpatterned baseline over the same noise.

``rewrite``: run the chapter-4 patterning loop from the regular pentagon to the given target
arrangements, for the given schedules, gains and metrics, and print per run whether and when the
target order was reached and settled, and how many chi estimates it used.

Usage::

    .venv/bin/python experiments/tms_control_explore.py bif --k 4 --scales 0.5 1 2 5 --metrics 0 0.25 0.5 --cards 5 --seeds 20
    .venv/bin/python experiments/tms_control_explore.py bif --k 3 --cos 0.5 --scales 1 2 --metrics 0 0.25 --cards 4 --seeds 20
    .venv/bin/python experiments/tms_control_explore.py rewrite --targets 01432 03124 02413 --schedules single periodic event --seed 0
    .venv/bin/python experiments/tms_control_explore.py rewrite --targets 03124 --integral --steps 50 --max-epochs 100
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from patterning_core import EventTriggered, Periodic, SGLDConfig, Single
from patterning_core.tms.model import natural_weights
from patterning_core.tms.polygons import optimal_kgon, read_polygon
from patterning_core.tms.control import (NoisyTrainConfig, RewriteConfig, bifurcation_point, bifurcation_susceptibilities,
                                         confusion, gap_weights, new_feature_gap, perturbed_train, rewrite, settle)


def bif(args: argparse.Namespace) -> None:
    k, S, d = args.k, args.sparsity, args.k + 1
    t0 = time.process_time()
    cfg = SGLDConfig(step_size=args.eps, nbeta=args.nbeta, gamma=args.gamma, num_chains=args.chains,
                     num_draws=args.draws, num_burnin=200, thin=2)
    sus = bifurcation_susceptibilities(k, S, cfg, seed=0)
    print(f"SGLD {time.process_time() - t0:.1f}s cpu; mu(dot[j,{k}]) =",
          [round(float(sus.mu[r]), 3) for r in range(sus.mu.shape[0])][: d * (d - 1) // 2])
    variants = [(s, c, m) for s in args.scales for c in args.cards for m in args.metrics] + [(0.0, None, 0.0)]
    Ws, Hs, noise, labels = [], [], [], []
    for s, card, m in variants:
        for g in range(k):
            h = natural_weights(d, S) if s == 0 else gap_weights(sus, k, g, S, args.cos, scale=s, metric=m, max_cardinality=card).weights
            for i in range(args.seeds):
                Ws.append(bifurcation_point(k, S))
                Hs.append(h)
                noise.append(1000 * g + i)
                labels.append(g)
    W0, H, target = torch.stack(Ws), torch.stack(Hs), torch.tensor(labels)
    cfg = NoisyTrainConfig(steps=args.steps, lr=args.lr, noise=args.noise, every=10)
    t1 = time.process_time()
    W = settle(perturbed_train(W0, H, cfg, noise).W, S, steps=2000)
    landed = new_feature_gap(W, k)
    print(f"training {len(noise)} rows: {time.process_time() - t1:.1f}s cpu")
    n = k * args.seeds
    for v, (s, card, m) in enumerate(variants):
        t, l = target[v * n:(v + 1) * n], landed[v * n:(v + 1) * n]
        name = "baseline" if s == 0 else f"scale {s:g}, card <= {card}, metric {m:g}"
        print(f"{name:32s} success {float((l == t).float().mean()):.2f}  landed histogram "
              f"{torch.bincount(l + 1, minlength=k + 1).tolist()[1:]} nowhere {(l < 0).sum().item()}")
        if args.verbose:
            print(confusion(t, l, k))


def rewrite_cmd(args: argparse.Namespace) -> None:
    S = args.sparsity
    W0 = optimal_kgon(5, S)
    sgld = SGLDConfig(step_size=args.eps, nbeta=args.nbeta, gamma=args.gamma, num_chains=args.chains,
                      num_draws=args.draws, num_burnin=100)
    schedules = {"single": Single(), "periodic": Periodic(args.every),
                 "event": EventTriggered(window=args.window, rel_tol=args.rel_tol, min_gap=args.min_gap)}
    for arr in args.targets:
        arrangement = tuple(int(c) for c in arr)
        for name in args.schedules:
            for scale in args.scales:
                for m in args.metrics:
                    cfg = RewriteConfig(steps=args.steps, lr=args.lr, scale=scale, metric=m, max_epochs=args.max_epochs,
                                        integral=args.integral, gain_up=args.gain_up)
                    t = time.process_time()
                    run = rewrite(W0, arrangement, S, sgld, cfg, schedules[name], seed=args.seed)
                    p = read_polygon(run.W[-1], threshold=0.3)
                    print(f"{arr} {name:8s} s={scale:g} m={m:g}: reached {run.reached_epoch} done {run.done_epoch} {run.failure or ''} "
                          f"reg {run.regularity_error:.3f} estimates {run.num_estimates} last order {p.order} "
                          f"norms {[round(x, 2) for x in p.norms]} max h/h0 {float((run.weights[-1] / natural_weights(5, S)).max()):.1f} "
                          f"cpu {time.process_time() - t:.1f}s", flush=True)
                    if args.verbose:
                        for e in range(0, run.W.shape[0], max(1, run.W.shape[0] // 12)):
                            q = read_polygon(run.W[e], threshold=0.3)
                            print(f"    epoch {e}: order {q.order} norms {[round(x, 2) for x in q.norms]} "
                                  f"angles {[round(math.degrees(a)) for a in q.angles]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bif", help="one patterning step at a k -> k+1 branch point")
    b.add_argument("--k", type=int, default=4)
    b.add_argument("--sparsity", type=float, default=0.99)
    b.add_argument("--cos", type=float, default=math.cos(math.radians(72)))
    b.add_argument("--scales", type=float, nargs="+", default=[1.0])
    b.add_argument("--cards", type=int, nargs="+", default=[5], help="max cardinality of reweighted inputs (k+1: all)")
    b.add_argument("--metrics", type=float, nargs="+", default=[0.25], help="dh minimizes sum dh^2/h0^(2 m)")
    b.add_argument("--seeds", type=int, default=10, help="seeds per gap")
    b.add_argument("--steps", type=int, default=1000)
    b.add_argument("--lr", type=float, default=3.0)
    b.add_argument("--noise", type=float, default=1e-3)
    b.add_argument("--nbeta", type=float, default=5000.0)
    b.add_argument("--gamma", type=float, default=0.0)
    b.add_argument("--eps", type=float, default=2e-3)
    b.add_argument("--chains", type=int, default=2048)
    b.add_argument("--draws", type=int, default=200)
    b.add_argument("--verbose", action="store_true")
    r = sub.add_parser("rewrite", help="patterning loop from the regular pentagon to a permuted one")
    r.add_argument("--targets", nargs="+", default=["10234"], help="arrangements, e.g. 10234 (swap f0, f1)")
    r.add_argument("--schedules", nargs="+", default=["event"], choices=["single", "periodic", "event"])
    r.add_argument("--scales", type=float, nargs="+", default=[0.01])
    r.add_argument("--metrics", type=float, nargs="+", default=[0.25])
    r.add_argument("--integral", action="store_true", help="h = reweight(h + s dh) (the post's loop) instead of h0 + s dh")
    r.add_argument("--gain-up", type=float, default=2.0, help="step growth when the tracking error stalls")
    r.add_argument("--sparsity", type=float, default=0.99)
    r.add_argument("--steps", type=int, default=10)
    r.add_argument("--lr", type=float, default=3.0)
    r.add_argument("--max-epochs", type=int, default=500)
    r.add_argument("--every", type=int, default=10)
    r.add_argument("--window", type=int, default=10)
    r.add_argument("--rel-tol", type=float, default=1e-2)
    r.add_argument("--min-gap", type=int, default=10)
    r.add_argument("--nbeta", type=float, default=5000.0)
    r.add_argument("--gamma", type=float, default=1000.0)
    r.add_argument("--eps", type=float, default=1e-3)
    r.add_argument("--chains", type=int, default=256)
    r.add_argument("--draws", type=int, default=100)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"bif": bif, "rewrite": rewrite_cmd}[args.cmd](args)


if __name__ == "__main__":
    main()
