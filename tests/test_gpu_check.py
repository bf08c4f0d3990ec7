"""bench/gpu_check.py's plain-script chapter runner (the GPU machine has no papermill)."""
from __future__ import annotations

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import gpu_check  # noqa: E402

SOURCE = '''# %% [markdown]
# # Title

# %% tags=["parameters"]
preset = "ci"  # "ci" or "paper"
results_dir = "."  # where the claims go
device = "auto"

# %%
preset_copy = preset
'''


def test_parameters_cell_values_are_replaced_and_the_rest_kept():
    out, missing = gpu_check.script_with_parameters(SOURCE, {"preset": "smoke", "device": "cuda", "results_dir": "/tmp/x"})
    assert missing == []
    ns: dict = {}
    exec(out, ns)  # a plain script
    assert (ns["preset"], ns["device"], ns["results_dir"], ns["preset_copy"]) == ("smoke", "cuda", "/tmp/x", "smoke")
    assert out.count("set by bench/gpu_check.py") == 3 and "# # Title" in out


def test_missing_parameters_are_reported_and_a_missing_cell_raises():
    _, missing = gpu_check.script_with_parameters(SOURCE.replace('device = "auto"\n', ""), {"device": "cuda", "preset": "smoke"})
    assert missing == ["device"]
    with pytest.raises(ValueError, match="parameters"):
        gpu_check.script_with_parameters("x = 1\n", {"preset": "smoke"})
