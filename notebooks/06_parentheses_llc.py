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
# # Selecting Nested vs Equal-Count by targeting the LLC
#
# A transformer learns to call strings of `(` and `)` *balanced* or not. Two algorithms fit the
# training set perfectly: **Nested** (the depth never goes negative and ends at zero) and
# **Equal-Count** (as many `(` as `)`). They disagree only on strings with equal counts that are not
# nested, such as `)(()`, and the training set contains none of those. Which algorithm a network
# learns is then decided by something other than the training loss {cite}`li2025parentheses`.
#
# The paper's §4.5 {cite}`wang2026patterning` reads that "something" as the local learning coefficient
# (LLC): when two solutions have the same training loss, the Bayesian posterior prefers the one with
# the lower LLC {cite}`watanabe2009algebraic`. Patterning then changes the LLCs through the training
# data. It measures, for every training string, how the LLC of each solution responds to up-weighting
# that string, and re-weights along the difference.
#
# This chapter runs each step on CPU with a small transformer and (at the CI preset) 32 seeds:
#
# 1. the baseline distribution of the out-of-distribution (OOD) behaviour over seeds;
# 2. the LLCs of Nested-like and Equal-Count-like solutions, and the free-energy view of them;
# 3. per-string susceptibilities of the LLC at one solution of each kind, and their gap;
# 4. retraining every seed from the same initialisation along the gap, in both directions.
#
# Steps 1 to 3 reproduce. Step 4 does not at this scale: the re-weighted seeds end where the
# baseline seeds ended.

# %% tags=["parameters"]
preset = "ci"  # "ci": 2 CPU cores, about four minutes; "paper": the seed's scale (4× the seeds, the LLC of all 128 at 6.7× the chain-draws, 16× the χ chain-draws, 3 anchors per kind; not run yet: hours on 2 CPU cores by that scaling of the ci run, so a GPU)
results_dir = "."  # where the chapter's claims JSON is written
device = "auto"  # "auto": CUDA if available, else CPU; or "cpu", "cuda", "cuda:1", ...

# %%
import math
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import spearmanr

from pathlib import Path

from patterning_core import SGLDConfig, resolve_device
from patterning_core.parens.data import ParensDataConfig, make_parens_data, to_device, to_string
from patterning_core.parens.llc_target import beats_permuted, compare_arms, group_perturbation, issue_verdict, load_arm, sign_gate
from patterning_core.llc import directional
from patterning_core.parens.patterning import (CLASS_NAMES, STUCK, ParensSetting, worker_pool, classify, data_table, extremes,
                                               init_seeds, llc_at, log_odds, loss_susceptibility, normalize, paired_shift,
                                               pattern_weights, shift_test, spread, string_groups, susceptibility_gap, parallel_calls, train_seeds)
from patterning_core.report import Claim, save_claims

PRESETS = {
    "smoke": dict(seeds=32, scan=4, anchors=1, llc_chains=2, llc_draws=100, chi_chains=4, chi_draws=100),  # the structure, in under a minute on a GPU
    "ci": dict(seeds=32, scan=10, anchors=1, llc_chains=4, llc_draws=300, chi_chains=8, chi_draws=250),
    "paper": dict(seeds=128, scan=None, anchors=3, llc_chains=8, llc_draws=1000, chi_chains=32, chi_draws=1000),
}
P = PRESETS[preset]
STRICT = preset != "smoke"  # statistical assertions need the ci or paper sample sizes
device = resolve_device(device)
RESULTS = Path("../results/parens")  # the committed offline runs (experiments/parens_llc_target.py); the chapter runs in notebooks/
torch.manual_seed(0)
torch.set_num_threads(1)  # tiny tensors: one thread is faster than two
print(f"preset={preset!r}: {P}")

# %% [markdown]
# ## The task: two algorithms, one training set
#
# Every string has an even length drawn uniformly from 2 to 16, so parity says nothing. Half the
# training strings are uniform Dyck words (balanced). The other half are *near misses*: a Dyck word with
# one symbol flipped, so the final depth is $D_L = \pm 2$. A flip of `)` to `(` never dips below zero
# ($D_L > 0$); a flip of `(` to `)` always does ($D_L < 0$). On all of these the two algorithms agree.
# The OOD set holds only equal-count strings that are not nested. There Nested answers "unbalanced",
# Equal-Count answers "balanced", and a network's **OOD balanced rate** (the fraction it calls balanced)
# reads off which algorithm it learned: 0 for Nested, 1 for Equal-Count.
#
# We keep the training set small (256 strings). Then each string's weight matters, and the
# susceptibilities, one per training string, stay affordable.

# %%
data_cpu = make_parens_data(ParensDataConfig(n_train=256, frac_near_miss=1.0), seed=0)  # tables and string groups
data = to_device(data_cpu, device)  # training and sampling
n = len(data.train.lengths)
for row in data_table(data_cpu):
    print(row)

# %% [markdown]
# ## Baseline: which algorithm does SGD pick?
#
# The network has one transformer layer with four heads. Two heads are causal: each position sees its
# prefix, which is where a running depth can be computed. Two are bidirectional: each position sees
# the whole string, which is where a global count can be computed. It also has an MLP and a mean-pooled
# readout. We train 32 seeds at once with Adam (learning rate $3\cdot10^{-3}$, 1000 steps, 32 strings
# per step, each seed drawing its own minibatches). A seed that does not reach 99 % training accuracy
# is *stuck* and left out of every statistic below. On a CPU the chapter hands its independent runs
# (trainings and SGLD chains) to one worker process per core (`worker_pool`, `parallel_calls`); every run
# is seeded, so its numbers do not depend on where it runs.

# %%
setting = ParensSetting()
init = {k: v.to(device) for k, v in init_seeds(setting, range(P["seeds"])).items()}
pool = worker_pool(device, workers=2)  # on a CPU: one process per core, which share the chapter's runs
base_job = pool.submit(train_seeds, setting, data, init)
groups = string_groups(data_cpu.train)  # the three kinds of training string (used from the susceptibility section on)
NAIVE = {"balanced": "equal_count", "unbalanced, D_L < 0": "nested"}  # kind ×4 -> the algorithm it should favour (§ hand-picked)
x4 = {name: torch.where(groups[name], 4.0, 1.0) for name in NAIVE}
naive_jobs = {name: pool.submit(train_seeds, setting, data, init, weights=(w / w.mean()).to(device)) for name, w in x4.items()}
base = base_job.result()
cls = classify(base)
fitted = cls != STUCK
print(f"fitted {int(fitted.sum())}/{P['seeds']} seeds (train accuracy ≥ 0.99); stuck: {(~fitted).nonzero().squeeze(1).tolist()}")
print({CLASS_NAMES[c]: int((cls == c).sum()) for c in CLASS_NAMES})
q = torch.quantile(base.ood_rate[fitted], torch.tensor([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]))
print("OOD balanced rate of fitted seeds, quantiles 0/.1/.25/.5/.75/.9/1:", np.round(q.numpy(), 2))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.5, 2.8))
ax.hist(base.ood_rate[fitted].numpy(), bins=20, range=(0, 1), color="tab:gray", alpha=0.8, label="fitted seeds")
ax.hist(base.ood_rate[~fitted].numpy(), bins=20, range=(0, 1), color="tab:red", alpha=0.8, label="stuck seeds")
ax.axvspan(0, 0.1, color="tab:blue", alpha=0.1, label="Nested-like (< 0.1)")
ax.axvspan(0.6, 1, color="tab:orange", alpha=0.1, label="Equal-Count-like (> 0.6)")
ax.set(xlabel="OOD balanced rate (0 = Nested, 1 = Equal-Count)", ylabel="seeds", title=f"baseline: what {P['seeds']} seeds learned")
ax.legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# Seeds land all along the range. A few are Nested-like, a few are Equal-Count-like, and most sit in a
# middle cluster. The exploration (`experiments/parens_explore.py`) traced that cluster to a hybrid rule,
# "equal counts and the string starts with `(`". The training data does not settle the question, which is
# what makes this a selection problem.
#
# ## The LLC of each solution
#
# ### SGLD settings
#
# We estimate $\hat\lambda = n\beta\,(\mathbb E_w[L(w)] - L(w^*))$ {cite}`lau2023llc` with minibatch SGLD
# (64 strings per step) on the localized posterior $\propto \exp(-n\beta L(w) - \tfrac\gamma2\lVert w - w^*\rVert^2)$.
# The solutions are cross-entropy minima with training loss between $10^{-4}$ and $10^{-2}$. Away from
# them the loss rises steeply, so the step size must be small. We use $\varepsilon = 3\cdot10^{-6}$,
# $n\beta = 5000$ (about $\beta = 20$ per string, a tempered posterior) and $\gamma = 1000$, with 300
# burn-in steps. In the exploration (`experiments/parens_llc_explore.py`), hotter or less localized settings
# ($n\beta \le 3000$ with $\gamma = 300$, or $\varepsilon \ge 10^{-5}$) let single chains leave the
# basin, and those chains dominated both the LLC and the covariances. The table varies $\varepsilon$
# and $\gamma$ at the most Nested-like and the most Equal-Count-like fitted seed.

# %%
def sgld(eps=3e-6, gamma=1000.0, nbeta=5000.0, chains=P["llc_chains"], draws=P["llc_draws"], burnin=300, thin=1):
    return SGLDConfig(step_size=eps, nbeta=nbeta, gamma=gamma, num_chains=chains, num_draws=draws, num_burnin=burnin, thin=thin, batch_size=64)

(nested_seeds, ec_seeds) = extremes(base, fitted, P["anchors"])
s_n, s_e = nested_seeds[0], ec_seeds[0]
print(f"anchors: Nested-like seed {s_n} (OOD rate {base.ood_rate[s_n]:.2f}), Equal-Count-like seed {s_e} (OOD rate {base.ood_rate[s_e]:.2f})")
USED = "ε=3e-6, γ=1000 (used)"
checks = {"ε=1.5e-6, γ=1000": sgld(eps=1.5e-6), USED: sgld(), "ε=6e-6, γ=1000": sgld(eps=6e-6), "ε=3e-6, γ=3000": sgld(gamma=3000.0)}
check = parallel_calls({(name, s): partial(llc_at, setting, base.seed(s), data.train, cfg, seed=2) for name, cfg in checks.items() for s in (s_n, s_e)},
                       pool)

# %%
print(f"{'SGLD setting':22s} | {'Nested-like seed ' + str(s_n):>34s} | {'Equal-Count-like seed ' + str(s_e):>34s}")
for name, cfg in checks.items():
    cells = [f"λ̂ {check[name, s].mean:6.2f} ± {check[name, s].std_err:4.2f}, E[L]−L* {check[name, s].mean / cfg.nbeta:.1e}" for s in (s_n, s_e)]
    print(f"{name:22s} | {cells[0]:>34s} | {cells[1]:>34s}")

# %% [markdown]
# The Nested-like solution has the larger LLC at every step size and localization (asserted for
# the point estimates, and by more than two standard errors at the setting used). The estimates
# rise slowly with $\varepsilon$ and fall as $\gamma$ grows, because the localization then does part of
# the loss's work. Read the ordering and the ratio, not the absolute values.
#
# ### LLC across seeds
#
# Next, the LLC at fitted seeds spread over the range of OOD rates.

# %%
scan = spread(base, fitted, P["scan"])
more = parallel_calls({s: partial(llc_at, setting, base.seed(s), data.train, sgld(), seed=2) for s in scan if (USED, s) not in check}, pool)
lam = {s: check[USED, s] if (USED, s) in check else more[s] for s in scan}
x_ood = base.ood_rate[scan].numpy()
y_llc = np.array([lam[s].mean for s in scan])
rho_llc, p_llc = spearmanr(y_llc, x_ood)
rho_loss, _ = spearmanr(base.train_loss[scan].numpy(), x_ood)
print(f"{len(scan)} seeds: Spearman(LLC, OOD rate) = {rho_llc:+.2f} (p = {p_llc:.2g}); Spearman(train loss, OOD rate) = {rho_loss:+.2f}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5.5, 3.4))
sc = ax.scatter(x_ood, y_llc, c=np.log10(base.train_loss[scan].numpy()), cmap="viridis", s=30)
ax.errorbar(x_ood, y_llc, yerr=[2 * lam[s].std_err for s in scan], fmt="none", ecolor="gray", lw=0.8)
fig.colorbar(sc, ax=ax, label=r"$\log_{10}$ training loss")
ax.set(xlabel="OOD balanced rate (0 = Nested, 1 = Equal-Count)", ylabel=r"$\hat\lambda$ (± 2 s.e.)", title="LLC of trained solutions")
fig.tight_layout()

# %% [markdown]
# The more Nested a solution, the higher its LLC (the rank correlation printed above; whether it
# clears p < 0.05 with this many seeds depends on the run: it did on the machine where this chapter
# was written and not on the one where CI runs, ρ = −0.59, p = 0.07, so the claim table records it
# as measured). It also has a higher training loss: Nested-like seeds fit with smaller margins.
# Equal-Count-like solutions are the simpler ones.
#
# ### The free-energy view
#
# For two solutions $a$ and $b$ the posterior log-odds is about
# $\log \frac{p(a)}{p(b)} \approx n\,(L_b - L_a) + (\lambda_b - \lambda_a)\log n$
# {cite}`watanabe2009algebraic`. If the training losses are equal, the lower LLC wins.

# %%
la, lb = lam[s_e].mean, lam[s_n].mean  # the scan includes both extremes
lo = log_odds(float(base.train_loss[s_e]), la, float(base.train_loss[s_n]), lb, n)
print(f"Equal-Count-like seed {s_e}: L = {base.train_loss[s_e]:.1e}, λ̂ = {la:.2f};  Nested-like seed {s_n}: L = {base.train_loss[s_n]:.1e}, λ̂ = {lb:.2f}")
print(f"log-odds (Equal-Count over Nested) ≈ n ΔL + Δλ log n = {n * float(base.train_loss[s_n] - base.train_loss[s_e]):.2f} + "
      f"{(lb - la) * math.log(n):.2f} = {lo:.1f}")

# %% [markdown]
# The Bayesian posterior at $n = 256$ would put almost all its mass on Equal-Count. Most of that
# comes from the LLC term. SGD does not follow it: most seeds end in the middle cluster. This gap
# between the posterior and SGD matters for the rest of the chapter, because patterning acts on the
# posterior and we measure its effect on SGD.
#
# ## Per-string susceptibilities and their gap
#
# With no observable given, the sampler's observable is the training loss $L$ itself. Its
# susceptibility to the weight of string $i$,
# $\chi_i = \partial\,\mathbb E_h[L]/\partial h_i = -\beta\,\mathrm{Cov}[L,\ \ell_i - L]$,
# is the response of $\mathbb E[L] \approx L(w^*) + \lambda/n\beta$, so it is the per-string
# susceptibility of the LLC up to the factor $n\beta$. We record every training string's loss at
# every draw and use their mean as $L$, so that $\sum_i \chi_i = 0$ exactly. We estimate $\chi$ at the
# most Nested-like and the most Equal-Count-like seed (averaged over the `anchors` most extreme seeds of
# each kind in the paper preset). We normalize each by its root-mean-square and take the gap
# $g_i = \hat\chi^{EC}_i - \hat\chi^{N}_i$. To first order, up-weighting along $+g$ lowers the Nested
# solution's normalized LLC and raises the Equal-Count one's, so $+g$ favours Nested and $-g$ favours
# Equal-Count.

# %%
CHI = sgld(chains=P["chi_chains"], draws=P["chi_draws"], burnin=500, thin=2)
sus = parallel_calls({s: partial(loss_susceptibility, setting, base.seed(s), data.train, CHI, seed=3) for s in nested_seeds + ec_seeds}, pool)
chi_n = torch.stack([normalize(sus[s].chi) for s in nested_seeds]).mean(0).cpu()
chi_e = torch.stack([normalize(sus[s].chi) for s in ec_seeds]).mean(0).cpu()
gap = susceptibility_gap(chi_e, chi_n)
for s, r in sus.items():
    print(f"seed {s} ({CLASS_NAMES[int(cls[s])]}): λ̂ = {r.llc.mean:.2f} ± {r.llc.std_err:.2f}; "
          f"Σχ = {float(r.chi.sum()):.1e}; median |χ|/s.e. = {float((r.chi.abs() / r.chi_std_err).median()):.1f}")
print(f"corr(χ̂_N, χ̂_EC) = {float(torch.corrcoef(torch.stack([chi_n, chi_e]))[0, 1]):.2f}")

# %%
z = normalize(gap)
for name, m in groups.items():
    print(f"{name:20s} ({int(m.sum()):3d} strings): mean normalized gap {float(z[m].mean()):+.2f}")
order = gap.argsort()
print("most Equal-Count-favouring:", [to_string(data_cpu.train.tokens[i]) for i in order[:5].tolist()])
print("most Nested-favouring:     ", [to_string(data_cpu.train.tokens[i]) for i in order[-5:].flip(0).tolist()])
gap_test = shift_test(z[groups["balanced"]], z[groups["unbalanced, D_L < 0"]], "greater")
print("gap of D_L < 0 strings vs balanced strings:", gap_test)

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
colors = {"balanced": "tab:green", "unbalanced, D_L > 0": "tab:purple", "unbalanced, D_L < 0": "tab:red"}
for name, m in groups.items():
    axes[0].scatter(chi_n[m].numpy(), chi_e[m].numpy(), s=10, alpha=0.7, color=colors[name], label=name)
lim = float(max(chi_n.abs().max(), chi_e.abs().max())) * 1.05
axes[0].plot([-lim, lim], [-lim, lim], "k:", lw=0.8)
axes[0].set(xlabel=r"$\hat\chi^{N}_i$ (Nested-like seed)", ylabel=r"$\hat\chi^{EC}_i$ (Equal-Count-like seed)", title="normalized susceptibilities")
axes[0].legend(fontsize=7)
bins = np.linspace(float(z.min()), float(z.max()), 40)
for name, m in groups.items():
    axes[1].hist(z[m].numpy(), bins=bins, histtype="step", lw=1.5, color=colors[name], label=name)
axes[1].set(xlabel=r"normalized gap $g_i$ (> 0 favours Nested)", ylabel="strings", yscale="log", title="the gap by kind of string")
fig.tight_layout()

# %% [markdown]
# Most strings have a small positive $\hat\chi$. A few have a large negative one: these are the
# strings whose loss fluctuates most under the posterior, the low-margin strings of that particular
# solution. They differ from one solution to the other, so the two profiles are nearly uncorrelated
# and the gap is heavy-tailed. Apart from those few strings, the gap also has a clear structure by
# kind of string. Unbalanced strings of both kinds favour Nested. Balanced strings favour Equal-Count.
#
# ## Patterning: re-weighting along the gap
#
# We turn $\pm g/\mathrm{rms}(g)$ into mean-one weights with `reweight(1, ±g/rms(g), scale=0.3,
# method="exponential")`, that is $h_i \propto \exp(\pm 0.3\, g_i/\mathrm{rms}(g))$. We retrain all
# seeds from the same initialisations, with the same minibatch order, once in each direction. Each
# direction is tested against the baseline seeds with a one-sided Mann–Whitney U test over fitted seeds.
# A paired Wilcoxon signed-rank test over the same initialisations is printed alongside.

# %%
SCALE = 0.3
h = {fav: pattern_weights(gap, fav, SCALE) for fav in ("nested", "equal_count")}
pat = parallel_calls({fav: partial(train_seeds, setting, data, init, weights=w) for fav, w in h.items()}, pool)
alt = {"nested": "less", "equal_count": "greater"}
tests, paired, fit_pat = {}, {}, {}
for fav, res in pat.items():
    ok = classify(res) != STUCK
    fit_pat[fav] = float(ok.float().mean())
    tests[fav] = shift_test(base.ood_rate[fitted], res.ood_rate[ok], alt[fav])
    paired[fav] = paired_shift(base.ood_rate[fitted & ok], res.ood_rate[fitted & ok], alt[fav])
    print(f"favour {fav:11s}: h in [{h[fav].min():.2f}, {h[fav].max():.2f}], fitted {int(ok.sum())}/{P['seeds']}\n   {tests[fav]}\n   {paired[fav]}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw=dict(width_ratios=[1.3, 1, 1]))
runs = {"baseline": base, "favour Nested\n(+g)": pat["nested"], "favour Equal-Count\n(−g)": pat["equal_count"]}
for j, (name, res) in enumerate(runs.items()):
    ok = (classify(res) != STUCK).numpy()
    axes[0].scatter(j + np.random.default_rng(j).uniform(-0.12, 0.12, ok.sum()), res.ood_rate.numpy()[ok], s=12)
    axes[0].plot([j - 0.25, j + 0.25], [np.median(res.ood_rate.numpy()[ok])] * 2, "k-", lw=2)
axes[0].set(xticks=range(3), xticklabels=list(runs), ylabel="OOD balanced rate", title="fitted seeds (bar: median)")
for fav, c in (("nested", "tab:orange"), ("equal_count", "tab:green")):
    ok = (fitted & (classify(pat[fav]) != STUCK)).numpy()
    axes[1].scatter(base.ood_rate.numpy()[ok], pat[fav].ood_rate.numpy()[ok], s=12, color=c, label=f"favour {fav}")
axes[1].plot([0, 1], [0, 1], "k:", lw=0.8)
axes[1].set(xlabel="baseline OOD rate", ylabel="re-weighted OOD rate", title="same initialisation, paired", aspect="equal")
axes[1].legend(fontsize=7)
for fav, c in (("nested", "tab:orange"), ("equal_count", "tab:green")):
    axes[2].scatter(z.numpy(), h[fav].numpy(), s=6, color=c, label=f"favour {fav}")
axes[2].set(xlabel=r"normalized gap $g_i$", ylabel="training weight $h_i$", yscale="log", title=f"weights (exponential, scale {SCALE})")
axes[2].legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# The intervention is large: weights range over more than a factor of ten, and the re-weighted seeds
# still fit the training set. The OOD distribution barely moves, in either direction, and the paired
# per-seed changes are as often against the intended direction as with it. At this scale the seed's
# claim does not reproduce. The gap is dominated by a handful of low-margin strings specific to the
# two anchor solutions, and up-weighting those does not change where SGD from a given initialisation ends.
#
# Did the re-weighting at least change the LLCs it targeted? Below are the LLCs of the weighted loss
# at the two anchor seeds after retraining (same SGLD settings as above).

# %%
after = parallel_calls({(fav, s): partial(llc_at, setting, pat[fav].seed(s), data.train, sgld(), seed=4, weights=h[fav]) for fav in pat for s in (s_n, s_e)},
                       pool)
print(f"{'':22s} | {'seed ' + str(s_n) + ' (Nested-like)':>30s} | {'seed ' + str(s_e) + ' (Equal-Count-like)':>30s}")
rows = {"baseline": (base, {s: lam[s] for s in (s_n, s_e)})}
rows.update({f"favour {fav}": (pat[fav], {s: after[fav, s] for s in (s_n, s_e)}) for fav in pat})
for name, (res, ls) in rows.items():
    cells = [f"OOD {res.ood_rate[s]:.2f}, λ̂ {ls[s].mean:5.2f} ± {ls[s].std_err:.2f}" for s in (s_n, s_e)]
    print(f"{name:22s} | {cells[0]:>30s} | {cells[1]:>30s}")
d_base = rows["baseline"][1][s_n].mean - rows["baseline"][1][s_e].mean
d_pat = {fav: after[fav, s_n].mean - after[fav, s_e].mean for fav in pat}
se = {k: math.hypot(rows[k][1][s_n].std_err, rows[k][1][s_e].std_err) for k in rows}
print(f"λ̂(Nested-like seed) − λ̂(Equal-Count-like seed): baseline {d_base:+.2f} ± {se['baseline']:.2f}, "
      f"favour nested {d_pat['nested']:+.2f} ± {se['favour nested']:.2f}, favour equal_count {d_pat['equal_count']:+.2f} ± {se['favour equal_count']:.2f}")

# %% [markdown]
# On the quantity it targets, the change is within about two standard errors of the difference in
# both directions, and its sign depends on the machine: on the one where this chapter was written
# the Nested direction narrowed the anchors' LLC difference, on the one where CI runs it widened it
# (+1.23 → +1.38). So it is not conclusive either way. The OOD behaviour of the seeds does not
# follow. A negative $\hat\lambda$, where one appears, means that SGLD finds a lower weighted loss right next to the retrained
# point, so that point is not a local minimum of the weighted loss, and its LLC is not defined there.
#
# ## A hand-picked comparison
#
# The gap's structure by kind of string suggests a coarser intervention that uses the labels directly.
# Multiply the weight of every balanced string by 4, which is the class-level part of the
# Equal-Count direction, or of every $D_L < 0$ string, which is the class-level part of the Nested
# direction. This is not patterning: the groups were picked by hand from the gap's averages.

# %%
naive = {}
for name, fav in NAIVE.items():
    res = naive_jobs[name].result()  # queued with the baseline
    ok = classify(res) != STUCK
    naive[name] = shift_test(base.ood_rate[fitted], res.ood_rate[ok], alt[fav])
    print(f"{name} ×4 (intended: favour {fav}), fitted {int(ok.sum())}/{P['seeds']}: {naive[name]}")

# %% [markdown]
# On these 32 initialisations, up-weighting balanced strings fourfold moves the OOD rate towards
# Equal-Count, and up-weighting the strings that dip below zero moves it the same way, not towards
# Nested. But the first result is specific to these seeds: on a fresh set of 32 initialisations
# (seeds 100–131, `experiments/parens_patterning_explore.py naive --init 100:132`) the same balanced ×4
# gives medians 0.361 → 0.365, p = 0.53. So even the hand-picked lever is weak at this scale.
#
# ## Three more principled variants (exploration)
#
# Before concluding, we tried three χ-derived variants that might avoid the single anchors' low-margin
# strings, each decided on seeds 0–31 with a fresh set (100–131) held back for confirmation
# (`experiments/parens_patterning_explore.py`, whose docstring records the runs). One-sided Mann–Whitney p
# for each direction against the baseline seeds:
#
# | variant | favour Nested | favour Equal-Count |
# |---|---|---|
# | this chapter: one anchor of each kind, gap, scale 0.3 | 0.55 | 0.56 |
# | (a) normalized χ averaged over 3 + 3 anchors, gap, scale 0.3 | 0.40 | 0.84 |
# | (b) (a)'s gap rank-transformed to normal scores, scale 0.5 | 0.51 | 0.67 |
# | (c) the patterning step $dh = \chi^+ d\mu$ on the 6 anchor rows, $d\mu = \mp 1$ per anchor | 0.46 | 0.84 |
#
# None passed on the first set, so none went to confirmation. Averaging anchors does not remove the
# heavy tails (the Nested-like anchors' profiles barely agree with each other, r = 0.0–0.36); with two
# kinds of anchor the patterning step is essentially the averaged gap (r = 0.97 with (a)).

# %% [markdown]
# ## Re-examined: the estimand, the anchors, the controls (issue 18)
#
# ### The full response of the LLC to the weights
#
# The gap above treats $n\beta\,\chi_i$ as $\partial\hat\lambda/\partial h_i$. But
# $\hat\lambda(h) = n\beta\,(\mathbb E_h[L_h] - L_h(w^*))$ depends on the weights twice: through the
# posterior and through the loss it averages, $L_h = \sum_i h_i\ell_i/\sum_j h_j$. Differentiating both,
#
# $$\frac{\partial\hat\lambda}{\partial h_i} = n\beta\,\chi_i + \beta\big[(\mathbb E\,\ell_i - \ell_i(w^*)) - (\mathbb E L - L(w^*))\big],$$
#
# a covariance term and a *direct* term (`patterning_core.llc.llc_response`). For a quadratic
# basin the two cancel exactly ($\lambda = d/2$ whatever the weights); the tests check that, the closed form of
# a localized Gaussian, and finite differences with common random numbers on a singular model. Here are the
# two terms at the chapter's anchors, from the same SGLD draws as $\chi$.

# %%
rms = lambda x: float(x.pow(2).mean().sqrt())
resp = {s: sus[s].response for s in (s_n, s_e)}
for s in (s_n, s_e):
    r = resp[s]
    print(f"seed {s} ({CLASS_NAMES[int(cls[s])]}): λ̂ {r.llc:.2f} ± {r.llc_std_err:.2f}; rms covariance term {rms(r.covariance):.3f}, "
          f"rms direct term {rms(r.direct):.3f}, corr(covariance, direct) = {float(torch.corrcoef(torch.stack([r.covariance, r.direct]))[0, 1]):+.2f}")
full_gap = (resp[s_n].total - resp[s_e].total).float()  # (n,) response of λ_N − λ_EC; −full_gap favours Nested
corr_gap = float(torch.corrcoef(torch.stack([-full_gap, gap]))[0, 1])
z_full = normalize(-full_gap)
print(f"corr(−full gap, the chapter's gap) = {corr_gap:+.2f}")
for name, m in groups.items():
    print(f"{name:20s}: mean normalized gap, chapter's {float(z[m].mean()):+.2f}, full response {float(z_full[m].mean()):+.2f}")

# %% [markdown]
# ### Does the predicted sign of Δλ̂ match finite differences?
#
# Before anything is retrained, each anchor's prediction is checked against the thing it predicts. We raise
# the weight of one kind of string to 1.5 (all others stay 1), re-run SGLD with the *same seed* as the
# unweighted run (common random numbers: the same minibatches and noise), and compare the measured
# $\Delta\hat\lambda$ with the linear prediction $\sum_{i\in\text{group}} 0.5\,\partial\hat\lambda/\partial h_i$
# from the full response, and from its covariance term alone (what the gap above used).

# %%
DELTA = 0.5
hg = {name: group_perturbation(m, DELTA) for name, m in groups.items()}
fd = parallel_calls({(s, name): partial(llc_at, setting, base.seed(s), data.train, sgld(), seed=2, weights=hg[name].float())
                     for s in (s_n, s_e) for name in groups}, pool)
pool.shutdown()  # the chapter's last run
fd_rows = []
for s in (s_n, s_e):
    for name in groups:
        measured = fd[s, name].mean - check[USED, s].mean
        pred, pred_se = directional(resp[s], hg[name] - 1)
        fd_rows.append(dict(seed=s, group=name, predicted=pred, se=pred_se, covariance_only=float(resp[s].covariance @ (hg[name] - 1)), measured=measured))
print(f"{'anchor':>8s} {'group':>20s} | {'full response':>16s} | {'covariance only':>15s} | {'measured':>8s}")
for r in fd_rows:
    print(f"{r['seed']:>8d} {r['group']:>20s} | {r['predicted']:+8.2f} ± {r['se']:4.2f} | {r['covariance_only']:+15.2f} | {r['measured']:+8.2f}")
sign_full = sum((r["predicted"] > 0) == (r["measured"] > 0) for r in fd_rows)
sign_cov = sum((r["covariance_only"] > 0) == (r["measured"] > 0) for r in fd_rows)
print(f"sign right: full response {sign_full}/{len(fd_rows)}, covariance term alone {sign_cov}/{len(fd_rows)}")

# %% [markdown]
# ### Offline runs: converged anchors, positive controls, the step, held-out seeds
#
# The rest needs more seeds and SGLD runs than the `ci` budget allows, so it runs offline
# (`experiments/parens_llc_target.py`, seeded, 32 seeds per batched computation) and its small results are
# committed under `results/parens/` with their provenance. What decides the claim was fixed in
# `results/parens/PREREGISTRATION.md` before any step arm or held-out seed was run. First the anchors:
# the most Nested-like and most Equal-Count-like fitted development seeds, refined by full-batch Adam.
#
# The sign check ran twice. At the chapter's SGLD settings (ε = 3e-6) it failed: at the refined
# Nested-like anchors the chains were unstable (per-chain λ̂ in the hundreds or thousands at some
# anchors), so predictions and measurements were noise. Amendment 1 of the pre-registration, written
# before the anchors were sampled again, lowers ε to 1e-6 (the only change), gives the measured Δλ̂ a
# paired per-chain standard error, and states the gate: at least 10 predictions beyond 2 standard errors,
# ≥ 80 % of those with the right sign, and no perturbation where prediction and measurement are both
# beyond 2 standard errors and disagree. Only if the retuned check passes is anything retrained along the step.

# %%
import json

from scipy.stats import binomtest

refine_file = RESULTS / "anchors_refine.json"
refined = json.loads(refine_file.read_text()) if refine_file.exists() else None
if refined:
    print("refined anchors (provenance:", refined["provenance"], ")")
    for a in refined["anchors"]:
        print(f"  seed {a['seed']:3d} {a['kind']:11s}: train loss {a['loss_before']:.1e} → {a['loss_after']:.1e}, "
              f"|∇L| {a['grad_before']:.1e} → {a['grad_after']:.1e}, OOD rate {a['ood_before']:.2f} → {a['ood_after']:.2f}")
gates = {}  # "chapter SGLD" (the first check) and "retuned" (amendment 1): the committed sign checks
for label, f in (("chapter SGLD", "anchors_chapter_sgld.json"), ("retuned", "anchors.json")):
    if not (RESULTS / f).exists():
        print(f"{label}: no sign check committed ({f})")
        continue
    run = json.loads((RESULTS / f).read_text())
    cfg = run["sgld"]
    print(f"sign check, {label} (ε {cfg['step_size']:g}, nβ {cfg['nbeta']:g}, γ {cfg['gamma']:g}, {cfg['num_burnin']} burn-in, "
          f"{cfg['num_draws']} draws; provenance {run['provenance']})")
    rows = []
    for a in run["anchors"]:
        for g, v in a["fd"].items():
            rows.append(v)
            meas_se = f" ± {v['measured_se']:.2f}" if "measured_se" in v else ""
            print(f"  seed {a['seed']:3d} {a['kind']:11s} λ̂ {a['llc']:6.2f} ± {a['llc_se']:5.2f} {g:20s}: predicted {v['predicted']:+8.3f} ± {v['predicted_se']:.3f} "
                  f"(covariance only {v['covariance_only']:+8.3f}), measured {v['measured']:+7.3f}{meas_se}")
    gates[label] = g = sign_gate(rows)
    p_full, p_cov = (binomtest(k, g.n, alternative="greater").pvalue for k in (g.right, g.right_covariance))
    p_cov_wrong = binomtest(g.right_covariance, g.n, alternative="less").pvalue
    print(f"  → {g}\n  sign right more often than a coin (one-sided binomial): full response p = {p_full:.2g}, covariance term alone "
          f"p = {p_cov:.2g} (wrong more often than a coin: p = {p_cov_wrong:.2g})")

# %% [markdown]
# At the retuned settings the chains are well behaved and the common-random-number finite differences are
# precise (their standard errors are a fraction of the measured changes), and the full response points the
# right way more often than the covariance term alone, which points the wrong way more often than a coin.
# But each prediction is as uncertain as it is large: the per-string covariances come from 8 chains
# whose draws span less than one relaxation time, so few predictions clear 2 standard errors and the
# pre-registered gate fails on resolution. By the pre-registration nothing is retrained along the step. What
# would resolve it is many more chains per anchor for the prediction (its error falls as one over the square
# root of the chains; about 100 chains instead of 8), cheap on a GPU and not affordable on the shared CPUs.
#
# Then the arms. Every arm retrains the same initialisations with the same minibatch order; the outcome is
# the per-seed change of the OOD balanced rate against the baseline arm (paired, one-sided Wilcoxon in the
# intended direction), with the share of Nested-like / hybrid / Equal-Count-like seeds beside it and, as a
# secondary outcome free of the first-token shortcut, the same rate on OOD strings that start with `(`.

# %%
INTENDED = {"ctrl_nested": "less", "ctrl_ec": "greater"}
INTENDED.update({f"{kind}_{fav}_{dose}": ("less" if fav == "nested" else "greater")
                 for kind in ("step", "perm") for fav in ("nested", "ec") for dose in ("0.35", "0.69", "1.6")})


def paired(arm, candidates, base="baseline"):
    """The largest of ``candidates`` on which ``arm`` and ``base`` are both committed in full."""
    for r in candidates:
        b, t = load_arm(RESULTS, base, r), load_arm(RESULTS, arm, r)
        if b is not None and t is not None:
            return r, b, t
    return None, None, None


# Amendment 4 reads the same weights the other way round on fresh seeds: -dh (the arm named "towards
# Equal-Count") is predicted to lower the OOD rate, +dh to raise it.
REVERSED = {"ctrl_nested": "less", "ctrl_ec": "greater"}
REVERSED.update({f"{kind}_{fav}_{dose}": ("greater" if fav == "nested" else "less")
                 for kind in ("step", "perm") for fav in ("nested", "ec") for dose in ("0.69", "1.6")})
SEED_SETS = {"development": ((range(0, 128), range(0, 96), range(0, 64), range(0, 32)), INTENDED),
             "held-out": ((range(1000, 1128), range(1000, 1096), range(1000, 1064), range(1000, 1032)), INTENDED),
             "fresh": ((range(1128, 1256), range(1128, 1224), range(1128, 1192), range(1128, 1160)), REVERSED)}
table = {}
for label, (candidates, alts) in SEED_SETS.items():
    for arm, alt in alts.items():
        seeds, b, t = paired(arm, candidates)
        if seeds is not None:
            table[label, arm] = {**compare_arms(b, t, alt), "seeds": seeds, "alternative": alt}
    for arm in [a for (lab, a) in table if lab == label]:
        row, seeds = table[label, arm], table[label, arm]["seeds"]
        sh = lambda v: "/".join(f"{x:.2f}" for x in v)
        print(f"{label} seeds {seeds.start}-{seeds.stop - 1} {arm:16s} ({row['alternative']}): n {row['n']}, median {row['median_baseline']:.3f} → "
              f"{row['median_treated']:.3f}, median change {row['median_change']:+.3f}, mean {row['mean_change']:+.3f}, "
              f"{row['intended']}/{row['n']} as predicted, Wilcoxon p = {row['p']:.2g}; shares N/hybrid/EC {sh(row['shares_baseline'])} → "
              f"{sh(row['shares_treated'])}; '('-first OOD mean change {row['open_mean_change']:+.3f} (p = {row['p_open']:.2g})")
    for fav in ("nested", "ec"):
        for dose in ("0.69", "1.6"):
            s_arm, p_arm = f"step_{fav}_{dose}", f"perm_{fav}_{dose}"
            if (label, s_arm) in table and (label, p_arm) in table and table[label, s_arm]["seeds"] == table[label, p_arm]["seeds"]:
                pb = beats_permuted(table[label, s_arm], table[label, p_arm], alts[s_arm])
                table[label, f"beats_perm_{fav}_{dose}"] = pb
                print(f"{label}: step {fav} (dose {dose}) vs its permuted control, one-sided Mann-Whitney p = {pb:.2g}")

# %% [markdown]
# Where the step puts its weight, by kind of string (the offline training set; dose 1.6 towards Nested). The
# positive control towards Nested multiplies the 14 D_L<0 strings that start with `)` by 8.

# %%
from patterning_core.parens.data import CLOSE, depth_profile
from patterning_core.parens.llc_target import DATA_CONFIG as OFFLINE_DATA

if (RESULTS / "step.json").exists():
    off = make_parens_data(OFFLINE_DATA, seed=0).train
    w_step = torch.tensor(json.loads((RESULTS / "step.json").read_text())["weights"]["step_nested_1.6"]).double()  # (n,)
    final, first = depth_profile(off.tokens)[:, -1], off.tokens[:, 0]
    by_kind = {**string_groups(off), "D_L<0, ')' first": (final < 0) & (first == CLOSE), "D_L<0, '(' first": (final < 0) & (first != CLOSE)}
    for name, m in by_kind.items():
        print(f"step towards Nested, dose 1.6: mean weight {float(w_step[m].mean()):.2f} on {name} ({int(m.sum())} strings)")

# %% [markdown]
# **A posterior-oriented arm** (Amendment 5, development seeds only). The theory speaks of posterior mass,
# not of where SGD stops. So every seed continues from where *unweighted* SGD stopped with 500 steps of
# unlocalized SGLD (`patterning_core.langevin`, nβ = 5000, ε = 1e-5) on each arm's weighted loss, all arms
# sharing the starts, minibatches and noise; each arm is compared with the noise-continued unweighted run.

# %%
post = {}
for arm in ("ctrl_nested", "ctrl_ec", "step_nested_0.69", "step_ec_0.69", "perm_nested_0.69", "perm_ec_0.69"):
    alt = INTENDED[arm]
    seeds, b, t = paired(f"post_{arm}", (range(0, 128), range(0, 64), range(0, 32)), base="post_baseline")
    if seeds is not None:
        post[arm] = {**compare_arms(b, t, alt), "seeds": seeds}
        r = post[arm]
        other = compare_arms(b, t, "greater" if alt == "less" else "less")["p"]
        print(f"posterior arm, seeds {seeds.start}-{seeds.stop - 1}, {arm:16s} ({alt}): n {r['n']}, median {r['median_baseline']:.3f} → "
              f"{r['median_treated']:.3f}, median change {r['median_change']:+.3f}, {r['intended']}/{r['n']} intended, Wilcoxon p = {r['p']:.2g} "
              f"(the other way p = {other:.2g})")
for fav in ("nested", "ec"):
    if f"step_{fav}_0.69" in post and f"perm_{fav}_0.69" in post:
        post[f"beats_perm_{fav}"] = beats_permuted(post[f"step_{fav}_0.69"], post[f"perm_{fav}_0.69"], INTENDED[f"step_{fav}_0.69"])
        print(f"posterior arm: step {fav} vs its permuted control, one-sided Mann-Whitney p = {post[f'beats_perm_{fav}']:.2g}")
if not post:
    print("posterior arm: not committed (results/parens/arm_post_*.json)")

# %% [markdown]
# ## What reproduces
#
# * Both algorithms fit the same training set, and seeds from the same recipe land on both (and in
#   between).
# * Nested-like solutions have a higher LLC than Equal-Count-like ones, and across seeds the LLC falls
#   as the OOD balanced rate rises. The free-energy view favours Equal-Count.
# * The per-string susceptibility gap exists and has structure: unbalanced strings favour Nested,
#   balanced strings favour Equal-Count.
# * Re-weighting along that gap does **not** shift the OOD distribution of SGD-trained seeds at this
#   scale (32 seeds, 256 strings, one anchor of each kind), in either direction; nor do three more
#   χ-derived variants. Hand-picked class weights (balanced strings ×4) moved it on these 32 seeds but
#   not on a fresh set.
# * Issue 18 re-examined the method. The gap used only the covariance term of the LLC's response to the
#   weights; the full response adds a direct term of the same size, and the printed sign check says which
#   of the two predicts finite differences at the anchors. The offline section reports, with their
#   provenance, how far the pre-registered programme got on the shared CPUs: the positive controls
#   replicate on development and held-out seeds (the setting has leverage); at 10 converged anchors with
#   stable SGLD the full response points the right way more often than the covariance term, but its
#   predictions are too noisy at 8 chains to pass the pre-registered gate. By the pre-registration the
#   method therefore fails at its first step. For the record (Amendment 2, written before any step arm
#   ran) the primary-dose step and its permuted controls were then trained on the 128 held-out seeds:
#   the step towards Nested moved the OOD rate the *wrong* way (up, towards Equal-Count, in 78 of 113
#   fitted seeds), the step towards Equal-Count did not raise it, and neither beat its permuted control,
#   while both positive controls replicated on the same seeds. The dose ladder (Amendment 3) shows the
#   reversal is systematic: towards Nested the median change is +0.006, +0.016, +0.043 at doses 0.35,
#   ln 2 and 1.6 (the other way at p = 0.003, 7e-6, 2e-8), towards Equal-Count −0.006, −0.006, −0.018
#   (p = 0.003, 0.03, 3e-4). So re-weighting along the linearised LLC gap moves SGD training reliably,
#   and with the dose, but the *opposite* way to the one the LLC argument predicts — a lead for the next
#   run (does −dh select Nested on fresh seeds? is the sign of the full response right at these anchors,
#   with enough chains to resolve it?), not a result this chapter can claim.
# * **The reversal is real.** Amendment 4, written before any run on seeds 1128–1255, predicted it: on
#   those fresh seeds −dh (dose 1.6) lowers the OOD rate (85 of 117 fitted seeds, p = 4e-8) and +dh
#   raises it (84/122, p = 3e-5), each beating its permuted control (p = 4e-6, 1e-5), with both positive
#   controls holding. But the medians move 0.024 and 0.027, half the 0.05 the issue asks, so even read
#   backwards the step is not a selector at the issue's standard. Where the step puts its weight (printed
#   above) suggests why: among the D_L<0 strings it up-weights those that start with `(` and *down*-weights
#   the `)`-first ones that the positive control towards Nested multiplies by 8. The development seeds
#   (Amendment 6, for the record) show the same sign at the primary dose: three seed sets, one direction.
# * **Posterior-oriented arm** (Amendment 5, development seeds 0–63): continuing every seed from where
#   unweighted SGD stopped with unlocalized SGLD on the weighted loss, both controls still pass (the one
#   towards Nested barely), but the step moves nothing either way (p = 0.17 and 0.36, not beating its
#   permuted control). At this temperature the chains leave most seeds' OOD rate where SGD put it, so
#   the test is weak: basins are not crossed in 500 steps.

# %%
fit_base = int(fitted.sum())
lam_separated = check[USED, s_n].mean > check[USED, s_e].mean + 2 * math.hypot(check[USED, s_n].std_err, check[USED, s_e].std_err)
llc_falls = bool(rho_llc < 0 and p_llc < 0.05)
assert fit_base >= 20, f"only {fit_base} seeds fit the training set"
assert len(fd_rows) == 2 * len(groups) and all(abs(float(resp[s].total.sum())) < 1e-6 * max(1.0, rms(resp[s].total) * n) for s in resp), \
    "the full response sums to zero over strings (scaling every weight changes nothing)"
if STRICT:
    assert base.ood_rate[fitted].min() < 0.15 and base.ood_rate[fitted].max() > 0.6, "seeds should land near both algorithms"
    for name in checks:
        assert check[name, s_n].mean > check[name, s_e].mean, f"the Nested-like seed should have the larger LLC at {name}"
    assert lam_separated, "at the SGLD setting used, the Nested-like LLC should exceed the Equal-Count-like one by > 2 s.e."
    assert lo > 0 and (lb - la) * math.log(n) > n * float(base.train_loss[s_n] - base.train_loss[s_e]), "the LLC term should favour Equal-Count and dominate"
    assert gap_test.p < 0.05, f"D_L < 0 strings should favour Nested more than balanced strings do: {gap_test}"
    assert min(fit_pat.values()) >= 0.8 and all(float(w.max() / w.min()) > 10 for w in h.values()), "the intervention should be large and leave the seeds fitting"
    assert naive["balanced"].p < 0.05 or preset != "ci", f"the text reads p < 0.05 for balanced ×4 on the ci seeds: {naive['balanced']}"
    assert naive["unbalanced, D_L < 0"].median_treated > naive["unbalanced, D_L < 0"].median_baseline, "the text says D_L < 0 ×4 moves the rate up"
moved = {fav: tests[fav].p < 0.05 for fav in tests}
print("patterning moved the OOD rate the intended way (p < 0.05):", moved)
ALPHA = 0.025  # pre-registered (results/parens/PREREGISTRATION.md)
controls_dev = [table.get(("development", a)) for a in ("ctrl_nested", "ctrl_ec")]


def controls_hold(rows: list) -> bool:
    """Both positive controls of a seed set were run and hold at p < ALPHA (the issue: else the run does not count)."""
    return all(r is not None and r["p"] < ALPHA for r in rows)


controls_ok = controls_hold(controls_dev)


def step_claim(label: str, fav: str) -> tuple[str, bool, float]:
    """The pre-registered test of one direction on one seed set (primary dose), as text, verdict and p."""
    row, pb = table.get((label, f"step_{fav}_0.69")), table.get((label, f"beats_perm_{fav}_0.69"))
    gate = gates.get("retuned")
    if row is None:
        why = ("the pre-registered sign-check gate failed at the anchors; Amendment 2 trains the step on held-out seeds only"
               if gate is not None and not gate.passed else "shared-CPU budget")
        return f"not run on the {label} seeds ({why})", False, float("nan")
    after_gate = " — trained after the sign-check gate failed (Amendments 2 and 6: for the record)" if gate is not None and not gate.passed else ""
    controls = [table.get((label, a)) for a in ("ctrl_nested", "ctrl_ec")]
    v = issue_verdict(row, pb, controls, fav, ALPHA)
    return (f"{label} seeds {row['seeds'].start}–{row['seeds'].stop - 1}: n {row['n']}, median {row['median_baseline']:.3f} → {row['median_treated']:.3f}, Wilcoxon p = {row['p']:.2g}, "
            f"beats permuted p = {pb if pb is None else f'{pb:.2g}'}, controls replicate on these seeds: "
            f"{controls_hold(controls)}{after_gate}"), bool(v and v.selects), row["p"]


# %%
claims = [
    Claim("Two algorithms (Nested, Equal-Count) fit the training set; seeds split between them",
          f"{fit_base}/{P['seeds']} seeds fit; OOD balanced rate of fitted seeds from {float(base.ood_rate[fitted].min()):.2f} "
          f"to {float(base.ood_rate[fitted].max()):.2f} (median {float(base.ood_rate[fitted].median()):.2f})", True, float(base.ood_rate[fitted].median())),
    Claim("Nested-like and Equal-Count-like solutions have different LLCs (lower LLC wins the posterior)",
          f"λ̂ {lb:.2f} (Nested-like seed {s_n}) vs {la:.2f} (Equal-Count-like seed {s_e}); Spearman(LLC, OOD rate) = {rho_llc:+.2f} "
          f"over {len(scan)} seeds (p = {p_llc:.1g}); free-energy log-odds {lo:.1f} in favour of Equal-Count", bool(lam_separated and llc_falls), rho_llc),
    Claim("Per-sample susceptibility gap between the two solutions identifies which samples favour which",
          f"D_L < 0 strings favour Nested, balanced strings Equal-Count: {gap_test}", True, gap_test.p),
    Claim("Re-weighting along the gap towards Nested lowers the OOD balanced rate", str(tests["nested"]), moved["nested"], tests["nested"].p),
    Claim("Re-weighting along the gap towards Equal-Count raises the OOD balanced rate", str(tests["equal_count"]), moved["equal_count"], tests["equal_count"].p),
    Claim("The full LLC response (covariance + direct term) predicts the sign of finite-difference Δλ̂ at the anchors",
          f"group ×1.5 at {len(resp)} ci anchors: sign right {sign_full}/{len(fd_rows)} (covariance term alone {sign_cov}/{len(fd_rows)})"
          + "".join(f"; offline, {lab}: right {g.right}/{g.n} (covariance alone {g.right_covariance}/{g.n}), {g.resolved_right}/{g.resolved} "
                    f"of the predictions beyond 2 s.e., {g.contradictions} resolved contradictions, pre-registered gate {'passed' if g.passed else 'failed'}"
                    for lab, g in gates.items()),
          bool(gates.get("retuned") and gates["retuned"].passed), gates["retuned"].resolved_right / max(1, gates["retuned"].resolved) if "retuned" in gates else float("nan")),
    Claim("Positive controls replicate on development seeds (')'-first D_L<0 ×8 lowers, dropping D_L<0 raises the OOD rate)",
          "; ".join(f"{a}: " + (f"n {r['n']}, median change {r['median_change']:+.3f}, Wilcoxon p = {r['p']:.2g}" if r else "not run")
                    for a, r in zip(("ctrl_nested", "ctrl_ec"), controls_dev)), controls_ok,
          max((r["p"] for r in controls_dev if r), default=float("nan"))),
]
for label in ("development", "held-out"):
    for fav, what in (("nested", "lowers"), ("ec", "raises")):
        text, ok, p = step_claim(label, fav)
        claims.append(Claim(f"The full-response step dh = χ†dμ (dose ln 2) {what} the OOD rate ({label} seeds)", text, ok, p))


def reversed_claim(target: str) -> tuple[str, bool, float]:
    """Amendment 4 on the fresh seeds: does -dh (dose 1.6) move the OOD rate towards ``target``?"""
    fav = "ec" if target == "nested" else "nested"  # -dh towards Nested is the arm named towards Equal-Count
    row, pb = table.get(("fresh", f"step_{fav}_1.6")), table.get(("fresh", f"beats_perm_{fav}_1.6"))
    ctrl = [table.get(("fresh", a)) for a in ("ctrl_nested", "ctrl_ec")]
    if row is None or pb is None or None in ctrl:
        return "not run on the fresh seeds 1128–1255 (Amendment 4)", False, float("nan")
    v = issue_verdict(row, pb, ctrl, target, ALPHA)  # the arm's rows, read in the reversed direction
    shift, direction = v.shift, v.moves
    verdict = ("selects" if v.selects else "the reversal replicates, below the 0.05 median shift" if direction
               else "the reversal does not replicate")
    towards = "Equal-Count" if target == "nested" else "Nested"
    return (f"fresh seeds {row['seeds'].start}–{row['seeds'].stop - 1}, arm step_{fav}_1.6 (the step towards {towards}, read reversed): n {row['n']}, median "
            f"{row['median_baseline']:.3f} → {row['median_treated']:.3f} (shift {shift:+.3f} the predicted way), Wilcoxon p = {row['p']:.2g}, "
            f"beats permuted p = {pb:.2g}, controls p = {ctrl[0]['p']:.2g} / {ctrl[1]['p']:.2g}: {verdict}"), v.selects, row["p"]


for target, what in (("nested", "lowers"), ("ec", "raises")):
    text, ok, p = reversed_claim(target)
    claims.append(Claim(f"The reversed step −dh (dose 1.6, pre-registered after the reversal) {what} the OOD rate on fresh seeds", text, ok, p))
post_ctrl = [post.get(a) for a in ("ctrl_nested", "ctrl_ec")]
for fav, what in (("nested", "lowers"), ("ec", "raises")):
    row, pb = post.get(f"step_{fav}_0.69"), post.get(f"beats_perm_{fav}")
    if row is None or pb is None or None in post_ctrl:
        claims.append(Claim(f"Posterior-oriented arm (SGLD continuation): the step (dose ln 2) {what} the OOD rate (development seeds)",
                            "not committed (results/parens/arm_post_*.json)", False, float("nan")))
        continue
    ok = issue_verdict(row, pb, post_ctrl, fav, ALPHA).selects
    claims.append(Claim(f"Posterior-oriented arm (SGLD continuation): the step (dose ln 2) {what} the OOD rate (development seeds)",
                        f"seeds {row['seeds'].start}–{row['seeds'].stop - 1}, 500 unlocalized SGLD steps at nβ 5000 from the SGD end: n {row['n']}, "
                        f"median {row['median_baseline']:.3f} → {row['median_treated']:.3f}, Wilcoxon p = {row['p']:.2g}, beats permuted p = {pb:.2g}, "
                        f"controls p = {post_ctrl[0]['p']:.2g} / {post_ctrl[1]['p']:.2g}", ok, row["p"]))
save_claims("06_parentheses_llc", preset, claims, results_dir)
