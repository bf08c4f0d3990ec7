"""Bad input, through the public API: every row is refused with an error of the right type whose
message names the argument and the problem (issue 14). Rows that used to crash with an unrelated
message, to return NaN, or to end in a wrong "SGLD diverged ... lower the step size" are here
beside those that were already clear, so that all of them stay clear.

A second, shorter part checks inputs that get a correct result with a warning, and the device
rules (issue 15): a tensor or generator on another device than the model is refused naming both
devices (tested with ``meta`` stand-ins on the CPU, and with a CPU generator and a CUDA model where
CUDA is present), and the core never builds a tensor without saying on which device.
"""
from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import patterning_core
from patterning_core import (DeviceMismatchError, SGLDConfig, SGLDDivergenceError, Target, TrainConfig, init_params, llc,
                             llc_from_losses, modes, pattern, patterning_step, reweight, sample, susceptibilities,
                             susceptibilities_from_traces, train)
from patterning_core.toy import Quadratic, quadratic_loss

pytestmark = pytest.mark.usefixtures("one_thread")

NAN, INF = float("nan"), float("inf")
META = torch.device("meta")
_g = torch.Generator().manual_seed(0)
A, PREC = torch.randn(6, 3, generator=_g), 0.5 + torch.rand(6, 3, generator=_g)
DATA = (A, PREC)
CFG = SGLDConfig(step_size=1e-3, nbeta=10.0, gamma=1.0, num_chains=2, num_draws=2, num_burnin=0)
QUICK = TrainConfig(steps=2, lr=0.05)


def _nan_at(t: torch.Tensor, index=(0, 0), value=NAN) -> torch.Tensor:
    t = t.clone()
    t[index] = value
    return t


def _sample(model=None, data=DATA, loss=quadratic_loss, **kw):
    kw = {"config": CFG, "progress": False, **kw}
    return sample(Quadratic(3) if model is None else model, loss, data, **kw)


def _train(model=None, data=DATA, **kw):
    kw = {"config": QUICK, "progress": False, **kw}
    return train(Quadratic(3) if model is None else model, quadratic_loss, data, **kw)


def _pattern(target=None, data=None, **kw):
    data = (A[:4, :2], PREC[:4, :2]) if data is None else data
    kw = {"observables": lambda p: p["w"], "sgld": CFG, "train_config": QUICK, "max_epochs": 1, "progress": False, **kw}
    return pattern(Quadratic(2), quadratic_loss, data, target=Target(torch.tensor([0.3, 0.2])) if target is None else target, **kw)


def _config(**kw):
    return lambda: SGLDConfig(**kw)


def _train_config(**kw):
    return lambda: TrainConfig(**kw)


class _NoParams(nn.Module):
    def forward(self, a, prec):
        return (prec * a).sum(-1)


class _Linear(nn.Module):
    """Two parameters, for params that disagree on the number of seeds."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, a, prec):
        return ((a * self.w).sum(-1) + self.b - prec[:, 0]) ** 2


class _MetaGenerator(torch.Generator):
    """A generator that says it lives on ``meta`` (a stand-in for one on another accelerator)."""

    @property
    def device(self):
        return META


def _traces(draws=6, nan_in=None):
    g = torch.Generator().manual_seed(1)
    phi, ell, loss = torch.randn(3, draws, 2, generator=g), torch.randn(3, draws, 4, generator=g), torch.randn(3, draws, generator=g)
    if nan_in == "phi":
        phi = _nan_at(phi, (1, 4, 0))
    if nan_in == "ell":
        ell = _nan_at(ell, (2, 5, 3), INF)
    return phi, ell, loss


def _no_probe_run():
    return _sample(probe=False)


def _blows_up_on_the_last_step():
    """One SGD step of a huge learning rate: finite at step 0, inf at step 1 (= steps, the final one)."""
    return _train(config=TrainConfig(steps=1, lr=1e30, optimizer="sgd"))


BAD = [
    # --- SGLDConfig: every field finite, of its type, of its sign
    pytest.param(_config(step_size=0.0), ValueError, ["SGLDConfig.step_size", "> 0"], id="config-step_size-zero"),
    pytest.param(_config(step_size=-1e-3), ValueError, ["SGLDConfig.step_size", "> 0"], id="config-step_size-negative"),
    pytest.param(_config(step_size=NAN), ValueError, ["SGLDConfig.step_size", "finite"], id="config-step_size-nan"),
    pytest.param(_config(step_size="1e-3"), TypeError, ["SGLDConfig.step_size", "real number", "str"], id="config-step_size-str"),
    pytest.param(_config(nbeta=INF), ValueError, ["SGLDConfig.nbeta", "finite"], id="config-nbeta-inf"),
    pytest.param(_config(nbeta=0.0), ValueError, ["SGLDConfig.nbeta", "> 0"], id="config-nbeta-zero"),
    pytest.param(_config(gamma=NAN), ValueError, ["SGLDConfig.gamma", "finite"], id="config-gamma-nan"),
    pytest.param(_config(gamma=-1.0), ValueError, ["SGLDConfig.gamma", ">= 0"], id="config-gamma-negative"),
    pytest.param(_config(num_chains=2.5), TypeError, ["SGLDConfig.num_chains", "int", "2.5"], id="config-num_chains-float"),
    pytest.param(_config(num_chains=0), ValueError, ["SGLDConfig.num_chains", ">= 1"], id="config-num_chains-zero"),
    pytest.param(_config(num_chains=True), TypeError, ["SGLDConfig.num_chains", "int", "bool"], id="config-num_chains-bool"),
    pytest.param(_config(num_draws=0), ValueError, ["SGLDConfig.num_draws", ">= 1"], id="config-num_draws-zero"),
    pytest.param(_config(num_draws=10.0), TypeError, ["SGLDConfig.num_draws", "int"], id="config-num_draws-float"),
    pytest.param(_config(thin=0), ValueError, ["SGLDConfig.thin", ">= 1"], id="config-thin-zero"),
    pytest.param(_config(num_burnin=-1), ValueError, ["SGLDConfig.num_burnin", ">= 0"], id="config-num_burnin-negative"),
    pytest.param(_config(num_burnin=1.5), TypeError, ["SGLDConfig.num_burnin", "int"], id="config-num_burnin-float"),
    pytest.param(_config(batch_size=0), ValueError, ["SGLDConfig.batch_size", ">= 1"], id="config-batch_size-zero"),
    pytest.param(_config(batch_size=2.0), TypeError, ["SGLDConfig.batch_size", "int"], id="config-batch_size-float"),
    pytest.param(_config(blowup=-1.0), ValueError, ["SGLDConfig.blowup", "> 0"], id="config-blowup-negative"),
    pytest.param(_config(blowup=NAN), ValueError, ["SGLDConfig.blowup", "finite"], id="config-blowup-nan"),
    # --- sample(): data
    pytest.param(lambda: _sample(data=(_nan_at(A), PREC)), ValueError, ["data[0]", "NaN or inf"], id="sample-data-nan"),
    pytest.param(lambda: _sample(data=(A, _nan_at(PREC, (2, 1), INF))), ValueError, ["data[1]", "NaN or inf"], id="sample-data-inf"),
    pytest.param(lambda: _sample(data=(_nan_at(A, (5, 0)), PREC), weights=torch.tensor([1.0] * 5 + [0.0])), ValueError,
                 ["data[0]", "NaN or inf", "weight 0"], id="sample-data-nan-in-zero-weight-sample"),
    pytest.param(lambda: _sample(data=[A, PREC]), TypeError, ["data", "tuple of tensors", "list"], id="sample-data-list"),
    pytest.param(lambda: _sample(data=A), TypeError, ["data", "tuple of tensors", "Tensor"], id="sample-data-tensor"),
    pytest.param(lambda: _sample(data=()), TypeError, ["data", "non-empty tuple"], id="sample-data-empty-tuple"),
    pytest.param(lambda: _sample(data=(A, PREC.tolist())), TypeError, ["data", "tuple of tensors"], id="sample-data-holds-list"),
    pytest.param(lambda: _sample(data=(A, PREC[:5])), ValueError, ["leading", "[(6, 3), (5, 3)]"], id="sample-data-leading-dims"),
    pytest.param(lambda: _sample(data=(A[:0], PREC[:0])), ValueError, ["data", "no samples", "0"], id="sample-data-empty"),
    pytest.param(lambda: _sample(data=(torch.tensor(1.0),)), ValueError, ["data", "leading sample dimension"], id="sample-data-0d"),
    pytest.param(lambda: _sample(data=(torch.zeros(6, 4), torch.ones(6, 4))), ValueError,
                 ["per_sample_loss failed on data", "(2, 4)"], id="sample-data-wrong-feature-size"),
    pytest.param(lambda: _sample(data=(A.to(META), PREC)), DeviceMismatchError, ["data[0] is on meta", "the model is on cpu"],
                 id="sample-data-other-device"),
    # --- sample(): weights
    pytest.param(lambda: _sample(weights=torch.ones(5)), ValueError, ["weights", "(6,)", "(5,)"], id="sample-weights-shape"),
    pytest.param(lambda: _sample(weights=-torch.ones(6)), ValueError, ["weights", "non-negative", "6 negative"], id="sample-weights-negative"),
    pytest.param(lambda: _sample(weights=torch.zeros(6)), ValueError, ["weights", "all zero"], id="sample-weights-zero"),
    pytest.param(lambda: _sample(weights=_nan_at(torch.ones(6), 2)), ValueError, ["weights", "NaN or inf"], id="sample-weights-nan"),
    pytest.param(lambda: _sample(weights=torch.full((6,), 1e38)), ValueError, ["weights sum to inf", "overflows"],
                 id="sample-weights-sum-overflows"),
    pytest.param(lambda: _sample(weights=torch.ones(6, device=META)), DeviceMismatchError, ["weights is on meta", "cpu"],
                 id="sample-weights-other-device"),
    # --- sample(): the model, the anchor, the loss
    pytest.param(lambda: _sample(model=_NoParams()), ValueError, ["model", "no parameters"], id="sample-model-no-parameters"),
    pytest.param(lambda: _sample(model=Quadratic(3).to(META)), ValueError, ["model", "meta device", "materialize"], id="sample-model-meta"),
    pytest.param(lambda: _sample(model=lambda a, p: a), TypeError, ["model", "nn.Module"], id="sample-model-not-module"),
    pytest.param(lambda: _sample(config={"step_size": 1e-3}), TypeError, ["config", "SGLDConfig", "dict"], id="sample-config-dict"),
    pytest.param(lambda: _sample(loss="mse"), TypeError, ["per_sample_loss", "function"], id="sample-loss-not-callable"),
    pytest.param(lambda: _sample(loss=lambda f, b: f(*b).sum()), ValueError, ["per-sample losses of shape (B, ...)", "()"],
                 id="sample-loss-scalar"),
    pytest.param(lambda: _sample(params={"v": torch.zeros(3)}), KeyError, ["params", "unknown parameter 'v'", "['w']"],
                 id="sample-params-unknown-name"),
    pytest.param(lambda: _sample(params={"w": torch.zeros(1, 3)}), ValueError, ["params['w']", "(1, 3)", "not a stack over seeds"],
                 id="sample-params-stacked"),
    pytest.param(lambda: _sample(params={"w": _nan_at(torch.zeros(3), 1)}), ValueError, ["params['w']", "NaN or inf", "anchor"],
                 id="sample-params-nan"),
    pytest.param(lambda: _sample(params=[torch.zeros(3)]), TypeError, ["params", "mapping", "list"], id="sample-params-list"),
    pytest.param(lambda: _sample(params={"w": torch.zeros(3, device=META)}), DeviceMismatchError, ["params['w'] is on meta", "cpu"],
                 id="sample-params-other-device"),
    pytest.param(lambda: _sample(params={"w": torch.full((3,), 1e30)}), ValueError, ["anchor loss L(w*)", "not finite"],
                 id="sample-anchor-loss-overflows"),
    pytest.param(lambda: _sample(anchor_loss=NAN), ValueError, ["anchor loss L(w*)", "nan", "not finite"], id="sample-anchor_loss-nan"),
    pytest.param(lambda: _sample(anchor_loss="0.1"), TypeError, ["anchor_loss", "real number"], id="sample-anchor_loss-str"),
    # --- sample(): restrict
    pytest.param(lambda: _sample(restrict="w"), TypeError, ["restrict", "string 'w'", "restrict=['w']"], id="sample-restrict-bare-string"),
    pytest.param(lambda: _sample(restrict=["v"]), KeyError, ["restrict", "unknown parameter 'v'"], id="sample-restrict-unknown"),
    pytest.param(lambda: _sample(restrict=[]), ValueError, ["restrict selects no parameters"], id="sample-restrict-empty"),
    pytest.param(lambda: _sample(restrict={"w": torch.ones(4, dtype=torch.bool)}), ValueError, ["mask for 'w'", "(4,)", "(2, 3)"],
                 id="sample-restrict-mask-shape"),
    pytest.param(lambda: _sample(restrict={"w": torch.full((3,), 0.5)}), ValueError, ["mask for 'w'", "boolean"],
                 id="sample-restrict-mask-fractional"),
    pytest.param(lambda: _sample(restrict={"w": torch.ones(3, dtype=torch.bool, device=META)}), DeviceMismatchError,
                 ["restrict['w'] is on meta", "cpu"], id="sample-restrict-mask-other-device"),
    # --- sample(): observables, probe, generator, seed, chunks
    pytest.param(lambda: _sample(observables=lambda p: [p["w"]]), TypeError, ["observables must return a tensor", "list"],
                 id="sample-observables-list"),
    pytest.param(lambda: _sample(observables=lambda p: p["w"][0]), ValueError, ["(chains, K) = (2, K)", "(3,)"],
                 id="sample-observables-shape"),
    pytest.param(lambda: _sample(observables=lambda p: p["w"] * NAN), ValueError, ["observables' output", "first draw", "NaN"],
                 id="sample-observables-nan"),
    pytest.param(lambda: _sample(observables="w"), TypeError, ["observables", "function"], id="sample-observables-not-callable"),
    pytest.param(lambda: _sample(observables=lambda p: p["w"].to(META)), DeviceMismatchError, ["observables' output is on meta"],
                 id="sample-observables-other-device"),
    pytest.param(lambda: _sample(probe=(torch.zeros(4, 5), torch.ones(4, 5))), ValueError,
                 ["per_sample_loss failed on probe", "(2, 5)"], id="sample-probe-feature-size"),
    pytest.param(lambda: _sample(probe=(A,)), ValueError, ["per_sample_loss failed on probe", "[(2, 3)]"], id="sample-probe-one-tuple"),
    pytest.param(lambda: _sample(probe=(_nan_at(A), PREC)), ValueError, ["probe[0]", "NaN or inf"], id="sample-probe-nan"),
    pytest.param(lambda: _sample(probe=A), TypeError, ["probe", "tuple of tensors"], id="sample-probe-tensor"),
    pytest.param(lambda: _sample(probe=(A, PREC.to(META))), DeviceMismatchError, ["probe[1] is on meta", "cpu"],
                 id="sample-probe-other-device"),
    pytest.param(lambda: _sample(generator=_MetaGenerator()), DeviceMismatchError, ["generator is on meta", "the model is on cpu"],
                 id="sample-generator-other-device"),
    pytest.param(lambda: _sample(generator=0), TypeError, ["generator", "torch.Generator", "int"], id="sample-generator-int"),
    pytest.param(lambda: _sample(seed=1.5), TypeError, ["seed", "int", "1.5"], id="sample-seed-float"),
    pytest.param(lambda: _sample(eval_batch_size=0), ValueError, ["eval_batch_size", ">= 1"], id="sample-eval_batch_size-zero"),
    # --- estimators
    pytest.param(lambda: susceptibilities(_no_probe_run()), ValueError, ["no probe losses", "probe=False"], id="chi-no-probe-run"),
    pytest.param(lambda: susceptibilities({"stats": None}), TypeError, ["Samples", "dict"], id="chi-not-samples"),
    pytest.param(lambda: susceptibilities_from_traces(*_traces(nan_in="phi"), beta=1.0), ValueError, ["observables φ", "NaN"],
                 id="chi-observable-nan-at-a-late-draw"),
    pytest.param(lambda: susceptibilities_from_traces(*_traces(nan_in="ell"), beta=1.0), ValueError, ["probe losses ℓ", "NaN or inf"],
                 id="chi-probe-loss-inf-at-a-late-draw"),
    pytest.param(lambda: susceptibilities_from_traces(*_traces()[:2], torch.zeros(3, 5), beta=1.0), ValueError,
                 ["need phi (C,T,K)", "(3, 5)"], id="chi-traces-shapes"),
    pytest.param(lambda: susceptibilities_from_traces(_traces()[0].tolist(), *_traces()[1:], beta=1.0), TypeError,
                 ["phi", "torch.Tensor", "list"], id="chi-traces-list"),
    pytest.param(lambda: susceptibilities_from_traces(*_traces(draws=0), beta=1.0), ValueError, ["no draws"], id="chi-traces-empty"),
    pytest.param(lambda: susceptibilities_from_traces(*_traces(), beta=NAN), ValueError, ["beta", "finite"], id="chi-beta-nan"),
    pytest.param(lambda: susceptibilities_from_traces(*_traces(), beta=1.0, groups=torch.tensor([0, 1])), ValueError,
                 ["groups", "(chains,) = (3,)", "(2,)"], id="chi-groups-shape"),
    pytest.param(lambda: susceptibilities_from_traces(*_traces(), beta=1.0, groups=torch.tensor([0.0, 1.0, 1.0])), TypeError,
                 ["groups", "integer"], id="chi-groups-float"),
    pytest.param(lambda: llc_from_losses(torch.ones(4), 0.0, 1.0), ValueError, ["losses", "(chains, draws)", "(4,)"], id="llc-losses-1d"),
    pytest.param(lambda: llc_from_losses(torch.ones(2, 0), 0.0, 1.0), ValueError, ["losses", "(2, 0)"], id="llc-losses-empty"),
    pytest.param(lambda: llc_from_losses(_nan_at(torch.ones(2, 3)), 0.0, 1.0), ValueError, ["losses", "NaN or inf"], id="llc-losses-nan"),
    pytest.param(lambda: llc_from_losses(torch.ones(2, 3), NAN, 1.0), ValueError, ["anchor_loss", "finite"], id="llc-anchor-nan"),
    pytest.param(lambda: llc_from_losses(torch.ones(2, 3), 0.0, 0.0), ValueError, ["nbeta", "> 0"], id="llc-nbeta-zero"),
    pytest.param(lambda: llc_from_losses([[1.0, 2.0]], 0.0, 1.0), TypeError, ["losses", "list"], id="llc-losses-list"),
    pytest.param(lambda: llc(torch.ones(2, 3)), TypeError, ["llc()", "Samples", "Tensor"], id="llc-not-samples"),
    # --- patterning_step
    pytest.param(lambda: patterning_step(torch.zeros(2, 5), torch.ones(2)), ValueError, ["chi is all zero", "no re-weighting"],
                 id="step-chi-zero"),
    pytest.param(lambda: patterning_step(_nan_at(torch.ones(2, 5), (1, 2), INF), torch.ones(2)), ValueError, ["chi", "NaN or inf"],
                 id="step-chi-inf"),
    pytest.param(lambda: patterning_step(torch.eye(2, 5), _nan_at(torch.ones(2), 0)), ValueError, ["dmu", "NaN or inf"], id="step-dmu-nan"),
    pytest.param(lambda: patterning_step(torch.eye(2, 5), [1.0, 2.0]), TypeError, ["dmu", "torch.Tensor", "list"], id="step-dmu-list"),
    pytest.param(lambda: patterning_step([[1.0, 0.0]], torch.ones(1)), TypeError, ["chi", "torch.Tensor", "list"], id="step-chi-list"),
    pytest.param(lambda: patterning_step(torch.ones(5), torch.ones(1)), ValueError, ["chi", "(K, P)", "(5,)"], id="step-chi-1d"),
    pytest.param(lambda: patterning_step(torch.zeros(3, 4), torch.zeros(2)), ValueError, ["(K,) = (3,)", "(3, 4)", "(2,)"],
                 id="step-dmu-shape"),
    pytest.param(lambda: patterning_step(torch.eye(2, 5), torch.ones(2), ridge=-0.1), ValueError, ["ridge", ">= 0"],
                 id="step-ridge-negative"),
    pytest.param(lambda: patterning_step(torch.eye(2, 5), torch.ones(2), ridge=NAN), ValueError, ["ridge", "finite"], id="step-ridge-nan"),
    pytest.param(lambda: patterning_step(torch.ones(2, 5), torch.ones(2), ridge=0.0), ValueError, ["singular", "ridge > 0"],
                 id="step-singular-without-ridge"),
    # --- reweight
    pytest.param(lambda: reweight(torch.ones(5), torch.arange(5.0), 1e40, "exponential"), ValueError, ["scale·dh overflows", "scale=1e+40"],
                 id="reweight-scale-overflows"),
    pytest.param(lambda: reweight(torch.ones(5), torch.arange(5.0), INF, "exponential"), ValueError, ["scale", "finite"],
                 id="reweight-scale-inf"),
    pytest.param(lambda: reweight(torch.ones(5), _nan_at(torch.arange(5.0), 2), 1.0, "exponential"), ValueError, ["dh", "NaN or inf"],
                 id="reweight-dh-nan"),
    pytest.param(lambda: reweight(torch.zeros(5), torch.arange(5.0), 1.0, "exponential"), ValueError, ["h0 is all zero", "0/0"],
                 id="reweight-h0-zero-exponential"),
    pytest.param(lambda: reweight(-torch.ones(5), torch.arange(5.0), 1.0), ValueError, ["h0", "non-negative"], id="reweight-h0-negative"),
    pytest.param(lambda: reweight(torch.ones(5), torch.ones(4), 1.0), ValueError, ["h0 (5,)", "dh (4,)", "last dimension"],
                 id="reweight-shapes"),
    pytest.param(lambda: reweight(torch.ones(5), torch.ones(5), 1.0, method="softmax"), ValueError, ["method", "'softmax'"],
                 id="reweight-method"),
    pytest.param(lambda: reweight(torch.ones(5), torch.ones(5), 1.0, floor=0.0), ValueError, ["floor", "> 0"], id="reweight-floor-zero"),
    pytest.param(lambda: reweight([1.0, 1.0], torch.ones(2), 1.0), TypeError, ["h0", "torch.Tensor", "list"], id="reweight-h0-list"),
    # --- modes
    pytest.param(lambda: modes(torch.zeros(2, 5)), ValueError, ["chi is all zero", "no modes"], id="modes-chi-zero"),
    pytest.param(lambda: modes(_nan_at(torch.ones(2, 5))), ValueError, ["chi", "NaN or inf"], id="modes-chi-nan"),
    pytest.param(lambda: modes([[1.0, 2.0]]), TypeError, ["chi", "torch.Tensor", "list"], id="modes-chi-list"),
    pytest.param(lambda: modes(torch.ones(5)), ValueError, ["chi", "(K, P)"], id="modes-chi-1d"),
    pytest.param(lambda: modes(torch.eye(2, 5), ridge=-1.0), ValueError, ["ridge", ">= 0"], id="modes-ridge-negative"),
    # --- TrainConfig, init_params, train()
    pytest.param(_train_config(steps=-1), ValueError, ["TrainConfig.steps", ">= 0"], id="trainconfig-steps-negative"),
    pytest.param(_train_config(steps=2.5), TypeError, ["TrainConfig.steps", "int"], id="trainconfig-steps-float"),
    pytest.param(_train_config(lr=0.0), ValueError, ["TrainConfig.lr", "> 0"], id="trainconfig-lr-zero"),
    pytest.param(_train_config(lr=NAN), ValueError, ["TrainConfig.lr", "finite"], id="trainconfig-lr-nan"),
    pytest.param(_train_config(optimizer="rmsprop"), ValueError, ["TrainConfig.optimizer", "'rmsprop'"], id="trainconfig-optimizer"),
    pytest.param(_train_config(batch_size=0), ValueError, ["TrainConfig.batch_size", ">= 1"], id="trainconfig-batch_size-zero"),
    pytest.param(_train_config(weight_decay=-0.1), ValueError, ["TrainConfig.weight_decay", ">= 0"], id="trainconfig-weight_decay"),
    pytest.param(_train_config(momentum=INF), ValueError, ["TrainConfig.momentum", "finite"], id="trainconfig-momentum-inf"),
    pytest.param(_train_config(log_every=0), ValueError, ["TrainConfig.log_every", ">= 1"], id="trainconfig-log_every-zero"),
    pytest.param(_train_config(shared_batches="yes"), TypeError, ["TrainConfig.shared_batches", "bool"], id="trainconfig-shared-str"),
    pytest.param(lambda: init_params(lambda: Quadratic(2), seeds=[]), ValueError, ["seeds", "non-empty"], id="init_params-no-seeds"),
    pytest.param(lambda: init_params(lambda: Quadratic(2), seeds=[0.5]), TypeError, ["seed", "int", "0.5"], id="init_params-float-seed"),
    pytest.param(lambda: _train(data=(A[:0], PREC[:0])), ValueError, ["data", "no samples"], id="train-data-empty"),
    pytest.param(lambda: _train(data=(_nan_at(A), PREC)), ValueError, ["data[0]", "NaN or inf"], id="train-data-nan"),
    pytest.param(lambda: _train(data=(A, PREC.to(META))), DeviceMismatchError, ["data[1] is on meta", "cpu"], id="train-data-other-device"),
    pytest.param(lambda: _train(model=Quadratic(2), data=(A[:, :2], PREC[:, :2]), params={"w": torch.zeros(2)}), ValueError,
                 ["params['w']", "(2,)", "stacked over seeds", "(S, 2)"], id="train-params-not-stacked"),
    pytest.param(lambda: _train(params={"v": torch.zeros(1, 3)}), KeyError, ["unknown parameter 'v'"], id="train-params-unknown"),
    pytest.param(lambda: _train(model=_Linear(), params={"w": torch.zeros(2, 3), "b": torch.zeros(3)}), ValueError,
                 ["params disagree", "number of seeds", "[2, 3]"], id="train-params-seed-counts"),
    pytest.param(lambda: _train(params={"w": torch.zeros(1, 3, device=META)}), DeviceMismatchError, ["params['w'] is on meta"],
                 id="train-params-other-device"),
    pytest.param(lambda: _train(params={"w": _nan_at(torch.zeros(1, 3))}), ValueError, ["params['w']", "NaN or inf"], id="train-params-nan"),
    pytest.param(lambda: _train(params={}), TypeError, ["params", "non-empty mapping"], id="train-params-empty"),
    pytest.param(lambda: _train(weights=torch.ones(3)), ValueError, ["weights", "(6,) or (1, 6)"], id="train-weights-shape"),
    pytest.param(lambda: _train(weights=-torch.ones(6)), ValueError, ["weights", "non-negative"], id="train-weights-negative"),
    pytest.param(lambda: _train(params={"w": torch.zeros(2, 3)}, weights=torch.stack([torch.ones(6), torch.zeros(6)])), ValueError,
                 ["weights are all zero in some row"], id="train-weights-zero-row"),
    pytest.param(lambda: _train(weights=torch.full((6,), 1e38)), ValueError, ["weights sum to inf", "overflows"],
                 id="train-weights-sum-overflows"),
    pytest.param(lambda: _train(weights=torch.ones(6, device=META)), DeviceMismatchError, ["weights is on meta"],
                 id="train-weights-other-device"),
    pytest.param(lambda: _train(model=Quadratic(3).to(META)), ValueError, ["meta device"], id="train-model-meta"),
    pytest.param(lambda: _train(model=_NoParams()), ValueError, ["no parameters"], id="train-model-no-parameters"),
    pytest.param(lambda: _train(config=SGLDConfig()), TypeError, ["config", "TrainConfig", "SGLDConfig"], id="train-config-type"),
    pytest.param(lambda: _train(checkpoint_every=0), ValueError, ["checkpoint_every", ">= 1"], id="train-checkpoint_every-zero"),
    pytest.param(lambda: _train(seed="0"), TypeError, ["seed", "int"], id="train-seed-str"),
    pytest.param(lambda: _train(optimizer_state={"v": {}}), KeyError, ["optimizer_state", "'w'"], id="train-optimizer-state-missing"),
    pytest.param(_blows_up_on_the_last_step, FloatingPointError, ["not finite at step 1", "lr=1e+30"], id="train-blowup-on-final-step"),
    pytest.param(lambda: _train(params={"w": torch.full((1, 3), 1e30)}), FloatingPointError, ["step 0, before any update"],
                 id="train-initial-loss-inf"),
    # --- Target and pattern()
    pytest.param(lambda: _pattern(Target(torch.tensor([0.3, 0.2, 0.1]))), ValueError, ["target has 3 values", "K = 2"],
                 id="pattern-target-too-long"),
    pytest.param(lambda: _pattern(Target(torch.tensor([0.3]))), ValueError, ["target has 1 values", "K = 2", "mask=False"],
                 id="pattern-target-too-short"),
    pytest.param(lambda: Target(torch.tensor([0.3, 0.2]), mask=torch.tensor([True])), ValueError, ["Target.mask", "(2,)", "(1,)"],
                 id="target-mask-shape"),
    pytest.param(lambda: Target(torch.tensor([0.3, 0.2]), mask=torch.tensor([False, False])), ValueError, ["Target.mask", "all False"],
                 id="target-mask-all-false"),
    pytest.param(lambda: Target(torch.tensor([0.3, 0.2]), mask=torch.tensor([1, 0])), TypeError, ["Target.mask", "bool"],
                 id="target-mask-int"),
    pytest.param(lambda: Target([0.3, 0.2]), TypeError, ["Target.values", "torch.Tensor", "list"], id="target-values-list"),
    pytest.param(lambda: Target(torch.tensor([0.3, NAN])), ValueError, ["Target.values", "NaN or inf"], id="target-values-nan"),
    pytest.param(lambda: Target(torch.tensor(0.3)), ValueError, ["Target.values", "(K,)"], id="target-values-0d"),
    pytest.param(lambda: Target(torch.tensor([0.3]), tol=0.0), ValueError, ["Target.tol", "> 0"], id="target-tol-zero"),
    pytest.param(lambda: _pattern(target=(0.3, 0.2)), TypeError, ["target", "Target", "tuple"], id="pattern-target-tuple"),
    pytest.param(lambda: _pattern(h0=torch.ones(3)), ValueError, ["h0", "(4,)", "(3,)"], id="pattern-h0-shape"),
    pytest.param(lambda: _pattern(h0=torch.ones(4, device=META)), DeviceMismatchError, ["h0 is on meta", "cpu"], id="pattern-h0-other-device"),
    pytest.param(lambda: _pattern(natural_weights=-torch.ones(4)), ValueError, ["natural_weights", "non-negative"],
                 id="pattern-natural-weights-negative"),
    pytest.param(lambda: _pattern(data=(A[:4, :2].to(META), PREC[:4, :2])), DeviceMismatchError, ["data[0] is on meta"],
                 id="pattern-data-other-device"),
    pytest.param(lambda: _pattern(data=(A[:4, :2], _nan_at(PREC[:4, :2]))), ValueError, ["data[1]", "NaN or inf"], id="pattern-data-nan"),
    pytest.param(lambda: _pattern(observables=None), TypeError, ["observables", "function"], id="pattern-observables-none"),
    pytest.param(lambda: _pattern(observables=lambda p: [p["w"]]), TypeError, ["observables must return a tensor", "list"],
                 id="pattern-observables-list"),
    pytest.param(lambda: _pattern(max_epochs=0), ValueError, ["max_epochs", ">= 1"], id="pattern-max_epochs-zero"),
    pytest.param(lambda: _pattern(scale=NAN), ValueError, ["scale", "finite"], id="pattern-scale-nan"),
    pytest.param(lambda: _pattern(method="softmax"), ValueError, ["method", "'softmax'"], id="pattern-method"),
    pytest.param(lambda: _pattern(ridge=-1.0), ValueError, ["ridge", ">= 0"], id="pattern-ridge-negative"),
    pytest.param(lambda: _pattern(snapshot_every=0), ValueError, ["snapshot_every", ">= 1"], id="pattern-snapshot_every-zero"),
]


@pytest.mark.parametrize("call, error, words", BAD)
def test_bad_input_is_refused_by_name(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert not isinstance(info.value, SGLDDivergenceError), "a divergence error for input that was never valid"
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message lacks {missing}: {message}"


def test_the_table_is_large_and_its_ids_unique():
    ids = [p.id for p in BAD]
    assert len(ids) == len(set(ids)) and len(ids) >= 160


# ---------------------------------------------------------------------------- correct results, with a warning


def test_batch_larger_than_the_data_samples_with_replacement_and_says_so():
    cfg = SGLDConfig(step_size=1e-3, nbeta=10.0, gamma=1.0, num_chains=2, num_draws=3, num_burnin=0, batch_size=10)
    with pytest.warns(UserWarning, match=r"batch_size=10 exceeds the n=6 samples.*with replacement"):
        s = _sample(config=cfg)
    assert s.loss_trace.shape == (2, 3) and torch.isfinite(s.loss_trace).all()
    with pytest.warns(UserWarning, match=r"batch_size=8 exceeds the n=6"):
        r = _train(config=TrainConfig(steps=2, lr=0.05, batch_size=8))
    assert torch.isfinite(r.loss_trace).all()


def test_an_all_false_restrict_mask_leaves_the_chains_at_the_anchor_and_says_so():
    """Nothing sampled is a 0-dimensional posterior: λ̂ = 0 and χ = 0 are its right answers, but a
    caller who meant to sample something is told."""
    with pytest.warns(UserWarning, match=r"no parameter entry in chain\(s\) \[0, 1\].*stay at w\*"):
        s = _sample(restrict={"w": torch.zeros(3, dtype=torch.bool)})
    assert s.num_sampled == 0 and llc(s).mean == 0.0 and (susceptibilities(s).chi == 0).all()
    with pytest.warns(UserWarning, match=r"no parameter entry in chain\(s\) \[1\]:"):
        s = _sample(restrict={"w": torch.tensor([[True, False, True], [False] * 3])}, keep_obs_traces=True, observables=lambda p: p["w"])
    assert s.num_sampled == 2 and (s.obs_trace[1] == 0).all() and s.obs_trace[0, :, 0].std() > 0


def test_reweight_warns_when_the_mass_sits_on_few_samples():
    dh = torch.linspace(-1, 1, 100)
    with pytest.warns(UserWarning, match=r"effective sample size .* = 1 of n = 100.*below 10%"):
        h = reweight(torch.ones(100), dh, 1e6, "exponential")
    assert torch.isfinite(h).all() and h.mean().item() == pytest.approx(1.0) and h.argmax() == 99
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a moderate step keeps most of the data: no warning
        moderate = reweight(torch.ones(100), dh, 0.5, "exponential")
        seeds = reweight(torch.ones(3, 100), dh.expand(3, 100), 0.5)
    ess = moderate.sum() ** 2 / (moderate**2).sum()
    assert ess > 10 and seeds.shape == (3, 100)


def test_modes_of_a_rank_deficient_chi_without_ridge_are_finite():
    chi = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]])  # rank 1: the second mode has gain 0
    m = modes(chi, ridge=0.0)
    assert torch.isfinite(m.ridge_filter).all() and torch.isfinite(m.explained).all()
    assert m.ridge_filter[1] == 0 and m.ridge_filter[0] == pytest.approx(1 / float(m.gains[0]))
    assert m.condition_number > 1e6  # σ_1 over a gain of rounding noise


def test_patterning_step_with_a_rank_deficient_chi_and_a_ridge_still_works():
    chi = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]])
    with pytest.warns(UserWarning, match="unreachable"):
        step = patterning_step(chi, torch.tensor([1.0, 0.0]), ridge=1e-3)
    assert torch.isfinite(step.dh).all()


# ---------------------------------------------------------------------------- devices


DEVICES = [pytest.param("cpu", id="cpu"),
           pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here"))]


@pytest.mark.parametrize("device", DEVICES)
def test_the_patterning_loop_stays_on_the_model_device(device):
    """h, the target and every output live on the model's device (``pattern()`` used to build h on the CPU)."""
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [0.5, -0.5]], device=device)
    model = Quadratic(2).to(device)
    with torch.no_grad():
        model.w.copy_(a.mean(0))
    sg = SGLDConfig(step_size=1e-3, nbeta=20.0, gamma=1.0, num_chains=4, num_draws=20, num_burnin=10)
    traj = pattern(model, quadratic_loss, (a, torch.ones(4, 2, device=device)), observables=lambda p: p["w"],
                   target=Target(torch.tensor([0.3, 0.2])), sgld=sg, train_config=TrainConfig(steps=5, lr=0.05), max_epochs=2,
                   progress=False)
    for t in (traj.weights, traj.point_obs, traj.weighted_loss, traj.natural_loss, traj.mu, traj.predicted_dmu, traj.params["w"]):
        assert t.device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_training_outputs_stay_on_the_model_device(device):
    r = train(Quadratic(3).to(device), quadratic_loss, (A.to(device), PREC.to(device)), config=QUICK, progress=False)
    assert {r.params["w"].device.type, r.loss_trace.device.type, r.logged_steps.device.type} == {device}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device beside the CPU")
def test_a_cpu_generator_with_a_cuda_model_is_refused_by_name():
    with pytest.raises(DeviceMismatchError, match=r"generator is on cpu but the model is on cuda"):
        sample(Quadratic(3).cuda(), quadratic_loss, (A.cuda(), PREC.cuda()), config=CFG, generator=torch.Generator(), progress=False)
    with pytest.raises(DeviceMismatchError, match=r"data\[0\] is on cpu but the model is on cuda"):
        train(Quadratic(3).cuda(), quadratic_loss, DATA, config=QUICK, progress=False)


CORE = ("sgld", "training", "loop", "patterning", "modes", "susceptibility", "llc", "stats", "checks")
FACTORIES = {"zeros", "ones", "full", "empty", "arange", "linspace", "eye", "tensor", "as_tensor", "rand", "randn", "randint",
             "randperm", "Generator"}


def test_core_modules_say_where_every_new_tensor_lives():
    """Audit: each tensor factory in the core passes ``device=`` (so nothing lands on the CPU when the
    inputs live elsewhere), and no core module calls ``.cpu()``."""
    root = Path(patterning_core.__file__).parent
    offenders = []
    for name in CORE:
        tree = ast.parse((root / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            f = node.func
            if isinstance(f.value, ast.Name) and f.value.id == "torch" and f.attr in FACTORIES:
                if not any(k.arg == "device" for k in node.keywords):
                    offenders.append(f"{name}.py:{node.lineno} torch.{f.attr} without device=")
            if f.attr == "cpu":
                offenders.append(f"{name}.py:{node.lineno} .cpu()")
    assert not offenders, offenders
