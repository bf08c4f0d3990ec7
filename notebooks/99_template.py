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
# # Template: pattern your own model
#
# A minimal chapter to copy. It patterns a model defined right here, in five steps: define the
# model and its per-sample loss, make the data, train to a minimum, choose observables and a
# target, then run the patterning loop {cite}`wang2026patterning,adam2026tms` and check that it
# reached the target. The last cell records the result for the book's claims table.
#
# To start your own chapter: `cp notebooks/99_template.py notebooks/NN_my_chapter.py`, replace the
# cells marked **replace**, and run `make chapter NAME=NN_my_chapter`. The page
# {doc}`../book/write_your_own` explains the conventions.
#
# The toy problem: samples come from two groups with different linear laws, $y = 2x + \tfrac12$
# (group A) and $y = -x - \tfrac12$ (group B). A line fitted to all of them gets a slope in
# between. We ask for slope $1.5$ and let the intercept go where it will. Patterning should find
# the answer one would guess: up-weight group A.

# %% tags=["parameters"]
preset = "ci"  # "ci": seconds on 2 CPU cores; "paper": more SGLD chains and draws; "smoke": a quick device check
results_dir = "."  # where the chapter's claims JSON is written (the runner sets it)
device = "auto"  # "auto": cuda when available, else cpu

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from patterning_core import Periodic, SGLDConfig, Target, TrainConfig, pattern, train
from patterning_core.devices import resolve_device
from patterning_core.report import Claim, save_claims

PRESETS = {  # everything that changes with the preset, in one place
    "ci": dict(chains=32, draws=100),
    "paper": dict(chains=256, draws=400),
    "smoke": dict(chains=256, draws=100),  # the paper's chains, a quarter of its draws: a quick device check
}
P = PRESETS[preset]
device = resolve_device(device)  # every model, tensor and run of the chapter lives here
print(f"preset={preset!r}: {P}, device={device}")


# %% [markdown]
# ## 1. The model and its per-sample loss (replace)
#
# Any `nn.Module` works. The library runs its forward through `torch.func.functional_call`,
# vmapped over SGLD chains and training seeds, so the forward must be a pure function of the
# parameters and the inputs (no in-place updates of buffers). The **per-sample loss** takes a
# function that calls the model and a batch (a tuple of tensors sharing their first dimension)
# and returns one loss per sample, shape `(B,)`: patterning re-weights those samples.

# %%
class Line(nn.Module):  # replace with your model
    """y = a·x + b."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 1)

    def forward(self, x):  # (B, 1) -> (B,)
        return self.fc(x).squeeze(-1)


def per_sample_loss(model, batch):  # replace with your loss
    x, y = batch  # one value per sample: (B,)
    return (model(x) - y) ** 2


# %% [markdown]
# ## 2. The data (replace)
#
# The data set is the tuple `data`; its `n` samples are what patterning re-weights. Randomness
# comes from an explicit generator, so every run of the chapter sees the same data.

# %%
n = 64
g = torch.Generator().manual_seed(0)  # data drawn on the CPU (the same on every device), then moved
in_b = torch.arange(n) >= n // 2  # (n,) False: group A, True: group B
x = torch.randn(n, 1, generator=g)  # (n, 1)
law = torch.where(in_b, -x[:, 0] - 0.5, 2 * x[:, 0] + 0.5)  # (n,) B: -x - 1/2, A: 2x + 1/2
y = law + 0.1 * torch.randn(n, generator=g)  # (n,)
in_b, x, y = in_b.to(device), x.to(device), y.to(device)
data = (x, y)

# %% [markdown]
# ## 3. Train to a minimum
#
# `train` minimizes the (weighted) loss; `.seed(0)` is the trained parameters, the point $w^*$
# around which SGLD samples.

# %%
torch.manual_seed(0)
model = Line().to(device)
fit = TrainConfig(steps=300, lr=0.05)
w_star = train(model, per_sample_loss, data, config=fit, progress=False).seed(0)


# %% [markdown]
# ## 4. Observables and a target (replace)
#
# An **observable** maps parameters stacked over chains, `{name: (chains, *shape)}`, to
# `(chains, K)`. The loop estimates their posterior means $\mu$ and susceptibilities
# $\chi = -\beta\,\mathrm{Cov}[\phi, \ell_i]$ with SGLD, and solves
# $dh = \chi^\top(\chi\chi^\top + \alpha I)^{-1}\,d\mu$ for the re-weighting. A `Target` gives the
# goal of each observable; `mask` leaves some free, `tol` says when the goal is reached.

# %%
def observables(p):  # replace with what you want to steer
    slope, intercept = p["fc.weight"][:, 0, 0], p["fc.bias"][:, 0]  # (chains,) each
    return torch.stack([slope, intercept], dim=1)  # (chains, K = 2)


target = Target(  # slope 1.5; the intercept (mask False) is free
    values=torch.tensor([1.5, 0.0], device=device), mask=torch.tensor([True, False], device=device), tol=0.05)
start = observables({k: v[None] for k, v in w_star.items()})[0]  # (K,) at w*
print(f"trained on the natural data: slope {start[0]:.3f}, intercept {start[1]:.3f}")

# %% [markdown]
# ## 5. The patterning loop
#
# Each *epoch* trains `train_config.steps` optimizer steps on the current weights $h$; the
# schedule says when to re-estimate $\chi$ (here every two epochs). SGLD's `nbeta` sets the
# temperature, `gamma` keeps the chains near $w^*$, and `step_size` must be small enough for the
# chains to stay stable (a `SGLDDivergenceError` says when it is not).

# %%
sgld = SGLDConfig(step_size=1e-3, nbeta=50.0, gamma=10.0,
                  num_chains=P["chains"], num_draws=P["draws"], num_burnin=100)
traj = pattern(
    model, per_sample_loss, data,
    observables=observables,
    target=target,
    sgld=sgld,
    train_config=TrainConfig(steps=50, lr=0.02),  # one epoch
    schedule=Periodic(every=2),
    params=w_star,
    max_epochs=30,
    seed=0,
    progress=False,
)
end, h = traj.point_obs[-1], traj.weights[-1]  # (K,) observables, (n,) weights at the end
print(f"reached after {traj.reached_epoch} epochs and {traj.num_estimates} estimates of χ")
print(f"slope {end[0]:.3f}, intercept {end[1]:.3f}")
print(f"mean weight: group A {h[~in_b].mean():.2f}, group B {h[in_b].mean():.2f}")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
ax = axes[0]
in_b_, x_, y_, h_ = in_b.cpu(), x.cpu(), y.cpu(), h.cpu()  # matplotlib reads CPU tensors
for mask, name, colour in [(~in_b_, "group A", "tab:blue"), (in_b_, "group B", "tab:orange")]:
    ax.scatter(x_[mask, 0], y_[mask], s=30 * h_[mask], color=colour, alpha=0.7,
               label=f"{name} (size ∝ final weight)")
grid = torch.linspace(-2.5, 2.5, 2)
for obs, style, label in [(start.cpu(), "k--", "fit to the natural data"),
                          (end.cpu(), "k-", "fit after patterning")]:
    ax.plot(grid, obs[0] * grid + obs[1], style, label=label)
ax.set(xlabel="$x$", ylabel="$y$", title="data and fitted lines")
ax.legend(fontsize=7)
ax = axes[1]
ax.plot(traj.point_obs[:, 0].cpu(), "o-", ms=3, label="slope $a$")
ax.axhline(float(target.values[0]), color="k", ls=":", label="target")
for e in traj.estimate_epochs:
    ax.axvline(e, color="tab:gray", lw=0.5)
ax.set(xlabel="epoch (grey: χ re-estimated)", ylabel="slope", title="the patterning loop")
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Check and record
#
# A chapter checks its claim with an `assert` (a failed check fails the chapter, and the build),
# then records what it measured with `save_claims`: one `Claim` per checked statement, in words
# with the numbers. The claims table of the book is generated from these files.

# %%
goal = float(target.values[0])
reached = traj.reached_epoch is not None and abs(float(end[0]) - goal) < target.tol
h_a, h_b = float(h[~in_b].mean()), float(h[in_b].mean())
assert reached, f"the loop did not reach slope {goal:.2f} (ended at {end[0]:.3f})"
assert h_a > h_b, "the loop reached the target without up-weighting group A"
claims_file = save_claims("99_template", preset, [
    Claim("the patterning loop steers a user-defined model's observable to a target",
          f"slope {start[0]:.3f} → {end[0]:.3f} (target {goal:.2f} ± {target.tol}) "
          f"after {traj.reached_epoch} epochs and {traj.num_estimates} estimates of χ",
          reached, float(end[0])),
    Claim("the re-weighting it finds up-weights the data whose law has the target slope",
          f"mean weight {h_a:.2f} on group A (slope 2), {h_b:.2f} on group B (slope −1)",
          h_a > h_b, h_a),
], results_dir)
