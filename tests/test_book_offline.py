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
