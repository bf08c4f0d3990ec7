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
#   its checkpoints are committed with checksums. The chapter loads them; the Baseline / Induce /
#   Repress comparison starts from the *same* saved checkpoint inside the formation window (step
#   4000, from `experiments/extend_lm_base.py`, with its AdamW state) and trains all three through it.
# * **Formation is gradual here.** The best layer-1 head's prefix-matching score rises slowly
#   (0.04 at step 4000, 0.10 at 5500, 0.30 at 12000) rather than jumping; "formation step" means the
#   first evaluation at which it passes a stated threshold.
# * **Per-head susceptibilities at leading order.** The SGLD estimator of per-token, per-head
#   susceptibilities is noise-dominated at a CPU budget (measured below), so the matrix we take the
#   SVD of is its leading-order (localization-dominated) form, computed without sampling; the
#   chapter cross-checks it against SGLD.

# %% tags=["parameters"]
preset = "ci"  # "ci": 2 CPU cores, about 6 minutes; "paper": longer retraining, bigger probe and pool, more SGLD (6.7× the retraining steps, 4× the pool and probe, 27× the SGLD chain-draws of ci; not run yet: hours on 2 CPU cores by that scaling of the ci run, so a GPU); "smoke": a quick device check
results_dir = "."  # where the chapter's claims JSON is written
device = "auto"  # "auto": cuda when available, else cpu

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import mannwhitneyu

from patterning_core import SGLDConfig, TrainConfig
from patterning_core.lm import data as lm_data
from patterning_core.lm.heads import (head_param_covariance, leading_order_response, linear_scores,
                                                 linear_susceptibilities)
from patterning_core.lm.induction import measure_induction
from patterning_core.lm.patterning import optimizer_state_by_name, retrain, sequence_weights
from patterning_core.devices import resolve_device
from patterning_core.report import Claim, save_claims

PRESETS = {
    "ci": dict(probe=32, obs=32, pool=2048, steps=600, sgld_draws=30, sgld_chains=4),
    "paper": dict(probe=128, obs=128, pool=8192, steps=4000, sgld_draws=400, sgld_chains=8),
    # the paper's chains, the ci's sizes (the repeats-down control needs ~600 retraining steps to show): a quick device check
    "smoke": dict(probe=32, obs=32, pool=2048, steps=600, sgld_draws=30, sgld_chains=8),
}
P = PRESETS[preset]
device = resolve_device(device)
GAMMA, NBETA = 100.0, 20.0  # localization and n·β of the posterior (the SGLD settings of the benchmark)
STRENGTH, MAX_RATIO = 1.5, 4.0  # weights h ∝ exp(±1.5 z), capped at 4× (the paper's weights reach 4×)
THRESHOLD = 0.06  # "formed": best layer-1 prefix matching ≥ this (uniform attention ≈ 0.023)
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
fig.suptitle("the offline base run (dashed: retraining starts, step 4000; dotted: χ measured, step 5500)", fontsize=10)
fig.tight_layout()

# %% [markdown]
# One layer-1 head becomes an induction head, fed by a layer-0 head that attends to the previous
# token; the in-context loss drop follows. Nothing jumps: the bump is a slow climb that has not
# finished at 12,000 steps (24.6M tokens, about 18 CPU-minutes).
#
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
ctx = lm_data.load_contexts(256, 512)
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
# Jacobian-vector product per head, on a larger observable set.

# %%
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
# ## From PC2 to training weights
#
# Up-weighting sequence $s$ by $dh_s$ moves the observables by $\chi\,dh$; along PC2 the response is
# $u_2^\top\tilde\chi\,dh$ with $\tilde\chi$ the head-normalized matrix. "Induce" asks PC2's observables
# (oriented so that the induction head loads positively) to go *down* — lower loss in the heads that
# make up the circuit — so it up-weights sequences with a large score
# $z_s = -\sum_c (u_{2,c}/\mathrm{rms}_c)\,\chi_{c,s}$, and "Repress" the opposite. Each sequence of a
# training pool of contexts (2,048 at the ci preset) gets its score from the same leading-order response (two forward
# passes over the pool, `linear_scores`), and weights $h_s \propto e^{\pm 1.5\,z_s/\mathrm{sd}(z)}$ capped
# to $[1/4, 4]$ with mean one. The scores never see which tokens repeat. As a diagnostic only, we
# print how they correlate with the fraction of each sequence's tokens that complete a repeated bigram.

# %%
score = -linear_scores(model, lead, (U[:, 1] / rms).double(), pool)  # (pool,) the Induce direction
rep_frac = lm_data.induction_pattern_mask(pool)[:, 1:].float().mean(1)  # (pool,) diagnostic, not used for weights
r_score = float(np.corrcoef(score.cpu().numpy(), rep_frac.cpu().numpy())[0, 1])
weights = {"Baseline": torch.ones(len(pool), device=device),
           "Induce": sequence_weights(score.float(), STRENGTH, MAX_RATIO),
           "Repress": sequence_weights(score.float(), -STRENGTH, MAX_RATIO),
           "control: repeats ↓": sequence_weights(rep_frac, -STRENGTH, MAX_RATIO)}
print(f"corr(PC2 score, fraction of repeated-bigram tokens) over the pool: {r_score:+.2f}")
for name, h in weights.items():
    print(f"{name:20s} weights in [{h.min():.2f}, {h.max():.2f}]")

# %% [markdown]
# The last weighting is a **control, not patterning**: it down-weights sequences by their
# repeated-bigram fraction directly (the knowledge patterning is supposed to replace), with the same
# strength and cap, to show that re-weighting this pool can move induction at all in the retraining
# window. (In a longer exploratory run, 1,000 steps, the opposite control — up-weighting repetitive
# sequences — sped the induction head up only slightly: 0.081 against 0.075 at the end.)
#
# ## Retraining from step 4000
#
# All weightings train as one seed-batched computation from the step-4000 weights and AdamW state,
# on the same minibatches of the pool (batch 8, learning rate $10^{-2}$ as in the base run); the
# repeated-token probe is measured every 100 steps.

# %%
m4 = models[4000]
names = tuple(weights)
run = retrain(m4, pool, torch.stack([weights[k] for k in names]), names, probe_rep,
              config=TrainConfig(steps=P["steps"], lr=1e-2, optimizer="adamw", batch_size=8),
              optimizer_state=optimizer_state_by_name(m4, metas[4000]["optimizer_state"]), eval_every=100, progress=False)
formed = dict(zip(names, run.formation_steps(THRESHOLD)))
late = run.best_l1[:, -3:].mean(1)  # (conditions,) mean of the last three evaluations
gain = {k: float(late[i] - run.best_l1[i, 0]) for i, k in enumerate(names)}
for i, k in enumerate(names):
    print(f"{k:20s} best layer-1 prefix matching {np.round(run.best_l1[i].cpu().numpy(), 3).tolist()}  "
          f"formed (≥ {THRESHOLD}) at {formed[k]}, gain {gain[k]:+.3f}, loss drop {float(run.loss_drop[i, -1]):+.2f}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
style = {"Baseline": ("k", "-"), "Induce": ("tab:green", "-"), "Repress": ("tab:red", "-"),
         "control: repeats ↓": ("tab:red", ":")}
for i, k in enumerate(names):
    c, ls = style[k]
    axes[0].plot(4000 + run.steps.cpu().numpy(), run.best_l1[i].cpu().numpy(), color=c, ls=ls, label=k)
    axes[1].plot(4000 + run.steps.cpu().numpy(), run.loss_drop[i].cpu().numpy(), color=c, ls=ls, label=k)
axes[0].plot(steps[(steps >= 4000) & (steps <= 4000 + P["steps"])], pm[(steps >= 4000) & (steps <= 4000 + P["steps"]), 1].max(1),
             color="0.6", lw=3, alpha=0.5, label="offline base run")
axes[0].axhline(THRESHOLD, color="0.5", lw=0.8)
axes[0].set(xlabel="step", ylabel="best layer-1 prefix matching", title="induction head")
axes[1].set(xlabel="step", ylabel="nats", title="in-context loss drop")
axes[0].legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# ## What reproduces
#
# The printed numbers are the record; the checks below turn them into the claims table. Everything
# in this chapter except the SGLD cross-check is deterministic at a given preset (the contexts are
# drawn with fixed seeds, the leading-order susceptibilities need no sampling, training is seeded),
# so the page shows one reproducible run. Three things to read off it:
#
# * The leading-order PC2 pairs the heads of the circuit **only in some draws**. Over the five
#   draws of contexts the induction head always loads clearly positively on PC2, and the
#   previous-token head joins it as the other top loading in three of them; in the other two (one
#   of them the first draw, which fixed the weights before we looked at the others) it is weak and
#   another head takes its place. Its token loadings hardly separate induction-pattern tokens (AUCs
#   between about 0.47 and 0.51, where 0.5 is no separation), and the sequence scores of the first
#   draw are nearly uncorrelated with how repetitive a sequence is. Averaging the mode over draws, or
#   the paper preset's larger observable and probe sets, is the natural next step.
# * Re-weighting along it therefore has no reason to act on the circuit, and the paper's ~4×
#   acceleration is not reproduced: compare the Induce and Repress curves with Baseline above. Both
#   re-weightings slow the head a little, by about the same amount, so a slower Repress run is not
#   evidence for the mode: strong re-weighting of this pool costs induction progress in either
#   direction. A Repress claim counts only if Repress is also clearly behind Induce.
# * The control shows that the lever exists: down-weighting repetitive sequences (with the repeats
#   known, which is not patterning) holds the induction head back within the same window, asserted
#   below. So the failure is in reading the mode, not in the retraining experiment's power.

# %%
bump = pm[-1, 1].max() / pm[steps == 2500][0, 1].max()
trace_ok = all(abs(m.best_l1_head[1] - pm[steps == s][0, 1].max()) < 1e-3 for s, m in remeasured.items())
token_auc = draws[0]["auc"]
never = 10**9  # "never formed" sorts after every step
f = {k: never if v is None else v for k, v in formed.items()}
NOISE = 0.005  # evaluation-to-evaluation wobble of the prefix-matching score (see the curves)
specific = gain["Induce"] - gain["Repress"] > NOISE  # the two directions differ by more than the wobble
induce_earlier = f["Induce"] < f["Baseline"] and gain["Induce"] > gain["Baseline"]
repress_later = f["Repress"] > f["Baseline"] and gain["Repress"] < gain["Baseline"] and specific
ratio = (f["Baseline"] / f["Induce"]) if f["Induce"] not in (0, never) and f["Baseline"] != never else float("nan")
control_represses = gain["control: repeats ↓"] < 0.5 * gain["Baseline"]
print(f"base run: best layer-1 prefix matching ×{bump:.1f} from step 2500 to 12000, loss drop {drop[-1]:+.2f} nats; checkpoints match trace: {trace_ok}")
print(f"SGLD vs leading order: median k = {float(k_sgld.median()):.2f}, median cos = {float(cos.median()):.3f}")
print(f"PC2 pairs the induction and previous-token heads: {pairs_heads} in the draw used for the weights, {pair_frac:.0%} of 5 draws; "
      f"AUC of induction-pattern tokens on PC2: {token_auc:.3f} (median over draws {np.median(aucs):.3f})")
print(f"formation (≥ {THRESHOLD}): {formed}; gains {({k: round(v, 3) for k, v in gain.items()})}")
print(f"Induce earlier: {induce_earlier}; Repress later than Baseline and than Induce (by > {NOISE}): {repress_later}; "
      f"Baseline/Induce formation-step ratio: {ratio:.2f} (paper: about 4)")
assert trace_ok, "the committed checkpoints do not reproduce their recorded induction scores"
assert bump > 5 and drop[-1] > 1.0, "the base run should show the induction bump"
assert float(k_sgld.median()) > 0, "SGLD's covariance should contain the leading-order term with a positive coefficient"
assert float(cos.median()) < 0.5, "expected the SGLD covariance vector to be noise-dominated at this budget"
assert control_represses, "the repeats↓ control should hold the induction head back (the experiment's power)"

# %%
save_claims("05_induction_pc2", preset, [
    Claim("The base model shows the induction bump (prefix matching rises, in-context loss drops)",
          f"best layer-1 prefix matching ×{bump:.1f} from step 2500 to 12000 (to {pm[-1, 1].max():.2f}); loss drop {drop[-1]:+.2f} nats",
          bool(bump > 5 and drop[-1] > 1.0), float(pm[-1, 1].max())),
    Claim("PC2 of the per-head susceptibilities pairs the induction and previous-token heads",
          f"leading-order χ at step 5500, head-normalized, 5 draws of contexts: PT and IH are PC2's two largest positive loadings in "
          f"{pair_frac:.0%} of draws (PT loadings {pt_list}; IH loadings {ih_list})",
          pair_frac > 0.5, pair_frac),
    Claim("PC2 pairs those heads with induction-pattern tokens",
          f"AUC of induction-pattern tokens on PC2's token loadings over 5 draws {', '.join(f'{a:.3f}' for a in aucs)} (0.5 = no separation)",
          bool(abs(np.median(aucs) - 0.5) > 0.05), float(np.median(aucs))),
    Claim("Weights along +PC2 (Induce) make the induction head form earlier than Baseline (paper: ~4×)",
          f"formation step (≥ {THRESHOLD}) Baseline {formed['Baseline']}, Induce {formed['Induce']}; gain over the window "
          f"{gain['Baseline']:+.3f} vs {gain['Induce']:+.3f}; ratio {ratio:.2f}", induce_earlier, None if np.isnan(ratio) else ratio),
    Claim("Weights along −PC2 (Repress) delay or suppress formation",
          f"formation step Repress {formed['Repress']} vs Baseline {formed['Baseline']}; gain {gain['Repress']:+.3f} vs Baseline "
          f"{gain['Baseline']:+.3f} and Induce {gain['Induce']:+.3f} (direction-specific only if Induce − Repress > {NOISE})",
          repress_later, gain["Repress"]),
], results_dir)
