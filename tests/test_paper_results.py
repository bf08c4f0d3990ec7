"""Committed paper-scale runs (results/paper/): provenance, staleness, the claims table's paper column,
the slimmed notebooks, and the runner's --device / --preset smoke / --store path.

The staleness rule: a stored run is current when its claim sentences are the chapter's current ones,
in order, read from the chapter's ``save_claims([...])`` call, or from its ci run where the chapter
builds its claims at run time (``paper_results.current_claims``).
A stale committed run does not fail CI (rerunning a paper preset takes hours or a GPU); it is
flagged in the claims table and on the chapter page, and this file warns about it. What fails:
a committed run without its provenance, of a chapter that does not exist, not at the paper preset,
a folder over 20 MB, or a table that would show a stale run's verdicts.
"""
from __future__ import annotations

import base64
import io
import json
import warnings
from pathlib import Path

import pytest

import build_book
import claims_table
import paper_results
import run_notebooks

PAPER = paper_results.PAPER
STORED = sorted(PAPER.glob("*.json")) if PAPER.exists() else []
MAX_BYTES = 20 * 2**20

CHAPTER = '''# %% [markdown]
# # A title

# %%
save_claims("05_x", preset, [
    Claim("the first claim", f"x = {x:.2f}", True, x),
    Claim("the second claim", "y", False),
], results_dir)
'''


def provenance(**changes) -> dict:
    prov = {"commit": "0123456789abcdef", "dirty": False, "machine": {"cpu": "Some CPU", "cores": 2, "gpu": None},
            "torch": "2.13.0", "device": "cpu", "device_requested": "auto", "seconds": 1234.5,
            "date": "2026-11-27T15:00:00+00:00", "load_start": [1.0, 1.0, 1.0], "load_end": [2.0, 2.0, 2.0]}
    return {**prov, **changes}


def record(sentences: list[str], ok: bool = True) -> dict:
    return {"chapter": "05_x", "preset": "paper", "provenance": provenance(),
            "claims": [{"claim": s, "measured": f"measured {i}", "reproduces": ok, "value": 1.0}
                       for i, s in enumerate(sentences)]}


@pytest.fixture
def book(tmp_path):
    """A fabricated chapter 05_x (source, ci run) and an empty paper folder; returns the folders."""
    notebooks, results, paper = tmp_path / "notebooks", tmp_path / "results", tmp_path / "paper"
    for d in (notebooks, results, paper):
        d.mkdir()
    (notebooks / "05_x.py").write_text(CHAPTER)
    (results / "05_x.claims.json").write_text(json.dumps({"chapter": "05_x", "preset": "ci", "claims": [
        {"claim": "the first claim", "measured": "x = 0.10", "reproduces": True, "value": 0.1},
        {"claim": "the second claim", "measured": "y", "reproduces": False, "value": None}]}))
    (results / "timings.json").write_text(json.dumps({"05_x": {"chapter": "05_x", "preset": "ci", "seconds": 42.0,
                                                                "status": "ok", "cpus": 2, "commit": "abc1234"}}))
    return notebooks, results, paper


def table(notebooks: Path, results: Path, paper: Path) -> list[str]:
    """The claims page's rows of chapter 05_x's claims."""
    page = claims_table.render(["05_x"], results, paper=paper, notebooks=notebooks)
    return [line for line in page.splitlines() if "the first claim" in line or "the second claim" in line]


# --- reading the current claims ---------------------------------------------------------------


def test_current_claims_reads_the_literal_sentences(book):
    notebooks, _, _ = book
    assert paper_results.current_claims("05_x", notebooks) == ["the first claim", "the second claim"]


@pytest.mark.parametrize("body, problem", [
    ("x = 1\n", "found 0 save_claims"),
    ('save_claims("05_x", preset, claims, results_dir)\n', "not a literal list"),
    ('save_claims("05_x", preset, [Claim(f"{x}", "m", True)], results_dir)\n', "claim 0 is not"),
])
def test_current_claims_refuses_what_it_cannot_read(tmp_path, body, problem):
    (tmp_path / "05_x.py").write_text(body)
    with pytest.raises(paper_results.ClaimsNotFound, match=problem):
        paper_results.parsed_claims("05_x", tmp_path)
    with pytest.raises(paper_results.ClaimsNotFound, match="no ci run"):
        paper_results.current_claims("05_x", tmp_path, ci_runs=tmp_path)


def test_claims_built_at_run_time_come_from_the_ci_run(book, tmp_path):
    """A chapter that builds its claims in a loop: its ci run gives the current sentences, and a
    paper run with other sentences is stale."""
    _, results, paper = book
    dynamic = tmp_path / "dynamic"
    dynamic.mkdir()
    (dynamic / "05_x.py").write_text('claims = [Claim(f"claim {i}", "m", True) for i in range(2)]\n'
                                     'save_claims("05_x", preset, claims, results_dir)\n')
    assert paper_results.current_claims("05_x", dynamic, results) == ["the first claim", "the second claim"]
    (paper / "05_x.json").write_text(json.dumps(record(["the first claim", "the second claim"])))
    assert not paper_results.load("05_x", paper, dynamic, results).stale
    (paper / "05_x.json").write_text(json.dumps(record(["claim 0", "claim 1"])))
    assert paper_results.load("05_x", paper, dynamic, results).stale
    assert all("stale:" in row for row in table(dynamic, results, paper))


def test_every_chapter_has_current_claims_matching_its_ci_run(repo_root):
    """Every chapter's claim sentences are readable: from its source, and then exactly the ones a
    ci run of this checkout recorded (the parser reads what the chapter saves); or, for claims
    built at run time, from that ci run (and without one, a clear ClaimsNotFound)."""
    ci = repo_root / "_build" / "notebooks"
    for src in sorted((repo_root / "notebooks").glob("*.py")):
        ran = ci / f"{src.stem}.claims.json"
        recorded = ([c["claim"] for c in json.loads(ran.read_text())["claims"]]
                    if ran.exists() and json.loads(ran.read_text()).get("preset") == "ci" else None)
        try:
            sentences = paper_results.parsed_claims(src.stem)
        except paper_results.ClaimsNotFound:
            if recorded is None:
                with pytest.raises(paper_results.ClaimsNotFound, match="no ci run"):
                    paper_results.current_claims(src.stem, ci_runs=ci)
            else:
                assert paper_results.current_claims(src.stem, ci_runs=ci) == recorded
            continue
        assert sentences, src.name
        if recorded is not None:
            assert recorded == sentences, src.stem


# --- staleness and the claims table -----------------------------------------------------------


def test_paper_column_shows_a_current_run_with_device_and_date(book):
    notebooks, results, paper = book
    (paper / "05_x.json").write_text(json.dumps(record(["the first claim", "the second claim"])))
    first, second = table(notebooks, results, paper)
    assert "✓ measured 0 (cpu, 2026-11-27, 1234 s)" in first
    assert "✓ measured 1" in second and "stale" not in first + second
    page = claims_table.render(["05_x"], results, paper=paper, notebooks=notebooks)
    assert "1 of 1 chapters have a paper-scale run." in page
    assert "| 05_x | 2 of 2 ✓ | 1234 | cpu | Some CPU, 2 cores, torch 2.13.0, load 1.0–2.0 | `012345678` |" in page


def test_paper_column_says_not_run_without_a_result(book):
    first, second = table(*book)
    assert "| not run |" in first and "| not run |" in second


@pytest.mark.parametrize("stored", [
    ["the first claim"],  # a claim added since
    ["the second claim", "the first claim"],  # reordered
    ["the first claim", "the old second claim"],  # reworded
])
def test_a_stale_run_is_flagged_not_shown(book, stored):
    notebooks, results, paper = book
    (paper / "05_x.json").write_text(json.dumps(record(stored)))
    assert paper_results.load("05_x", paper, notebooks).stale
    rows = table(notebooks, results, paper)
    for row in rows:
        assert "stale: chapter changed since the paper run of 2026-11-27" in row
        assert "measured" not in row.split("| stale")[1]  # no verdict or measurement of the old run
    assert "(1 stale)" in claims_table.render(["05_x"], results, paper=paper, notebooks=notebooks)
    assert "| stale |" in claims_table.chapter_list(["05_x"], results, paper=paper, notebooks=notebooks)


def test_run_box_links_the_paper_notebook(book):
    notebooks, _, paper = book
    (paper / "05_x.json").write_text(json.dumps(record(["the first claim", "the second claim"], ok=False)))
    (paper / "05_x.ipynb").write_text("{}")
    run = {"preset": "ci", "seconds": 42.0, "cpus": 2, "commit": "abc1234"}
    box = build_book.run_box("05_x", run, paper_results.load("05_x", paper, notebooks))
    assert "{download}`05_x.paper.ipynb <../downloads/05_x.paper.ipynb>`" in box
    assert "0 of 2 ✗ (cpu, 2026-11-27, 1234 s" in box
    assert "No run at the `paper` preset" in build_book.run_box("05_x", run, None)
    (paper / "05_x.json").write_text(json.dumps(record(["the first claim"])))
    assert "**stale**" in build_book.run_box("05_x", run, paper_results.load("05_x", paper, notebooks))


def test_missing_provenance_is_named():
    rec = record(["a"])
    assert paper_results.missing_provenance(rec) == []
    del rec["provenance"]["torch"]
    rec["provenance"]["seconds"] = None
    assert paper_results.missing_provenance(rec) == ["torch", "seconds"]


# --- the committed results themselves ---------------------------------------------------------


@pytest.mark.parametrize("path", STORED, ids=[p.stem for p in STORED])
def test_committed_run_has_provenance_and_is_flagged_if_stale(repo_root, path):
    rec = json.loads(path.read_text())
    name = path.stem
    assert (repo_root / "notebooks" / f"{name}.py").exists(), f"{path.name}: no chapter {name}"
    assert rec["chapter"] == name and rec["preset"] == "paper", f"{path.name}: {rec['chapter']} at {rec['preset']}"
    assert paper_results.missing_provenance(rec) == [], f"{path.name} lacks provenance fields"
    assert (PAPER / f"{name}.ipynb").exists(), f"{path.name} has no executed notebook beside it"
    try:
        stored = paper_results.load(name)
    except paper_results.ClaimsNotFound as err:
        pytest.skip(f"cannot tell whether {path.name} is current without a ci run of the chapter: {err}")
    cells = [claims_table.paper_cell(stored, i) for i in range(len(paper_results.current_claims(name)))]
    if stored.stale:
        warnings.warn(f"results/paper/{name}.json is stale (the chapter's claims changed since "
                      f"{rec['provenance']['date']}): the book flags it; rerun `make paper NAME={name}`")
        assert all(c.startswith("stale:") for c in cells)
    else:
        assert all(c[0] in "✓✗" for c in cells), cells
        assert f"({rec['provenance']['device']}, {rec['provenance']['date'][:10]}" in cells[0], cells[0]


def test_committed_folder_is_small():
    size = sum(p.stat().st_size for p in PAPER.rglob("*") if p.is_file()) if PAPER.exists() else 0
    assert size <= MAX_BYTES, f"results/paper/ is {size / 2**20:.1f} MB (at most 20 MB)"


# --- slimming and storing ---------------------------------------------------------------------


def png(width: int, height: int) -> str:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_slim_notebook_shrinks_figures_and_output_without_mutating():
    from PIL import Image

    big = png(1600, 400)
    nb = {"metadata": {"widgets": {"state": {}}}, "cells": [{"cell_type": "code", "metadata": {"papermill": {"duration": 1}},
          "outputs": [{"output_type": "display_data", "data": {"image/png": big}},
                      {"output_type": "stream", "name": "stdout", "text": ["x" * 50_000]}]}]}
    before = json.dumps(nb)
    slim = paper_results.slim_notebook(nb)
    assert json.dumps(nb) == before
    out = slim["cells"][0]["outputs"]
    img = Image.open(io.BytesIO(base64.b64decode(out[0]["data"]["image/png"])))
    assert img.width == paper_results.MAX_PNG_WIDTH and img.height == 200
    assert len(out[0]["data"]["image/png"]) < len(big)
    assert len(out[1]["text"]) < 21_000 and "characters cut" in out[1]["text"]
    assert "widgets" not in slim["metadata"] and "papermill" not in slim["cells"][0]["metadata"]


def test_store_writes_claims_with_provenance(tmp_path):
    claims, executed = tmp_path / "c.json", tmp_path / "e.ipynb"
    claims.write_text(json.dumps({"chapter": "05_x", "preset": "paper", "claims": []}))
    executed.write_text(json.dumps({"metadata": {}, "cells": []}))
    js, ipynb = paper_results.store("05_x", executed, claims, provenance(), tmp_path / "paper")
    assert json.loads(js.read_text())["provenance"]["machine"]["cores"] == 2 and ipynb.exists()


def test_provenance_records_the_machine_and_load():
    prov = paper_results.provenance("cpu", 3.21, [0.5, 0.5, 0.5], "abc", True)
    assert paper_results.missing_provenance({"provenance": prov}) == []
    assert prov["device"] == "cpu" and prov["machine"]["cores"] >= 1 and prov["dirty"] is True


# --- the runner -------------------------------------------------------------------------------


def test_runner_passes_preset_and_device_to_the_chapter(tmp_path, monkeypatch):
    import papermill

    seen = {}

    def execute(nb, out, parameters, **kwargs):
        seen.update(parameters)
        (tmp_path / "99_template.claims.json").write_text(json.dumps(
            {"chapter": "99_template", "preset": parameters["preset"], "claims": [{"claim": "c"}]}))
        Path(out).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    run_notebooks.run_chapter("99_template", "smoke", "cpu", tmp_path)
    assert seen["preset"] == "smoke" and seen["device"] == "cpu"


def test_runner_refuses_a_device_it_does_not_have(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("cuda is available here")
    with pytest.raises(SystemExit, match="--device 'cuda'"):
        run_notebooks.main(["--only", "99_template", "--device", "cuda"])
    with pytest.raises(SystemExit):
        run_notebooks.main(["--preset", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err
