"""The pure pieces of experiments/lm_ctx64_control.py (resampling and the oracle: tests/test_lm_leverage.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from lm_ctx64_control import ControlConfig, condition_weights  # noqa: E402


def test_shuffled_is_a_permutation_of_oracle_up():
    shares = torch.rand(500, generator=torch.Generator().manual_seed(2)).double()
    cfg = ControlConfig()
    up = condition_weights("oracle_up", shares, cfg, seed=0)
    sh = condition_weights("shuffled", shares, cfg, seed=0)
    assert torch.equal(up.sort().values, sh.sort().values) and not torch.equal(up, sh)
    assert torch.equal(condition_weights("baseline", shares, cfg, seed=0), torch.ones(500, dtype=torch.float64))
    with pytest.raises(ValueError, match="condition"):
        condition_weights("induce", shares, cfg, seed=0)


def test_uniform_attention_chance_level_matches_the_closed_form():
    from lm_ctx64_control import uniform_attention_pm

    n = 32
    closed = sum(1.0 / (t + 1) for t in range(n, 2 * n)) / n  # query t >= N has one target, weight 1/(t+1)
    assert uniform_attention_pm(n) == pytest.approx(closed, rel=1e-6)


def test_merged_runs_joins_files_and_refuses_another_config(tmp_path):
    import json

    from lm_ctx64_control import merged_runs

    cfg = {"threshold": 0.3}
    (tmp_path / "a.json").write_text(json.dumps({"config": cfg, "runs": {"baseline": {"0": 1}}}))
    (tmp_path / "b.json").write_text(json.dumps({"config": cfg, "runs": {"baseline": {"1": 2}, "induce": {"0": 3}}}))
    config, runs = merged_runs([tmp_path / "a.json", tmp_path / "b.json"])
    assert config == cfg and runs == {"baseline": {"0": 1, "1": 2}, "induce": {"0": 3}}
    (tmp_path / "c.json").write_text(json.dumps({"config": {"threshold": 0.1}, "runs": {}}))
    with pytest.raises(ValueError, match="another config"):
        merged_runs([tmp_path / "a.json", tmp_path / "c.json"])


def test_pc2_auc_and_circuit_heads_known_answers():
    from lm_ctx64_pc2 import auc, circuit_heads

    v = torch.tensor([0.1, 0.2, 0.9, 1.0])
    mask = torch.tensor([False, False, True, True])
    assert auc(v, mask) == pytest.approx(1.0) and auc(-v, mask) == pytest.approx(0.0)
    last = {"prefix_matching": [[0.0] * 4, [0.1, 0.5, 0.2, 0.0]], "previous_token": [[0.3, 0.1, 0.9, 0.2], [0.0] * 4]}
    assert circuit_heads({"trajectory": [last]}) == (1, 2)
