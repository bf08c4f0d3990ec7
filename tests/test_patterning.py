"""Patterning step, weights, modes, seed-batched training and the loop."""
import warnings

import pytest
import torch

from patterning_core import (EventTriggered, Periodic, SGLDConfig, Single, Target, TrainConfig, init_params, modes,
                             pattern, patterning_step, reweight, train)
from patterning_core.toy import Quadratic, quadratic_loss


def test_step_without_ridge_is_the_min_norm_solution():
    g = torch.Generator().manual_seed(0)
    chi, dmu = torch.randn(3, 7, generator=g), torch.randn(3, generator=g)
    step = patterning_step(chi, dmu, ridge=0.0)
    torch.testing.assert_close(step.dmu_pred, dmu.double())
    torch.testing.assert_close(step.dh, torch.linalg.pinv(chi.double()) @ dmu.double())
    assert step.unreachable_norm < 1e-10


def test_ridge_shrinks_and_is_scale_aware():
    g = torch.Generator().manual_seed(1)
    chi, dmu = torch.randn(2, 5, generator=g), torch.randn(2, generator=g)
    a, b = patterning_step(chi, dmu, ridge=0.1), patterning_step(1000 * chi, dmu, ridge=0.1)
    assert a.dh.norm() < patterning_step(chi, dmu, ridge=0.0).dh.norm()
    torch.testing.assert_close(a.dmu_pred, b.dmu_pred)  # same relative ridge, same prediction


def test_unreachable_target_warns_with_its_norm():
    chi = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]])  # rank 1: column space spanned by (1, 2)
    dmu = torch.tensor([2.0, -1.0])  # orthogonal to (1, 2)
    with pytest.warns(UserWarning, match=r"unreachable.*2.24"):
        step = patterning_step(chi, dmu)
    assert step.unreachable_norm == pytest.approx(5**0.5)


def test_step_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(K,\) = \(3,\).*\(3, 4\).*\(2,\)"):
        patterning_step(torch.zeros(3, 4), torch.zeros(2))


def test_reweight_mean_one_floor_and_no_mutation():
    h0 = torch.ones(4)
    dh = torch.tensor([1.0, -5.0, 0.5, 0.0])
    h = reweight(h0, dh, scale=1.0, floor=1e-2)
    assert h.mean().item() == pytest.approx(1.0) and (h > 0).all()
    assert h[1] == h.min() and torch.equal(h0, torch.ones(4))
    e = reweight(h0, dh, scale=1.0, method="exponential")
    torch.testing.assert_close(e / e[3], torch.exp(dh))
    assert e.mean().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="method"):
        reweight(h0, dh, 1.0, method="nope")


def test_modes_reconstruct_and_filter():
    g = torch.Generator().manual_seed(2)
    chi = torch.randn(3, 6, generator=g)
    m = modes(chi, ridge=0.0)
    torch.testing.assert_close(m.obs_dirs @ torch.diag(m.gains) @ m.data_dirs.T, chi.double())
    torch.testing.assert_close(m.ridge_filter, 1 / m.gains)
    assert m.condition_number == pytest.approx(float(m.gains[0] / m.gains[-1]))
    assert (m.data_dirs.sum(0) >= 0).all()


def test_batched_training_equals_separate_runs():
    g = torch.Generator().manual_seed(3)
    a, prec = torch.randn(10, 2, generator=g), 0.5 + torch.rand(10, 2, generator=g)
    p0 = init_params(lambda: _RandomQuadratic(), seeds=[0, 1, 2])
    w = torch.rand(3, 10, generator=g)
    cfg = TrainConfig(steps=30, lr=0.05, optimizer="adam", batch_size=4)
    both = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=cfg, params=p0, weights=w, seed=5, progress=False)
    assert both.params["w"].shape == (3, 2) and both.loss_trace.shape == (3, 31)
    full = TrainConfig(steps=30, lr=0.05, optimizer="adam")
    both = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=full, params=p0, weights=w, progress=False)
    for s in range(3):
        one = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=full, params={"w": p0["w"][s : s + 1]}, weights=w[s], progress=False)
        torch.testing.assert_close(one.params["w"][0], both.params["w"][s])


def test_shared_batches_give_identical_seeds_and_resumed_optimizer_continues_exactly():
    g = torch.Generator().manual_seed(4)
    a, prec = torch.randn(12, 2, generator=g), 0.5 + torch.rand(12, 2, generator=g)
    p0 = init_params(lambda: _RandomQuadratic(), seeds=[0])
    same = {"w": p0["w"].expand(3, 2).clone()}
    mini = lambda shared: TrainConfig(steps=10, lr=0.05, optimizer="adamw", batch_size=3, shared_batches=shared)  # noqa: E731
    r = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=mini(True), params=same, seed=1, progress=False)
    torch.testing.assert_close(r.params["w"][0], r.params["w"][2])  # same start, same batches: same run
    own = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=mini(False), params=same, seed=1, progress=False)
    assert not torch.allclose(own.params["w"][0], own.params["w"][2])  # each seed its own batches
    # 20 full-batch Adam steps == 10 steps, then 10 more resumed from the returned optimizer state
    full = lambda k: TrainConfig(steps=k, lr=0.05, optimizer="adam")  # noqa: E731
    ref = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=full(20), params=p0, progress=False)
    first = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=full(10), params=p0, progress=False)
    second = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=full(10), params=first.params,
                   optimizer_state=first.optimizer_state, progress=False)
    torch.testing.assert_close(second.params["w"], ref.params["w"])
    fresh = train(_RandomQuadratic(), quadratic_loss, (a, prec), config=full(10), params=first.params, progress=False)
    assert not torch.allclose(fresh.params["w"], ref.params["w"])


def test_training_rejects_bad_weights():
    a, prec = torch.zeros(4, 2), torch.ones(4, 2)
    with pytest.raises(ValueError, match=r"\(4,\) or \(1, 4\)"):
        train(Quadratic(2), quadratic_loss, (a, prec), weights=torch.ones(3), progress=False)
    with pytest.raises(ValueError, match="non-negative"):
        train(Quadratic(2), quadratic_loss, (a, prec), weights=-torch.ones(4), progress=False)


class _RandomQuadratic(Quadratic):
    def __init__(self):
        super().__init__(2)
        with torch.no_grad():
            self.w.normal_()


def _loop_case():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.5, -0.5]])
    model = Quadratic(2)
    with torch.no_grad():
        model.w.copy_(a.mean(0))
    sg = SGLDConfig(step_size=1e-3, nbeta=20.0, gamma=1.0, num_chains=16, num_draws=100, num_burnin=50)
    return model, (a, torch.ones(4, 2)), sg


def test_single_step_moves_where_it_predicted():
    model, data, sg = _loop_case()
    start = model.w.detach().clone()
    target = Target(values=torch.tensor([0.3, 0.2]), tol=0.03)
    traj = pattern(model, quadratic_loss, data, observables=lambda p: p["w"], target=target, sgld=sg,
                   train_config=TrainConfig(steps=50, lr=0.05), schedule=Single(), scale=0.5, max_epochs=6, progress=False)
    moved = traj.point_obs[-1] - start
    cos = torch.nn.functional.cosine_similarity(moved, traj.predicted_dmu[0], dim=0)
    assert traj.num_estimates == 1 and cos > 0.9
    assert target.error(traj.point_obs[-1]) < target.error(start)


@pytest.mark.parametrize("schedule", [Periodic(every=2), EventTriggered(window=2, rel_tol=1e-2, min_gap=2)])
def test_loop_moves_observables_to_the_target(schedule):
    """Quadratic losses: the trained w is the h-weighted centre of the a_i, so any target in
    their hull is reachable by re-weighting; the loop must get there."""
    model, data, sg = _loop_case()
    target = Target(values=torch.tensor([0.3, 0.2]), tol=0.03)
    traj = pattern(model, quadratic_loss, data, observables=lambda p: p["w"], target=target, sgld=sg,
                   train_config=TrainConfig(steps=50, lr=0.05), schedule=schedule, scale=0.5, max_epochs=16, progress=False)
    assert traj.reached_epoch is not None, traj.point_obs[-1]
    assert traj.weights.shape[1] == 4 and torch.allclose(traj.weights.mean(1), torch.ones(traj.weights.shape[0]))
    assert target.error(traj.point_obs[-1]) < 0.03
