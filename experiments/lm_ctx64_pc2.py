"""Chapter 5's method in the 64-token setting: per-head susceptibilities, PC2, Induce / Repress weights.

Issue 17. The model is a checkpoint of the long baseline run of ``lm_ctx64_control.py`` (``--base``,
``--step``: at or just before onset). As in chapter 5:

* per-head susceptibilities at leading order (``heads.leading_order_response`` and
  ``heads.linear_susceptibilities``: :math:`\\chi_{c,i} \\to -\\frac{\\beta}{\\gamma}\\nabla_c\\phi_c\\cdot\\nabla_c\\ell_i`,
  :math:`\\phi_c` the mean loss on ``obs`` observable contexts, :math:`i` every next-token loss of ``probe``
  probe contexts), head-normalised (each row to unit rms) and decomposed by SVD, every mode oriented
  so that the induction head (IH: the best layer-1 prefix-matching head at the end of the long run)
  loads positively; the previous-token head (PT) is the layer-0 head attending most to :math:`t-1` there;
* this is repeated on ``draws`` independent draws of observable and probe contexts (the issue's
  "PC2 averaged over ≥ 5 draws"): per draw, which heads are PC2's two largest positive loadings and the
  AUC of induction-pattern tokens on PC2's token loadings (0.5: no separation); the same for PC1..PC4,
  to report which mode pairs PT and IH if PC2 does not;
* the Induce score of every training context is :math:`z_s = -\\sum_c (u_{2,c}/\\mathrm{rms}_c)\\chi_{c,s}`
  (``heads.linear_scores``), standardised per draw and **averaged over the draws**; Induce / Repress
  weights are ``sequence_weights(z, ±1.5, 4)`` (mean one in :math:`[1/4, 4]`, the oracle's form), so
  the comparison with the oracle (``w ∝ exp(±1.5 z_share)`` in the same cap) is like for like.

The scores never see which tokens repeat; their correlation with the true induction share and the
token-weighted share ratio they reach are reported as diagnostics (the PC2 effect as a fraction of
the oracle's leverage). Output: ``results/lm/<base>_pc2_step<step>.json`` (small, with provenance) and the
weights, one per training context, in ``_build/lm_ctx64/pc2_weights_<base>_step<step>.pt`` for
``lm_ctx64_control.py run --conditions induce repress``.

Usage::

    nice -n 10 .venv/bin/python experiments/lm_ctx64_pc2.py --base ctx64_long --step 8000
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import mannwhitneyu, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lm_ctx64_control import (CHECKPOINTS, ControlConfig, checkpoint_path, load_pool, pc2_weights_path,  # noqa: E402
                              provenance, weight_summary)

from patterning_core.lm import data as lm_data  # noqa: E402
from patterning_core import SGLDConfig  # noqa: E402
from patterning_core.lm.heads import head_param_covariance, leading_order_response, linear_scores, linear_susceptibilities  # noqa: E402
from patterning_core.lm.leverage import oracle_weights  # noqa: E402
from patterning_core.lm.model import AttnOnlyTransformer  # noqa: E402
from patterning_core.lm.patterning import sequence_weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NBETA, GAMMA = 20.0, 100.0  # chapter 5's posterior (n·β, localization)
STRENGTH, MAX_RATIO = 1.5, 4.0  # chapter 5's weight form: exp(±1.5 z) in [1/4, 4]


def auc(v: torch.Tensor, mask: torch.Tensor) -> float:
    """P(loading of a marked token > loading of an unmarked one): the Mann–Whitney AUC."""
    return float(mannwhitneyu(v[mask].numpy(), v[~mask].numpy()).statistic / (int(mask.sum()) * int((~mask).sum())))


def circuit_heads(run: dict) -> tuple[int, int]:
    """(IH, PT) at the end of a run: best layer-1 prefix-matching head, best layer-0 previous-token head."""
    last = run["trajectory"][-1]
    return int(np.argmax(last["prefix_matching"][1])), int(np.argmax(last["previous_token"][0]))


def modes(model: AttnOnlyTransformer, obs: torch.Tensor, probe: torch.Tensor, n: int, ih_row: int):
    """Head-normalised SVD of the leading-order χ; modes oriented so that row ``ih_row`` loads ≥ 0."""
    lead = leading_order_response(model, obs, nbeta=NBETA, gamma=GAMMA, n=n)
    X = linear_susceptibilities(model, lead, probe).reshape(len(lead.heads), -1)  # (heads, tokens)
    rms = X.pow(2).mean(1).sqrt()  # (heads,)
    U, S, Vt = torch.linalg.svd(X / rms[:, None], full_matrices=False)
    sign = torch.where(U[ih_row] >= 0, 1.0, -1.0).to(U.dtype)  # (modes,)
    return lead, rms, U * sign, S, Vt * sign[:, None]


def sgld_check(model: AttnOnlyTransformer, sgld_tokens: torch.Tensor, obs: torch.Tensor, probe: torch.Tensor, lead, n: int,
               ih_row: int, pt_row: int, labels: list[str], config: SGLDConfig, seed: int = 0) -> tuple[dict, object, torch.Tensor]:
    r"""SGLD's :math:`\mathrm{Cov}_c[\phi_c, w_c]` on the same observable contexts against the leading order
    :math:`\nabla_c\phi_c/\gamma` (per head: regression coefficient ``k`` and cosine), and the PC2 reading of the
    susceptibilities built from the SGLD covariance (``linear_susceptibilities``) on the same probe. Also
    returns the sampled response and the head direction :math:`u_2/\mathrm{rms}` of its PC2, for scoring."""
    sampled = head_param_covariance(model, sgld_tokens, obs, config=config, seed=seed, progress=True)
    k = (sampled.cov * lead.cov).sum(1) / lead.cov.pow(2).sum(1)  # (heads,)
    cos = (sampled.cov * lead.cov).sum(1) / (sampled.cov.norm(dim=1) * lead.cov.norm(dim=1))  # (heads,)
    X = linear_susceptibilities(model, sampled, probe).reshape(len(sampled.heads), -1)  # (heads, tokens)
    rms = X.pow(2).mean(1).sqrt()
    U, S, Vt = torch.linalg.svd(X / rms[:, None], full_matrices=False)
    sign = torch.where(U[ih_row] >= 0, 1.0, -1.0).to(U.dtype)
    U, Vt = U * sign, Vt * sign[:, None]
    ind_tok = lm_data.induction_pattern_mask(probe)[:, 1:].reshape(-1)
    modes_ = [{"mode": j + 1, "top2": [labels[i] for i in U[:, j].argsort(descending=True)[:2].tolist()],
               "pairs_pt_ih": set(U[:, j].argsort(descending=True)[:2].tolist()) == {ih_row, pt_row},
               "auc_induction_tokens": auc(Vt[j], ind_tok), "loadings": dict(zip(labels, [round(x, 4) for x in U[:, j].tolist()]))}
              for j in range(4)]
    return ({"config": {f: getattr(config, f) for f in ("step_size", "nbeta", "gamma", "num_chains", "num_draws", "num_burnin", "thin", "batch_size")},
            "relaxation_steps": 1 / (config.step_size * config.gamma),
            "k": dict(zip(labels, k.tolist())), "cos": dict(zip(labels, cos.tolist())), "modes": modes_}, sampled, U[:, 1] / rms)


def sgld_suffix(draw: int) -> str:
    """Name suffix of the SGLD files of draw ``draw`` of the contexts: ``_sgld`` for draw 0, else ``_sgld<draw>``."""
    return f"_sgld{draw or ''}"


def sgld_result_path(base: str, step: int, draw: int) -> Path:
    """The committed JSON of the SGLD cross-check on draw ``draw``."""
    return ROOT / "results" / "lm" / f"{base}_pc2_step{step}{sgld_suffix(draw)}.json"


def compare_draws(base: str, step: int, draw: int) -> dict:
    """Pearson and Spearman correlation of the SGLD Induce score of contexts ``draw`` with that of draw 0, over every
    training context, added to ``results/lm/<base>_pc2_step<step>_sgld<draw>.json`` (with its own provenance): does a
    new draw of contexts give the same weight vector?"""
    if draw < 1:
        raise ValueError(f"--compare-draws needs --sgld-draw >= 1, got {draw}")
    t0 = time.time()
    z0, z1 = (torch.load(pc2_weights_path(base + sgld_suffix(d), step), weights_only=True)["score"] for d in (0, draw))
    out = sgld_result_path(base, step, draw)
    res = json.loads(out.read_text())
    res["score_vs_draw0"] = {"pearson": float(np.corrcoef(z0.numpy(), z1.numpy())[0, 1]), "spearman": float(spearmanr(z0.numpy(), z1.numpy())[0]),
                             "contexts": len(z0), "provenance": provenance(time.time() - t0)}
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"draw {draw} vs draw 0, Induce score over {len(z0)} contexts: Pearson {res['score_vs_draw0']['pearson']:+.3f}, "
          f"Spearman {res['score_vs_draw0']['spearman']:+.3f} -> {out}")
    return res["score_vs_draw0"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="ctx64_long", help="stem of the long baseline run's JSON in results/lm/")
    p.add_argument("--seed", type=int, default=0, help="seed of that baseline run")
    p.add_argument("--step", type=int, required=True, help="checkpoint step (at or just before onset)")
    p.add_argument("--draws", type=int, default=5, help="independent draws of observable and probe contexts")
    p.add_argument("--obs", type=int, default=64, help="observable contexts per draw")
    p.add_argument("--probe", type=int, default=64, help="probe contexts per draw")
    p.add_argument("--data-dir", default=ControlConfig.data_dir, help="corpus directory (relative to the repository)")
    p.add_argument("--n-ctx", type=int, default=64, help="context length of the model")
    p.add_argument("--ih", type=int, default=None, help="layer-1 induction head (default: from the base run's JSON)")
    p.add_argument("--pt", type=int, default=None, help="layer-0 previous-token head (default: from the base run's JSON)")
    p.add_argument("--sgld-chains", type=int, default=0, help="instead of the weights: the SGLD cross-check on draw 0 with this many chains per head")
    p.add_argument("--sgld-draws", type=int, default=200, help="draws per chain of the SGLD cross-check")
    p.add_argument("--sgld-draw", type=int, default=0, help="which draw of contexts (and SGLD seed) the SGLD cross-check uses; "
                   "0 writes the '_sgld' files, d > 0 '_sgld<d>'")
    p.add_argument("--compare-draws", action="store_true", help="only record, in the --sgld-draw file, the correlation of its Induce "
                   "score with draw 0's (both weight files must exist)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.compare_draws:
        compare_draws(args.base, args.step, args.sgld_draw)
        return
    t0 = time.time()
    cfg = ControlConfig(data_dir=args.data_dir)
    cfg = replace(cfg, model=replace(cfg.model, n_ctx=args.n_ctx))
    pool = load_pool(cfg)
    if args.ih is None or args.pt is None:
        IH, PT = circuit_heads(json.loads((ROOT / "results" / "lm" / f"{args.base}.json").read_text())["runs"]["baseline"][str(args.seed)])
    else:
        IH, PT = args.ih, args.pt
    model = AttnOnlyTransformer(replace(cfg.model, fused_attention=False), seed=args.seed)  # forward-mode AD needs the explicit attention
    model.load_state_dict(torch.load(checkpoint_path(args.base, args.seed, args.step), weights_only=True)["model"])
    labels = [f"{l}.{h}" for l in range(cfg.model.n_layers) for h in range(cfg.model.n_heads)]
    ih, pt = cfg.model.n_heads + IH, PT  # rows of the two heads
    n = len(pool.train)
    draws, score = [], torch.zeros(n, dtype=torch.float64)
    for d in range(args.draws):
        if args.sgld_chains and d < args.sgld_draw:
            continue  # each draw's contexts are seeded by itself (100 + d): skipping earlier draws changes nothing
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(100 + d))
        obs, probe = pool.train[perm[: args.obs]], pool.train[perm[args.obs: args.obs + args.probe]]
        lead, rms, U, S, Vt = modes(model, obs, probe, n, ih)
        ind_tok = lm_data.induction_pattern_mask(probe)[:, 1:].reshape(-1)  # (tokens,)
        per_mode = []
        for j in range(4):
            top = U[:, j].argsort(descending=True)[:2].tolist()
            per_mode.append({"mode": j + 1, "variance_share": float(S[j] ** 2 / (S**2).sum()),
                             "loadings": dict(zip(labels, [round(x, 4) for x in U[:, j].tolist()])),
                             "top2": [labels[i] for i in top], "pairs_pt_ih": set(top) == {ih, pt},
                             "auc_induction_tokens": auc(Vt[j], ind_tok)})
        z = -linear_scores(model, lead, (U[:, 1] / rms).double(), pool.train)  # (n,) the Induce direction
        score += (z - z.mean()) / z.std() / args.draws
        draws.append({"draw": d, "modes": per_mode, "corr_score_share": float(np.corrcoef(z.numpy(), pool.shares.numpy())[0, 1])})
        if d == args.sgld_draw and args.sgld_chains:  # chapter 5's SGLD settings, burn-in 5 relaxation times 5/(εγ); a separate file
            cfg_s = SGLDConfig(step_size=3e-4, nbeta=NBETA, gamma=GAMMA, num_chains=args.sgld_chains, num_draws=args.sgld_draws,
                               num_burnin=int(5 / (3e-4 * GAMMA)) + 1, batch_size=2)
            sgld, sampled, u2 = sgld_check(model, pool.train[-1024:], obs, probe, lead, n, ih, pt, labels, cfg_s, seed=d)
            zs = -linear_scores(model, sampled, u2.double(), pool.train)  # (n,) Induce along SGLD's PC2
            ws = {"induce_sgld": sequence_weights(zs, STRENGTH, MAX_RATIO), "repress_sgld": sequence_weights(zs, -STRENGTH, MAX_RATIO)}
            torch.save({**ws, "score": zs}, pc2_weights_path(args.base + sgld_suffix(d), args.step))
            sgld.update(base=args.base, step=args.step, draw=d, obs=args.obs, probe=args.probe, **{f"leading_order_draw{d}": per_mode},
                        corr_score_share=float(np.corrcoef(zs.numpy(), pool.shares.numpy())[0, 1]),
                        weights={k: weight_summary(pool.shares, v) for k, v in ws.items()}, provenance=provenance(time.time() - t0))
            out = sgld_result_path(args.base, args.step, d)
            out.write_text(json.dumps(sgld, indent=1) + "\n")
            print(f"SGLD vs leading order: k {np.round(list(sgld['k'].values()), 2).tolist()}, cos {np.round(list(sgld['cos'].values()), 3).tolist()}; "
                  + "; ".join(f"PC{m['mode']} top {m['top2']} AUC {m['auc_induction_tokens']:.3f}" for m in sgld["modes"])
                  + f"; corr(score, share) {sgld['corr_score_share']:+.3f}, share ×{sgld['weights']['induce_sgld']['share_ratio']:.2f} / "
                  f"×{sgld['weights']['repress_sgld']['share_ratio']:.2f} -> {out}")
            return
        print(f"draw {d}: " + "; ".join(f"PC{m['mode']} top {m['top2']} AUC {m['auc_induction_tokens']:.3f}" for m in per_mode)
              + f"; corr(score, share) {draws[-1]['corr_score_share']:+.3f}", flush=True)
    w = {"induce": sequence_weights(score, STRENGTH, MAX_RATIO), "repress": sequence_weights(score, -STRENGTH, MAX_RATIO)}
    oracle = {s: weight_summary(pool.shares, oracle_weights(pool.shares, sgn, cfg.oracle_strength, cfg.weight_cap))
              for s, sgn in (("oracle_up", 1.0), ("oracle_down", -1.0))}
    pc2 = [x["modes"][1] for x in draws]
    summary = {
        "base": args.base, "seed": args.seed, "step": args.step, "data_dir": args.data_dir, "n_ctx": args.n_ctx, "induction_head": labels[ih], "previous_token_head": labels[pt],
        "obs": args.obs, "probe": args.probe, "nbeta": NBETA, "gamma": GAMMA, "strength": STRENGTH, "max_ratio": MAX_RATIO,
        "draws": draws,
        "pc2_pairs_fraction": float(np.mean([m["pairs_pt_ih"] for m in pc2])),
        "pc2_auc_median": float(np.median([m["auc_induction_tokens"] for m in pc2])),
        "pairing_fraction_by_mode": {f"PC{j + 1}": float(np.mean([x["modes"][j]["pairs_pt_ih"] for x in draws])) for j in range(4)},
        "corr_mean_score_share": float(np.corrcoef(score.numpy(), pool.shares.numpy())[0, 1]),
        "weights": {k: weight_summary(pool.shares, v) for k, v in w.items()}, "oracle": oracle,
        "provenance": provenance(time.time() - t0),
    }
    up, down = summary["weights"]["induce"]["share_ratio"], summary["weights"]["repress"]["share_ratio"]
    summary["pc2_fraction_of_oracle_leverage"] = {
        "induce": (up - 1) / (oracle["oracle_up"]["share_ratio"] - 1),
        "repress": (1 - down) / (1 - oracle["oracle_down"]["share_ratio"])}
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    torch.save({"induce": w["induce"], "repress": w["repress"], "score": score}, pc2_weights_path(args.base, args.step))
    out = ROOT / "results" / "lm" / f"{args.base}_pc2_step{args.step}.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"IH {labels[ih]}, PT {labels[pt]}; PC2 pairs them in {summary['pc2_pairs_fraction']:.0%} of draws, median AUC "
          f"{summary['pc2_auc_median']:.3f}; pairing by mode {summary['pairing_fraction_by_mode']}; corr(mean score, share) "
          f"{summary['corr_mean_score_share']:+.3f}; share ratio Induce {up:.2f}x / Repress {down:.2f}x (oracle "
          f"{oracle['oracle_up']['share_ratio']:.2f}x / {oracle['oracle_down']['share_ratio']:.2f}x) -> {out}")


if __name__ == "__main__":
    main()
