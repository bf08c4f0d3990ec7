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
# # Rewriting minima: moving a trained pentagon between global minima
#
# Choosing a branch (chapter 3) acts before the model commits. This chapter asks the harder
# question of the post ({cite}`adam2026tms`, §5.2–5.4): take a model that has already settled into a
# regular pentagon and move it to a *different* arrangement of the same pentagon — same loss, but
# separated from the start by a loss barrier that gradient descent under the natural data does not
# cross. Patterning does it by closing a feedback loop around the data distribution: estimate the
# susceptibilities at the current weights, re-weight the data to push the posterior towards the
# target, train, and repeat ({cite}`wang2026patterning`). We also compare when to re-estimate:
# once, on a clock, or when training stalls.
#
# At the `paper` preset (1,024 chains × 200 draws per χ estimate, five seeds per representative
# target, three seeds for all eleven targets) this chapter does about 15–18 times the SGLD work of
# the `ci` run shown here; it ran in 37 minutes on two shared CPU cores (`results/paper/`, shown in
# the claims table). Every claim holds there as here but one: "patterning moves the pentagon to every
# one of the 11 non-trivial targets" holds on the `ci` seed (11/11) and not on all three paper seeds
# (32/33). The run that missed is a 3-break target (arrangement 01342) on seed 1: it used the whole
# 500-epoch budget (22 χ estimates) without reaching the target. The 3-break rewrites are the slow
# ones (58–345 epochs when they finish, against 18–25 for 2-breaks),
# so the miss says the budget is tight for 3-breaks; whether that run would finish with more epochs was
# not tested.

# %% tags=["parameters"]
preset = "ci"  # "ci": 2 CPU cores, about 4 minutes; "paper": more seeds and posterior draws (≈ 15–18× the SGLD work of the ci run: 37 min measured on 2 shared CPU cores), GPU recommended; "smoke": a quick device check
results_dir = "."  # where the chapter's claims JSON is written
device = "auto"  # "auto": cuda when available, else cpu

# %%
import collections
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from patterning_core import EventTriggered, Periodic, SGLDConfig, Single
from patterning_core.tms.model import input_labels, natural_weights, population_loss
from patterning_core.tms.polygons import (cycle_edges, dihedral_group, gap_pattern, gap_patterns, optimal_kgon,
                                      pentagon_targets, plot_glyph)
from patterning_core.devices import resolve_device
from patterning_core.report import Claim, save_claims
from patterning_core.tms.control import (RewriteConfig, order_matches, plot_data_trajectory, plot_rewrite_snapshots,
                                         rewrite, settle, straight_path_barrier)

PRESETS = {
    "ci": dict(chains=256, draws=100, rep_seeds=(0, 1), all_seeds=(0,)),
    "paper": dict(chains=1024, draws=200, rep_seeds=(0, 1, 2, 3, 4), all_seeds=(0, 1, 2)),
    "smoke": dict(chains=1024, draws=200, rep_seeds=(0,), all_seeds=(0,)),  # the paper's posterior, one seed: a quick device check
}
P = PRESETS[preset]
device = resolve_device(device)
S = 0.99  # sparsity
torch.set_num_threads(1)  # the tensors are tiny: extra threads only add synchronization overhead
print(f"preset={preset!r}: {P}, device={device}")

# %% [markdown]
# ## Classifying targets
#
# Put feature $a_p$ at position $p$ of a regular pentagon. The observables see only which features are
# neighbours: adjacent pairs have $\phi_{\mathrm{dot}} = \cos 72°$, the others $\cos 144°$, all norms are
# equal. So a target is a cyclic order up to rotation and reflection, and its *break count* is the
# number of the start's five neighbour pairs it destroys. We enumerate all $5! = 120$ arrangements.

# %%
start_ring = cycle_edges((0, 1, 2, 3, 4))
breaks_of = {a: len(cycle_edges(a) - start_ring) for a in itertools.permutations(range(5))}
print("arrangements:", len(breaks_of), "| break counts that occur:", sorted(set(breaks_of.values())))
targets = pentagon_targets()
patterns = gap_patterns()
print("observable targets:", len(targets), dict(collections.Counter(t.breaks for t in targets)))
print("gap patterns (120 arrangements modulo relabelling by D5):", len(patterns), dict(collections.Counter(g.breaks for g in patterns)))
orbits = {frozenset(tuple(g[f] for f in a) for g in dihedral_group()) for a in itertools.permutations(range(5))}
print("orbits of the relabelling action:", len(orbits), "each of size", {len(o) for o in orbits})

# %% [markdown]
# Exactly 12 classes: the identity, five 2-breaks, five 3-breaks and one 5-break; 1 and 4 breaks never
# occur (four intact edges of a 5-cycle form a path whose ends are adjacent on the ring, so the fifth
# edge is intact too). Two groupings give these numbers: the post's gap patterns (the 120
# arrangements modulo relabelling the features by the pentagon's dihedral group $D_5$) and the
# observable targets (modulo rotating and reflecting the *positions*). They are different partitions
# with the same counts. The observables, and so the patterning loop, see the second one: a target
# is reached when the model's cyclic order has the target's neighbour pairs. Relabelling by $D_5$
# maps each target class onto itself, so within a break class all targets are the same problem up
# to relabelling; we pick the post's examples as representatives.

# %%
REPS = {2: (0, 1, 4, 3, 2), 3: (0, 3, 1, 2, 4), 5: (0, 2, 4, 1, 3)}  # swap f0↔f1; the 3-cycle (f1 f2 f3); the pentagram
for b, a in REPS.items():
    print(f"{b}-break representative: arrangement {a}, gap string {gap_pattern(a)}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 12, figsize=(18, 1.9))
for ax, t in zip(axes, targets):
    plot_glyph(optimal_kgon(5, S, assignment=t.arrangement), ax, title=f"{t.breaks} breaks\n{''.join(map(str, t.arrangement))}", labels=True)
fig.tight_layout()

# %% [markdown]
# ## Two minima and a barrier
#
# All twelve pentagons have the same loss. Between the start and a target, we take the lowest of
# the straight paths to any realization of the target (its ten arrangements at any global rotation,
# on a grid) and evaluate the natural loss along it. Then we start plain gradient descent under the
# natural distribution at points along that path and record where it ends.

# %%
W_start = optimal_kgon(5, S, device=device)  # every rewrite, settle and path below runs on its device
L_start = float(population_loss(W_start, S))
barriers = {b: straight_path_barrier(W_start, a, S) for b, a in REPS.items()}
ts = torch.linspace(0.05, 0.95, 19, dtype=torch.float64, device=device)
basin = {}
for b, a in REPS.items():
    ends = settle((1 - ts)[:, None, None] * W_start + ts[:, None, None] * barriers[b].end, S, 3000)
    basin[b] = ["start" if order_matches(w, (0, 1, 2, 3, 4)) else "target" if order_matches(w, a) else "other" for w in ends]
    back = float(ts[[x == "start" for x in basin[b]]].max())
    over = float(ts[[x == "target" for x in basin[b]]].min())
    print(f"{b}-break: barrier {barriers[b].barrier:.2e} = {barriers[b].barrier / L_start:.0%} of the loss at t = "
          f"{float(barriers[b].t[barriers[b].loss.argmax()]):.2f}; descent returns to the start from t ≤ {back:.2f}, "
          f"reaches the target only from t ≥ {over:.2f}; ends: {collections.Counter(basin[b])}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 3))
for b, pb in barriers.items():
    ax.plot(pb.t.cpu(), pb.loss.cpu() / L_start, label=f"{b}-break {REPS[b]}")
ax.axhline(1, color="0.6", lw=0.8)
ax.set(xlabel="position $t$ on the straight path (0 = start, 1 = target)", ylabel="natural loss / $L$(pentagon)",
       title="the lowest straight path between equivalent minima")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Every straight path climbs a barrier of the same order as the loss itself. Plain gradient descent
# started on the start's side of the top slides back to the start, and reaches the target only when
# started beyond the top (near the top of the 5-break path it falls into other arrangements).
# Gradient descent under the natural distribution does not move between these minima.
#
# ## The patterning loop
#
# One *epoch* is ten full-batch gradient steps (SGD, learning rate 3) on the weighted loss $L_h$. When
# the schedule calls for it we sample the local posterior at the current parameters under the current
# data weights $h$ (all of $W$, $n\beta = 5000$, localization $\gamma = 1000$), estimate $\mu$ and $\chi$ of all
# 15 observables, and compute $dh$ towards the target's observables with the frequency-aware norm
# $\sum_x dh_x^2/h_{0,x}^{1/2}$ of chapter 3 ($m = 1/4$). Three choices differ from the post's loop, and we
# state them because they matter:
#
# * **Proportional, not integral.** We set $h = \mathrm{reweight}(h_0 + s\,dh)$ from the natural weights
#   each time, so that the weights return to $h_0$ as the tracking error vanishes. The post's
#   $h \leftarrow \mathrm{reweight}(h + s\,dh)$ accumulates; we run it too, for comparison.
# * **Gain adaptation.** The gain starts at $s = 0.01$ and doubles at an estimate where the tracking
#   error $\lVert \mu_{\rm goal} - \mu\rVert$ fell by less than 10% since the previous one.
# * **Units.** At $S = 0.99$ the empty input carries 95% of the weight and has no gradient; learning
#   rate and $n\beta$ are held fixed per unit of the *non-empty* weight, so a re-weighting that moves
#   mass off the empty input does not make the optimizer or the sampler unstable.
#
# A run is *done* when the model's cyclic order has the target's neighbour pairs and a copy, settled
# by 2000 plain gradient steps under the natural weights, is a regular pentagon (every gap within
# 0.1 rad of 72°) with that order. The schedules: **single** (estimate once, at epoch 0), **periodic**
# (every 10 epochs) and **event-triggered** (when the weighted loss changed by less than 1% over the
# last 10 epochs).

# %%
sgld = SGLDConfig(step_size=1e-3, nbeta=5000.0, gamma=1000.0, num_chains=P["chains"], num_draws=P["draws"], num_burnin=100)
config = RewriteConfig()
integral = RewriteConfig(integral=True)
CONTROLLERS = {
    "single": (Single(), config),
    "periodic": (Periodic(every=10), config),
    "event": (EventTriggered(window=10, rel_tol=1e-2), config),
    "event, integral (post's update)": (EventTriggered(window=10, rel_tol=1e-2), integral),
}
print(config)

# %% [markdown]
# ## Comparing controllers on one target per break class

# %%
runs = {(b, name, seed): rewrite(W_start, REPS[b], S, sgld, cfg, schedule, seed=1000 * seed)
        for b in REPS for name, (schedule, cfg) in CONTROLLERS.items() for seed in P["rep_seeds"]}
table = pd.DataFrame([dict(breaks=b, controller=name, seed=seed, done=r.success, reached_epoch=r.reached_epoch,
                           done_epoch=r.done_epoch, estimates=r.num_estimates, epochs=len(r.natural_loss), failure=r.failure)
                      for (b, name, seed), r in runs.items()])
print(table.to_string(index=False))

# %%
summary = table.groupby(["breaks", "controller"], sort=False).agg(
    done=("done", "mean"), estimates=("estimates", "sum"), epochs=("epochs", "sum")).reset_index()
cell = lambda g: " | ".join(f"{'✓' if d else '✗'} {e} est., {n} ep." for d, e, n in zip(g.done, g.estimates, g.epochs))
pivot = table.groupby(["breaks", "controller"], sort=False).apply(cell, include_groups=False).unstack()
print("per seed: done?, χ estimates, epochs\n", pivot.to_string())

# %% [markdown]
# How to read the table. A 2-break is a single swap of neighbours: one estimate at epoch 0 sets a
# re-weighting under which the two features pass each other, and the natural landscape then finishes
# the job; re-estimating on a clock only adds estimates. The 3-break (two swaps at once) is the hard
# case: one step is not enough, the tracking error falls slowly, the gain grows, and the run needs
# many estimates — in total the clock spends more of them than the controller that waits for the
# weighted loss to stall (asserted below). The 5-break moves every feature and yet usually takes few estimates. The post's
# integral update, which keeps adding to the weights, drives them to such extremes on the rare
# inputs that training can become unstable (a `FloatingPointError` in the table is such a
# divergence), which is why we use the proportional form. The asserts below check the
# event-triggered controller on every representative and seed, and that it used fewer estimates in
# total than the periodic one.

# %% [markdown]
# ## A trajectory in the space of data distributions
#
# The event-triggered run on the 3-break target (of the seeds above, the one that finished first):
# the weighted and natural losses, and the weight of each of the 32 input types relative to its
# natural weight, over the run. Dotted lines mark the χ estimates.

# %%
showcase = min((runs[(3, "event", s)] for s in P["rep_seeds"]), key=lambda r: len(r.natural_loss))
print(f"estimates at epochs {showcase.estimate_epochs}; gains {showcase.gains}; tracking errors {np.round(showcase.errors, 2).tolist()}")
print(f"reached the target order at epoch {showcase.reached_epoch}, done at epoch {showcase.done_epoch}")

# %% tags=["hide-input"]
labels = input_labels(5)
plot_data_trajectory(showcase, natural_weights(5, S, device=device), labels, f"3-break {REPS[3]}: event-triggered controller");

# %% tags=["hide-input"]
key_epochs = sorted({0, *showcase.estimate_epochs[1:4], (showcase.reached_epoch or len(showcase.natural_loss)) - 1,
                     showcase.reached_epoch or len(showcase.natural_loss)})
plot_rewrite_snapshots(showcase, key_epochs, "3-break: snapshots at estimates, just before and at the crossing");

# %% [markdown]
# The loop does not nudge: each re-weighting switches whole groups of inputs on and off. The rare
# inputs with three, four or five active features (natural probability $\sim 10^{-6}$ and below) are
# up-weighted by factors of hundreds to thousands, because per unit of weight they move the
# observables most, and at times even the one-hots are switched off. The phases are visible in the
# losses: each new re-weighting raises the natural loss while the model restructures, and the
# weighted loss then relaxes to a plateau that triggers the next estimate. Once the order has
# crossed over, settling under the natural weights finishes the regular pentagon.
#
# ## All eleven targets
#
# The event-triggered controller, proportional update, on every non-trivial target.

# %%
all_runs = {}
for t in targets[1:]:
    for seed in P["all_seeds"]:
        b = t.breaks
        reuse = (b, "event", seed) in runs and cycle_edges(REPS[b]) == t.edges
        all_runs[(t.arrangement, seed)] = runs[(b, "event", seed)] if reuse else rewrite(
            W_start, t.arrangement, S, sgld, config, CONTROLLERS["event"][0], seed=1000 * seed)
all_table = pd.DataFrame([dict(target="".join(map(str, a)), breaks=breaks_of[a], seed=seed, done=r.success,
                               done_epoch=r.done_epoch, estimates=r.num_estimates, failure=r.failure)
                          for (a, seed), r in all_runs.items()])
print(all_table.to_string(index=False))
print(all_table.groupby("breaks").done.agg(["sum", "count"]))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, len(all_runs), figsize=(1.6 * len(all_runs), 2.0))
for ax, ((a, seed), r) in zip(axes, all_runs.items()):
    plot_glyph(r.settled, ax, title=f"{''.join(map(str, a))}\n{'done' if r.success else 'not done'}", labels=True)
fig.suptitle("settled (or last) pentagon of each run", fontsize=10)
fig.tight_layout()

# %% [markdown]
# ## Checks

# %%
reps_done = {b: all(runs[(b, "event", s)].success for s in P["rep_seeds"]) for b in REPS}
est = summary.groupby("controller").estimates.sum()
done_rate = summary.groupby("controller").done.mean()
two_breaks_done = bool(all_table[all_table.breaks == 2].done.all())
n_done, n_all = int(all_table.done.sum()), len(all_table)
print(f"event controller done on every representative and seed: {reps_done}")
print(f"χ estimates summed over representatives and seeds: {est.to_dict()}")
print(f"share of (representative, seed) runs done: {done_rate.round(2).to_dict()}")
print(f"all eleven targets: {n_done}/{n_all} runs done")
regular = max(r.regularity_error for r in all_runs.values() if r.success)
assert len(targets) == 12 and len(patterns) == 12 and len(orbits) == 12
assert sorted(set(breaks_of.values())) == [0, 2, 3, 5]
assert dict(collections.Counter(t.breaks for t in targets)) == {0: 1, 2: 5, 3: 5, 5: 1}
assert all(pb.barrier > 0.5 * L_start for pb in barriers.values()), "expected a barrier of the order of the loss"
assert all(basin[b][0] == "start" and basin[b][-1] == "target" for b in REPS)
assert all("target" not in basin[b][: int((ts <= 0.3).sum())] for b in REPS), "descent crossed the barrier from the start's side"
assert all(reps_done.values()), "the event-triggered controller missed a representative target"
assert est["event"] < est["periodic"], "the event-triggered controller used no fewer estimates than the periodic one"
assert two_breaks_done, "a 2-break target was not reached"
assert regular <= config.regular_tol

# %%
save_claims("04_pentagon_rewrites", preset, [
    Claim("120 arrangements modulo D5 give 12 targets: identity, five 2-breaks, five 3-breaks, one 5-break; 1 and 4 breaks are impossible",
          f"{len(targets)} observable targets {dict(collections.Counter(t.breaks for t in targets))}, {len(patterns)} gap patterns; break counts {sorted(set(breaks_of.values()))}",
          True, float(len(targets))),
    Claim("gradient descent under the natural distribution does not move between the minima (a loss barrier)",
          "lowest straight-path barrier " + ", ".join(f"{b}-break {pb.barrier / L_start:.0%}" for b, pb in barriers.items())
          + " of the loss; plain descent from the start's side of the path returns to the start, from t = 0.05 up to "
          + ", ".join(f"{float(ts[[x == 'start' for x in basin[b]]].max()):.2f}" for b in REPS),
          True, min(pb.barrier / L_start for pb in barriers.values())),
    Claim("the adaptive (event-triggered) controller reaches a representative target of each break class",
          f"done on every seed: {reps_done}", all(reps_done.values()), float(np.mean([runs[(b, 'event', s)].success for b in REPS for s in P['rep_seeds']]))),
    Claim("the adaptive controller needs fewer χ estimates than re-estimating every 10 epochs",
          f"estimates summed over representatives and seeds: {est.to_dict()}", bool(est["event"] < est["periodic"]), float(est["event"])),
    Claim("patterning moves the pentagon to every one of the 11 non-trivial targets",
          f"{n_done}/{n_all} runs done (event-triggered, seeds {list(P['all_seeds'])}); by break count "
          + str(all_table.groupby('breaks').done.agg(['sum', 'count']).to_dict('index')),
          n_done == n_all, n_done / n_all),
], results_dir)
