"""Tests of the issue-18 helpers (patterning_core.parens.llc_target): the controls' weights, the dose
ladder, the permuted control, reading chunked arm files and the paired comparison."""
from __future__ import annotations

import json
import math

import pytest
import torch

from patterning_core.parens.data import ParensDataConfig, from_strings, make_parens_data
from patterning_core.parens.llc_target import (PERM_SEEDS, arm_weights, beats_permuted, compare_arms, control_weights, dose_weights, group_perturbation,
                                               issue_verdict, load_arm, outcome_classes, permuted, seed_range, sign_gate)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_control_weights_pick_the_issue_strings():
    data = make_parens_data(ParensDataConfig(n_train=64, n_test=8, n_ood=8, frac_near_miss=1.0), seed=0)
    # balanced; ')'-first with D_L < 0; '('-first with D_L < 0; D_L > 0
    data = data._replace(train=from_strings(["()", "))()", "())", "(()"], width=16))
    w_n, w_e = control_weights(data, "nested"), control_weights(data, "equal_count")
    assert w_n.tolist() == pytest.approx([4 / 11, 32 / 11, 4 / 11, 4 / 11])  # ×8 on "))()" only, then mean one
    assert w_e.tolist() == pytest.approx([2.0, 0.0, 0.0, 2.0])  # every D_L < 0 string dropped
    with pytest.raises(ValueError, match="favour"):
        control_weights(data, "both")


def test_dose_weights_stay_in_range_and_permuted_keeps_the_values():
    g = torch.Generator().manual_seed(0)
    dh = torch.randn(200, generator=g)
    h = dose_weights(dh, math.log(2))
    assert float(h.mean()) == pytest.approx(1.0) and float(h.max() / h.min()) <= 4.0 + 1e-9
    assert (torch.argsort(h) == torch.argsort(dh)).all()
    p = permuted(h, seed=1)
    assert torch.equal(p.sort().values, h.sort().values) and not torch.equal(p, h)
    assert group_perturbation(torch.tensor([True, False]), 0.5).tolist() == [1.5, 1.0]
    assert seed_range("3:7") == range(3, 7)
    with pytest.raises(ValueError):
        seed_range("7:3")


def _write(tmp_path, arm, a, b, ood, acc=None):
    rec = {"arm": arm, "seeds": [a, b], "ood_rate": ood, "ood_open_rate": ood, "train_acc": acc or [1.0] * len(ood),
           "train_loss": [0.0] * len(ood), "weights_range": [1.0, 1.0], "provenance": {"commit": "x"}}
    (tmp_path / f"arm_{arm}_{a}_{b}.json").write_text(json.dumps(rec))


def test_load_arm_needs_every_chunk_and_compare_arms_pairs_seeds(tmp_path):
    _write(tmp_path, "baseline", 0, 3, [0.3, 0.4, 0.5])
    _write(tmp_path, "baseline", 3, 6, [0.36, 0.0, 1.0])
    _write(tmp_path, "step_nested_0.69", 0, 3, [0.2, 0.4, 0.1], acc=[1.0, 0.5, 1.0])
    assert load_arm(tmp_path, "step_nested_0.69", range(0, 6)) is None  # a chunk is missing
    base = load_arm(tmp_path, "baseline", range(0, 6))
    assert base["ood_rate"].tolist() == pytest.approx([0.3, 0.4, 0.5, 0.36, 0.0, 1.0])
    _write(tmp_path, "step_nested_0.69", 3, 6, [0.3, 0.0, 0.9])
    t = load_arm(tmp_path, "step_nested_0.69", range(0, 6))
    row = compare_arms(base, t, "less")
    assert row["n"] == 5  # seed 1 does not fit in the treated arm
    assert row["changes"].tolist() == pytest.approx([-0.1, -0.4, -0.06, 0.0, -0.1])
    assert row["intended"] == 4 and row["median_change"] == pytest.approx(-0.1)
    assert row["shares_baseline"] == pytest.approx([0.2, 0.6, 0.2])
    assert outcome_classes(torch.tensor([0.05, 0.36, 0.7])).tolist() == [0, 1, 2]
    perm = dict(row, changes=torch.tensor([0.1, 0.0, -0.05, 0.2, 0.05]))
    assert beats_permuted(row, perm, "less") < 0.05


def row(pred, pred_se, meas, meas_se=None, cov=0.0):
    r = {"predicted": pred, "predicted_se": pred_se, "measured": meas, "covariance_only": cov}
    if meas_se is not None:
        r["measured_se"] = meas_se
    return r


def test_sign_gate_counts_resolved_predictions_and_contradictions():
    good = [row(1.0, 0.1, 0.5, 0.1, cov=-1.0) for _ in range(9)] + [row(-1.0, 0.1, -0.2, 0.1)]
    g = sign_gate(good + [row(0.01, 0.1, -0.3, 0.1)])  # one unresolved wrong prediction does not count against it
    assert (g.n, g.right, g.right_covariance, g.resolved, g.resolved_right, g.contradictions) == (11, 10, 2, 10, 10, 0)  # covariance term 0 counts as "not positive"
    assert g.passed
    assert not sign_gate(good[:9]).passed  # fewer than 10 resolved predictions
    wrong_unresolved = good[:8] + [row(1.0, 0.1, -0.01, 0.1)] * 2  # 8/10 right, the 2 wrong ones measured inside noise
    assert sign_gate(wrong_unresolved).passed and not sign_gate(wrong_unresolved, share=0.9).passed
    contradicted = good + [row(1.0, 0.1, -1.0, 0.1)]  # 10/11 right but one resolved contradiction
    assert sign_gate(contradicted).contradictions == 1 and not sign_gate(contradicted).passed
    assert sign_gate([row(1.0, 0.1, -1.0)] + good).contradictions == 0  # no measured_se: never a contradiction


def test_arm_weights_permutes_a_step_dose_that_step_json_has_no_permutation_of(tmp_path):
    step = torch.linspace(0.5, 2.0, 6)
    f = tmp_path / "step.json"
    f.write_text(json.dumps({"weights": {"step_ec_1.6": step.tolist()}}))
    w = arm_weights("perm_ec_1.6", None, f)
    assert torch.equal(w, permuted(torch.tensor(step.tolist()), seed=PERM_SEEDS["ec"]))
    assert not torch.equal(w, torch.tensor(step.tolist()))
    with pytest.raises(KeyError, match="perm_nested_1.6"):
        arm_weights("perm_nested_1.6", None, f)  # no step_nested_1.6 to permute


def test_issue_verdict_reads_the_claims_rule():
    """✓ needs p < α the intended way, a beaten permuted control, every positive control, and a 0.05 median shift."""
    row = lambda p, b, t: {"p": p, "median_baseline": b, "median_treated": t}
    ok = [row(1e-9, 0.3, 0.1), row(1e-9, 0.3, 1.0)]
    v = issue_verdict(row(1e-4, 0.36, 0.30), 1e-3, ok, "nested")
    assert v.moves and v.selects and abs(v.shift - 0.06) < 1e-12
    small = issue_verdict(row(1e-4, 0.36, 0.33), 1e-3, ok, "nested")
    assert small.moves and not small.selects and abs(small.shift - 0.03) < 1e-12
    assert issue_verdict(row(1e-4, 0.30, 0.36), 1e-3, ok, "ec").selects  # up is the Equal-Count way
    assert issue_verdict(row(1e-4, 0.30, 0.36), 1e-3, ok, "nested").shift < 0
    assert not issue_verdict(row(1e-4, 0.36, 0.30), 0.2, ok, "nested").moves  # permuted control not beaten
    assert not issue_verdict(row(1e-4, 0.36, 0.30), 1e-3, [ok[0], row(0.3, 0.3, 0.31)], "nested").moves  # a control failed
    assert not issue_verdict(row(0.03, 0.36, 0.30), 1e-3, ok, "nested").moves  # p above α = 0.025
    assert issue_verdict(None, 1e-3, ok, "nested") is None and issue_verdict(row(1e-4, 0.3, 0.2), None, ok, "nested") is None
    assert issue_verdict(row(1e-4, 0.3, 0.2), 1e-3, [None, ok[1]], "nested") is None
    with pytest.raises(ValueError, match="favour"):
        issue_verdict(row(1e-4, 0.3, 0.2), 1e-3, ok, "equal_count")
