"""The model families on every available device, and hidden CPU tensors caught on ``meta``.

The ``device`` fixture (tests/conftest.py) runs each end-to-end test on ``cpu`` and, where a GPU is
present, on ``cuda``: every output must live on the device of the inputs. Where no GPU is present
the ``meta`` tests stand in: a function fed ``meta`` tensors that creates a tensor on the CPU fails
("Expected all tensors to be on the same device") or returns a CPU tensor, so both are checked.
"""
from __future__ import annotations

import math

import pytest
import torch

from patterning_core import SGLDConfig, TrainConfig, sample, train
from patterning_core.devices import DeviceMismatchError
from patterning_core.lm import data as lm_data
from patterning_core.lm.induction import measure_induction, prefix_matching_score, prefix_target_mask, repeated_random_tokens
from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer
from patterning_core.lm.patterning import retrain
from patterning_core.lm import spacing
from patterning_core.tms import control, development
from patterning_core.tms.model import (TMS, TMSConfig, init_weights, input_types, make_per_sample_loss, natural_weights,
                                       per_input_losses, per_sample_loss, population_loss, tms_data, tms_observables)
from patterning_core.tms.polygons import ideal_kgon, optimal_kgon, optimal_scale, regularity

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64
S = 0.9
TINY = AttnOnlyConfig(vocab_size=20, n_layers=2, n_heads=2, d_model=8, d_head=4, n_ctx=12)
META = torch.device("meta")


def on(t: torch.Tensor, device: torch.device) -> bool:
    """Whether ``t`` lives on ``device`` (``cuda`` and ``cuda:0`` count as one)."""
    return t.device.type == device.type


def _sgld(**kw) -> SGLDConfig:
    return SGLDConfig(**{**dict(step_size=1e-3, nbeta=100.0, gamma=100.0, num_chains=4, num_draws=5, num_burnin=2), **kw})


# --------------------------------------------------------------------------------------- TMS, end to end


def test_tms_data_and_losses_live_on_the_device(device):
    W = init_weights(TMSConfig(), 3, F64, device=device)  # (3, 2, 5)
    assert on(W, device) and on(input_types(5, device=device), device) and on(tms_data(5, F64, device)[0], device)
    assert on(natural_weights(5, S, device=device), device)
    assert on(per_input_losses(W), device) and on(per_input_losses(W, importance=(1.0, 2, 1, 1, 1)), device)
    assert on(population_loss(W, S), device) and on(optimal_scale(W, S), device)
    k, err = regularity(W)
    assert on(k, device) and on(err, device)
    assert on(optimal_kgon(5, S, device=device), device)
    loss = make_per_sample_loss((1.0, 2.0, 1.0, 1.0, 1.0))(TMS(device=device), tms_data(device=device))
    assert loss.shape == (32,) and on(loss, device)


def test_init_weights_and_tms_draw_the_same_numbers_as_before_on_the_cpu():
    """The device argument changes where, not what: the CPU numbers are those of the CPU generator."""
    W = init_weights(TMSConfig(), [4, 7], F64)
    expect = torch.randn(2, 5, generator=torch.Generator().manual_seed(7), dtype=F64) * TMSConfig().init_scale
    torch.testing.assert_close(W[1], expect)
    torch.manual_seed(3)
    a = TMS().W.detach()
    torch.manual_seed(3)
    torch.testing.assert_close(TMS(device="cpu").W.detach(), a)


def test_sgld_and_training_of_tms_on_the_device(device):
    model = TMS(TMSConfig(sparsity=S), device=device).double()
    model.W.data.copy_(optimal_kgon(5, S, device=device))
    draws = sample(model, per_sample_loss, tms_data(5, F64, device), config=_sgld(), weights=natural_weights(5, S, device=device),
                   observables=tms_observables, seed=0, progress=False)
    assert on(draws.loss_trace, device) and on(draws.obs_trace, device)
    x = development.training_set(S, 64, seed=1, device=device)[0]
    assert on(x, device) and x.shape == (64, 5)
    r = train(model, per_sample_loss, (x,), config=TrainConfig(steps=3, lr=0.1, optimizer="sgd"), progress=False)
    assert on(r.params["W"], device)
    (lam,) = development.llc_at([optimal_kgon(4, S, device=device)], S, _sgld(), alive_only=True)
    assert math.isfinite(lam.mean)
    cloud = development.sample_cloud(optimal_kgon(3, S, device=device), S, _sgld())
    assert on(cloud, device) and cloud.shape == (20, 2, 5)


def test_training_set_is_the_same_draw_as_before_on_the_cpu():
    gen = torch.Generator().manual_seed(5)
    from patterning_core.tms.model import input_probs
    idx = torch.multinomial(input_probs(5, S, F64), 50, replacement=True, generator=gen)
    torch.testing.assert_close(development.training_set(S, 50, seed=5)[0], input_types(5)[idx])


def test_bifurcation_control_on_the_device(device):
    k, S99 = 3, 0.99
    sus = control.bifurcation_susceptibilities(k, S99, _sgld(nbeta=5000.0, gamma=0.0, num_chains=8, num_draws=10), seed=0,
                                               device=device)
    assert on(sus.chi, device)
    step = control.gap_weights(sus, k, 0, S99, 0.5, scale=1.0, metric=0.25, max_cardinality=2)
    assert on(step.weights, device) and step.weights.shape == (16,)
    runs = control.branch_runs(k, S99, sus, 0.5, [(1.0, 0.25)], 1, control.NoisyTrainConfig(steps=20, every=10, checkpoint_every=10),
                               settle_steps=5)
    assert on(runs.final, device) and on(runs.landed, device) and on(runs.target, device)
    assert runs.success(0).shape == (k,) and runs.landed_share(-1).shape == (k,)
    assert control.confusion(runs.target, runs.landed, k).sum() == 2 * k  # two rows per gap: patterned and baseline


def test_pentagon_rewrite_on_the_device(device):
    W0 = optimal_kgon(5, 0.99, device=device)
    run = control.rewrite(W0, (0, 3, 1, 2, 4), 0.99, _sgld(nbeta=5000.0, gamma=1000.0, num_chains=8, num_draws=5),
                          control.RewriteConfig(max_epochs=2), __import__("patterning_core").Periodic(every=1), seed=0)
    assert on(run.W, device) and on(run.weights, device) and run.num_estimates == 2
    path = control.straight_path_barrier(W0, (0, 3, 1, 2, 4), 0.99, n_t=5, n_rot=4)
    assert on(path.loss, device) and path.barrier > 0
    settled = control.settle(W0[None], 0.99, steps=3)
    assert on(settled, device)


def test_control_refuses_weights_on_another_device():
    W0 = optimal_kgon(3, 0.99, d=4)[None]  # (1, 2, 4) on the CPU
    with pytest.raises(DeviceMismatchError, match="weights is on meta but W0 is on cpu"):
        control.perturbed_train(W0, torch.ones(1, 16, device=META), control.NoisyTrainConfig(steps=10), [0])


# --------------------------------------------------------------------------------------- TMS on meta


@pytest.mark.parametrize("fn", [
    lambda W: per_input_losses(W),
    lambda W: per_input_losses(W, importance=(1.0, 2.0, 1.0, 1.0, 1.0)),
    lambda W: population_loss(W, S),
    lambda W: optimal_scale(W, S),
    lambda W: regularity(W)[1],
    lambda W: regularity(W)[0],
    lambda W: control.new_feature_gap(W, 4),
], ids=["per_input_losses", "per_input_losses-importance", "population_loss", "optimal_scale", "regularity-err",
        "regularity-k", "new_feature_gap"])
def test_tms_functions_create_no_cpu_tensor(fn):
    """A CPU constant inside (input types, importances, natural weights, an arange) fails or leaks on meta."""
    W = torch.empty(3, 2, 5, dtype=F64, device=META)
    out = fn(W)
    assert out.device == META


def test_make_per_sample_loss_follows_the_reconstruction_to_meta():
    loss = make_per_sample_loss((1.0, 2.0, 1.0, 1.0, 1.0))
    x = torch.empty(7, 5, device=META)
    assert loss(lambda v: v * 2, (x,)).device == META


def test_population_loss_names_both_devices():
    with pytest.raises(DeviceMismatchError, match="weights is on meta but W is on cpu"):
        population_loss(ideal_kgon(4), S, torch.ones(32, device=META))
    with pytest.raises(DeviceMismatchError, match="x is on meta but W is on cpu"):
        per_input_losses(ideal_kgon(4), torch.empty(3, 5, device=META))


# --------------------------------------------------------------------------------------- language model


@pytest.fixture(scope="module")
def tiny_tokens():
    return torch.randint(1, 20, (24, 12), generator=torch.Generator().manual_seed(0))


def test_induction_measures_on_the_device(device, tiny_tokens):
    model = AttnOnlyTransformer(TINY, seed=0).to(device)
    probe = repeated_random_tokens(4, 5, torch.arange(1, 20, device=device), torch.Generator().manual_seed(0))
    assert on(probe, device) and probe.shape == (4, 10)
    m = measure_induction(model.run_with_patterns, probe)
    assert on(m.prefix_matching, device) and m.prefix_matching.shape == (2, 2)
    assert on(lm_data.induction_pattern_mask(tiny_tokens.to(device)), device)


def test_repeated_random_tokens_are_the_same_sequences_on_every_device(device):
    pool = torch.arange(1, 20)
    cpu = repeated_random_tokens(3, 6, pool, torch.Generator().manual_seed(4))
    there = repeated_random_tokens(3, 6, pool.to(device), torch.Generator().manual_seed(4))
    torch.testing.assert_close(there.cpu(), cpu)


def test_retrain_on_the_device(device, tiny_tokens):
    model = AttnOnlyTransformer(TINY, seed=0).to(device)
    x = tiny_tokens.to(device)
    probe = repeated_random_tokens(4, 5, torch.arange(1, 20, device=device), torch.Generator().manual_seed(0))
    w = torch.stack([torch.ones(24), torch.linspace(0.1, 3, 24)]).to(device)
    cfg = TrainConfig(steps=2, lr=1e-2, optimizer="adamw", batch_size=4)
    r = retrain(model, x, w, ("a", "b"), probe, config=cfg, eval_every=1, progress=False)
    assert r.prefix_matching.shape == (2, 3, 2, 2) and on(r.prefix_matching, device)
    with pytest.raises(DeviceMismatchError, match="weights is on meta"):
        retrain(model, x, w.to(META), ("a", "b"), probe, config=cfg, progress=False)


def test_load_checkpoint_puts_model_and_metadata_on_the_device(device):
    model, meta = lm_data.load_checkpoint("checkpoints/step4000.pt", device=device)
    assert all(on(p, device) for p in model.parameters())
    assert on(meta["probe"], device)
    state = meta["optimizer_state"]["state"]
    assert all(on(v, device) for s in state.values() for v in s.values() if isinstance(v, torch.Tensor) and v.dim() > 0)


def test_spacing_measures_on_the_device(device):
    tok = lm_data.load_tokenizer(512)
    tokens = torch.tensor([tok.encode("def f(x):\n        return  x   +  1").ids]).to(device)  # (1, T)
    table = lm_data.token_class_table(tok, device=device)
    classes = lm_data.token_classes(tokens, table)
    assert on(classes, device) and on(spacing.spacing_run_mask(classes), device)
    ws = spacing.whitespace_before(tokens, tok)
    assert on(ws, device) and ws.shape == tokens.shape
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0)).to(device)
    positive = torch.arange(30, device=device) < 10
    assert 0 <= spacing.knn_purity(x, positive, k=3) <= 1
    assert -1 <= spacing.spearman(x[:, 0], x[:, 1]) <= 1
    assert math.isfinite(spacing.silhouette(x, positive)) and math.isfinite(spacing.protrusion(x, positive)[0])


def test_token_classes_names_both_devices():
    with pytest.raises(DeviceMismatchError, match="table is on meta but tokens is on cpu"):
        lm_data.token_classes(torch.zeros(2, 3, dtype=torch.long), torch.zeros(5, dtype=torch.long, device=META))


@pytest.mark.parametrize("fn", [lm_data.induction_pattern_mask, prefix_target_mask, spacing.spacing_run_mask],
                         ids=["induction_pattern_mask", "prefix_target_mask", "spacing_run_mask"])
def test_lm_masks_create_no_cpu_tensor(fn):
    """``prefix_target_mask`` built its causal mask on the CPU and crashed on cuda (issue 15)."""
    out = fn(torch.empty(3, 9, dtype=torch.long, device=META))
    assert out.device == META


def test_prefix_matching_refuses_tokens_on_another_device():
    with pytest.raises(DeviceMismatchError, match="tokens is on cpu but the attention patterns is on meta"):
        prefix_matching_score(torch.empty(2, 2, 2, 6, 6, device=META), torch.zeros(2, 6, dtype=torch.long))
