# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Induction-circuit modulation along PC2
#
# The patterning paper's language-model experiment ({cite}`wang2026patterning`, §3) reads the
# induction circuit off the susceptibility matrix and then writes it: per-head susceptibilities
# against per-token losses, an SVD whose second mode (PC2) pairs the induction and previous-token
# heads with induction-pattern tokens, and training weights along PC2 that make the circuit form
# about four times earlier ("Induce") or hardly at all ("Repress") in a 3M-parameter model.
#
# This chapter runs the same pipeline on a model that trains on two CPU cores: a 2-layer,
# 4-heads-per-layer attention-only transformer (0.1M parameters, vocabulary 512, context 256) on a
# frozen corpus of CPython's standard library and pydoc prose (`data/lm/`). Three things are
# different from the paper, and they are stated here because they matter:
#
# * **The base run is trained offline.** Induction heads need more tokens than a CI run can afford,
#   so the base model was trained once by `experiments/train_lm_base.py` (seeded, bit-reproducible) and
#   its checkpoints are committed with checksums. The chapter loads them.
# * **Formation is gradual here.** The best layer-1 head's prefix-matching score rises slowly
#   (0.04 at step 4000, 0.10 at 5500, 0.30 at 12000) rather than jumping; "formation step" means the
#   first evaluation at which it passes a stated threshold.
# * **Per-head susceptibilities at leading order.** The SGLD estimator of per-token, per-head
#   susceptibilities is noise-dominated at a CPU budget (measured below), so the matrix we take the
#   SVD of is its leading-order (localization-dominated) form, computed without sampling; the
#   chapter cross-checks it against SGLD.
# * **The retraining comparison is an offline run.** Every weighting — the paper's Induce and Repress,
#   and the controls that know the answer — branches from the same step-4000 checkpoint (before onset,
#   with its AdamW state) and trains 4,000 steps with batches resampled by weight, three batch orders
#   each: 24 runs of about 4 CPU-minutes, committed under `results/lm/` with their provenance
#   (`make lm-retraining`); a second, pre-registered set trains 9,000 steps on fresh batch orders, to the
#   issue's threshold 0.3 (`make lm-retraining-long`). The chapter recomputes everything else and reads
#   those runs.
#
# Before any method, the chapter asks how much re-weighting contexts *can* move what the model sees
# (its leverage), and whether weights that know the answer move formation at all (a positive control):
# a null result for the method means something only where the control moves.

# %% tags=["parameters"]
preset = "ci"  # "ci": 2 CPU cores, about 5 minutes; "paper": bigger probe and pool, more SGLD (4× the pool and probe, 27× the SGLD chain-draws of ci; not run yet: hours on 2 CPU cores by that scaling of the ci run, so a GPU); "smoke": a quick device check
results_dir = "."  # where the chapter's claims JSON is written
device = "auto"  # "auto": cuda when available, else cpu

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import mannwhitneyu

from patterning_core import SGLDConfig
from patterning_core.lm import data as lm_data
from patterning_core.lm.heads import (head_param_covariance, leading_order_response, linear_scores,
                                                 linear_susceptibilities)
from patterning_core.lm.induction import formation_step, measure_induction
from patterning_core.lm.leverage import induction_share, leverage, weighted_share
from patterning_core.lm.patterning import sequence_weights
from patterning_core.devices import resolve_device
from patterning_core.report import Claim, save_claims

PRESETS = {
    "ci": dict(probe=32, obs=32, pool=2048, sgld_draws=30, sgld_chains=4),
    "paper": dict(probe=128, obs=128, pool=8192, sgld_draws=400, sgld_chains=8),
    "smoke": dict(probe=32, obs=32, pool=2048, sgld_draws=30, sgld_chains=8),  # the paper's chains, the ci's sizes: a quick device check
}
P = PRESETS[preset]
device = resolve_device(device)
GAMMA, NBETA = 100.0, 20.0  # localization and n·β of the posterior (the SGLD settings of the benchmark)
STRENGTH, MAX_RATIO = 1.5, 4.0  # weights h ∝ exp(±1.5 z), capped at 4× (the paper's weights reach 4×)
THRESHOLD = 0.1  # "formed": best layer-1 prefix matching ≥ this (uniform attention ≈ 0.023; the base run passes it at step 5500)
torch.set_num_threads(2)
print(f"preset={preset!r}: {P}, device={device}")

# %% [markdown]
# ## The base run and the induction bump
#
# Induction is measured on repeated random-token sequences $[r_1\ldots r_{32}, r_1\ldots r_{32}]$:
# a head's *prefix-matching score* is the attention it pays from a token's second occurrence to the
# token after its first occurrence (uniform attention scores about 0.023, a perfect induction head
# 1), and the *in-context loss drop* is the loss on the first copy minus the loss on the second.
# `trace.json` holds these every 100 steps of the offline base run; we re-measure them on the
# committed checkpoints to check that the files are what the trace says.

# %%
trace = json.loads(lm_data.verified_path("checkpoints/trace.json").read_text())["trace"]
steps = np.array([r["step"] for r in trace])
pm = np.array([r["prefix_matching"] for r in trace])  # (evals, L, H)
prev = np.array([r["previous_token"] for r in trace])  # (evals, L, H) on natural text
drop = np.array([r["loss_drop"] for r in trace])
models, metas = {}, {}
for s in (2500, 4000, 5500, 12000):
    models[s], metas[s] = lm_data.load_checkpoint(f"checkpoints/step{s}.pt", device=device)  # model, probe, optimizer state on the device
probe_rep = metas[4000]["probe"]  # (32, 64) the base run's repeated-token probe
remeasured = {s: measure_induction(m.run_with_patterns, probe_rep) for s, m in models.items()}
IH = int(np.argmax(pm[-1, 1]))  # the induction head: best layer-1 head at the end of the run
PT = int(np.argmax(prev[-1, 0]))  # the previous-token head: layer-0 head attending most to t - 1
for s, m in remeasured.items():
    i = int(np.where(steps == s)[0][0])
    print(f"step {s:5d}: best layer-1 prefix matching {m.best_l1_head[1]:.3f} (trace {pm[i, 1].max():.3f}), "
          f"loss drop {m.loss_drop:+.2f} nats (trace {drop[i]:+.2f})")
print(f"induction head 1.{IH}; previous-token head 0.{PT} (score {prev[-1, 0, PT]:.2f} at the end)")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
for h in range(pm.shape[2]):
    axes[0].plot(steps, pm[:, 1, h], lw=2 if h == IH else 1, label=f"head 1.{h}")
    axes[1].plot(steps, prev[:, 0, h], lw=2 if h == PT else 1, label=f"head 0.{h}")
axes[2].plot(steps, drop, "k")
for ax in axes:
    for s, ls in ((4000, "--"), (5500, ":")):
        ax.axvline(s, color="0.5", ls=ls, lw=1)
axes[0].axhline(THRESHOLD, color="tab:red", lw=0.8)
axes[0].set(xlabel="training step", ylabel="prefix matching", title="layer-1 heads (red: threshold)")
axes[1].set(xlabel="training step", ylabel="attention to t − 1", title="layer-0 heads (natural text)")
axes[2].set(xlabel="training step", ylabel="nats", title="in-context loss drop")
axes[0].legend(fontsize=7), axes[1].legend(fontsize=7)
fig.suptitle("the offline base run (dashed: χ and the retraining branch point, step 4000; dotted: SGLD cross-check, step 5500)", fontsize=10)
fig.tight_layout()

# %% [markdown]
# One layer-1 head becomes an induction head, fed by a layer-0 head that attends to the previous
# token; the in-context loss drop follows. Nothing jumps: the bump is a slow climb that has not
# finished at 12,000 steps (24.6M tokens, about 18 CPU-minutes).
#
# ## Leverage before method
#
# Re-weighting contexts can only steer induction through what the weighted data contain. The lever is
# each context's share $s_i$ of *induction-pattern tokens* (tokens that complete a bigram seen earlier in
# the context: what an induction head predicts), and the most any mean-one weights in $[1/4, 4]$ (the
# paper's range) can do is a linear programme, solved exactly by a greedy fill (`extreme_weights`). We
# measure it on this chapter's data (256 tokens) and on 64-token contexts of the larger Debian corpus
# subset (`data/lm-debian`, prose and code), and compare the *oracle* weights
# $h_i \propto e^{\pm 1.5\,z_i}$ ($z$ the standardised share: the chapter's weight form, given the answer).

# %%
ctx = lm_data.load_contexts(256, 512)
deb = lm_data.load_contexts(64, 512, "../data/lm-debian")
deb_prose_code = deb.tokens[torch.tensor([k != "repetitive" for k in deb.kind])]
lev = [dict(name=name, s=s, **leverage(s, 0.25, MAX_RATIO, STRENGTH)) for name, s in
       (("this chapter: data/lm, 256 tokens", induction_share(ctx.tokens)),
        ("data/lm-debian prose + code, 64 tokens", induction_share(deb_prose_code)))]
for r in lev:
    print(f"{r['name']}: {r['contexts']} contexts, mean share {r['share']:.3f}; best weights {r['best_up']:.2f}× up / "
          f"{r['best_down']:.2f}× down; oracle {r['oracle_up']:.2f}× / {r['oracle_down']:.2f}×")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 3))
for r in lev:
    ax.hist(r["s"].numpy(), bins=50, range=(0, 1), density=True, histtype="step", lw=1.5,
            label=f"{r['name']} (best {r['best_up']:.2f}× up)")
ax.set(xlabel="share of induction-pattern tokens in a context", ylabel="density", title="what re-weighting has to work with")
ax.legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# At 256 tokens most contexts already contain repeats (short tokens recur), so no weights in $[1/4, 4]$
# move the share by more than about 1.45×; the chapter's Induce weights could at best ask for that. At
# 64 tokens most contexts have no room for a repeat and a minority is dense: the bimodality that
# capped weights can use, past 2×. But there the unweighted model does not form an induction head:
# 30,000 steps (61M tokens) of the same model at 64 tokens left its best layer-1 prefix matching at
# chance, and only weights that know the answer (the oracle, 1.7× the share) made it form, in one seed
# of three (`results/lm/README.md`, committed runs). A formation step that never comes cannot be
# compared, so the retraining below stays at 256 tokens, where the lever is smaller but the head forms.

# %%
long64 = json.loads(Path("../results/lm/ctx64_long.json").read_text())["runs"]["baseline"]["0"]
ctl64 = json.loads(Path("../results/lm/ctx64_control.json").read_text())["runs"]
pm64 = {k: [float(np.mean([x["pm_l1_best"] for x in r["trajectory"] if x["step"] > r["steps"] - 1000])) for r in v.values()]
        for k, v in ctl64.items()}
print(f"64 tokens, baseline for {long64['steps']} steps: best layer-1 prefix matching {long64['final_pm_l1_best']:.3f} at the end "
      f"(largest {max(x['pm_l1_best'] for x in long64['trajectory']):.3f}, at step 0)")
print("64 tokens, 6,000 steps, mean of the last 1,000: " + "; ".join(f"{k} {np.round(v, 3).tolist()}" for k, v in pm64.items()))

# %% [markdown]
# ## Per-head susceptibilities
#
# For head $c$ the observable is $\phi_c$ = the mean next-token loss on a fixed set of observable
# contexts, under the posterior in which only head $c$'s weights move (the paper's per-component
# susceptibility), and
#
# $$\chi_{c,i} = -\beta\,\mathrm{Cov}_c\big[\phi_c,\ \ell_i - L\big]$$
#
# for every probe token $i$. Linearizing $\ell_i$ in the weights gives
# $\chi_{c,i} \approx -\beta\,\nabla_c\ell_i\cdot\mathrm{Cov}_c[\phi_c, w_c]$, and when the localization
# $\gamma$ dominates the posterior's curvature, $\mathrm{Cov}_c[\phi_c, w_c] \to \nabla_c\phi_c/\gamma$:
#
# $$\chi_{c,i} \;\to\; -\frac{\beta}{\gamma}\,\nabla_c\phi_c\cdot\nabla_c\ell_i ,$$
#
# a gradient inner product within each head (`leading_order_response`). First we check how far SGLD
# agrees, with the same observable contexts: the covariance vector $\mathrm{Cov}_c[\phi_c, w_c]$ (4,144
# weights per head) estimated from the chains, against $\nabla_c\phi_c/\gamma$.

# %%
train_set, held = lm_data.split_contexts(ctx, 0.02, seed=0)  # the base run's split
g = torch.Generator().manual_seed(1)
perm = torch.randperm(len(train_set.tokens), generator=g)
obs = train_set.tokens[perm[: P["obs"]]].to(device)  # (obs, 256) observable contexts
probe = train_set.tokens[perm[P["obs"]: P["obs"] + P["probe"]]].to(device)  # (probe, 256) probe contexts
sgld_set = train_set.tokens[perm[-1024:]].to(device)  # the SGLD data
pool = train_set.tokens[torch.randperm(len(train_set.tokens), generator=torch.Generator().manual_seed(2))[: P["pool"]]].to(device)
model = models[5500]
n = len(train_set.tokens)
sgld = SGLDConfig(step_size=3e-4, nbeta=NBETA, gamma=GAMMA, num_chains=P["sgld_chains"], num_draws=P["sgld_draws"],
                  num_burnin=20, batch_size=2)
sampled = head_param_covariance(model, sgld_set, obs[:2], config=sgld, seed=0, progress=False)
lead2 = leading_order_response(model, obs[:2], nbeta=NBETA, gamma=GAMMA, n=n)
k_sgld = (sampled.cov * lead2.cov).sum(1) / lead2.cov.pow(2).sum(1)  # regression coefficient on ∇φ/γ, per head
cos = (sampled.cov * lead2.cov).sum(1) / (sampled.cov.norm(dim=1) * lead2.cov.norm(dim=1))
print("per head: SGLD Cov[φ_c, w_c] = k · ∇φ_c/γ + rest")
print("  k   =", k_sgld.cpu().numpy().round(2))
print("  cos =", cos.cpu().numpy().round(3))

# %% [markdown]
# The SGLD estimate does contain the leading-order term: its component along $\nabla_c\phi_c/\gamma$ has
# a positive coefficient $k$ (printed per head; 1 is the pure localization limit, curvature and
# sampling noise move it). But that component is a few percent of the vector's length (the cosine):
# the rest is sampling noise spread over 4,144 directions, which a CPU budget of chains and draws
# cannot average away. Per-token susceptibilities built from it have a signal-to-noise ratio near 1.
# We therefore use the leading-order form, which has no sampling noise and costs one
# Jacobian-vector product per head, on a larger observable set — at **step 4000**, the checkpoint every
# retraining below branches from (before onset; the cross-check above used the later step 5500).

# %%
model = models[4000]  # the branch point of the retraining
lead = leading_order_response(model, obs, nbeta=NBETA, gamma=GAMMA, n=n)
chi = linear_susceptibilities(model, lead, probe)  # (heads, probe, 255)
X = chi.reshape(len(lead.heads), -1)  # (8, tokens)
rms = X.pow(2).mean(1).sqrt()  # (8,) each head's scale
U, S, Vt = torch.linalg.svd(X / rms[:, None], full_matrices=False)  # modes of the head-normalized matrix
labels = [f"{l}.{h}" for l, h in lead.heads]
ih, pt = 4 + IH, PT  # rows of the induction and previous-token heads
sign = torch.sign(U[ih, :]).clamp(min=-1)  # orient every mode so that the induction head loads positively
sign[sign == 0] = 1
U, Vt = U * sign, Vt * sign[:, None]
ind_tok = lm_data.induction_pattern_mask(probe)[:, 1:].reshape(-1)  # (tokens,) loss i predicts a repeated bigram
share = (S**2 / (S**2).sum()).cpu().numpy()


def auc(v: torch.Tensor, mask: torch.Tensor) -> float:
    """P(loading of an induction-pattern token > loading of another token); ``mask`` marks the former."""
    return float(mannwhitneyu(v[mask].cpu().numpy(), v[~mask].cpu().numpy()).statistic / (mask.sum() * (~mask).sum()))


for j in range(3):
    print(f"PC{j + 1} ({share[j]:.0%} of the variance): heads " + " ".join(f"{a}:{b:+.2f}" for a, b in zip(labels, U[:, j].tolist()))
          + f" | AUC of induction-pattern tokens {auc(Vt[j], ind_tok):.3f}")
top2 = U[:, 1].argsort(descending=True)[:2].tolist()
pairs_heads = set(top2) == {ih, pt}
print(f"PC2's two largest positive loadings: heads {[labels[i] for i in top2]} (induction head {labels[ih]}, previous-token head {labels[pt]})")

# %% [markdown]
# How much of this reading depends on which contexts were drawn? We repeat it with four more draws
# of 32 observable and 32 probe contexts (no sampling is involved, so the only variation is the data).

# %%
draws = [dict(seed=1, u2=U[:, 1], auc=auc(Vt[1], ind_tok))]  # the draw above (its modes are already oriented)
for d in (3, 5, 7, 9):
    pd_ = torch.randperm(len(train_set.tokens), generator=torch.Generator().manual_seed(d))
    o_d, p_d = train_set.tokens[pd_[: P["obs"]]].to(device), train_set.tokens[pd_[P["obs"]: P["obs"] + P["probe"]]].to(device)
    X_d = linear_susceptibilities(model, leading_order_response(model, o_d, nbeta=NBETA, gamma=GAMMA, n=n), p_d).reshape(8, -1)
    U_d, _, V_d = torch.linalg.svd(X_d / X_d.pow(2).mean(1, keepdim=True).sqrt(), full_matrices=False)
    sgn = 1.0 if U_d[ih, 1] >= 0 else -1.0
    draws.append(dict(seed=d, u2=sgn * U_d[:, 1], auc=auc(sgn * V_d[1], lm_data.induction_pattern_mask(p_d)[:, 1:].reshape(-1))))
for x in draws:
    u2, top = x["u2"], x["u2"].argsort(descending=True)[:2].tolist()
    x.update(pt=float(u2[pt]), ih=float(u2[ih]), pair=set(top) == {ih, pt})
    print(f"draw {x['seed']}: PC2 loading of PT {labels[pt]} {x['pt']:+.2f}, of IH {labels[ih]} {x['ih']:+.2f}, "
          f"largest positive {[labels[i] for i in top]}, AUC of induction-pattern tokens {x['auc']:.3f}")
pair_frac = float(np.mean([x["pair"] for x in draws]))
pt_list = ", ".join(f"{x['pt']:+.2f}" for x in draws)
ih_list = ", ".join(f"{x['ih']:+.2f}" for x in draws)
aucs = np.array([x["auc"] for x in draws])
print(f"PC2 pairs PT and IH in {pair_frac:.0%} of draws; AUCs {np.round(aucs, 3).tolist()}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), gridspec_kw=dict(width_ratios=[1.2, 1, 1.3]))
w = 0.27
for j in range(3):
    axes[0].bar(np.arange(8) + (j - 1) * w, U[:, j].cpu().numpy(), w, label=f"PC{j + 1} ({share[j]:.0%})")
axes[0].set_xticks(range(8), labels)
axes[0].axhline(0, color="k", lw=0.6)
axes[0].set(xlabel="head", ylabel="loading", title=f"head loadings (IH {labels[ih]}, PT {labels[pt]})")
axes[0].legend(fontsize=7)
for j in range(3):
    v = Vt[j].cpu().numpy() * np.sqrt(Vt.shape[1])
    axes[1].boxplot([v[ind_tok.cpu().numpy()], v[~ind_tok.cpu().numpy()]], positions=[3 * j, 3 * j + 1], widths=0.8, showfliers=False)
axes[1].set_xticks([0, 1, 3, 4, 6, 7], ["PC1\nind.", "PC1\nother", "PC2\nind.", "PC2\nother", "PC3\nind.", "PC3\nother"], fontsize=7)
axes[1].set(ylabel="token loading (unit rms)", title="induction-pattern tokens vs others")
b = 0
im = axes[2].imshow((chi[:, b] / rms[:, None]).cpu().numpy(), aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3)
marks = np.where(ind_tok.reshape(P["probe"], -1)[b].cpu().numpy())[0]
axes[2].plot(marks, np.full(len(marks), 7.6), "k|", ms=4)
axes[2].set_yticks(range(8), labels)
axes[2].set(xlabel="position in one probe context (ticks: induction-pattern tokens)", title="χ / head rms")
fig.colorbar(im, ax=axes[2], fraction=0.03)
fig.tight_layout()

# %% [markdown]
# The leading order is a shortcut. The paper's estimator samples every head's restricted posterior; at
# this size that is an offline run (`experiments/lm_ctx64_pc2.py --sgld-chains 8`, committed): at the
# same step-4000 checkpoint, 8 chains per head × 200 draws after a burn-in of 5 relaxation times
# $5/(\varepsilon\gamma)$, on 16 observable contexts, compared head by head with the leading order on the same
# contexts, and its own PC2. Session 8 repeats the whole computation on a second draw of observable and
# probe contexts, with a new SGLD seed (`--sgld-draw 1`), to see whether the weight vector it gives is the same.

# %%
sg = json.loads(Path("../results/lm/ctx256_branch_pc2_step4000_sgld.json").read_text())  # draw 0 of the contexts
sg1_path = Path("../results/lm/ctx256_branch_pc2_step4000_sgld1.json")  # draw 1 (session 8), where committed
sg1 = json.loads(sg1_path.read_text()) if sg1_path.exists() else None
for d, r in enumerate([sg] + ([sg1] if sg1 else [])):
    print(f"draw {d}: SGLD ({r['config']['num_chains']} chains/head × {r['config']['num_draws']} draws, burn-in {r['config']['num_burnin']}): "
          f"k per head {np.round(list(r['k'].values()), 2).tolist()}, cos {np.round(list(r['cos'].values()), 3).tolist()}")
    for m in r["modes"][:3]:
        print(f"  SGLD PC{m['mode']}: top loadings {m['top2']}, pairs PT and IH: {m['pairs_pt_ih']}, AUC of induction-pattern tokens {m['auc_induction_tokens']:.3f}")
    print(f"  its Induce score vs the true share: corr {r['corr_score_share']:+.2f}; share moved ×{r['weights']['induce_sgld']['share_ratio']:.2f} / "
          f"×{r['weights']['repress_sgld']['share_ratio']:.2f}  [{r['provenance']['commit'][:7]}, {r['provenance']['date_utc'][:10]}]"
          + (f"; vs draw 0's score: Pearson {r['score_vs_draw0']['pearson']:+.3f}, Spearman {r['score_vs_draw0']['spearman']:+.3f}" if "score_vs_draw0" in r else ""))

# %% [markdown]
# ## From PC2 to training weights
#
# Up-weighting sequence $s$ by $dh_s$ moves the observables by $\chi\,dh$; along PC2 the response is
# $u_2^\top\tilde\chi\,dh$ with $\tilde\chi$ the head-normalized matrix. "Induce" asks PC2's observables
# (oriented so that the induction head loads positively) to go *down* — lower loss in the heads that
# make up the circuit — so it up-weights sequences with a large score
# $z_s = -\sum_c (u_{2,c}/\mathrm{rms}_c)\,\chi_{c,s}$, and "Repress" the opposite. Each sequence gets its
# score from the same leading-order response (two forward passes, `linear_scores`), and weights
# $h_s \propto e^{\pm 1.5\,z_s/\mathrm{sd}(z)}$ capped to $[1/4, 4]$ with mean one. The scores never see which
# tokens repeat. Here we score a pool of contexts (2,048 at the ci preset) from the first draw; the
# offline runs below scored the whole training split with the score averaged over five draws of 64
# observable and 64 probe contexts (`experiments/lm_ctx64_pc2.py`). As a diagnostic only: how the scores
# correlate with each context's share of induction-pattern tokens, and how far the weights move that share.

# %%
score = -linear_scores(model, lead, (U[:, 1] / rms).double(), pool)  # (pool,) the Induce direction
share_pool = induction_share(pool)  # (pool,) diagnostic, not used for the weights
r_score = float(np.corrcoef(score.cpu().numpy(), share_pool.cpu().numpy())[0, 1])
moved = {k: weighted_share(share_pool, sequence_weights(score, sgn * STRENGTH, MAX_RATIO)) / float(share_pool.mean())
         for k, sgn in (("Induce", 1.0), ("Repress", -1.0))}
offline_pc2 = json.loads(Path("../results/lm/ctx256_branch_pc2_step4000.json").read_text())
print(f"ci, first draw: corr(PC2 score, share) {r_score:+.2f}; share moved ×{moved['Induce']:.2f} (Induce) / ×{moved['Repress']:.2f} (Repress)")
print(f"offline, 5 draws of 64 + 64: corr {offline_pc2['corr_mean_score_share']:+.2f}; share moved ×{offline_pc2['weights']['induce']['share_ratio']:.2f}"
      f" / ×{offline_pc2['weights']['repress']['share_ratio']:.2f} (oracle ×{offline_pc2['oracle']['oracle_up']['share_ratio']:.2f} / "
      f"×{offline_pc2['oracle']['oracle_down']['share_ratio']:.2f}); PC2 pairs PT and IH in {offline_pc2['pc2_pairs_fraction']:.0%} of draws, "
      f"median AUC {offline_pc2['pc2_auc_median']:.3f}")

# %% [markdown]
# ## Retraining from step 4000 (offline, committed)
#
# Six weightings branch from the step-4000 weights and AdamW state and train 4,000 steps (to step 8000)
# with batches of 8 contexts *resampled* in proportion to their weights from the whole training split,
# so every condition has the same batch size (weights applied inside a batch and renormalized there
# shrink the effective batch for every weighted condition alike). Three batch orders per condition;
# the repeated-token probe every 50 steps:
#
# * **Baseline** (no weights); **Induce** and **Repress** (the paper's method, above), and the same from
#   PC2 of the SGLD response (`induce_sgld`, `repress_sgld`);
# * **oracle ↑ / ↓**: $e^{\pm 1.5 z}$ of the true share, capped to $[1/4, 4]$ — weights that know the answer,
#   the *positive control*: if they do not move formation, nothing can be read from Induce and Repress;
# * **shuffled**: the oracle ↑ weights permuted over contexts — the cost of weighting alone.
#
# "Formed" is best layer-1 prefix matching ≥ 0.1 (the base run passes it at step 5500); what counts was
# fixed in `results/lm/README.md` before the runs ended.

# %%
runs = {}
for f in sorted(Path("../results/lm").glob("ctx256_branch_[0-9].json")):
    for name, by_seed in json.loads(Path(f).read_text())["runs"].items():
        runs.setdefault(name, {}).update(by_seed)
END = 8000  # last retraining step: a run that has not formed by then counts as forming after it
SEEDS = sorted(runs["baseline"], key=int)  # batch orders
CONDS = tuple(k for k in ("baseline", "induce", "repress", "induce_sgld", "repress_sgld", "oracle_up", "oracle_down", "shuffled")
              if set(SEEDS) <= set(runs.get(k, {})))  # the conditions run for every batch order


def formed_at(k: str, threshold: float) -> list:
    """Formation step of condition ``k`` in each batch order (None: not within the window)."""
    return [formation_step([x["step"] for x in runs[k][sd]["trajectory"]], [x["pm_l1_best"] for x in runs[k][sd]["trajectory"]], threshold)
            for sd in SEEDS]


def censored(steps: list) -> np.ndarray:
    return np.array([END + 1 if v is None else v for v in steps])  # (seeds,) not formed: END + 1


form = {k: formed_at(k, THRESHOLD) for k in CONDS}
f_ = {k: censored(v) for k, v in form.items()}
for k in CONDS:
    r0 = runs[k][SEEDS[0]]
    print(f"{k:12s} share ×{r0['weights']['share_ratio']:.2f}; formed (≥ {THRESHOLD}) at {form[k]}; final best L1 PM "
          f"{[round(runs[k][sd]['final_pm_l1_best'], 3) for sd in SEEDS]}  [{r0['provenance']['commit'][:7]}, {r0['provenance']['date_utc'][:10]}]")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.4))
style = {"baseline": ("k", "-"), "induce": ("tab:green", "-"), "repress": ("tab:red", "-"), "induce_sgld": ("tab:olive", "-."),
         "repress_sgld": ("tab:purple", "-."), "oracle_up": ("tab:green", ":"), "oracle_down": ("tab:red", ":"), "shuffled": ("0.5", "--"),
         "induce_sgld1": ("tab:olive", ":"), "repress_sgld1": ("tab:purple", ":")}  # "_sgld1": a second draw of contexts
for k in CONDS:
    c, ls = style[k]
    for j, sd in enumerate(SEEDS):
        tr = runs[k][sd]["trajectory"]
        ax.plot([x["step"] for x in tr], [x["pm_l1_best"] for x in tr], color=c, ls=ls, lw=1, label=k if j == 0 else None)
ax.plot(steps[(steps >= 4000) & (steps <= END)], pm[(steps >= 4000) & (steps <= END), 1].max(1), color="0.6", lw=4, alpha=0.4, label="offline base run")
ax.axhline(THRESHOLD, color="0.5", lw=0.8)
ax.set(xlabel="step", ylabel="best layer-1 prefix matching", title="retraining from step 4000, 3 batch orders each")
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()

# %% [markdown]
# ## To the 0.3, on fresh batch orders (offline, committed)
#
# The window above ends before Baseline reaches the threshold, 0.3, and its batch orders were the
# ones on which the SGLD variant was chosen. A second set of runs, pre-registered in `results/lm/README.md`
# (session 7) before any of them started, trains 9,000 steps from the same branch point (to step 13,000)
# on three *fresh* batch orders (3, 4, 5): Baseline, the SGLD-PC2 Induce and Repress weights (unchanged),
# and oracle ↑ (which stops 200 steps after passing 0.3). Formation at 0.3 is primary; 0.1 replicates the
# window above on new batch orders.

# %%
long_path = Path("../results/lm/ctx256_long.json")
long_runs = json.loads(long_path.read_text())["runs"] if long_path.exists() else {}
LONG_END = 13000  # last step of these runs: not formed by then counts as LONG_END + 1
LONG_CONDS = tuple(k for k in ("baseline", "induce_sgld", "repress_sgld", "oracle_up", "oracle_down", "shuffled", "induce_sgld1", "repress_sgld1")
                   if k in long_runs)  # session 7's four, then session 8's four


def long_after(k: str, threshold: float) -> np.ndarray:
    """Steps from the branch point to best layer-1 prefix matching ≥ ``threshold``, per batch order ``(seeds,)``."""
    out = []
    for sd in sorted(long_runs[k], key=int):
        tr = long_runs[k][sd]["trajectory"]
        f = formation_step([x["step"] for x in tr], [x["pm_l1_best"] for x in tr], threshold)
        out.append((LONG_END + 1 if f is None else f) - 4000)
    return np.array(out)


long_after_ = {(k, t): long_after(k, t) for k in LONG_CONDS for t in (0.1, 0.15, 0.3)}
for k in LONG_CONDS:
    r0 = next(iter(long_runs[k].values()))
    print(f"{k:12s} batch orders {sorted(long_runs[k], key=int)}: steps after 4000 to 0.1 {long_after_[k, 0.1].tolist()}, 0.15 "
          f"{long_after_[k, 0.15].tolist()}, 0.3 {long_after_[k, 0.3].tolist()} (> {LONG_END - 4000}: not formed)  "
          f"[{r0['provenance']['commit'][:7]}, {r0['provenance']['date_utc'][:10]}]")
if not LONG_CONDS:
    print("not committed: results/lm/ctx256_long.json (make lm-retraining-long)")

# %% tags=["hide-input"]
if LONG_CONDS:
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for k in LONG_CONDS:
        c, ls = style[k]
        for j, sd in enumerate(sorted(long_runs[k], key=int)):
            tr = long_runs[k][sd]["trajectory"]
            ax.plot([x["step"] for x in tr], [x["pm_l1_best"] for x in tr], color=c, ls=ls, lw=1, label=k if j == 0 else None)
    ax.plot(steps[steps >= 4000], pm[steps >= 4000, 1].max(1), color="0.6", lw=4, alpha=0.4, label="offline base run")
    ax.axhline(0.3, color="0.5", lw=0.8)
    ax.set(xlabel="step", ylabel="best layer-1 prefix matching", title="to 0.3 from step 4000, fresh batch orders 3-5")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()

# %% [markdown]
# Session 7's reading leaves two questions. Both were pre-registered in `results/lm/README.md` (session 8)
# before any run.
#
# * **Is the lever a property of the SGLD susceptibilities, or of one weight vector?** The SGLD computation is
#   repeated on a second draw of observable and probe contexts, with a new seed (draw 1, printed above). Its
#   Induce / Repress weights are trained on the same batch orders 3–5 (`induce_sgld1`, `repress_sgld1`).
# * **What does weighting cost at 0.3?** The shuffled control (the oracle ↑ weights permuted over contexts)
#   and oracle ↓ complete the six conditions on those batch orders.
#
# All of these runs are in the figure and in the table printed above.

# %% [markdown]
# ## What reproduces
#
# The printed numbers are the record; the checks below turn them into the claims table. Everything
# recomputed here is deterministic at a given preset except the short SGLD cross-check; the retraining
# runs are read from `results/lm/` with their provenance. What to read off them:
#
# * **The setting has leverage, and it is used by weights that know the answer.** At 256 tokens no
#   weights in $[1/4, 4]$ move the induction-pattern share by more than about 1.45×, yet the oracle's
#   1.35× makes the induction head pass 0.1 twice as fast (700–800 steps after the branch point against
#   1,450–1,750 for Baseline, every batch order) and reach 0.3 inside the window, and the oracle's
#   0.71× keeps it below 0.1 for all 4,000 steps. Within those 4,000 steps, permuting the same weights
#   (shuffled) changes nothing at 0.1 beyond the batch-order spread. At 0.3 weighting does cost: shuffled
#   does not reach 0.3 within 9,000 steps in any of batch orders 3–5, where Baseline takes 8,200–8,850 steps.
#   A null result for the method is therefore informative, provided that "later" is read against shuffled. (At 64 tokens the lever passes 2×, but the unweighted model does
#   not form an induction head in 30,000 steps, so that setting cannot time formation.)
# * **The method does not find the lever.** At the branch point, PC2 of the leading-order per-head
#   susceptibilities never pairs the previous-token head with the induction head. In every draw, one of
#   its two top loadings is head 1.0, and the previous-token head loads negatively in four of the five
#   draws. Its token loadings do not separate induction-pattern tokens (AUCs 0.48–0.51). The Induce
#   weights move the share by 1.02–1.08×, a quarter or less of what the oracle's move.
# * **Formation is not moved beyond noise.** Induce passes 0.1 50–300 steps before Baseline in each
#   batch order, inside the spread of the batch orders. Repress passes it *earlier* than Baseline, not later.
#   The paper's ~4× is not reproduced (ratio about 1.1), and Repress does not delay formation.
# * **The paper's estimator does a little better, in one direction.** SGLD itself (8 chains per head,
#   200 draws, one draw of contexts) at the same checkpoint contains the leading-order term
#   (coefficients 0.7–1.4 per head) but is noise-dominated (cosines below 0.1), and its PC2 does not
#   pair the circuit's heads either (its top loadings are heads 0.3 and 1.2; AUC 0.475). Yet its Induce
#   weights, which move the share no more than the leading order's (1.07×), make the head pass 0.1
#   earlier than every Baseline run (1,250–1,350 steps against 1,450–1,750; ratio about 1.2, a third of
#   the oracle's gain), and its Repress weights keep it behind Baseline at 0.15 but not at the primary
#   0.1. That is a modest, one-sided effect from one draw of contexts, tried after the leading-order
#   arms had shown nothing (`results/lm/README.md` says when and why), not the paper's ~4×.
# * **To 0.3, on fresh batch orders: Induce earlier, and Repress no later than weighting alone.** In the
#   pre-registered runs to the threshold (batch orders 3–5, which played no part in choosing the
#   variant), Induce passes 0.3 after 6,150–6,950 steps. That is earlier than every Baseline run (8,200–8,850),
#   a ratio of 1.3 and a third of the oracle's gain. The oracle passes 0.3 after 2,300–2,400 steps. Repress does
#   not reach 0.3 within 9,000 steps in any order. Session 7 read that as "later", by its rule. But shuffled
#   and oracle ↓ do not reach 0.3 either. By the rule fixed in session 8 (R2), Repress is therefore not later
#   than weighting alone, and the claim fails.
# * **A second draw of contexts gives another weight vector, and another effect.** Draw 1's Induce score
#   correlates −0.06 with draw 0's, over the 9,557 training contexts. Its PC2 does not pair the circuit's heads
#   either (heads 1.0 and 1.1; AUC 0.52). With its weights, Induce does not reach 0.3 in any batch order. Repress
#   reaches it after 7,000–7,850 steps, *earlier* than every Baseline run: the opposite of its label. Its
#   weights move the induction-pattern share 1.05×, more than Induce's 1.02×. Rule R1 fails.
#
#   At this budget (8 chains per head × 200 draws; cosines to the leading order below 0.1), the SGLD-PC2
#   weight vector is therefore dominated by the estimator's noise. Draw 0's Induce effect belongs to that one
#   weight vector, not to the method. What stands:
#   * weights can move formation at this size (the oracle and both positive controls);
#   * some context weightings that do not know the answer speed it up (draw 0's Induce by 1.3×, draw 1's
#     Repress by 1.1×);
#   * the paper's PC2 reading, sign included, does not pick them out.
#
#   Whether more draws, more chains, or the paper's larger model make PC2 read the circuit is left to the
#   `paper` preset on a GPU.

# %%
bump = pm[-1, 1].max() / pm[steps == 2500][0, 1].max()
trace_ok = all(abs(m.best_l1_head[1] - pm[steps == s][0, 1].max()) < 1e-3 for s, m in remeasured.items())
token_auc = draws[0]["auc"]
lev256, lev64 = lev
after = {k: v - 4000 for k, v in f_.items()}  # (seeds,) steps from the branch point to formation
# "earlier" / "later" outside the spread of the batch orders (issue 17): every run of one condition beyond every run of the other
control_up = bool(f_["oracle_up"].max() < f_["baseline"].min())  # the positive control
control_down = bool(f_["oracle_down"].min() > f_["baseline"].max())
induce_earlier = bool(f_["induce"].max() < f_["baseline"].min())
repress_later = bool(f_["repress"].min() > max(f_["baseline"].max(), f_["induce"].max()))
ratio = float(after["baseline"].mean() / after["induce"].mean())  # Baseline / Induce, steps after the branch point
oracle_gain = float(after["baseline"].mean() - after["oracle_up"].mean())
pc2_fraction = float(after["baseline"].mean() - after["induce"].mean()) / oracle_gain if oracle_gain > 0 else float("nan")
print(f"base run: best layer-1 prefix matching ×{bump:.1f} from step 2500 to 12000, loss drop {drop[-1]:+.2f} nats; checkpoints match trace: {trace_ok}")
print(f"leverage: best ×{lev256['best_up']:.2f} up at 256 tokens, ×{lev64['best_up']:.2f} at 64 tokens (prose + code)")
print(f"SGLD vs leading order: median k = {float(k_sgld.median()):.2f}, median cos = {float(cos.median()):.3f}")
print(f"PC2 pairs the induction and previous-token heads: {pairs_heads} in the first draw, {pair_frac:.0%} of 5 draws; "
      f"AUC of induction-pattern tokens on PC2: {token_auc:.3f} (median over draws {np.median(aucs):.3f})")
print("steps from step 4000 to formation, per batch order: " + "; ".join(f"{k} {after[k].tolist()}" for k in CONDS))
print(f"positive control (outside the spread of the batch orders): oracle ↑ earlier {control_up}, oracle ↓ later {control_down}")
print(f"Induce earlier (outside the spread): {induce_earlier}; Repress later than both: {repress_later}; Baseline/Induce {ratio:.2f} (paper: about 4); "
      f"Induce's gain as a fraction of the oracle's: {pc2_fraction:.2f}")
assert trace_ok, "the committed checkpoints do not reproduce their recorded induction scores"
assert bump > 5 and drop[-1] > 1.0, "the base run should show the induction bump"
assert lev64["best_up"] >= 2.0 > lev256["best_up"], "the leverage figure: ≥ 2× at 64 tokens, < 2× at 256"
assert float(k_sgld.median()) > 0, "SGLD's covariance should contain the leading-order term with a positive coefficient"
assert float(cos.median()) < 0.5, "expected the SGLD covariance vector to be noise-dominated at this budget"
assert control_up and control_down, "the positive control: oracle weights should move formation both ways, beyond the batch-order spread"

# %%
after15 = {k: censored(formed_at(k, 0.15)) - 4000 for k in CONDS}  # the secondary threshold 0.15
sgld_both = bool(f_["induce_sgld"].max() < f_["baseline"].min() and f_["repress_sgld"].min() > max(f_["baseline"].max(), f_["induce_sgld"].max()))


def sgld_text(k: str) -> str:
    """The same comparison for PC2 of the SGLD response, where its runs are committed."""
    return f"; with SGLD's PC2 {after[k].tolist()}" if k in after else ""


def long_claims() -> list:
    """The pre-registered reading of the runs to 0.3 on fresh batch orders (results/lm/README.md, session 7)."""
    if not {"baseline", "induce_sgld", "repress_sgld", "oracle_up"} <= set(LONG_CONDS):
        return [Claim("At the issue's 0.3, fresh batch orders: SGLD-PC2 Induce earlier and Repress later than Baseline",
                      "not committed (make lm-retraining-long)", False, float("nan"))]
    show = lambda v: "[" + ", ".join(f"> {LONG_END - 4000}" if x > LONG_END - 4000 else str(int(x)) for x in v) + "]"
    a = {k: long_after_[k, 0.3] for k in LONG_CONDS}
    a1 = {k: long_after_[k, 0.1] for k in LONG_CONDS}
    up = bool(a["oracle_up"].max() < a["baseline"].min())
    # Rule R2 (session 8): if weighting alone (shuffled) delays formation beyond every Baseline run, "later" is read
    # against shuffled too; a censored run (> window) is later than nothing that is censored as well.
    slow = "shuffled" in a and bool(a["shuffled"].min() > a["baseline"].max())
    later_ref = max(a["baseline"].max(), a["shuffled"].max()) if slow else a["baseline"].max()
    later = lambda k: bool(a[k].min() > later_ref)
    ind, rep = bool(a["induce_sgld"].max() < a["baseline"].min()), later("repress_sgld")
    gain = float(a["baseline"].mean() - a["oracle_up"].mean())
    frac = lambda k: float(a["baseline"].mean() - a[k].mean()) / gain if gain > 0 else float("nan")
    ref = f" and shuffled {show(a['shuffled'])} (R2: weighting alone delays formation, so later is read against it too)" if slow else ""
    session8 = [] if not {"shuffled", "induce_sgld1", "repress_sgld1"} <= set(LONG_CONDS) else [
        Claim("At 0.3: permuted weights (shuffled) form within Baseline's spread, so weighting alone costs little",
              f"steps from step 4000 to 0.3: shuffled {show(a['shuffled'])}, Baseline {show(a['baseline'])}; at 0.1: shuffled "
              f"{show(a1['shuffled'])}, Baseline {show(a1['baseline'])}", not slow, float(a["shuffled"].mean())),
        Claim("At 0.3, a second draw of contexts (new SGLD-PC2 weights): Induce earlier and Repress later (rule R1)",
              f"steps from step 4000 to 0.3: Induce {show(a['induce_sgld1'])}, Repress {show(a['repress_sgld1'])}, Baseline "
              f"{show(a['baseline'])}{ref}; Induce's gain {frac('induce_sgld1'):.2f} of the oracle's; at 0.1: Induce "
              f"{show(a1['induce_sgld1'])}, Repress {show(a1['repress_sgld1'])}; its Induce score correlates "
              f"{sg1['score_vs_draw0']['pearson']:+.2f} with draw 0's",
              bool(a["induce_sgld1"].max() < a["baseline"].min()) and later("repress_sgld1"), float(a["baseline"].mean() / a["induce_sgld1"].mean())),
    ]
    return [
        Claim("At the issue's 0.3, fresh batch orders: weights that know the answer form earlier (oracle ↑) and later (oracle ↓) than Baseline",
              f"steps from step 4000 to 0.3: oracle ↑ {show(a['oracle_up'])}, Baseline {show(a['baseline'])}"
              + (f", oracle ↓ {show(a['oracle_down'])}" if "oracle_down" in a else " (oracle ↓ not run)"),
              up and "oracle_down" in a and bool(a["oracle_down"].min() > a["baseline"].max()), gain),
        Claim("At the issue's 0.3, fresh batch orders: SGLD-PC2 Induce earlier and Repress later than Baseline",
              f"steps from step 4000 to 0.3: Induce {show(a['induce_sgld'])}, Repress {show(a['repress_sgld'])}, "
              f"Baseline {show(a['baseline'])}{ref} (> {LONG_END - 4000}: not formed in the window); ratio Baseline/Induce {float(a['baseline'].mean() / a['induce_sgld'].mean()):.2f}, Induce's gain "
              f"{frac('induce_sgld'):.2f} of the oracle's; at 0.1: Induce {show(a1['induce_sgld'])}, Repress {show(a1['repress_sgld'])}, Baseline "
              f"{show(a1['baseline'])}; earlier: {ind}, later: {rep}", ind and rep, float(a["baseline"].mean() / a["induce_sgld"].mean())),
    ] + session8


save_claims("05_induction_pc2", preset, [
    Claim("The base model shows the induction bump (prefix matching rises, in-context loss drops)",
          f"best layer-1 prefix matching ×{bump:.1f} from step 2500 to 12000 (to {pm[-1, 1].max():.2f}); loss drop {drop[-1]:+.2f} nats",
          bool(bump > 5 and drop[-1] > 1.0), float(pm[-1, 1].max())),
    Claim("Re-weighting contexts within the paper's [1/4, 4] can double the share of induction-pattern tokens (leverage)",
          f"best mean-one weights: ×{lev64['best_up']:.2f} at 64 tokens (data/lm-debian prose + code; no formation there in 30,000 steps), "
          f"×{lev256['best_up']:.2f} at this chapter's 256 tokens; oracle form ×{lev64['oracle_up']:.2f} / ×{lev256['oracle_up']:.2f}",
          bool(lev64["best_up"] >= 2.0), lev64["best_up"]),
    Claim("Weights that know the answer move formation (positive control: oracle ↑ earlier, oracle ↓ later than Baseline)",
          f"steps from step 4000 to best L1 PM ≥ {THRESHOLD}, 3 batch orders: Baseline {after['baseline'].tolist()}, oracle ↑ "
          f"{after['oracle_up'].tolist()}, oracle ↓ {after['oracle_down'].tolist()}, shuffled {after['shuffled'].tolist()} "
          f"(> {END - 4000}: not formed)", control_up and control_down, oracle_gain),
    Claim("PC2 of the per-head susceptibilities pairs the induction and previous-token heads",
          f"leading-order χ at step 4000, head-normalized, 5 draws of contexts: PT and IH are PC2's two largest positive loadings in "
          f"{pair_frac:.0%} of draws (PT loadings {pt_list}; IH loadings {ih_list})",
          pair_frac > 0.5, pair_frac),
    Claim("PC2 pairs those heads with induction-pattern tokens",
          f"AUC of induction-pattern tokens on PC2's token loadings over 5 draws {', '.join(f'{a:.3f}' for a in aucs)} (0.5 = no separation)",
          bool(abs(np.median(aucs) - 0.5) > 0.05), float(np.median(aucs))),
    Claim("Weights along +PC2 (Induce) make the induction head form earlier than Baseline (paper: ~4×)",
          f"steps from step 4000 to formation (≥ {THRESHOLD}), 3 batch orders: Baseline {after['baseline'].tolist()}, Induce "
          f"{after['induce'].tolist()} (earlier than every Baseline run required); ratio {ratio:.2f}; Induce's gain {pc2_fraction:.2f} of the "
          f"oracle's" + sgld_text("induce_sgld"), induce_earlier, ratio),
    Claim("Weights along −PC2 (Repress) delay or suppress formation",
          f"steps to formation: Repress {after['repress'].tolist()} vs Baseline {after['baseline'].tolist()} and Induce "
          f"{after['induce'].tolist()} (later than every run of both required)" + sgld_text("repress_sgld"), repress_later, float(after["repress"].mean())),
    Claim("The same with PC2 of the SGLD per-head response (the paper's estimator; one draw of contexts)",
          f"steps to formation (≥ {THRESHOLD}): Induce {after['induce_sgld'].tolist()}, Repress {after['repress_sgld'].tolist()}, "
          f"Baseline {after['baseline'].tolist()}; at 0.15: Induce {after15['induce_sgld'].tolist()}, Repress "
          f"{after15['repress_sgld'].tolist()}, Baseline {after15['baseline'].tolist()}; both directions outside the spread required at {THRESHOLD}",
          sgld_both, float(after["baseline"].mean() / after["induce_sgld"].mean())),
] + long_claims(), results_dir)
