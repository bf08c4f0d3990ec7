"""Explore chapter 6: LLCs and loss susceptibilities at Nested- and Equal-Count-like solutions,
and re-training along the susceptibility gap.

Steps, each cached under ``--cache`` (default ``/tmp/parens_llc/n{n_train}_nm{near_miss}``):

* ``baseline``: train S seeds on the natural weights, print their OOD rates and classes;
* ``llcs``: LLC-only SGLD runs at many seeds over an ε/γ grid (stability, LLC vs OOD rate);
* ``chi``: SGLD at chosen anchors (seeds), ``--repeats`` times with different sampler seeds,
  printing the LLC, its drift over the run, and how well χ agrees between runs (its signal);
* ``retrain``: build the gap from the cached χ, retrain every seed from the same initialisation
  along ±gap at the given scales, and test the shift of the OOD rate (Mann-Whitney U);
* ``naive``: hand-picked group re-weightings (balanced, D_L = ±2, short, long strings).

What it found (2 shared CPU cores; mixed 4-head model, near-miss negatives):

* SGLD: with ε ≥ 1e-5, or nβ ≤ 3000 with γ = 300, single chains leave the basin (LLC 100-1000);
  ε = 3e-6, nβ = 5000 (n = 256), γ = 1000 is stable. The LLC estimate falls as γ grows.
* LLC: Nested-like solutions 6-8, Equal-Count-like 2-3; over 30 fitted seeds Spearman(LLC, OOD
  rate) = -0.77, Spearman(train loss, OOD rate) = -0.90 (LLC and loss are strongly correlated).
* χ of the loss is dominated by a few low-margin strings per solution; two runs at one anchor agree
  with correlation 0.4-0.8; anchors of the same kind correlate 0.2-0.5, no more than across kinds.
  With the minibatch loss as the observable (``observables=None`` and ``batch_size`` set) Σχ ≠ 0 and
  the agreement is worse; the chapter uses the full training loss from the probe traces.
* Re-training along ±gap (n = 512 and 256; exponential scale 0.3 and 0.6, additive 0.25) never moved
  the OOD distribution (one-sided Mann-Whitney p ≥ 0.17). Hand-picked: balanced ×4 raises the OOD
  rate (p = 0.025 at n = 256, no effect at n = 512); nothing moved it down significantly.

Usage::

    PYTHONPATH=. .venv/bin/python experiments/parens_llc_explore.py baseline
    PYTHONPATH=. .venv/bin/python experiments/parens_llc_explore.py llcs --eps-grid 3e-6,1e-5 --gamma-grid 300,1000
    PYTHONPATH=. .venv/bin/python experiments/parens_llc_explore.py chi --anchors 3,30 --nbeta 5000
    PYTHONPATH=. .venv/bin/python experiments/parens_llc_explore.py retrain --nested 3 --ec 30 --scales 0.3
    PYTHONPATH=. .venv/bin/python experiments/parens_llc_explore.py naive --scales 4 --groups balanced
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from patterning_core import SGLDConfig
from patterning_core.parens.data import ParensDataConfig, make_parens_data, to_string
from patterning_core.parens.patterning import (CLASS_NAMES, ParensSetting, classify, init_seeds, llc_at, loss_susceptibility, normalize,
                                               pattern_weights, shift_test, susceptibility_gap, train_seeds)



def clock():
    t, c = time.perf_counter(), time.process_time()
    return lambda: f"{time.perf_counter() - t:.0f}s wall, {time.process_time() - c:.0f}s cpu"


def baseline(args, setting, data, cache: Path) -> None:
    tick = clock()
    init = init_seeds(setting, range(args.seeds))
    res = train_seeds(setting, data, init)
    cls = classify(res)
    print(f"baseline {args.seeds} seeds: {tick()}")
    for s in range(args.seeds):
        print(f"  seed {s:2d}: train acc {res.train_acc[s]:.3f} loss {res.train_loss[s]:.1e} ood {res.ood_rate[s]:.2f} {CLASS_NAMES[int(cls[s])]}")
    torch.save(res._asdict(), cache / f"baseline_{args.seeds}.pt")


def chi(args, setting, data, cache: Path) -> None:
    base = torch.load(cache / f"baseline_{args.seeds}.pt")
    cfg = SGLDConfig(step_size=args.eps, nbeta=args.nbeta, gamma=args.gamma, num_chains=args.chains, num_draws=args.draws,
                     num_burnin=args.burnin, thin=args.thin, batch_size=args.batch)
    print(cfg)
    for s in [int(x) for x in args.anchors.split(",")]:
        anchor = {k: v[s] for k, v in base["params"].items()}
        runs = []
        for rs in range(args.repeats):
            tick = clock()
            r = loss_susceptibility(setting, anchor, data.train, cfg, seed=100 + rs)
            q = r.loss_trace.shape[1] // 4
            quarters = [args.nbeta * (r.loss_trace[:, i * q:(i + 1) * q].mean() - r.anchor_loss) for i in range(4)]
            print(f"seed {s} (ood {base['ood_rate'][s]:.2f}) run {rs}: LLC {r.llc.mean:.2f} ± {r.llc.std_err:.2f}, by quarter "
                  + " ".join(f"{float(x):.1f}" for x in quarters) + f"; per chain {[round(x, 1) for x in r.llc.per_chain.tolist()]}; {tick()}", flush=True)
            runs.append(r)
        if len(runs) > 1:
            a, b = runs[0].chi, runs[1].chi
            print(f"   χ agreement between runs: corr {torch.corrcoef(torch.stack([a, b]))[0, 1]:.3f}")
        chi_mean = torch.stack([r.chi for r in runs]).mean(0)
        torch.save(dict(chi=chi_mean, runs=[r._asdict() for r in runs], config=cfg), cache / f"chi_{s}_{args.tag}.pt")


def llcs(args, setting, data, cache: Path) -> None:
    """LLC-only runs at many seeds and an ε/γ grid: is λ̂ stable, and how does it track the OOD rate?"""
    base = torch.load(cache / f"baseline_{args.seeds}.pt")
    seeds = [int(x) for x in args.anchors.split(",")] if args.anchors else range(args.seeds)
    for eps in [float(x) for x in args.eps_grid.split(",")]:
        for gamma in [float(x) for x in args.gamma_grid.split(",")]:
            cfg = SGLDConfig(step_size=eps, nbeta=args.nbeta, gamma=gamma, num_chains=args.chains, num_draws=args.draws,
                             num_burnin=args.burnin, thin=1, batch_size=args.batch)
            for s in seeds:
                tick = clock()
                lam = llc_at(setting, {k: v[s] for k, v in base["params"].items()}, data.train, cfg, seed=7)
                print(f"eps {eps:g} gamma {gamma:g} seed {s:2d} ood {base['ood_rate'][s]:.2f} loss {base['train_loss'][s]:.1e}: "
                      f"LLC {lam.mean:6.2f} ± {lam.std_err:.2f} max chain {lam.per_chain.max():.1f}; {tick()}", flush=True)


def retrain(args, setting, data, cache: Path) -> None:
    base = torch.load(cache / f"baseline_{args.seeds}.pt")
    fitted = base["train_acc"] >= 0.99
    load = lambda s: torch.load(cache / f"chi_{s}_{args.tag}.pt", weights_only=False)["chi"]
    chi_n = torch.stack([normalize(load(int(s))) for s in args.nested.split(",")]).mean(0)
    chi_e = torch.stack([normalize(load(int(s))) for s in args.ec.split(",")]).mean(0)
    print(f"corr(χ_N, χ_EC) = {torch.corrcoef(torch.stack([chi_n, chi_e]))[0, 1]:.3f}")
    gap = susceptibility_gap(chi_e, chi_n)
    t = data.train
    groups = {"balanced": t.labels == 1, "unbalanced, D_L=+2": (t.labels == 0) & (t.min_depth == 0),
              "unbalanced, D_L=-2": (t.labels == 0) & (t.min_depth < 0)}
    for name, m in groups.items():
        print(f"   {name:22s} n={int(m.sum()):3d} mean normalized gap {float(normalize(gap)[m].mean()):+.3f}")
    order = gap.argsort()
    print("   most EC-favouring (lowest gap):", [to_string(t.tokens[i]) for i in order[:6].tolist()])
    print("   most Nested-favouring (highest gap):", [to_string(t.tokens[i]) for i in order[-6:].tolist()])
    init = init_seeds(setting, range(args.seeds))
    for scale in [float(x) for x in args.scales.split(",")]:
        for favour, alt in (("nested", "less"), ("equal_count", "greater")):
            h = pattern_weights(gap, favour, scale, method=args.method)
            tick = clock()
            res = train_seeds(setting, data, init, weights=h)
            ok = res.train_acc >= 0.99
            test = shift_test(base["ood_rate"][fitted], res.ood_rate[ok], alt)
            paired = (res.ood_rate - base["ood_rate"])[ok & fitted]
            print(f"scale {scale} favour {favour}: h in [{h.min():.2f}, {h.max():.2f}], fit {int(ok.sum())}/{args.seeds}; {test}; "
                  f"paired mean change {paired.mean():+.3f} ({int((paired * (1 if alt == 'greater' else -1) > 0).sum())}/{len(paired)} the intended way); {tick()}", flush=True)
            print("    ", " ".join(f"{x:.2f}" for x in res.ood_rate.tolist()))


def naive(args, setting, data, cache: Path) -> None:
    """Label-based re-weightings (hand-picked groups), to calibrate how far data can move the OOD rate."""
    base = torch.load(cache / f"baseline_{args.seeds}.pt")
    fitted = base["train_acc"] >= 0.99
    t = data.train
    groups = {"balanced": t.labels == 1, "D_L=+2": (t.labels == 0) & (t.min_depth == 0), "D_L=-2": (t.labels == 0) & (t.min_depth < 0),
              "short (L<=8)": t.lengths <= 8, "long (L>=12)": t.lengths >= 12, "starts with ')'": t.tokens[:, 0] == 1}
    groups = {k: v for k, v in groups.items() if not args.groups or k in args.groups.split(";")}  # ";"-separated names
    init = init_seeds(setting, range(args.seeds))
    for name, m in groups.items():
        for factor in [float(x) for x in args.scales.split(",")]:
            h = torch.where(m, factor, 1.0)
            h = h / h.mean()
            tick = clock()
            res = train_seeds(setting, data, init, weights=h)
            ok = res.train_acc >= 0.99
            paired = (res.ood_rate - base["ood_rate"])[ok & fitted]
            lo, hi = shift_test(base["ood_rate"][fitted], res.ood_rate[ok], "less"), shift_test(base["ood_rate"][fitted], res.ood_rate[ok], "greater")
            print(f"{name} x{factor}: fit {int(ok.sum())}/{args.seeds}; median {lo.median_baseline:.3f} -> {lo.median_treated:.3f}, p(less) {lo.p:.2g} p(greater) {hi.p:.2g}; "
                  f"paired mean change {paired.mean():+.3f}; {tick()}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=["baseline", "chi", "retrain", "naive", "llcs"])
    p.add_argument("--seeds", type=int, default=32)
    p.add_argument("--n-train", type=int, default=256)
    p.add_argument("--near-miss", type=float, default=1.0)
    p.add_argument("--cache", default="/tmp/parens_llc")
    p.add_argument("--anchors", default="")
    p.add_argument("--eps", type=float, default=3e-6)
    p.add_argument("--nbeta", type=float, default=5000.0)
    p.add_argument("--gamma", type=float, default=1000.0)
    p.add_argument("--chains", type=int, default=8)
    p.add_argument("--draws", type=int, default=250)
    p.add_argument("--burnin", type=int, default=500)
    p.add_argument("--thin", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--tag", default="a")
    p.add_argument("--nested", default="")
    p.add_argument("--ec", default="")
    p.add_argument("--scales", default="1")
    p.add_argument("--method", default="exponential")
    p.add_argument("--groups", default="")
    p.add_argument("--eps-grid", default="3e-6")
    p.add_argument("--gamma-grid", default="1000")
    args = p.parse_args()
    torch.set_num_threads(1)
    cache = Path(args.cache) / f"n{args.n_train}_nm{args.near_miss}"
    cache.mkdir(parents=True, exist_ok=True)
    data = make_parens_data(ParensDataConfig(n_train=args.n_train, frac_near_miss=args.near_miss), seed=0)
    {"baseline": baseline, "chi": chi, "retrain": retrain, "naive": naive, "llcs": llcs}[args.step](args, ParensSetting(), data, cache)


if __name__ == "__main__":
    main()
