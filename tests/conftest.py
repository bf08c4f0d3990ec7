"""Shared pytest set-up: the repository root, and tools/ importable for the pipeline's tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root directory."""
    return ROOT


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one thread is faster than two on a shared CPU; restored afterwards.

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(
        not __import__("torch").cuda.is_available(), reason="no CUDA device here (torch.cuda.is_available() is False)")),
]


@pytest.fixture(params=DEVICES)
def device(request):
    """Each available device in turn: ``cpu`` always, ``cuda`` where one is present (skipped, with the reason, where not)."""
    import torch

    return torch.device(request.param)
