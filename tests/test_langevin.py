"""Known answers of the stacked-seed Langevin continuation (``patterning_core.training.langevin``):
on 0.5·(w − x_i)² the chain of every seed targets N((nβ·x̄_h + γ·w*)/(nβ + γ), 1/(nβ + γ))."""
import pytest
import torch
from torch import nn

from patterning_core import SGLDConfig, SGLDDivergenceError, langevin


class Point(nn.Module):
    """One scalar parameter; per-sample loss 0.5·(w − x_i)²."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):  # x: (B, 1)
        return 0.5 * ((self.w - x) ** 2).sum(-1)  # (B,)


def _loss(model_fn, batch):
    return model_fn(batch[0])


X = (torch.tensor([[0.0], [1.0], [3.0]]),)  # x̄ = 4/3


def _run(cfg, weights=None, seeds=4000, start=0.0, steps=1000, seed=0):
    params = {"w": torch.full((seeds, 1), start)}
    return langevin(Point(), _loss, X, params=params, config=cfg, steps=steps, weights=weights, seed=seed, progress=False)


def _stationary_var(eps, a):
    """Variance of the discretised OU chain w' = w − (ε/2)·a·(w − m) + √ε ξ: ε / (1 − (1 − εa/2)²)."""
    return eps / (1 - (1 - eps * a / 2) ** 2)


@pytest.mark.parametrize("gamma", [0.0, 10.0])
def test_every_seed_samples_the_weighted_tempered_posterior(gamma):
    cfg = SGLDConfig(step_size=1e-3, nbeta=20.0, gamma=gamma)
    h = torch.tensor([1.0, 1.0, 4.0])  # x̄_h = 13/6
    w = _run(cfg, weights=h, start=0.5).params["w"][:, 0].double()  # (seeds,), anchor w* = 0.5
    mean = (20.0 * 13 / 6 + gamma * 0.5) / (20.0 + gamma)
    assert abs(w.mean() - mean) < 0.02
    assert w.var() == pytest.approx(_stationary_var(1e-3, 20.0 + gamma), rel=0.08)


def test_same_seed_same_numbers_and_weights_share_the_noise():
    cfg = SGLDConfig(step_size=1e-3, nbeta=20.0, gamma=0.0)
    a, b = _run(cfg, seeds=64, steps=300), _run(cfg, seeds=64, steps=300)
    assert torch.equal(a.params["w"], b.params["w"]) and a.loss_trace.shape == (64, 301)
    c = _run(cfg, weights=torch.tensor([1.0, 1.0, 4.0]), seeds=64, steps=300)
    diff = (c.params["w"] - a.params["w"])[:, 0]  # common noise: the same shift in every seed
    assert diff.std() < 1e-4 and diff.mean() > 0.5
    assert not torch.equal(_run(cfg, seeds=64, steps=300, seed=1).params["w"], a.params["w"])


def test_divergence_names_the_settings():
    with pytest.raises(SGLDDivergenceError, match=r"ε=5.0.*nβ=1000000.0.*γ=0.0"):
        _run(SGLDConfig(step_size=5.0, nbeta=1e6, gamma=0.0), seeds=4, steps=200)


def test_refuses_parameters_not_stacked_over_seeds():
    with pytest.raises(ValueError, match="stacked over seeds"):
        langevin(Point(), _loss, X, params={"w": torch.zeros(1)}, config=SGLDConfig(), steps=1, progress=False)
