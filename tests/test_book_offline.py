"""The built book must load nothing from the network; the checker must catch what would."""
from __future__ import annotations

from pathlib import Path

import pytest

import check_offline

PAGE = """<html><head>{head}</head><body>{body}</body></html>"""


def problems(tmp_path: Path, head: str = "", body: str = "") -> list[str]:
    (tmp_path / "index.html").write_text(PAGE.format(head=head, body=body))
    return check_offline.check(tmp_path).get(tmp_path / "index.html", [])


def test_plain_links_and_local_assets_pass(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "a.css").write_text("body { background: url('img.png'); }")
    (tmp_path / "_static" / "img.png").write_bytes(b"")
    head = '<link rel="stylesheet" href="_static/a.css"><link rel="canonical" href="https://example.org/">'
    body = '<a href="https://arxiv.org/abs/2601.13548">paper</a><img src="_static/img.png">'
    assert problems(tmp_path, head, body) == []
    assert check_offline.check(tmp_path) == {}


@pytest.mark.parametrize("html", [
    '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>',
    '<script src="//cdnjs.cloudflare.com/require.js"></script>',
    '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Lato">',
    '<link rel="preconnect" href="https://fonts.gstatic.com">',
    '<img src="http://example.org/x.png">',
    '<img srcset="a.png 1x, https://example.org/x.png 2x">',
    '<iframe src="https://www.youtube.com/embed/x"></iframe>',
    '<style>@import "https://example.org/x.css";</style>',
    '<div style="background: url(https://example.org/x.png)"></div>',
    '<script>const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"</script>',
])
def test_external_resources_fail(tmp_path, html):
    assert problems(tmp_path, body=html), html


def test_missing_local_asset_fails(tmp_path):
    assert problems(tmp_path, body='<script src="_static/mathjax/tex-chtml.js"></script>')


def test_broken_local_link_fails(tmp_path):
    assert problems(tmp_path, body='<a href="_downloads/abc/00_quickstart.py">source</a>')
    assert problems(tmp_path, body='<a href="mailto:a@b.c">mail</a><a href="#top">top</a>') == []


def test_math_needs_local_mathjax(tmp_path):
    assert problems(tmp_path, body='<span class="math">\\(x\\)</span>')


def test_external_font_in_css_file_fails(tmp_path):
    (tmp_path / "index.html").write_text(PAGE.format(head="", body=""))
    (tmp_path / "theme.css").write_text("@font-face { src: url(https://fonts.gstatic.com/x.woff2); }")
    assert tmp_path / "theme.css" in check_offline.check(tmp_path)


def test_built_book_is_offline(repo_root):
    build = repo_root / "_build" / "html"
    if not (build / "index.html").exists():
        pytest.skip("book not built (run `make book`)")
    report = check_offline.check(build)
    assert report == {}, "\n".join(f"{p}: {msgs}" for p, msgs in report.items())
    mathjax = build / "_static" / "mathjax"
    assert (mathjax / "tex-chtml.js").exists() and (mathjax / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_landing_figure_is_current(repo_root, tmp_path):
    """book/figures/patterning_loop.svg is exactly what tools/make_landing_figure.py draws."""
    import make_landing_figure

    make_landing_figure.draw(tmp_path / "loop.svg")
    committed = repo_root / "book" / "figures" / "patterning_loop.svg"
    assert (tmp_path / "loop.svg").read_bytes() == committed.read_bytes(), \
        "the landing figure is stale: run `python tools/make_landing_figure.py` and commit the result"


def test_run_box_goes_under_the_title(tmp_path):
    """Each chapter page gets downloads, its rerun command and its measured time, from timings.json."""
    import json

    import build_book

    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# A title\n", "\n", "Intro."]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "05_x.ipynb"
    path.write_text(json.dumps(nb))
    run = {"chapter": "05_x", "preset": "ci", "seconds": 42.4, "status": "ok", "commit": "abc1234", "cpus": 2}
    build_book.add_run_box(path, build_book.run_box("05_x", run))
    source = json.loads(path.read_text())["cells"][0]["source"]
    assert source.startswith("# A title\n") and source.rstrip().endswith("Intro.")
    for expected in ("{download}`05_x.py <../downloads/05_x.py>`", "{download}`05_x.ipynb <../downloads/05_x.ipynb>`",
                     "make chapter NAME=05_x PRESET=ci", "make chapter NAME=05_x PRESET=paper",
                     "**42 s** on 2 CPU cores", "`abc1234`"):
        assert expected in source, expected


def test_chapter_list_has_a_row_per_chapter(tmp_path):
    import json

    import claims_table

    for name, ok in [("00_a", True), ("01_b", False)]:
        (tmp_path / f"{name}.claims.json").write_text(json.dumps({"chapter": name, "preset": "ci", "claims": [
            {"claim": f"claim of {name}", "measured": "x = 1", "reproduces": ok, "value": 1.0}]}))
    (tmp_path / "timings.json").write_text(json.dumps({n: {"chapter": n, "preset": "ci", "seconds": 3.0, "status": "ok"}
                                                       for n in ("00_a", "01_b")}))
    rows = [line for line in claims_table.chapter_list(["00_a", "01_b"], tmp_path).splitlines() if "{doc}" in line]
    assert len(rows) == 2
    assert "claim of 00_a" in rows[0] and "1 of 1 ✓" in rows[0] and "3 s (ci)" in rows[0]
    assert "0 of 1 ✗" in rows[1]
    with pytest.raises(SystemExit, match="02_c"):
        claims_table.chapter_list(["00_a", "02_c"], tmp_path)
