"""Tests of patterning_core.tms.development: stage bookkeeping on hand-made label sequences, the
training set's frequencies, the Bayesian crossover equation, and the LLC helper on known points."""
from __future__ import annotations

import math

import pytest
import torch

from patterning_core import SGLDConfig, TrainConfig, init_params, train
from patterning_core.tms.model import TMS, TMSConfig, input_probs, input_types, per_sample_loss, population_loss
from patterning_core.tms.polygons import Stage, optimal_kgon
from patterning_core.tms.development import (alive_mask, climbs, critical_n, first_visits, llc_at, longest_stage_before,
                                             plateau_points, precedes, sample_cloud, seed_stages, stage_summary, stages,
                                             training_set, trajectory)
from patterning_core.training import TrainResult

S = 0.99


def fake_run(Ws: list[torch.Tensor], every: int = 10) -> TrainResult:
    """A TrainResult whose checkpoints are the given (seeds, 2, 5) weights, ``every`` steps apart."""
    return TrainResult(params={"W": Ws[-1]}, loss_trace=torch.zeros(Ws[0].shape[0], 1), logged_steps=torch.zeros(1),
                       checkpoints=[(every * t, {"W": W}) for t, W in enumerate(Ws)])


def test_training_set_matches_q_and_is_seeded():
    (x,) = training_set(0.7, 20000, seed=3)
    assert x.shape == (20000, 5)
    assert torch.equal(x, training_set(0.7, 20000, seed=3)[0])
    assert not torch.equal(x, training_set(0.7, 20000, seed=4)[0])
    types = input_types(5)
    freq = torch.stack([(x == row).all(-1).double().mean() for row in types])
    q = input_probs(5, 0.7)
    assert torch.allclose(freq, q, atol=4 * math.sqrt(0.25 / 20000))
    assert abs(float(x.mean()) - 0.3) < 0.01


def test_stages_in_steps_and_ordering():
    steps = torch.arange(0, 100, 5)  # 20 checkpoints, 5 steps apart
    labels = torch.tensor([0] * 4 + [2] * 2 + [3] * 1 + [4] * 6 + [5] * 7)
    runs = stages(labels, steps, min_steps=10)  # the one-checkpoint 3-stage (5 steps) is dropped
    assert [r.k for r in runs] == [0, 2, 4, 5]
    assert runs[1] == Stage(2, 20, 10) and runs[2] == Stage(4, 35, 30)
    assert first_visits(runs) == {0: 0, 2: 20, 4: 35, 5: 65}
    assert not climbs(runs) and climbs(runs, (2, 4, 5))
    assert climbs(stages(labels, steps, min_steps=5))
    assert precedes(runs, 4, 5) and not precedes(runs, 5, 4) and not precedes(runs, 3, 5)
    back = [Stage(2, 0, 5), Stage(5, 5, 5), Stage(4, 10, 5), Stage(3, 15, 5), Stage(5, 20, 5)]
    assert not climbs(back)  # 5 is first visited before 3 and 4


def test_critical_n_solves_the_crossover_equation():
    n = critical_n(1e-3, 2.0)
    assert n * 1e-3 == pytest.approx(2.0 * math.log(n), rel=1e-9)
    assert n > 2.0 / 1e-3  # the larger root, beyond the minimum of n dL - dlam log n
    with pytest.raises(ValueError):
        critical_n(1.0, 0.5)  # n dL > dlam log n for all n: no crossover
    with pytest.raises(ValueError):
        critical_n(-1e-3, 1.0)


def test_trajectory_reads_ideal_polygons_and_summarizes():
    square, pentagon = optimal_kgon(4, S).float(), optimal_kgon(5, S).float()
    small = 0.01 * torch.ones(2, 5)
    seed0 = [small, small, square, square, square, pentagon, pentagon]  # dead → 4 → 5
    seed1 = [small, small, pentagon, pentagon, pentagon, pentagon, pentagon]  # dead → 5
    tr = trajectory(fake_run([torch.stack([a, b]) for a, b in zip(seed0, seed1)]), S)
    assert tr.strict[0].tolist() == [0, 0, 4, 4, 4, 5, 5] and tr.alive[1].tolist() == [0, 0, 5, 5, 5, 5, 5]
    assert float(tr.loss[0, 3]) == pytest.approx(float(population_loss(square.double(), S)))
    per_seed = seed_stages(tr, min_steps=10)  # drops the all-dead start
    assert [r.k for r in per_seed[0][0]] == [4, 5] and [r.k for r in per_seed[1][1]] == [5]
    summ = stage_summary(tr, min_steps=10)
    assert summ["four_then_five"] == 0.5 and summ["end5"] == 1.0 and summ["end4"] == 0.0 and summ["climb_loose"] == 0.0
    assert longest_stage_before(tr, k=4, final=5) == 0
    pts = plateau_points(tr, ks=(4, 5), min_steps=20)
    assert [(p.seed, p.k) for p in pts] == [(0, 4), (0, 5), (1, 5)]
    assert torch.equal(pts[0].W, square) and pts[0].step == 30 and pts[0].length == 30


def test_trajectory_of_a_real_run():
    cfg = TMSConfig(sparsity=S, init_scale=0.01)
    res = train(TMS(cfg), per_sample_loss, training_set(S, 512, seed=0), params=init_params(lambda: TMS(cfg), range(3)),
                config=TrainConfig(steps=40, lr=1.0, optimizer="sgd", batch_size=16), checkpoint_every=10, progress=False)
    tr = trajectory(res, S)
    assert tr.steps.tolist() == [0, 10, 20, 30, 40] and tr.W.shape == (3, 5, 2, 5)
    assert torch.equal(tr.W[:, -1], res.params["W"])
    with pytest.raises(ValueError):
        trajectory(train(TMS(cfg), per_sample_loss, training_set(S, 64), config=TrainConfig(steps=2), progress=False), S)


def test_llc_at_known_points():
    cfg = SGLDConfig(step_size=1e-3, nbeta=4096.0, gamma=10.0, num_chains=4, num_draws=100, num_burnin=100)
    dead = torch.zeros(2, 5, dtype=torch.float64)
    assert not alive_mask(dead).any() and alive_mask(optimal_kgon(3, S)).sum() == 6
    nothing, pentagon = llc_at([dead, optimal_kgon(5, S)], S, cfg, alive_only=True)
    assert nothing.mean == 0.0  # no alive feature: nothing is sampled
    assert 3.0 < pentagon.mean < 6.5  # a regular minimum of a 9-dimensional quotient: about 9/2
    digon = llc_at([optimal_kgon(2, S)], S, cfg)[0]
    assert digon.mean < -10  # dead features next to a digon are downhill: a saddle


def test_sample_cloud_shape_and_locality():
    cfg = SGLDConfig(step_size=1e-3, nbeta=1000.0, gamma=300.0, num_chains=2, num_draws=30, num_burnin=20)
    W = optimal_kgon(5, S)
    draws = sample_cloud(W, S, cfg, seed=1)
    assert draws.shape == (60, 2, 5)
    assert float((draws - W).abs().max()) < 0.5
