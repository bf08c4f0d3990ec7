"""Tests of patterning_core.tms.control (chapters 3 and 4).

Oracles: hand-placed polygons for reading gaps and orders, brute-force constrained least squares for
the metric patterning step, plain training for noise-free perturbed training, and the symmetry of
the branch point's susceptibilities.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from patterning_core import EventTriggered, SGLDConfig, Single, TrainConfig, train  # noqa: E402
from patterning_core.tms.model import (TMS, TMSConfig, natural_weights, observable_names, per_sample_loss,  # noqa: E402
                                        population_loss, tms_data)
from patterning_core.tms.polygons import ideal_kgon, optimal_kgon  # noqa: E402
from patterning_core.tms.control import (NoisyTrainConfig, RewriteConfig, bifurcation_point,  # noqa: E402
                                         bifurcation_susceptibilities, branch_runs, confusion, dot_row, gap_neighbours,
                                         gap_weights, metric_step, new_feature_gap, order_matches, pentagon_goal,
                                         perturbed_train, rewrite, settle, straight_path_barrier, support_mask)

F64 = torch.float64


def kgon_plus_new(k: int, angle: float, r: float = 1.0) -> torch.Tensor:
    """Unit k-gon on features 0..k-1 plus feature k at ``angle`` (radians) with norm ``r``: (2, k+1)."""
    W = ideal_kgon(k, d=k + 1)
    W[0, k], W[1, k] = r * math.cos(angle), r * math.sin(angle)
    return W


# ------------------------------------------------------------------------------------------- geometry


def test_dot_row_matches_observable_names():
    for d in (4, 5):
        names = observable_names(d)
        for i in range(d):
            for j in range(d):
                if i != j:
                    assert names[dot_row(i, j, d)] == f"dot[{min(i, j)},{max(i, j)}]"


def test_gap_neighbours():
    assert gap_neighbours(4) == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert gap_neighbours(3) == [(0, 1), (1, 2), (2, 0)]


def test_new_feature_gap_reads_hand_placed_features():
    for k in (3, 4):
        for g in range(k):
            mid = 2 * math.pi * (g + 0.5) / k  # the middle of gap g
            W = torch.stack([kgon_plus_new(k, mid + off) for off in (-0.2, 0.0, 0.2)])
            assert new_feature_gap(W, k).tolist() == [g, g, g]
    # old features out of their cyclic order: feature 1 moved past feature 2 -> no gap
    W = kgon_plus_new(4, math.pi / 4)
    W[:, 1] = torch.tensor([math.cos(2.5), math.sin(2.5)], dtype=F64) * 1.0
    W[:, 2] = torch.tensor([math.cos(1.8), math.sin(1.8)], dtype=F64) * 1.0
    assert new_feature_gap(W[None], 4).tolist() == [-1]


def test_confusion_counts():
    target = torch.tensor([0, 0, 1, 2, 2])
    landed = torch.tensor([0, 1, 1, -1, 2])
    c = confusion(target, landed, 3)
    assert c.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]]


def test_bifurcation_point_is_optimal_kgon_with_dead_feature():
    for k, S in ((3, 0.99), (4, 0.95)):
        W = bifurcation_point(k, S)
        assert W.shape == (2, k + 1)
        assert float(W[:, k].norm()) == 0.0
        norms = W[:, :k].norm(dim=0)
        assert torch.allclose(norms, norms[0].expand(k))
        # optimal: the loss is stationary in the common scale of the k-gon
        f = lambda a: float(population_loss(torch.cat([a * W[:, :k], W[:, k:]], 1), S))
        assert f(1.0) <= min(f(0.99), f(1.01))


def test_order_matches():
    S = 0.99
    assert order_matches(optimal_kgon(5, S), (0, 1, 2, 3, 4))
    assert order_matches(optimal_kgon(5, S, rotation=1.0), (0, 4, 3, 2, 1))  # rotated and read backwards
    assert not order_matches(optimal_kgon(5, S), (0, 2, 1, 3, 4))
    W = optimal_kgon(5, S)
    W[:, 3] = 0.0  # a dead feature: not a pentagon
    assert not order_matches(W, (0, 1, 2, 3, 4))
    assert torch.allclose(pentagon_goal((0, 2, 1, 3, 4), S)[dot_row(0, 2, 5)], torch.tensor(math.cos(0.4 * math.pi), dtype=F64))


# ---------------------------------------------------------------------------------- patterning steps


def test_metric_step_is_the_minimum_weighted_norm_solution():
    g = torch.Generator().manual_seed(0)
    chi = torch.randn(3, 12, generator=g, dtype=F64)
    dmu = torch.randn(3, generator=g, dtype=F64)
    h = torch.rand(12, generator=g, dtype=F64) + 0.05
    for m in (0.0, 0.25, 0.5, 1.0):
        dh = metric_step(chi, dmu, h, m, ridge=0.0).dh
        assert torch.allclose(chi @ dh, dmu, atol=1e-9)  # it solves the equations
        weight = h ** (-2 * m)
        base = float((weight * dh**2).sum())
        null = torch.linalg.svd(chi).Vh[3:]  # (9, 12) directions with chi·v = 0
        for v in null:  # every feasible perturbation increases the weighted norm
            for eps in (1e-2, -1e-2):
                assert float((weight * (dh + eps * v) ** 2).sum()) > base
    plain = metric_step(chi, dmu, h, 0.0, ridge=1e-3).dh
    from patterning_core import patterning_step
    assert torch.allclose(plain, patterning_step(chi, dmu, ridge=1e-3).dh)


def test_support_mask():
    m = support_mask(5, 2)
    assert m.shape == (32,) and int(m.sum()) == 1 + 5 + 10 and m[0] == 1 and m[-1] == 0


@pytest.fixture(scope="module")
def square_sus():
    cfg = SGLDConfig(step_size=2e-3, nbeta=5000.0, gamma=0.0, num_chains=512, num_draws=60, num_burnin=150, thin=2)
    return bifurcation_susceptibilities(4, 0.99, cfg, seed=0)


def test_branch_point_susceptibilities_have_the_square_symmetry(square_sus):
    chi, se = square_sus.chi, square_sus.std_err
    rows = [dot_row(j, 4, 5) for j in range(4)]
    for j in range(4):  # up-weighting e_j pushes the dead feature away from j, towards j + 2
        assert chi[rows[j], 1 + j] < -5 * se[rows[j], 1 + j]
        assert chi[rows[j], 1 + (j + 2) % 4] > 5 * se[rows[j], 1 + (j + 2) % 4]
    one_hot = torch.stack([chi[rows[j], 1 + j] for j in range(4)])
    assert float(one_hot.std() / one_hot.abs().mean()) < 0.1  # the four features are equivalent
    assert float(square_sus.mu[14]) > 0 and float(square_sus.mu[10:14].std()) == 0.0  # only W_4 was sampled


def test_gap_weights_predict_the_target_and_respect_the_support(square_sus):
    S, cos72 = 0.99, math.cos(math.radians(72))
    h0 = natural_weights(5, S)
    for g in range(4):
        st = gap_weights(square_sus, 4, g, S, cos72, scale=1.0, metric=0.25, max_cardinality=2)
        assert torch.allclose(st.weights.mean(), torch.tensor(1.0, dtype=F64))
        assert torch.allclose(st.step.dmu_pred, cos72 - square_sus.mu[st.rows].to(F64), atol=0.02)
        outside = support_mask(5, 2) == 0
        assert torch.allclose(st.weights[outside] / st.weights.mean(), h0[outside] / h0.mean(), rtol=0.05)


# ----------------------------------------------------------------------------------------- training


def test_perturbed_train_without_noise_is_plain_training():
    S = 0.99
    W0 = torch.stack([kgon_plus_new(4, 0.3, 0.05), kgon_plus_new(4, 2.0, 0.05)])
    h = natural_weights(5, S).expand(2, 32)
    out = perturbed_train(W0, h, NoisyTrainConfig(steps=40, noise=0.0, every=10), [0, 1]).W
    ref = train(TMS(TMSConfig()).double(), per_sample_loss, tms_data(5, F64), config=TrainConfig(steps=40, lr=3.0, optimizer="sgd"),
                params={"W": W0}, weights=h, progress=False).params["W"]
    assert torch.allclose(out, ref, atol=1e-12)


def test_perturbed_train_rows_are_independent_and_noise_is_per_seed():
    S = 0.99
    W0 = bifurcation_point(4, S).expand(3, 2, 5).clone()
    h = natural_weights(5, S).expand(3, 32)
    cfg = NoisyTrainConfig(steps=30, noise=1e-3, every=10)
    a = perturbed_train(W0, h, cfg, [7, 8, 7]).W
    b = perturbed_train(W0[:1], h[:1], cfg, [7]).W
    assert torch.allclose(a[0], a[2]) and not torch.allclose(a[0], a[1])
    assert torch.allclose(a[0], b[0])


def test_settle_keeps_a_pentagon():
    S = 0.99
    W = optimal_kgon(5, S, rotation=0.4)
    assert torch.allclose(settle(W[None], S, 200)[0], W, atol=1e-6)


def test_branch_runs_bookkeeping(square_sus):
    runs = branch_runs(4, 0.99, square_sus, math.cos(math.radians(72)), [(2.0, 0.25)], 2,
                       NoisyTrainConfig(steps=20, every=10, checkpoint_every=10), settle_steps=10)
    assert runs.setting.tolist() == [0] * 8 + [-1] * 8
    assert runs.target.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] * 2
    assert [s for s, _ in runs.checkpoints] == [0, 10, 20]
    assert runs.weights.shape == (16, 32) and torch.allclose(runs.weights[8], natural_weights(5, 0.99))
    assert runs.success(0).shape == (4,) and runs.landed_share(-1).shape == (4,)


# ------------------------------------------------------------------------------------------ rewrite


def test_straight_path_barrier():
    S = 0.99
    W0 = optimal_kgon(5, S)
    same = straight_path_barrier(W0, (0, 1, 2, 3, 4), S, n_t=21, n_rot=36)
    assert same.barrier < 1e-12  # the start itself is a realization of the identity target
    swap = straight_path_barrier(W0, (0, 1, 4, 3, 2), S, n_t=21, n_rot=36)
    assert swap.barrier > 0.1 * float(population_loss(W0, S))
    assert order_matches(swap.end, (0, 1, 4, 3, 2))


def test_rewrite_records_a_short_run():
    S = 0.99
    sgld = SGLDConfig(step_size=1e-3, nbeta=5000.0, gamma=1000.0, num_chains=16, num_draws=10, num_burnin=10)
    run = rewrite(optimal_kgon(5, S), (0, 1, 4, 3, 2), S, sgld, RewriteConfig(max_epochs=3), Single(), seed=0)
    assert run.estimate_epochs == [0] and len(run.gains) == 1
    assert run.weights.shape == (4, 32) and torch.allclose(run.weights[0], natural_weights(5, S))
    assert run.W.shape == (4, 2, 5) and run.natural_loss.shape == (3,)
    assert not torch.allclose(run.weights[1], run.weights[0])  # the step re-weighted the data
    assert run.failure is None
    ev = rewrite(optimal_kgon(5, S), (0, 1, 4, 3, 2), S, sgld, RewriteConfig(max_epochs=2), EventTriggered(window=10), seed=0)
    assert ev.estimate_epochs == [0]
