"""The browser check must catch what a reader would see go wrong (needs Debian's chromium).

One headless Chromium session checks a small site made here, one page per failure the check must
report, plus pages that must pass; the real book is checked by `make test` itself.
"""
from __future__ import annotations

import struct
import sysconfig
import zlib
from pathlib import Path

import pytest

import browser_check

pytestmark = pytest.mark.skipif(not Path(browser_check.CHROMIUM).exists(),
                                reason=f"{browser_check.CHROMIUM} not installed (`make chromium`)")

MATHJAX = Path(sysconfig.get_paths()["purelib"]) / "sphinx-mathjax-offline" / "static" / "mathjax"
MATHJAX_HEAD = ('<script>window.MathJax = {"options": {"processHtmlClass": "math"}}</script>'
                '<script defer src="mathjax/tex-chtml.js"></script>')

# page name -> (head, body, a substring of the problem it must report, or None if it must pass)
PAGES = {
    "good": ("", '<p>A figure:</p><img src="dot.png"><a href="dot.png">download</a><pre>$$x$$ \\(y\\)</pre>', None),
    "external_img": ("", '<img src="http://example.org/x.png">', "request to another host"),
    "external_script": ('<script src="https://cdn.example.org/x.js"></script>', "", "request to another host"),
    "external_fetch": ("", '<script>fetch("https://example.org/d.json").catch(() => null)</script>', "request to another host"),
    "broken_img": ("", '<img src="missing.png">', "image did not load"),
    "console_error": ("", '<script>console.error("boom")</script>', "console.error: boom"),
    "exception": ("", '<script>throw new Error("bad")</script>', "uncaught exception"),
    "raw_display_tex": ("", "<p>$$x^2$$</p>", "raw TeX"),
    "raw_inline_tex": ("", "<p>where $\\beta_i$ is</p>", "raw TeX"),
    "math_without_mathjax": ("", '<span class="math">\\(x^2\\)</span>', "MathJax did not run"),
    "broken_link": ("", '<a href="_downloads/abc/chapter.py">source</a>', "link does not resolve"),
}
MATH_PAGES = {
    "math_ok": (MATHJAX_HEAD, '<p>Inline <span class="math">\\(\\chi = -\\beta\\,\\mathrm{Cov}[\\phi, \\ell_i]\\)</span>.</p>', None),
    "math_error": (MATHJAX_HEAD, '<span class="math">\\(\\frac{1}\\)</span>', "MathJax error"),
}


def png_1x1() -> bytes:
    """A valid 1×1 PNG (one opaque pixel)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x20\x40\x60")) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, browser_check.PageReport]:
    site = tmp_path_factory.mktemp("site")
    (site / "dot.png").write_bytes(png_1x1())
    pages = dict(PAGES)
    if MATHJAX.is_dir():
        (site / "mathjax").symlink_to(MATHJAX)
        pages.update(MATH_PAGES)
    for name, (head, body, _) in pages.items():
        (site / f"{name}.html").write_text(f"<!doctype html><html><head><title>{name}</title>"
                                           f"<link rel='icon' href='dot.png'>{head}</head><body>{body}</body></html>")
    return browser_check.check_site(site, screenshots=None)


@pytest.mark.parametrize("name", [*PAGES, *MATH_PAGES])
def test_page(reports, name):
    if name in MATH_PAGES and not MATHJAX.is_dir():
        pytest.skip(f"no MathJax at {MATHJAX}")
    _, _, expected = {**PAGES, **MATH_PAGES}[name]
    problems = reports[f"{name}.html"].problems
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_redirect_page_is_a_link(tmp_path):
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=missing/intro.html" />')
    problems = browser_check.check_site(tmp_path, screenshots=None)["index.html"].problems
    assert any("link does not resolve" in p for p in problems), problems
