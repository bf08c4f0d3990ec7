r"""Issue 18: selecting Nested vs Equal-Count by targeting the full LLC response.

Helpers for ``experiments/parens_llc_target.py`` and chapter 6:

* :data:`SETTING`, :data:`DATA_CONFIG` - the chapter's model, optimizer and data (256 training strings);
* :func:`control_weights` - the two positive controls of the issue: towards Nested, the
  :math:`D_L<0` strings that start with ``)`` ×8; towards Equal-Count, drop every :math:`D_L<0` string;
* :func:`ood_open_rate` - the OOD balanced rate on OOD strings that start with ``(`` only (free of
  the first-token shortcut: a string starting with ``)`` is unbalanced under Nested at once);
* :func:`outcome_classes` - Nested-like / hybrid / Equal-Count-like by the OOD rate (the readout is
  trimodal: 0, about 0.365 = "equal counts and starts with '('", 1);
* :func:`group_perturbation`, :func:`dose_weights`, :func:`permuted` - the weightings of the runs;
* :func:`sign_gate` - the pre-registered sign check of the anchors' predicted Δλ̂ against finite differences.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Sequence

import torch
from torch import Tensor

from .data import OPEN, CLOSE, ParensData, ParensDataConfig, depth_profile
from .model import ParensTransformer, balanced_rate, stacked_logits
from .patterning import ParensSetting, Params, base_model

SETTING = ParensSetting()  # the chapter's 4-head mixed transformer, Adam 3e-3, 1000 steps, 32 strings per step
DATA_CONFIG = ParensDataConfig(n_train=256, frac_near_miss=1.0)  # the chapter's data (seed 0)
PERM_SEEDS = {"nested": 18, "ec": 19}  # generator seeds of the permuted (negative-control) weights, as in step.json
NESTED_BELOW, EC_ABOVE = 0.1, 0.6  # OOD-rate thresholds of Nested-like and Equal-Count-like seeds (as classify())


def seed_range(text: str) -> range:
    """``"A:B"`` → ``range(A, B)``."""
    a, b = (int(x) for x in text.split(":"))
    if not 0 <= a < b:
        raise ValueError(f"seed range must be A:B with 0 <= A < B, got {text!r}")
    return range(a, b)


def control_weights(data: ParensData, favour: str) -> Tensor:
    """The issue's positive controls over the training strings ``(n,)`` (mean one).

    ``favour="nested"``: :math:`D_L<0` strings that start with ``)`` ×8; ``"equal_count"``: every
    :math:`D_L<0` string gets weight 0.
    """
    final = depth_profile(data.train.tokens)[:, -1]
    if favour == "nested":
        w = torch.where((final < 0) & (data.train.tokens[:, 0] == CLOSE), 8.0, 1.0)
    elif favour == "equal_count":
        w = torch.where(final < 0, 0.0, 1.0)
    else:
        raise ValueError(f"favour must be 'nested' or 'equal_count', got {favour!r}")
    return w / w.mean()


def arm_weights(arm: str, data: ParensData, step_file: Path) -> Tensor | None:
    """Training weights ``(n,)`` of a named arm (``None`` for the baseline); step arms are read from ``step_file``."""
    if arm == "baseline":
        return None
    if arm in ("ctrl_nested", "ctrl_ec"):
        return control_weights(data, "nested" if arm == "ctrl_nested" else "equal_count")
    if not step_file.exists():
        raise FileNotFoundError(f"arm {arm!r} needs {step_file} (run the 'step' subcommand first)")
    weights = json.loads(step_file.read_text())["weights"]
    if arm.startswith("perm_") and "step_" + arm[5:] in weights:  # the step weights of that dose, permuted (as step() stores them)
        return permuted(torch.tensor(weights["step_" + arm[5:]]), seed=PERM_SEEDS[arm.split("_")[1]])
    if arm not in weights:
        raise KeyError(f"unknown arm {arm!r}; {step_file} has {sorted(weights)}")
    return torch.tensor(weights[arm])


def ood_open_rate(params: Params, data: ParensData, setting: ParensSetting = SETTING) -> Tensor:
    """OOD balanced rate of stacked ``params`` on the OOD strings that start with ``(``: ``(S,)``."""
    keep = data.ood.tokens[:, 0] == OPEN
    base = base_model(setting, params)
    with torch.no_grad():
        return balanced_rate(stacked_logits(base, params, data.ood.tokens[keep]))


def outcome_classes(ood_rate: Tensor) -> Tensor:
    """0 Nested-like (< 0.1), 1 hybrid, 2 Equal-Count-like (> 0.6), per seed."""
    return torch.where(ood_rate < NESTED_BELOW, 0, torch.where(ood_rate > EC_ABOVE, 2, 1))


def group_perturbation(mask: Tensor, delta: float) -> Tensor:
    """Weights ``1 + delta`` on the strings of ``mask``, 1 elsewhere (not renormalized: λ̂ uses L_h = Σhℓ/Σh)."""
    return 1.0 + delta * mask.double()


def dose_weights(direction: Tensor, scale: float) -> Tensor:
    r"""Mean-one weights :math:`h \propto \exp(s\,u)`, :math:`u = dh/\max|dh|`: with :math:`s \le \ln 2` every
    weight stays within about [0.5, 2]."""
    u = direction.double() / direction.abs().max()
    h = torch.exp(scale * u)
    return h / h.mean()


def permuted(weights: Tensor, seed: int) -> Tensor:
    """The same weights randomly permuted over strings (the negative control: same distribution, no direction)."""
    g = torch.Generator().manual_seed(seed)
    return weights[torch.randperm(weights.shape[0], generator=g)]


# --------------------------------------------------------------------------- anchors


def per_string_loss(params: Params, tokens: Tensor, labels: Tensor, setting: ParensSetting = SETTING) -> Tensor:
    """Per-string cross-entropy of stacked ``params``: ``(S, n)``."""
    base = base_model(setting, params)
    with torch.no_grad():
        logits = stacked_logits(base, params, tokens)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.expand_as(logits), reduction="none")


def grad_norm(params: Params, data: ParensData, setting: ParensSetting = SETTING) -> Tensor:
    """Norm of the full-batch training-loss gradient of each stacked model: ``(S,)``."""
    base = base_model(setting, params)
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    logits = stacked_logits(base, p, data.train.tokens)  # (S, n)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, data.train.labels.expand_as(logits), reduction="none").mean(-1)
    grads = torch.autograd.grad(loss.sum(), list(p.values()))  # the seeds are independent: ∇ of the sum = each seed's ∇
    return torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads))


# --------------------------------------------------------------------------- reading the committed runs


def load_arm(results: Path, arm: str, seeds: range) -> dict | None:
    """One arm over ``seeds``, concatenated from the chunk files ``arm_<arm>_<a>_<b>.json`` that tile it (None if any is missing)."""
    files = sorted(Path(results).glob(f"arm_{arm}_*_*.json"), key=lambda f: int(f.stem.rsplit("_", 2)[1]))
    parts = [json.loads(f.read_text()) for f in files]
    parts = sorted((p for p in parts if seeds.start <= p["seeds"][0] and p["seeds"][1] <= seeds.stop), key=lambda p: p["seeds"][0])
    if [s for p in parts for s in range(*p["seeds"])] != list(seeds):
        return None
    keys = ("ood_rate", "ood_open_rate", "train_acc", "train_loss")
    out = {k: torch.tensor([x for p in parts for x in p[k]]) for k in keys}
    if all("fit_acc" in p for p in parts):  # accuracy on the strings the arm trained on (weight > 0)
        out["fit_acc"] = torch.tensor([x for p in parts for x in p["fit_acc"]])
    out["provenance"] = [p["provenance"] for p in parts]
    out["weights_range"] = parts[0]["weights_range"]
    return out


def compare_arms(baseline: dict, treated: dict, alternative: str, fit: float = 0.99) -> dict:
    """Paired per-seed comparison of two arms over the same seeds (seeds fitted in both, on the strings each
    trained on): the issue-18 outcome row."""
    from scipy.stats import wilcoxon

    acc = lambda arm: arm.get("fit_acc", arm["train_acc"])  # files without fit_acc: every string counts
    ok = (acc(baseline) >= fit) & (acc(treated) >= fit)
    b, t = baseline["ood_rate"][ok].double(), treated["ood_rate"][ok].double()
    d = t - b
    p = float(wilcoxon(d.numpy(), alternative=alternative).pvalue) if bool((d != 0).any()) else 1.0
    bo, to = baseline["ood_open_rate"][ok].double(), treated["ood_open_rate"][ok].double()
    po = float(wilcoxon((to - bo).numpy(), alternative=alternative).pvalue) if bool((to != bo).any()) else 1.0
    share = lambda r: [float((outcome_classes(r) == c).float().mean()) for c in (0, 1, 2)]
    return {"n": int(ok.sum()), "median_baseline": float(b.median()), "median_treated": float(t.median()),
            "median_change": float(d.median()), "mean_change": float(d.mean()),
            "intended": int((d < 0).sum() if alternative == "less" else (d > 0).sum()), "p": p,
            "shares_baseline": share(b), "shares_treated": share(t), "open_median_change": float((to - bo).median()),
            "open_mean_change": float((to - bo).mean()), "p_open": po, "changes": d}


def beats_permuted(step_row: dict, perm_row: dict, alternative: str) -> float:
    """One-sided Mann-Whitney p that the step's per-seed changes lie beyond the permuted control's."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(step_row["changes"].numpy(), perm_row["changes"].numpy(), alternative=alternative).pvalue)


class Verdict(NamedTuple):
    """Issue 18's criterion for one arm in one direction (``selects`` is its ✓)."""

    moves: bool  # Wilcoxon p < alpha the intended way, beating the permuted control at p < alpha, both positive controls at p < alpha
    shift: float  # change of the median OOD rate, signed so that > 0 is the intended way
    selects: bool  # moves, by at least min_shift in the median


def issue_verdict(row: dict | None, beats_p: float | None, controls: Sequence[dict | None], favour: str,
                  alpha: float = 0.025, min_shift: float = 0.05) -> Verdict | None:
    """The claim's rule: ``row`` (:func:`compare_arms`) moves the OOD rate towards ``favour`` ("nested": down,
    "ec": up) at p < ``alpha``, beats its permuted control (``beats_p``, :func:`beats_permuted`) at p < ``alpha``,
    the ``controls`` rows of the same seeds all hold at p < ``alpha``, and the median moves by ≥ ``min_shift``.
    ``None`` when any input was not run."""
    if favour not in ("nested", "ec"):
        raise ValueError(f"favour must be 'nested' or 'ec', got {favour!r}")
    if row is None or beats_p is None or any(r is None for r in controls):
        return None
    shift = (-1 if favour == "nested" else 1) * (row["median_treated"] - row["median_baseline"])
    moves = row["p"] < alpha and beats_p < alpha and all(r["p"] < alpha for r in controls)
    return Verdict(bool(moves), float(shift), bool(moves and shift >= min_shift))


def fit_accuracy(params: Params, data: ParensData, weights: Tensor | None, setting: ParensSetting = SETTING) -> Tensor:
    """Training accuracy of stacked ``params`` on the strings the arm trains on (weight > 0): ``(S,)``.

    An arm that drops strings is judged "fitted" on what it was given, not on the strings it never saw.
    """
    from .model import accuracy

    keep = torch.ones(data.train.tokens.shape[0], dtype=torch.bool) if weights is None else weights.cpu() > 0
    base = base_model(setting, params)
    tokens, labels = data.train.tokens[keep.to(data.train.tokens.device)], data.train.labels[keep.to(data.train.labels.device)]
    with torch.no_grad():
        return accuracy(stacked_logits(base, params, tokens), labels).cpu()


class SignGate(NamedTuple):
    """The sign check of amendment 1 (``results/parens/PREREGISTRATION.md``) over group perturbations."""

    n: int  # perturbations checked
    right: int  # full response has the sign of the measured Δλ̂
    right_covariance: int  # the covariance term alone has it
    resolved: int  # predictions larger than ``z`` standard errors
    resolved_right: int  # of those, right
    contradictions: int  # prediction and measurement both beyond ``z`` s.e., opposite signs
    passed: bool  # resolved >= min_resolved, resolved_right >= share·resolved, no contradiction


def sign_gate(rows: list[dict], z: float = 2.0, min_resolved: int = 10, share: float = 0.8) -> SignGate:
    """Score finite-difference rows ``{"predicted", "predicted_se", "covariance_only", "measured"[, "measured_se"]}``.

    A row without ``measured_se`` (the first check) can never be a resolved contradiction.
    """
    right = lambda v, key: (v[key] > 0) == (v["measured"] > 0)
    res = [v for v in rows if abs(v["predicted"]) > z * v["predicted_se"]]
    contra = [v for v in res if "measured_se" in v and abs(v["measured"]) > z * v["measured_se"] and not right(v, "predicted")]
    res_right = sum(right(v, "predicted") for v in res)
    ok = len(res) >= min_resolved and res_right >= share * len(res) and not contra
    return SignGate(len(rows), sum(right(v, "predicted") for v in rows), sum(right(v, "covariance_only") for v in rows),
                    len(res), res_right, len(contra), bool(ok))
