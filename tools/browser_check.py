"""Open every page of the built book in headless Chromium and check what a reader would see.

The book in ``_build/html/`` is served from a local ``http.server`` on 127.0.0.1, and Debian's
Chromium (``/usr/bin/chromium``; ``make test`` installs it with apt when missing, never a browser
download) is driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``), so
nothing beyond the standard library is needed. For every page it checks that

* no request leaves the machine: every request the page makes is intercepted (``Fetch``) and any
  to a host other than the local server is failed and reported; Chromium also runs with
  ``--host-resolver-rules`` that resolve no other host, so background requests cannot get out;
* every ``<img>`` has loaded (non-zero natural width and height);
* the math is rendered: every ``.math`` element holds MathJax output (``mjx-container``), MathJax
  reported no TeX error (``mjx-merror``), and no raw TeX (``$$``, ``\\(``, ``\\[``, ``$..\\..$``) is
  left in the visible text outside code;
* the console has no errors: no ``console.error``, uncaught exception, failed resource or HTTP
  error;
* every link to another file of the book (pages, downloads) resolves on the local server.

Screenshots of the landing page, the claims page and the first chapter (its top and its first
figure) go to ``_build/screenshots/``.

Usage:
    python tools/browser_check.py [_build/html] [--chromium /usr/bin/chromium] [--screenshots DIR]
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import http.server
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HTML = ROOT / "_build" / "html"
DEFAULT_SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = (1280, 900)
PAGE_TIMEOUT = 60.0  # seconds for one page to load and render

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
    "--hide-scrollbars", "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no other host resolves
    f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
]
LOCAL_SCHEMES = {"data", "blob", "about"}
REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)

# Run in the page once it has loaded: wait for MathJax and the images, then report what is shown.
INSPECT_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  if (document.fonts) await document.fonts.ready;
  const imgs = [...document.images];
  imgs.forEach(img => { if (img.loading === 'lazy') img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
  const images = imgs.map(img => ({src: img.currentSrc || img.src, w: img.naturalWidth, h: img.naturalHeight}));
  const math = [...document.querySelectorAll('.math')];
  const rendered = math.filter(m => m.querySelector('mjx-container')).length;
  const merrors = [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent);
  const code = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA', 'NOSCRIPT', 'KBD', 'SAMP']);
  const tex = /\$\$|\\\(|\\\)|\\\[|\\\]|\$[^$\n]*[\\^_{}][^$\n]*\$/;
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    let inCode = false;
    for (let e = n.parentElement; e; e = e.parentElement) {
      if (code.has(e.tagName) || e.tagName.startsWith('MJX-')) { inCode = true; break; }
    }
    const el = n.parentElement;
    const visible = el && (el.offsetWidth || el.offsetHeight || el.getClientRects().length);
    if (!inCode && visible && tex.test(n.textContent)) raw.push(n.textContent.trim().slice(0, 100));
  }
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => h.startsWith(location.origin));
  return {title: document.title, images, math: {total: math.length, rendered, merrors}, raw, links,
          mathjax: !!(window.MathJax && MathJax.version)};
})()
"""


class BrowserError(RuntimeError):
    """Chromium could not be started or stopped answering."""


# ----------------------------------------------------------------------------- the DevTools pipe


class DevTools:
    """A minimal client of the Chrome DevTools protocol over ``--remote-debugging-pipe``.

    Messages are JSON objects separated by NUL bytes; Chromium reads commands on its fd 3 and
    writes replies and events on its fd 4. Events go to ``on_event(message)`` as they arrive,
    including while :meth:`call` waits for its reply.
    """

    def __init__(self, chromium: str, flags: list[str], on_event):
        self.on_event = on_event
        self._buf, self._id, self._replies, self._ignored = b"", 0, {}, set()
        self._profile = tempfile.TemporaryDirectory(prefix="browser-check-")
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # Child-side ends at fds >= 10, so bash (dash takes one-digit fds only) can move them to 3 and 4 without clobbering.
        a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        for fd in (to_chrome_r, from_chrome_w):
            os.close(fd)
        argv = [chromium, *flags, "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", "about:blank"]
        self.log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(["/bin/bash", "-c", f'exec "$@" 3<&{a} 4>&{b} {a}<&- {b}>&-', "bash", *argv],
                                         pass_fds=(a, b), stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        except OSError as e:
            raise BrowserError(f"cannot start {chromium}: {e}") from e
        finally:
            os.close(a), os.close(b)
        os.set_blocking(self._r, False)

    def send(self, method: str, params: dict | None = None, session: str | None = None, *, reply: bool = True) -> int:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        if not reply:
            self._ignored.add(self._id)
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._w, data):]
        return self._id

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        """Send a command and wait for its reply; raise on a protocol error."""
        i = self.send(method, params, session)
        self.wait(lambda: i in self._replies, timeout, f"no reply to {method}")
        reply = self._replies.pop(i)
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error'].get('message')}")
        return reply.get("result", {})

    def wait(self, done, timeout: float, what: str) -> None:
        """Handle messages until ``done()`` is true; raise after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"timed out after {timeout:.0f} s: {what}")
            self._read(left)

    def _read(self, timeout: float) -> None:
        if self.proc.poll() is not None:
            raise BrowserError(f"chromium exited with status {self.proc.returncode}:\n{self.stderr_tail()}")
        ready, _, _ = select.select([self._r], [], [], min(timeout, 1.0))
        if not ready:
            return
        chunk = os.read(self._r, 1 << 20)
        if not chunk:
            raise BrowserError(f"chromium closed the DevTools pipe:\n{self.stderr_tail()}")
        self._buf += chunk
        *messages, self._buf = self._buf.split(b"\0")
        for raw in messages:
            msg = json.loads(raw)
            if "id" in msg:
                if msg["id"] not in self._ignored:
                    self._replies[msg["id"]] = msg
                self._ignored.discard(msg["id"])
            else:
                self.on_event(msg)

    def stderr_tail(self, n: int = 2000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-n:]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send("Browser.close", reply=False)
                self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            for fd in (self._r, self._w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.log.close()
            self._profile.cleanup()


# ----------------------------------------------------------------------------- the local server


class Server:
    """``http.server`` on 127.0.0.1 (a free port) serving ``root``, in a thread; records errors."""

    def __init__(self, root: Path):
        self.errors: list[str] = []
        errors = self.errors

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, fmt, *args):  # quiet
                pass

            def log_error(self, fmt, *args):
                errors.append(f"{self.command} {self.path}: " + fmt % args)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


# ----------------------------------------------------------------------------- checking pages


@dataclass
class PageReport:
    path: str
    problems: list[str] = field(default_factory=list)
    images: int = 0
    math: int = 0
    requests: int = 0


class Checker:
    """One browser tab and the records of what the current page did."""

    def __init__(self, chromium: str, origin: str):
        self.origin = origin
        self._reset()
        self.tools = DevTools(chromium, FLAGS, self._on_event)
        try:
            target = self.tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for method, params in [("Page.enable", {}), ("Runtime.enable", {}), ("Log.enable", {}), ("Network.enable", {}),
                                   ("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}),
                                   ("Emulation.setDeviceMetricsOverride",
                                    {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False})]:
                self.tools.call(method, params, self.session)
        except BaseException:
            self.tools.close()
            raise

    def _reset(self) -> None:
        self.loaded, self.requests, self.external, self.errors = False, 0, [], []

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in LOCAL_SCHEMES or f"{parts.scheme}://{parts.netloc}" == self.origin

    def _on_event(self, msg: dict) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Fetch.requestPaused":  # every request of the page stops here first
            url = p["request"]["url"]
            if self.is_local(url):
                self.tools.send("Fetch.continueRequest", {"requestId": p["requestId"]}, msg.get("sessionId"), reply=False)
            else:
                self.external.append(url)
                self.tools.send("Fetch.failRequest", {"requestId": p["requestId"], "errorReason": "BlockedByClient"},
                                msg.get("sessionId"), reply=False)
        elif method == "Network.requestWillBeSent":
            self.requests += 1
            url = p["request"]["url"]
            if not self.is_local(url) and url not in self.external:
                self.external.append(url)
        elif method == "Page.loadEventFired":
            self.loaded = True
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.errors.append(f"console.{p['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append(f"uncaught exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            e = p["entry"]
            self.errors.append(f"console ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())
        elif method == "Network.responseReceived" and p["response"].get("status", 200) >= 400:
            self.errors.append(f"HTTP {p['response']['status']} for {p['response']['url']}")

    def check(self, url: str) -> tuple[dict | None, list[str]]:
        """Load ``url``, let it render, and return what the page shows and its problems."""
        self._reset()
        nav = self.tools.call("Page.navigate", {"url": url}, self.session)
        if nav.get("errorText"):
            return None, [f"navigation failed: {nav['errorText']}"]
        self.tools.wait(lambda: self.loaded, PAGE_TIMEOUT, f"load event of {url}")
        res = self.tools.call("Runtime.evaluate", {"expression": INSPECT_JS, "awaitPromise": True, "returnByValue": True},
                              self.session, timeout=PAGE_TIMEOUT)
        if "exceptionDetails" in res:
            return None, [f"inspecting the page failed: {res['exceptionDetails'].get('text')}"]
        seen = res["result"]["value"]
        problems = [f"request to another host (blocked): {u}" for u in self.external] + list(self.errors)
        problems += [f"image did not load: {i['src']}" for i in seen["images"] if not (i["w"] > 0 and i["h"] > 0)]
        m = seen["math"]
        if m["total"] and not seen["mathjax"]:
            problems.append(f"{m['total']} math elements but MathJax did not run")
        if m["rendered"] < m["total"]:
            problems.append(f"only {m['rendered']} of {m['total']} math elements rendered by MathJax")
        problems += [f"MathJax error: {e}" for e in m["merrors"]]
        problems += [f"raw TeX in the text: {t!r}" for t in seen["raw"]]
        return seen, problems

    def screenshot(self, path: Path, scroll_to: str | None = None) -> bool:
        """Save the viewport as PNG, scrolled to the first ``scroll_to`` element (CSS selector)."""
        if scroll_to:
            found = self.tools.call("Runtime.evaluate", {
                "expression": f"(() => {{ const e = document.querySelector({json.dumps(scroll_to)}); "
                              f"if (e) e.scrollIntoView({{block: 'center'}}); return !!e; }})()",
                "returnByValue": True}, self.session)["result"]["value"]
            if not found:
                return False
        else:
            self.tools.call("Runtime.evaluate", {"expression": "window.scrollTo(0, 0)"}, self.session)
        shot = self.tools.call("Page.captureScreenshot", {"format": "png"}, self.session)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return True

    def close(self) -> None:
        self.tools.close()


def redirect_target(page: Path) -> str | None:
    """Where a page that is only a meta refresh (Jupyter Book's root ``index.html``) points."""
    text = page.read_text(encoding="utf-8", errors="replace")
    m = REFRESH.search(text)
    return m.group(1) if m and len(text) < 1000 else None


def pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.relative_to(html).parts)


def check_links(links: set[str]) -> dict[str, str]:
    """Links that do not resolve on the local server: url -> why."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    broken = {}
    for url in sorted(links):
        try:
            opener.open(urllib.request.Request(url, method="HEAD"), timeout=10).close()
        except (urllib.error.URLError, OSError) as e:
            broken[url] = str(e)
    return broken


def screenshot_plan(html: Path) -> list[tuple[str, str, str | None]]:
    """(page, file name, element to scroll to) of the screenshots to keep."""
    plan = [("book/intro.html", "intro.png", None), ("book/claims.html", "claims.png", None)]
    chapters = sorted((html / "notebooks").glob("*.html"))
    if chapters:
        page, stem = f"notebooks/{chapters[0].name}", chapters[0].stem
        plan += [(page, f"{stem}.png", None), (page, f"{stem}-figure.png", ".cell_output img")]
    return [p for p in plan if (html / p[0]).exists()]


def check_site(html: Path, chromium: str = CHROMIUM, screenshots: Path | None = None) -> dict[str, PageReport]:
    """Check every page under ``html``; return a report per page (relative path)."""
    if not Path(chromium).exists():
        raise BrowserError(f"{chromium} not found: install Debian's chromium (`make chromium`, or "
                           f"`apt-get install -y chromium`), or pass --chromium PATH")
    server = Server(html)
    checker = None
    try:
        checker = Checker(chromium, server.origin)
        reports, links = {}, {}
        for page in pages(html):
            rel = page.relative_to(html).as_posix()
            report = reports[rel] = PageReport(rel)
            if (target := redirect_target(page)) is not None:  # checked as a link, not as a page
                links.setdefault(urldefrag(urljoin(f"{server.origin}/{rel}", target)).url, rel)
                continue
            seen, report.problems = checker.check(f"{server.origin}/{rel}")
            report.requests = checker.requests
            if seen:
                report.images, report.math = len(seen["images"]), seen["math"]["total"]
                for link in seen["links"]:
                    links.setdefault(urldefrag(link).url, rel)
        for url, why in check_links(set(links)).items():
            reports[links[url]].problems.append(f"link does not resolve: {url[len(server.origin):]} ({why})")
        if screenshots is not None:
            for rel, name, scroll_to in screenshot_plan(html):
                checker.check(f"{server.origin}/{rel}")
                if not checker.screenshot(screenshots / name, scroll_to):
                    reports[rel].problems.append(f"no element {scroll_to!r} to take the screenshot {name} of")
        return reports
    finally:
        if checker is not None:
            checker.close()
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", nargs="?", type=Path, default=DEFAULT_HTML, help="the built book (default _build/html)")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"the browser (default {CHROMIUM})")
    parser.add_argument("--screenshots", type=Path, default=DEFAULT_SHOTS, help="where to save screenshots")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").exists():
        raise SystemExit(f"no built book at {args.html} (no index.html): run `make book` first")

    for old in args.screenshots.glob("*.png") if args.screenshots.is_dir() else []:
        old.unlink()  # only this run's screenshots
    start = time.perf_counter()
    try:
        reports = check_site(args.html, args.chromium, args.screenshots)
    except BrowserError as e:
        print(f"browser check FAILED: {e}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    failed = {rel: r for rel, r in reports.items() if r.problems}
    for rel, r in reports.items():
        status = "ok" if not r.problems else "FAILED"
        print(f"  {rel:<40} {r.images:>3} images {r.math:>4} math {r.requests:>4} requests  {status}")
        for p in r.problems:
            print(f"      {p}")
    shots = sorted(args.screenshots.glob("*.png")) if args.screenshots.exists() else []
    print(f"screenshots: {', '.join(str(s.relative_to(ROOT) if s.is_relative_to(ROOT) else s) for s in shots)}")
    if failed:
        print(f"browser check FAILED: {len(failed)} of {len(reports)} pages have problems ({seconds:.1f} s)")
    else:
        print(f"browser check passed: {len(reports)} pages, {sum(r.images for r in reports.values())} images, "
              f"{sum(r.math for r in reports.values())} math elements, no request left 127.0.0.1 ({seconds:.1f} s)")
    print(f"pages: {len(reports) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
