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
# # Quickstart: the API on known answers
#
# Patterning reads structure with **SGLD** draws from a localized tempered posterior, measures how
# posterior expectations respond to per-sample weights (**susceptibilities**), and inverts that
# response to get a **data re-weighting** ({cite}`wang2026patterning`). This chapter runs each piece
# once on a problem whose answer is known in closed form:
#
# 1. the local learning coefficient (LLC) of a monomial potential, $\lambda = \sum_i 1/p_i$;
# 2. the susceptibility of a Gaussian posterior, $\chi = \partial \mathbb E_h[w] / \partial h$;
# 3. one patterning step that moves an observable where it was asked to.
#
# Every call below is the public API of `patterning_core`; nothing is defined here.

# %% tags=["parameters"]
preset = "ci"  # "ci": 2 CPU cores, about a minute; "paper": more chains and draws (still CPU-friendly); "smoke": a quick device check
results_dir = "."  # where the chapter's claims JSON is written
device = "auto"  # "auto": cuda when available, else cpu

# %%
import matplotlib.pyplot as plt
import torch

from patterning_core import (SGLDConfig, TrainConfig, llc, modes, patterning_step, reweight, sample,
                             susceptibilities, train)
from patterning_core.toy import (Monomial, MonomialConfig, Quadratic, monomial_loss, quadratic_loss,
                                        quadratic_posterior)
from patterning_core.devices import resolve_device
from patterning_core.report import Claim, save_claims

PRESETS = {
    "ci": dict(chains=128, draws=500),
    "paper": dict(chains=1024, draws=2000),
    "smoke": dict(chains=1024, draws=200),  # the paper's chains, a tenth of its draws
}
P = PRESETS[preset]
device = resolve_device(device)
torch.manual_seed(0)
print(f"preset={preset!r}: {P}, device={device}")

# %% [markdown]
# ## 1. The LLC of $K(w) = \tfrac12(w_1^2 + w_2^4)$
#
# Under $p(w) \propto e^{-n\beta K(w)}$ the estimator $\hat\lambda = n\beta(\mathbb E[K] - K(0))$ equals
# $\tfrac12 + \tfrac14 = 0.75$ exactly, at any $n\beta$ ({cite}`watanabe2009algebraic`, {cite}`lau2023llc`).
# No localization ($\gamma = 0$), so the only error is SGLD's discretization and Monte Carlo noise.

# %%
potential = Monomial(MonomialConfig(powers=(2, 4))).to(device)
cfg = SGLDConfig(step_size=2e-4, nbeta=100.0, gamma=0.0, num_chains=P["chains"], num_draws=P["draws"], num_burnin=500, thin=2)
draws = sample(potential, monomial_loss, (torch.zeros(1, 1, device=device),), config=cfg, observables=lambda p: p["w"], seed=0, progress=False)
lam = llc(draws)
print(f"LLC = {lam.mean:.3f} ± {lam.std_err:.3f}   (exact {potential.learning_coefficient})")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
w = draws.obs_trace.reshape(-1, 2).cpu()
axes[0].hist2d(w[:, 0].cpu().numpy(), w[:, 1].cpu().numpy(), bins=60, cmap="magma")
axes[0].set(xlabel="$w_1$ (quadratic direction)", ylabel="$w_2$ (quartic direction)", title="SGLD draws")
axes[1].hist(lam.per_chain.cpu().numpy(), bins=30, color="tab:blue", alpha=0.8)
axes[1].axvline(potential.learning_coefficient, color="k", ls="--", label="exact 3/4")
axes[1].set(xlabel=r"$\hat\lambda$ per chain", title="LLC estimates"); axes[1].legend()
fig.tight_layout()

# %% [markdown]
# The quartic direction is wider and flatter: degenerate directions cost less "complexity", which is
# what the LLC counts.
#
# ## 2. A two-parameter susceptibility
#
# Four samples, each pulling $w \in \mathbb R^2$ towards its own centre $a_i$ with precision $A_i$:
# $\ell_i(w) = \tfrac12 \sum_j A_{ij}(w_j - a_{ij})^2$. The weighted posterior is Gaussian, so its mean
# $m(h)$ is known and $\chi = \partial m / \partial h$ is its Jacobian. SGLD gives $\chi$ through the
# fluctuation–dissipation form $\chi_{k,i} = -\beta\,\mathrm{Cov}[w_k, \ell_i - L]$. As in every
# chapter: train to a minimum $w^*$ first, then sample around it.

# %%
g = torch.Generator().manual_seed(1)  # the problem is drawn on the CPU (the same on every device), then moved
centres, precisions = torch.randn(4, 2, generator=g).to(device), (0.5 + 1.5 * torch.rand(4, 2, generator=g)).to(device)
model = Quadratic(2).to(device)
fit = TrainConfig(steps=400, lr=0.05)
w_star = train(model, quadratic_loss, (centres, precisions), config=fit, progress=False).seed(0)["w"]
model.w.data.copy_(w_star)
cfg = SGLDConfig(step_size=1e-3, nbeta=20.0, gamma=2.0, num_chains=P["chains"], num_draws=P["draws"], num_burnin=300, thin=2)
draws = sample(model, quadratic_loss, (centres, precisions), config=cfg, observables=lambda p: p["w"], seed=2, progress=False)
sus = susceptibilities(draws)
exact = torch.autograd.functional.jacobian(lambda h: quadratic_posterior(h, centres, precisions, 20.0, 2.0, w_star)[0], torch.ones(4, device=device))
print("SGLD χ:\n", sus.chi.cpu().numpy().round(3), "\n± (s.e.)\n", sus.std_err.cpu().numpy().round(3),
      "\nexact ∂m/∂h:\n", exact.cpu().numpy().round(3))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(8, 2.6), sharey=True)
lim = float(exact.abs().max())
for ax, mat, title in zip(axes, [sus.chi, exact], ["SGLD (covariance)", "exact (Jacobian)"]):
    im = ax.imshow(mat.cpu().numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set(title=title, xticks=range(4), xticklabels=[f"$h_{i}$" for i in range(4)], yticks=[0, 1], yticklabels=["$w_1$", "$w_2$"])
fig.colorbar(im, ax=axes, shrink=0.8)

# %%
chi_err = float(((sus.chi - exact.double()).abs() / exact.abs().max()).max())
print(f"max |χ_SGLD − χ_exact| / max|χ| = {chi_err:.3f}")
assert chi_err < 0.08, "SGLD susceptibility disagrees with the closed form"

# %% [markdown]
# ## 3. One patterning step
#
# Ask for $d\mu = (+0.15, -0.10)$ in the posterior mean of $w$. The patterning equation
# $dh = \chi^\top(\chi\chi^\top + \alpha I)^{-1} d\mu$ gives the re-weighting, `reweight` turns it into
# mean-one training weights, and we retrain from the same start under the new weights.

# %%
dmu = torch.tensor([0.15, -0.10], device=device)
step = patterning_step(sus.chi, dmu)
h = reweight(torch.ones(4, device=device), step.dh.float(), scale=1.0)
print("dh =", step.dh.cpu().numpy().round(3), "→ weights h =", h.cpu().numpy().round(3))
mode = modes(sus.chi)
print("principal gains:", mode.gains.cpu().numpy().round(3), " condition number:", round(mode.condition_number, 2))

# %%
before = w_star
after = train(model, quadratic_loss, (centres, precisions), config=fit, weights=h, progress=False).seed(0)["w"]
moved, predicted = after - before, (sus.chi.float() @ (h - 1)).float()
cos = float(torch.nn.functional.cosine_similarity(moved, dmu, dim=0))
print(f"asked {dmu.tolist()}, predicted χ·(h − 1) = {predicted.cpu().numpy().round(3)}, moved {moved.cpu().numpy().round(3)}, cos(moved, asked) = {cos:.3f}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(4.2, 4))
a_, h_, w0_, w1_, dmu_ = (t.cpu().numpy() for t in (centres, h, before, after, dmu))  # for matplotlib
ax.scatter(*a_.T, s=200 * h_, c="tab:gray", label="sample centres $a_i$ (size ∝ new weight)")
ax.annotate("", xy=w1_, xytext=w0_, arrowprops=dict(arrowstyle="->", color="tab:red", lw=2))
ax.annotate("", xy=w0_ + dmu_, xytext=w0_, arrowprops=dict(arrowstyle="->", color="k", ls="--"))
ax.plot(*w0_, "ko", label="trained, natural weights")
ax.plot(*w1_, "o", color="tab:red", label="trained, patterned weights")
ax.set(xlabel="$w_1$", ylabel="$w_2$", aspect="equal"); ax.legend(fontsize=7, loc="lower left")

# %% [markdown]
# The trained minimum moves along the requested direction. The step is linear response: the
# prediction is good to first order in $dh$; for large steps the patterning *loop* re-estimates $\chi$.

# %%
ratio = float(moved.norm() / dmu.norm())
assert cos > 0.95, f"patterned training moved in the wrong direction (cos={cos:.3f})"
assert 0.6 < ratio < 1.5, f"moved {ratio:.2f}× the requested distance"
assert abs(lam.mean - potential.learning_coefficient) < max(4 * lam.std_err, 0.05)
save_claims("00_quickstart", preset, [
    Claim("LLC of ½(w₁² + w₂⁴) is 3/4", f"λ̂ = {lam.mean:.3f} ± {lam.std_err:.3f}", True, lam.mean),
    Claim("SGLD χ equals the Gaussian posterior's ∂m/∂h", f"max relative error {chi_err:.3f}", True, chi_err),
    Claim("one patterning step moves w where asked", f"cos(moved, asked) = {cos:.3f}, |moved|/|asked| = {ratio:.2f}", True, cos),
], results_dir)
