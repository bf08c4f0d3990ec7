"""Check that the built HTML book loads nothing from the network.

Fails if any HTML page (or CSS file) under the build directory refers to an external
(``http:``, ``https:`` or protocol-relative ``//``) script, style sheet, font, image, iframe or
other resource that a browser would fetch, or to a local one that does not exist. Plain
``<a href>`` links to other sites (to papers, say) are fine: nothing is loaded until they are
clicked; links to files of the book (pages, downloads) must exist. Pages with math must load
MathJax from ``_static/``.

Usage:
    python tools/check_offline.py [_build/html]
"""
from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "_build" / "html"

# Attributes a browser fetches on its own, per tag.
FETCHED = {
    "script": ("src",), "img": ("src", "srcset"), "iframe": ("src",), "frame": ("src",),
    "embed": ("src",), "object": ("data",), "source": ("src", "srcset"), "track": ("src",),
    "audio": ("src",), "video": ("src", "poster"), "input": ("src",), "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"), "body": ("background",),
}
# <link rel=...> values that make the browser fetch or connect to the href.
FETCHING_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "prefetch",
                 "preconnect", "dns-prefetch", "modulepreload", "manifest", "mask-icon", "prerender"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
# Inline scripts that fetch something name it in a string literal.
JS_URL = re.compile(r"""['"`]((?:https?:)?//[^'"`\s]+)['"`]""")
NAMESPACE_URLS = ("http://www.w3.org/",)  # XML namespaces: identifiers, never fetched


def is_external(url: str) -> bool:
    url = url.strip()
    return url.startswith("//") or urlsplit(url).scheme in {"http", "https", "ftp", "ws", "wss"}


class PageScanner(HTMLParser):
    """Collects the URLs a page makes the browser load, and whether it has math."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loaded: list[tuple[str, str]] = []  # (what, url)
        self.links: list[str] = []  # <a href> targets
        self.inline_js: list[str] = []
        self.inline_css: list[str] = []
        self._in: str | None = None
        self.has_math = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name in FETCHED.get(tag, ()):
            if a.get(name):
                urls = [u.strip().split()[0] for u in a[name].split(",") if u.strip()] if name == "srcset" else [a[name]]
                self.loaded += [(f"<{tag} {name}>", u) for u in urls]
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "link" and a.get("href") and FETCHING_RELS & set(a.get("rel", "").lower().split()):
            self.loaded.append((f"<link rel={a['rel']}>", a["href"]))
        if "style" in a:
            self.inline_css.append(a["style"])
        if tag in ("script", "style"):
            self._in = tag
        if "math" in a.get("class", "").split():
            self.has_math = True

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.inline_js.append(data)
        elif self._in == "style":
            self.inline_css.append(data)


def css_urls(css: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in CSS_URL.finditer(css)]


def local_target(base: Path, url: str, root: Path) -> Path | None:
    """The file a relative URL points to, or None for data:, fragments and the like."""
    parts = urlsplit(url)
    if parts.scheme or not parts.path:
        return None
    path = unquote(parts.path)
    return (root / path.lstrip("/")) if path.startswith("/") else (base / path)


def check_page(path: Path, root: Path) -> list[str]:
    scanner = PageScanner()
    scanner.feed(path.read_text(encoding="utf-8", errors="replace"))
    problems = []
    loaded = scanner.loaded + [("inline CSS url()", u) for css in scanner.inline_css for u in css_urls(css)]
    for what, url in loaded:
        if is_external(url):
            problems.append(f"{what} loads {url}")
        else:
            target = local_target(path.parent, url, root)
            if target is not None and not target.exists():
                problems.append(f"{what} refers to missing local file {url}")
    for url in scanner.links:
        if is_external(url) or urlsplit(url).scheme:  # other sites, mailto:, javascript:
            continue
        target = local_target(path.parent, url, root)
        if target is not None and not target.exists():
            problems.append(f"<a href> links to missing local file {url}")
    for js in scanner.inline_js:
        for url in JS_URL.findall(js):
            if not url.startswith(NAMESPACE_URLS):
                problems.append(f"inline <script> names {url}")
    if scanner.has_math and not any(what == "<script src>" and "_static/mathjax/" in url
                                    for what, url in scanner.loaded):
        problems.append("page has math but does not load MathJax from _static/mathjax/")
    return problems


def check_css(path: Path, root: Path) -> list[str]:
    problems = []
    for url in css_urls(path.read_text(encoding="utf-8", errors="replace")):
        if is_external(url):
            problems.append(f"CSS loads {url}")
    return problems


def check(build: Path) -> dict[Path, list[str]]:
    """Problems found in every page and style sheet under ``build``, by file."""
    if not (build / "index.html").exists():
        raise FileNotFoundError(f"no built book at {build} (no index.html)")
    report = {}
    for page in sorted(build.rglob("*.html")):
        if "_static" in page.relative_to(build).parts:
            continue  # vendored assets (e.g. MathJax's own test pages), never linked from the book
        if problems := check_page(page, build):
            report[page] = problems
    for css in sorted(build.rglob("*.css")):
        if problems := check_css(css, build):
            report[css] = problems
    return report


def main(argv: list[str]) -> int:
    build = Path(argv[0]) if argv else DEFAULT
    report = check(build)
    n_pages = sum(1 for p in build.rglob("*.html") if "_static" not in p.relative_to(build).parts)
    if report:
        for path, problems in report.items():
            print(f"{path.relative_to(build)}:")
            for p in problems:
                print(f"  {p}")
        print(f"offline check FAILED: {len(report)} file(s) would load external or missing resources")
        return 1
    print(f"offline check passed: {n_pages} pages under {build} load nothing from the network")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
