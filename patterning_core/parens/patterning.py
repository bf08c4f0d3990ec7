r"""Selecting Nested vs Equal-Count by targeting the LLC (chapter 6).

The parentheses task (:mod:`.data`, :mod:`.model`) has two algorithms that fit
the training set perfectly and disagree on the out-of-distribution (OOD) strings. This module
holds the chapter's helpers around the core library:

* :class:`ParensSetting`, :func:`init_seeds`, :func:`train_seeds` - many seeds trained as one
  computation with :func:`~patterning_core.training.train`, each scored on train, test and OOD;
  :func:`worker_pool` and :func:`parallel_calls` share such trainings (and SGLD runs) among
  worker processes, one per core;
* :func:`classify`, :func:`spread`, :func:`extremes` - stuck or fitted, Nested-like / middle /
  Equal-Count-like by the OOD "balanced" rate, and which seeds to sample at;
* :func:`loss_susceptibility` - one SGLD run at a solution giving its LLC and the
  per-training-string susceptibility of the loss (:func:`loss_chi`), and :func:`llc_at`, the
  LLC alone;
* :func:`susceptibility_gap`, :func:`pattern_weights` - the normalized per-string gap between two
  solutions and mean-one training weights along it;
* :func:`string_groups`, :func:`data_table` - the three kinds of training string;
* :func:`shift_test`, :func:`paired_shift`, :func:`log_odds` - statistics over seeds and the
  free-energy log-odds.

Why the loss is the observable. Near a minimum :math:`w^*` the localized posterior mean of the
training loss is :math:`\mathbb E[L] \approx L(w^*) + \lambda/(n\beta)`, so
:math:`\chi_i = \partial\,\mathbb E_h[L]/\partial h_i = -\beta\,\mathrm{Cov}[L, \ell_i - L]` is,
up to the factor :math:`n\beta`, the response of the LLC :math:`\lambda` to up-weighting string
:math:`i` (Wang & Murfet 2026, §4.5). Here :math:`L` is the *full* training loss, the mean of
the recorded per-string losses at each draw, not the minibatch loss the sampler moves on; then
:math:`\sum_i \chi_i = 0` exactly.
"""
from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Literal, NamedTuple, Sequence, TypeVar

import torch
from scipy.stats import mannwhitneyu, wilcoxon
from torch import Tensor

from ..llc import LLCResponse, LLCResult, llc, llc_from_losses, llc_response
from .model import ParensTransformer, ParensTransformerConfig, accuracy, balanced_rate, per_sample_loss, stacked_logits
from .data import ParensBatch, ParensData, depth_profile
from ..patterning import reweight
from ..sgld import SGLDConfig, sample
from ..susceptibility import susceptibilities_from_traces
from ..training import TrainConfig, init_params, train

Params = dict[str, Tensor]
K, T = TypeVar("K"), TypeVar("T")

STUCK, NESTED, MIDDLE, EQUAL_COUNT = 0, 1, 2, 3  # seed classes
CLASS_NAMES = {STUCK: "stuck", NESTED: "Nested-like", MIDDLE: "middle", EQUAL_COUNT: "Equal-Count-like"}


@dataclass(frozen=True)
class ParensSetting:
    """Architecture and optimizer of the chapter's seeds (the exploration's "mixed, 4 heads" setting)."""

    model: ParensTransformerConfig = field(default_factory=lambda: ParensTransformerConfig(attn="mixed", n_heads=4))
    train: TrainConfig = TrainConfig(steps=1000, lr=3e-3, batch_size=32, log_every=50)  # Adam, 32 strings per seed per step


class SeedResults(NamedTuple):
    """Trained seeds and their scores, each ``(S,)`` unless stated."""

    params: Params  # name -> (S, *shape)
    train_loss: Tensor  # unweighted training loss at the end (exact, all strings)
    train_acc: Tensor
    test_acc: Tensor
    ood_rate: Tensor  # fraction of OOD strings called balanced: 0 Nested, 1 Equal-Count

    def seed(self, s: int) -> Params:
        """Parameters of seed ``s`` (an SGLD anchor)."""
        return {k: v[s] for k, v in self.params.items()}


def base_model(setting: ParensSetting, params: Params) -> ParensTransformer:
    """The module whose forward every stacked or single parameter set runs through, on the parameters' device."""
    return ParensTransformer(setting.model, seed=0).to(next(iter(params.values())).device)


def init_seeds(setting: ParensSetting, seeds: Sequence[int]) -> Params:
    """Initial parameters of ``seeds``, stacked; every retraining starts from these."""
    return init_params(lambda: ParensTransformer(setting.model), seeds)


def score(setting: ParensSetting, params: Params, data: ParensData) -> SeedResults:
    """Training loss and accuracy, test accuracy and OOD balanced rate of stacked ``params``."""
    base = base_model(setting, params)
    with torch.no_grad():
        logits = stacked_logits(base, params, data.train.tokens)  # (S, n)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, data.train.labels.expand_as(logits), reduction="none")
        test_acc = accuracy(stacked_logits(base, params, data.test.tokens), data.test.labels)
        ood = balanced_rate(stacked_logits(base, params, data.ood.tokens))
    return SeedResults(params, loss.mean(-1).cpu(), accuracy(logits, data.train.labels).cpu(), test_acc.cpu(), ood.cpu())


def train_seeds(setting: ParensSetting, data: ParensData, init: Params, weights: Tensor | None = None, seed: int = 0) -> SeedResults:
    """Train the stacked ``init`` on ``data.train`` with weights ``(n,)`` (default 1) and score them.

    ``seed`` fixes every seed's minibatch order, so two calls differ only through ``weights``.
    """
    base = base_model(setting, init)
    result = train(base, per_sample_loss, data.train, config=setting.train, params=init, weights=weights, seed=seed, progress=False)
    return score(setting, result.params, data)


class _Inline(Executor):
    """An executor that runs each call at submit, in this process (the fallback off the CPU)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # handed to whoever asks for the result, as a pool would
            future.set_exception(e)
        return future


def _one_thread() -> None:
    torch.set_num_threads(1)  # as the chapter's own process: the same numbers, bit for bit


def worker_pool(device: torch.device | str, workers: int = 1) -> Executor:
    """Where :func:`train_seeds`, :func:`llc_at` and :func:`loss_susceptibility` can run while the caller
    goes on: ``pool.submit(train_seeds, ...)``, or :func:`parallel_calls`.

    On the CPU, a pool of ``workers`` spawned processes with one torch thread each, which share the
    queued runs among the cores (the runs are independent and seeded: their results do not depend on
    where they run). On any other device, an executor that runs each call at once in this process
    (one accelerator is not shared between processes).
    """
    if torch.device(device).type != "cpu":
        return _Inline()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)


def parallel_calls(calls: dict[K, Callable[[], T]], pool: Executor | None = None) -> dict[K, T]:
    """Evaluate ``calls`` (key -> a picklable call without arguments, e.g. ``functools.partial(llc_at, ...)``)
    on ``pool`` (:func:`worker_pool`; ``None``: here, one after another), the results in the keys'
    order. Seeded calls give the same numbers wherever they run."""
    if pool is None:
        return {k: call() for k, call in calls.items()}
    jobs = {k: pool.submit(call) for k, call in calls.items()}
    return {k: job.result() for k, job in jobs.items()}


def classify(results: SeedResults, fit: float = 0.99, nested_below: float = 0.1, ec_above: float = 0.6) -> Tensor:
    """Seed classes ``(S,)``: STUCK if training accuracy < ``fit``, else by the OOD rate."""
    r = results.ood_rate
    cls = torch.where(r < nested_below, NESTED, torch.where(r > ec_above, EQUAL_COUNT, MIDDLE))
    return torch.where(results.train_acc < fit, STUCK, cls)


def _fitted_by_ood(results: SeedResults, fitted: Tensor) -> Tensor:
    """Indices of the ``fitted`` seeds in ascending OOD rate (ties in seed order)."""
    idx = fitted.nonzero().squeeze(1)
    return idx[results.ood_rate[idx].argsort(stable=True)]


def extremes(results: SeedResults, fitted: Tensor, k: int) -> tuple[list[int], list[int]]:
    """The ``k`` fitted seeds with the lowest OOD rate (most Nested-like) and the ``k`` with the highest."""
    order = _fitted_by_ood(results, fitted)
    return order[:k].tolist(), order.flip(0)[:k].tolist()


def spread(results: SeedResults, fitted: Tensor, k: int | None) -> list[int]:
    """``k`` fitted seeds evenly spaced in OOD rate, both extremes included (all if ``k`` is None)."""
    order = _fitted_by_ood(results, fitted)
    if k is None or k >= len(order):
        return order.tolist()
    pick = torch.linspace(0, len(order) - 1, k).round().long()
    return order[pick].tolist()


# --------------------------------------------------------------------------- data


def string_groups(batch: ParensBatch) -> dict[str, Tensor]:
    """Masks of the three kinds of training string: balanced, and unbalanced with final depth > 0 or < 0.

    A string with final depth :math:`D_L < 0` dips below zero, so both the count and the depth
    reject it; one with :math:`D_L > 0` never dips (here: a Dyck word with one ``)`` flipped to ``(``).
    """
    final = depth_profile(batch.tokens)[:, -1]
    return {"balanced": batch.nested, "unbalanced, D_L > 0": final > 0, "unbalanced, D_L < 0": final < 0}


def data_table(data: ParensData) -> list[dict]:
    """One row per set: size, kinds of string, and lengths."""
    rows = []
    for name, b in (("train", data.train), ("test", data.test), ("OOD", data.ood)):
        g = string_groups(b)
        rows.append({"set": name, "strings": len(b.lengths), **{k: int(m.sum()) for k, m in g.items()},
                     "equal count, not nested": int((b.equal_count & ~b.nested).sum()),
                     "lengths": f"{int(b.lengths.min())}-{int(b.lengths.max())}, mean {b.lengths.float().mean():.1f}"})
    return rows


# --------------------------------------------------------------------------- LLC and χ


class LossSusceptibility(NamedTuple):
    """What one SGLD run at a solution gives."""

    llc: LLCResult  # λ̂ from the full training loss at every draw
    chi: Tensor  # (n,) χ_i = −β Cov[L, ℓ_i − L], β = nβ/n
    chi_std_err: Tensor  # (n,) standard error over chains
    anchor_loss: float  # L(w*)
    loss_trace: Tensor  # (chains, draws) full training loss
    response: LLCResponse  # the full ∂λ̂/∂h_i (covariance + direct term; issue 18), from the same draws


def loss_chi(ell: Tensor, nbeta: float) -> tuple[Tensor, Tensor, Tensor]:
    """χ of the full training loss from per-string loss traces ``ell`` (chains, draws, n).

    Returns ``(chi (n,), std_err (n,), L (chains, draws))`` with ``L = ell.mean(-1)`` and
    β = ``nbeta / n`` (natural weights).
    """
    loss = ell.mean(-1)  # (chains, draws)
    sus = susceptibilities_from_traces(loss[..., None], ell, loss, nbeta / ell.shape[-1])
    return sus.chi[0], sus.std_err[0], loss


def loss_susceptibility(setting: ParensSetting, anchor: Params, batch: ParensBatch, config: SGLDConfig, seed: int = 0) -> LossSusceptibility:
    """LLC and per-string loss susceptibilities at ``anchor`` over the training strings ``batch``.

    The sampler moves on minibatches (``config.batch_size``) and records every training string's
    loss at each draw; the observable is their mean, the exact training loss.
    """
    base = base_model(setting, anchor)
    draws = sample(base, per_sample_loss, tuple(batch), config=config, params=anchor, seed=seed,
                   keep_probe_traces=True, keep_obs_traces=False, progress=False)
    chi, se, loss = loss_chi(draws.probe_trace, config.nbeta)
    with torch.no_grad():
        anchor_ell = per_sample_loss(lambda x: torch.func.functional_call(base, anchor, (x,)), tuple(batch))  # (n,) ℓ_i(w*)
    return LossSusceptibility(llc_from_losses(loss, draws.anchor_loss, config.nbeta), chi, se, draws.anchor_loss, loss,
                              llc_response(draws.probe_trace, anchor_ell, config.nbeta))


def llc_at(setting: ParensSetting, anchor: Params, batch: ParensBatch, config: SGLDConfig, seed: int = 0,
           weights: Tensor | None = None) -> LLCResult:
    """λ̂ at ``anchor`` of the (``weights``-weighted) training loss, without per-string losses.

    Cheaper than :func:`loss_susceptibility`; the estimate averages the loss the sampler moves on
    (with ``config.batch_size``, minibatch losses: an unbiased estimate of the training loss).
    """
    base = base_model(setting, anchor)
    draws = sample(base, per_sample_loss, tuple(batch), config=config, params=anchor, probe=False, weights=weights,
                   seed=seed, keep_obs_traces=False, progress=False)
    return llc(draws)


def normalize(chi: Tensor) -> Tensor:
    """χ divided by its root-mean-square over strings (χ sums to zero, so this is a z-score)."""
    return chi / chi.pow(2).mean().sqrt()


def susceptibility_gap(chi_ec: Tensor, chi_nested: Tensor) -> Tensor:
    r"""Per-string gap :math:`\hat\chi^{EC}_i - \hat\chi^{N}_i` of the normalized susceptibilities.

    To first order, up-weighting along ``+gap`` lowers the normalized LLC of the Nested solution and
    raises that of the Equal-Count one (:math:`\hat\chi^N\cdot gap = \rho - 1 \le 0`,
    :math:`\hat\chi^{EC}\cdot gap = 1 - \rho \ge 0`), so it favours Nested; ``-gap`` favours Equal-Count.
    """
    return normalize(chi_ec) - normalize(chi_nested)


def pattern_weights(gap: Tensor, favour: Literal["nested", "equal_count"], scale: float,
                    method: Literal["additive", "exponential"] = "exponential") -> Tensor:
    """Mean-one weights from the natural ones along ``±gap / rms(gap)`` (``+`` favours Nested)."""
    if favour not in ("nested", "equal_count"):
        raise ValueError(f"favour must be 'nested' or 'equal_count', got {favour!r}")
    sign = 1.0 if favour == "nested" else -1.0
    return reweight(torch.ones_like(gap), sign * normalize(gap), scale=scale, method=method)


# --------------------------------------------------------------------------- statistics


class ShiftTest(NamedTuple):
    """One-sided Mann-Whitney U test of treated vs baseline values over seeds."""

    u: float  # U of the treated sample
    p: float
    alternative: str  # "less" or "greater": the treated values are stochastically that
    median_baseline: float
    median_treated: float
    n_baseline: int
    n_treated: int

    def __str__(self) -> str:
        return (f"median {self.median_baseline:.3f} → {self.median_treated:.3f} (n = {self.n_baseline}, {self.n_treated}); "
                f"Mann-Whitney U = {self.u:.1f}, one-sided ({self.alternative}) p = {self.p:.2g}")


def shift_test(baseline: Tensor, treated: Tensor, alternative: Literal["less", "greater"]) -> ShiftTest:
    """Are the ``treated`` values shifted ``alternative`` relative to ``baseline``? (scipy's Mann-Whitney U)."""
    res = mannwhitneyu(treated.double().numpy(), baseline.double().numpy(), alternative=alternative)
    return ShiftTest(float(res.statistic), float(res.pvalue), alternative, float(baseline.median()), float(treated.median()),
                     baseline.numel(), treated.numel())


class PairedShift(NamedTuple):
    """Per-seed change from the same initialisation: treated − baseline."""

    mean: float
    n_intended: int  # seeds that moved the intended way
    n: int
    p: float  # one-sided Wilcoxon signed-rank

    def __str__(self) -> str:
        return f"mean paired change {self.mean:+.3f}, {self.n_intended}/{self.n} seeds moved the intended way, Wilcoxon p = {self.p:.2g}"


def paired_shift(baseline: Tensor, treated: Tensor, alternative: Literal["less", "greater"]) -> PairedShift:
    """Paired comparison of seeds trained from the same initialisations (both ``(S,)``)."""
    d = (treated - baseline).double()
    intended = int((d < 0).sum()) if alternative == "less" else int((d > 0).sum())
    p = float(wilcoxon(d.numpy(), alternative=alternative).pvalue) if bool((d != 0).any()) else 1.0
    return PairedShift(float(d.mean()), intended, d.numel(), p)


def log_odds(loss_a: float, llc_a: float, loss_b: float, llc_b: float, n: int) -> float:
    r"""Free-energy log-odds of solution a over b: :math:`F_b - F_a` with :math:`F = nL + \lambda\log n`."""
    return n * (loss_b - loss_a) + (llc_b - llc_a) * math.log(n)
