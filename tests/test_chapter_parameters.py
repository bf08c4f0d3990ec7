"""Every chapter's parameters cell is one that papermill can read: it names ``preset``,
``results_dir`` and ``device`` (a comment papermill cannot parse makes it drop the line and warn
"Passed unknown parameter")."""
from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
from papermill.translators import PythonTranslator

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_readable_by_papermill(path: Path):
    nb = jupytext.read(path)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged parameters"
    names = [p.name for p in PythonTranslator.inspect(cells[0])]
    assert {"preset", "results_dir", "device"} <= set(names), f"{path.name}: papermill reads only {names}"
