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
# # Choosing the branch: one patterning step at a bifurcation
#
# A regular square with a fifth, dead feature at the origin can become a pentagon in four ways: the
# new feature grows into one of the four gaps. Ordinary training lets noise choose. The post
# ({cite}`adam2026tms`, §4.2) computes one data re-weighting at the branch point, from the
# susceptibilities of the angles between the new feature and its would-be neighbours, trains forward
# on it, and reports that the new feature lands in the gap it was sent to — for all four gaps of the
# 4 → 5 transition and all three of the 3 → 4 transition. The reweighting is the "morphogen": it
# builds nothing itself, it biases which of several equivalent paths the model takes
# ({cite}`wang2026patterning`).
#
# This chapter repeats the experiment at sparsity $S = 0.99$ with the exact loss over all input
# types, over many seeds trained as one batch, and compares it with the same training without
# patterning.
#
# At the `paper` preset (50 seeds per gap; run once on 2 CPU cores in 6 minutes, committed in
# `results/paper/` and shown in the paper column of the {doc}`claims table <../book/claims>`) every
# claim that holds here holds there, and one verdict differs: the post's plain pseudo-inverse step
# succeeds on 0.90–0.92 of the seeds of every gap of the 4 → 5 branch (0.80–0.90 here, with 10 seeds
# per gap), so it clears the 0.9 bar there and misses it here. Its success rate sits at the bar: with
# 10 seeds per gap one seed decides the verdict (binomial s.e. ≈ 0.1), so the ci verdict of that claim
# says little; the paper run says the plain step controls the branch about nine times in ten, short
# of the ten in ten of the step used below.

# %% tags=["parameters"]
preset = "ci"  # "ci": 2 CPU cores, about 2 minutes; "paper": the post's scale (≈ 15× the SGLD of the ci run, 7.5× its training: 6 min on 2 CPU cores, measured), GPU recommended; "smoke": a quick device check
results_dir = "."  # where the chapter's claims JSON is written
device = "auto"  # "auto": cuda when available, else cpu

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from patterning_core import SGLDConfig
from patterning_core.tms.model import input_labels, natural_weights, population_loss
from patterning_core.tms.polygons import optimal_kgon, plot_glyph
from patterning_core.devices import resolve_device
from patterning_core.report import Claim, save_claims
from patterning_core.tms.control import (NoisyTrainConfig, bifurcation_point, bifurcation_susceptibilities, branch_runs,
                                         dot_row, gap_neighbours, gap_weights, plot_branch_trajectories,
                                         plot_concentration_field, plot_confusion)

PRESETS = {
    "ci": dict(seeds=10, chains=2048, draws=200, scales=(0.5, 1.0, 2.0, 5.0), metrics=(0.0, 0.25, 0.5)),
    "paper": dict(seeds=50, chains=8192, draws=1000, scales=(0.25, 0.5, 1.0, 2.0, 5.0, 10.0), metrics=(0.0, 0.25, 0.5)),
    # the paper's sweep and chains with the fewest seeds the claims allow and a tenth of the draws
    "smoke": dict(seeds=10, chains=8192, draws=100, scales=(0.25, 0.5, 1.0, 2.0, 5.0, 10.0), metrics=(0.0, 0.25, 0.5)),
}
P = PRESETS[preset]
device = resolve_device(device)
S = 0.99  # sparsity: each feature is on with probability 1 - S
MAIN = (2.0, 0.25)  # (scale, metric) of the headline runs, chosen below from the sweep
torch.set_num_threads(1)  # the tensors are tiny: extra threads only add synchronization overhead
print(f"preset={preset!r}: {P}, device={device}")

# %% [markdown]
# ## The branch point
#
# Features 0–3 sit on the loss-optimal regular square (counter-clockwise, feature $i$ at $90°\,i$)
# and feature 4 is exactly zero. Gap $g$ lies between features $g$ and $g+1 \bmod 4$. The pentagon
# has lower loss than the square, so feature 4 will grow; the question is where. Exactly at the
# branch point every gradient with respect to $W_4$ vanishes (each term reaches $W_4$ through a
# ReLU at zero or is quadratic; as $S \to 1$ even the curvature vanishes and the loss along the dead
# feature is $1 + r^4$, chapter 2), so gradient descent started there never leaves. We therefore train with
# *perturbed* gradient descent: full-batch gradient steps on the exact weighted loss, plus a Gaussian
# kick of size $10^{-3}$ to every weight every ten steps. The kicks are the only thing that tells
# one seed from another.

# %%
square = bifurcation_point(4, S, device)  # (2, 5)
pentagon_loss = float(population_loss(optimal_kgon(5, S, device=device), S))
print(f"loss of the square with a dead feature: {float(population_loss(square, S)):.3e}; regular pentagon: {pentagon_loss:.3e}")

# %% [markdown]
# ## Susceptibilities at the branch point
#
# We sample the dead feature only, $W_4$, from the tempered posterior
# $p(W_4) \propto \exp(-n\beta L(W))$ of the exact population loss with natural weights
# ($n\beta = 5000$, no localization), and record all 15 observables at every draw. Sampling only
# $W_4$ is a choice: the square's own directions are stiff (positive curvature of order one), while
# $W_4$ is flat to second order, so it carries the angular information. Sampling all of $W$ without
# localization is not a *local* posterior at all — the chains leave the square for the pentagon,
# as the check below shows.

# %%
sgld = SGLDConfig(step_size=2e-3, nbeta=5000.0, gamma=0.0, num_chains=P["chains"], num_draws=P["draws"], num_burnin=200, thin=2)
sus4 = bifurcation_susceptibilities(4, S, sgld, seed=0, device=device)
leak = bifurcation_susceptibilities(4, S, SGLDConfig(step_size=2e-3, nbeta=5000.0, gamma=0.0, num_chains=256, num_draws=50, num_burnin=200), seed=1, dead_only=False, device=device)
DOT4 = [dot_row(j, 4, 5) for j in range(4)]
print("posterior mean of dot[j,4] (dead feature only):", sus4.mu[DOT4].cpu().numpy().round(3), f"  E|W_4| = {float(sus4.mu[14]):.3f}")
print(f"all of W sampled: E|W_4| = {float(leak.mu[14]):.3f}, mean |W_j| of the square = {float(leak.mu[10:14].mean()):.3f} (pentagon norm 0.915)")

# %% tags=["hide-input"]
labels5 = input_labels(5)
fig, axes = plt.subplots(1, 2, figsize=(12, 2.8), gridspec_kw=dict(width_ratios=[1, 6]))
plot_glyph(square, axes[0], title="branch point", labels=True)
chi = sus4.chi[DOT4].cpu().numpy()
lim = np.abs(chi).max()
im = axes[1].imshow(chi, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
axes[1].set(xticks=range(32), yticks=range(4), yticklabels=[f"dot[{j},4]" for j in range(4)], title=r"$\chi_{\mathrm{dot}[j,4],\,x}$ over the 32 input types")
axes[1].set_xticklabels(labels5, rotation=90, fontsize=6)
fig.colorbar(im, ax=axes[1], shrink=0.8)
fig.tight_layout()

# %% [markdown]
# The one-hot columns $e_0 \dots e_3$ show the post's anti-diagonal structure: up-weighting $e_j$
# pushes the dead feature away from feature $j$ and towards its diametric partner; $e_4$ only
# controls whether it grows. At $S = 0.99$ the largest entries are elsewhere: the pair inputs
# $e_j + e_4$ pull the dead feature *towards* feature $j$ at first order in $|W_4|$ (the ReLU lets
# $W_4 \cdot W_j$ help reconstruct $x_4$), and the rare inputs with three or four active features
# respond just as strongly per unit of weight.

# %%
one_hot = torch.stack([sus4.chi[DOT4[j], 1 + j] for j in range(4)] + [-sus4.chi[DOT4[j], 1 + (j + 2) % 4] for j in range(4)])
one_hot_se = torch.stack([sus4.std_err[DOT4[j], 1 + j] for j in range(4)] + [sus4.std_err[DOT4[j], 1 + (j + 2) % 4] for j in range(4)])
print("χ[dot[j,4], e_j] and −χ[dot[j,4], e_(j+2)] (all should be < 0):", one_hot.cpu().numpy().round(3))
print("in standard errors:", (one_hot / one_hot_se).cpu().numpy().round(1))

# %% [markdown]
# ## One patterning step per gap
#
# To send feature 4 into gap $(a, b)$ we ask for $\phi_{\mathrm{dot}[a,4]} = \phi_{\mathrm{dot}[b,4]} = \cos 72°
# \approx 0.309$, the pentagon's neighbour angle, and leave the other angles free. Two equations,
# 32 unknowns: the patterning equation picks the smallest re-weighting, and "smallest" needs a
# norm. The post uses the plain pseudo-inverse, $dh = \chi^\top(\chi\chi^\top + \alpha)^{-1}d\mu$,
# the smallest $\sum_x dh_x^2$. That counts a change of $10^{-3}$ in the weight of an input seen
# once in $10^{7}$ samples the same as the same change on a one-hot input. We also try the family
# that minimizes $\sum_x dh_x^2 / h_{0,x}^{2m}$: $m = 0$ is the post's, $m = 1/2$ the $\chi^2$
# (Fisher) distance to the natural weights $h_0$. The weights are then
# $h = \max(h_0 + s\,dh, \varepsilon)$ normalized to mean one; $s = 1$ is the linear-response step
# ($\chi\,dh = d\mu$ exactly).

# %%
COS72 = math.cos(math.radians(72))
steps4 = [gap_weights(sus4, 4, g, S, COS72, scale=MAIN[0], metric=MAIN[1]) for g in range(4)]
h0_5 = natural_weights(5, S, device=device)
for g, st in enumerate(steps4):
    moved = float((st.weights - h0_5).abs().sum() / h0_5.sum() / 2)
    print(f"gap {gap_neighbours(4)[g]}: predicted dμ = {st.step.dmu_pred.cpu().numpy().round(3)}, data mass moved (TV) = {moved:.2%}")

# %% tags=["hide-input"]
plot_concentration_field([st.weights for st in steps4], h0_5, labels5, [f"gap {a}–{b}" for a, b in gap_neighbours(4)],
                         f"concentration field, 4 → 5 (scale {MAIN[0]:g}, metric m = {MAIN[1]:g})")
plt.gcf().tight_layout()

# %% [markdown]
# The field reads like the susceptibilities: the pairs $e_a + e_4$, $e_b + e_4$ with the target
# neighbours are up-weighted (they pull the new feature towards both), the pairs of feature 4 with
# the other two features are switched off, the pair $e_a + e_b$ (which penalizes a feature pointing
# between $a$ and $b$) is switched off and the opposite pair up-weighted; rare inputs with three or
# four active features that contain both neighbours and feature 4 are up-weighted by large factors.
# The one-hots barely move, and only a fraction of a percent of the data mass changes (the total
# variation printed above).
#
# ## Train forward: a sweep over step size and norm
#
# For every gap, every (scale, metric) setting and an unpatterned baseline we train
# the same number of seeds per gap (10 at the CI preset, 50 at the paper preset) in one batched computation: 1000 perturbed gradient steps
# (learning rate 3, SGD) on the weighted loss, then 2000 plain gradient steps under the natural
# weights to settle into a regular pentagon, and read which gap feature 4 ended in. Seed $i$ of gap
# $g$ sees the same noise in every setting and in the baseline.

# %%
settings = [(s, m) for m in P["metrics"] for s in P["scales"]]
train_cfg = NoisyTrainConfig(steps=1000, lr=3.0, noise=1e-3, every=10, checkpoint_every=50)
runs4 = branch_runs(4, S, sus4, COS72, settings, P["seeds"], train_cfg)
sweep4 = torch.stack([runs4.success(i).mean() for i in range(len(settings))]).reshape(len(P["metrics"]), len(P["scales"]))
print("success rate (rows: metric m, columns: scale s)\n", sweep4.cpu().numpy().round(2))

# %% [markdown]
# ## The 3 → 4 transition
#
# The same construction on a model with four features (16 input types; with five, a triangle would
# have two dead features): a regular triangle, feature 3 dead. The post
# targets "an angle of 60 degrees between the new feature and two neighbours". That is not the
# square's angle (90°) but the bisector of the triangle's 120° gap, the direction in which a dead
# feature next to a triangle grows fastest. It is also the only sensible target at the branch point:
# there the posterior of the dead feature's direction is symmetric, $\mathbb E[\phi_{\mathrm{dot}[j,3]}] \approx 0$,
# so a 90° target ($\cos = 0$) asks for $d\mu = -\mu$, which is sampling noise, while any
# positive cosine asks for "closer to both neighbours than average". For a single step only the
# direction of $d\mu$ matters up to the scale $s$, so $\cos 60° = 0.5$ and $\cos 72°$ differ only in
# step length.

# %%
sus3 = bifurcation_susceptibilities(3, S, sgld, seed=2, device=device)
DOT3 = [dot_row(j, 3, 4) for j in range(3)]
print("posterior mean of dot[j,3]:", sus3.mu[DOT3].cpu().numpy().round(3), "→ a 90° target would ask for dμ =", (0.0 - sus3.mu[DOT3]).cpu().numpy().round(3))
COS60 = 0.5
runs3 = branch_runs(3, S, sus3, COS60, settings, P["seeds"], train_cfg)
sweep3 = torch.stack([runs3.success(i).mean() for i in range(len(settings))]).reshape(len(P["metrics"]), len(P["scales"]))
print("success rate 3 → 4 (rows: metric m, columns: scale s)\n", sweep3.cpu().numpy().round(2))
steps3 = [gap_weights(sus3, 3, g, S, COS60, scale=MAIN[0], metric=MAIN[1]) for g in range(3)]

# %% tags=["hide-input"]
plot_concentration_field([st.weights for st in steps3], natural_weights(4, S, device=device), input_labels(4),
                         [f"gap {a}–{b}" for a, b in gap_neighbours(3)], f"concentration field, 3 → 4 (scale {MAIN[0]:g}, metric m = {MAIN[1]:g})")
plt.gcf().set_size_inches(8, 2.6)
plt.gcf().tight_layout()

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
for ax, sw, name, base in [(axes[0], sweep4, "4 → 5", runs4), (axes[1], sweep3, "3 → 4", runs3)]:
    ax.imshow(sw.cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(sw.cpu().numpy()):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w" if v < 0.6 else "k", fontsize=8)
    ax.set(xticks=range(len(P["scales"])), xticklabels=[f"{s:g}" for s in P["scales"]], yticks=range(len(P["metrics"])),
           yticklabels=[f"m = {m:g}" for m in P["metrics"]], xlabel="scale $s$",
           title=f"{name}: success (baseline {float(base.success(-1).mean()):.2f})")
fig.tight_layout()

# %% [markdown]
# Small steps do nothing: the kicks decide, as in the baseline. Past a threshold the step takes
# over. The norm matters too (the exploration script `experiments/tms_control_explore.py` scans the same
# grid with 20 seeds per gap and finds the same pattern). With the post's plain pseudo-inverse
# ($m = 0$) the 3 → 4 transition is controlled from
# $s = 1$, but the 4 → 5 transition stops short of full control: the plain step up-weights the
# four-feature inputs such as $e_0 + e_1 + e_2 + e_4$ by factors of thousands (per unit of weight
# they respond most), and on a new feature that starts in the gap *opposite* the target their
# pulls add up to a trap. With $m = 1/2$ the one-hots take the load and the 3 → 4 step needs a
# much larger scale. The intermediate $m = 1/4$ controls both transitions. We use
# $(s, m) = (2, 1/4)$ below: a choice made from this sweep, so the claims record the post's plain
# step separately.
#
# ## Which gap did the new feature land in?

# %%
main = settings.index(MAIN)
for name, runs in [("4 → 5", runs4), ("3 → 4", runs3)]:
    print(f"{name}: patterned success per gap {runs.success(main).cpu().numpy().round(2)}; "
          f"baseline: share landing in each gap {runs.landed_share(-1).cpu().numpy().round(2)}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 4, figsize=(13, 3))
for ax, (name, runs, idx) in zip(axes, [("4 → 5 patterned", runs4, main), ("4 → 5 unpatterned", runs4, -1),
                                        ("3 → 4 patterned", runs3, main), ("3 → 4 unpatterned", runs3, -1)]):
    plot_confusion(runs, idx, ax, name, P["seeds"])
fig.tight_layout()

# %% [markdown]
# Without patterning the rows are flat: where feature 4 goes depends only on the kicks. With one
# patterning step computed once, at the branch point, the matrix is diagonal.
#
# ## Polygon trajectories
#
# One patterned seed per target gap, during the patterned phase and after settling.

# %% tags=["hide-input"]
plot_branch_trajectories(runs4, main, [0, 100, 200, 300, 500, 1000], "4 → 5, patterned (one seed per target gap)");

# %% tags=["hide-input"]
plot_branch_trajectories(runs3, main, [0, 50, 100, 200, 500, 1000], "3 → 4, patterned (one seed per target gap)");

# %% [markdown]
# ## Checks

# %%
succ4, succ3 = runs4.success(main), runs3.success(main)
share4, share3 = runs4.landed_share(-1), runs3.landed_share(-1)
plain = settings.index((1.0, 0.0))
plain4, plain3 = runs4.success(plain), runs3.success(plain)
print(f"4 → 5: min per-gap success {float(succ4.min()):.2f}; baseline max share {float(share4.max()):.2f}; plain pseudo-inverse (s=1, m=0) {plain4.cpu().numpy().round(2)}")
print(f"3 → 4: min per-gap success {float(succ3.min()):.2f}; baseline max share {float(share3.max()):.2f}; plain pseudo-inverse (s=1, m=0) {plain3.cpu().numpy().round(2)}")
assert P["seeds"] >= 10
assert bool((one_hot < 0).all()) and float((one_hot / one_hot_se).max()) < -5, "one-hot susceptibilities lack the anti-diagonal sign structure"
assert float(leak.mu[14]) > 0.5, "sampling all of W was expected to leave the branch point"
assert float(succ4.min()) >= 0.9 and float(succ3.min()) >= 0.9, "one patterning step did not choose the gap"
assert float(share4.max()) <= 0.6 and float(share3.max()) <= 0.6, "without patterning one gap dominates"
assert float(sweep4[:, 0].max()) < float(succ4.mean()), "the smallest step should not already control the branch"

# %%
save_claims("03_bifurcation_control", preset, [
    Claim("one patterning step at the 4 → 5 branch point puts the new feature in the chosen gap, for all four gaps",
          f"success per gap {succ4.cpu().numpy().round(2).tolist()} over {P['seeds']} seeds each (scale {MAIN[0]:g}, metric m = {MAIN[1]:g}, S = {S})",
          bool(succ4.min() >= 0.9), float(succ4.mean())),
    Claim("the same for the 3 → 4 transition (60° to both neighbours)",
          f"success per gap {succ3.cpu().numpy().round(2).tolist()} over {P['seeds']} seeds each", bool(succ3.min() >= 0.9), float(succ3.mean())),
    Claim("without patterning, noise picks the gap",
          f"largest share of one gap: {float(share4.max()):.2f} (4 → 5), {float(share3.max()):.2f} (3 → 4)",
          bool(share4.max() <= 0.6 and share3.max() <= 0.6), float(share4.max())),
    Claim("the post's plain pseudo-inverse step (m = 0, linear-response scale s = 1) over all 32 inputs controls the 4 → 5 branch",
          f"success per gap {plain4.cpu().numpy().round(2).tolist()}; 3 → 4: {plain3.cpu().numpy().round(2).tolist()}",
          bool(plain4.min() >= 0.9), float(plain4.mean())),
], results_dir)
