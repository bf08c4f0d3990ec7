"""Build a deterministic language-model corpus from named, versioned Debian packages.

Issue 17: the CPython-only corpus of ``data/lm/`` (1.5 M tokens, 91 % code) is memorised at the
paper's size and gives context re-weighting little leverage. This script assembles a larger real
corpus, offline-reproducible from the Debian archive:

1. every package in :data:`PACKAGES` is fetched with ``apt-get download NAME=VERSION`` into a cache
   directory outside git (default ``~/.cache/patterning-corpus``); the ``.deb``'s sha256 must equal
   the pinned one, and a version the registry no longer offers raises :class:`RegistryMismatch`;
2. ``dpkg-deb -x`` unpacks it; a source tarball inside a package (``linux-source-6.1``) is read in
   place with :mod:`tarfile`;
3. :data:`SOURCES` says which files become documents, of which kind (``prose`` / ``code`` /
   ``repetitive``: tables, logs, lists, data files), through which standard-library extractor
   (plain text, gzip, bzip2, HTML via :mod:`html.parser`, man-page roff), and which fraction of the
   matching files each build size keeps (a file is kept iff ``u(path) < fraction`` with ``u`` a
   uniform number read from the sha256 of the path: deterministic, and a stratified sample across
   directories);
4. documents are deduplicated by the sha256 of their normalised text (line ends, trailing
   whitespace and blank lines at the ends ignored: exact duplicates are a special case), cut at
   line boundaries into pieces of at most ``MAX_DOC_CHARS``, sorted by (package, path), and written
   as ``corpus.jsonl.gz`` (one JSON line ``{source, kind, text}``, gzip mtime 0) -- the format
   ``patterning_core.lm.data.load_corpus`` reads;
5. byte-level BPE tokenizers are trained exactly as ``experiments/build_corpus.py`` trains them
   (its ``train_tokenizer``) on a deterministic sample of the documents;
6. ``manifest.json`` records the packages (version, sha256 and size of each ``.deb``), the sources,
   the sha256 and size of each output file, and counts of documents / characters / tokens by kind.

``--subset-chars N`` also writes a frozen subset (documents drawn by the same path hash, per kind
in the full build's proportions) into ``--subset-out`` with the same tokenizers and its own
manifest: the small corpus committed in ``data/lm-debian/`` for CI (which never downloads).

Usage::

    nice -n 10 .venv/bin/python experiments/build_debian_corpus.py --size cpu \\
        --subset-out data/lm-debian --subset-chars 8000000        # ~60 M tokens, ~15 min on 1 core
    nice -n 10 .venv/bin/python experiments/build_debian_corpus.py --size gpu   # >= 300 M tokens
    .venv/bin/python experiments/build_debian_corpus.py --pin      # print PACKAGES with the registry's sha256s
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import html.parser
import io
import json
import re
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_corpus import EOT, sha256_bytes, train_tokenizer  # noqa: E402  (same tokenizer recipe)
from tokenizers import Tokenizer  # noqa: E402

DEFAULT_CACHE = Path.home() / ".cache" / "patterning-corpus"  # downloads + unpacked trees, outside git
MAX_DOC_CHARS = 200_000  # longer files are cut at line breaks into pieces of at most this many chars
KINDS = ("prose", "code", "repetitive")
TOKENIZER_SAMPLE_CHARS = 12_000_000  # BPE is trained on a hash-drawn sample of about this many chars
COUNT_SAMPLE_CHARS = 5_000_000  # tokens of a larger kind are estimated from a hash-drawn sample this big


class Package(NamedTuple):
    name: str
    version: str  # exact Debian version, as `apt-get download NAME=VERSION` takes it
    sha256: str  # of the .deb, as the Debian 12 (bookworm) archive published it on 2026-11-27


PACKAGES: tuple[Package, ...] = (
    Package("cmake-doc", "3.25.1-1", "6e805a758ffed87cc7ea234cf0a7a1bb8ae78b93d8b5783e7fb989a6320f8133"),
    Package("debian-reference-en", "2.100", "9f31d3a17df505de09689ca255512ea58c1fc47c59bb1b0c7bf1c23362e9743f"),
    Package("emacs-el", "1:28.2+1-15+deb12u4", "d07939c0e5b9f150211f5bcf85fb37f812a3710f1ec1e74a6237d12e3bade559"),
    Package("git-doc", "1:2.39.5-0+deb12u3", "3c89668a11053a6bafade3de1f611f4613db31e082af63f43d8c5b69ad8795ec"),
    Package("gnu-standards", "2022.03.23-0.1", "2087dda531c69d8505856a45e0334746f3f25211a237c95d375eed13a7d8c201"),
    Package("golang-1.19-src", "1.19.8-2", "2dfa82fe4f08f4e0193c532e561af4c91871f5235608f04f2bb8d57bb288df5a"),
    Package("ieee-data", "20220827.1", "9bf9ec7d59a4273cbb68d2331a045e624e3cfa2500ec65642776976aff1a3026"),
    Package("iso-codes", "4.15.0-1", "b1beb869303229c38288d4ddacfd582c91f594759b5767c9cecebd87f16ff70e"),
    Package("linux-source-6.1", "6.1.176-1", "9305d1a151b8e83dcb88aa11361e7b9513f0c252bdf7f5647e4542762d99c094"),
    Package("manpages", "6.03-2", "efa1ba4cd19ad7baeae959c9209a7eb74be2ebb858bcabb412597bfc9f588c91"),
    Package("manpages-dev", "6.03-2", "96f55cb5e26231d5567c89b692bced63825a14a2d5bd18fdf16ea2ed44eb9838"),
    Package("nodejs-doc", "18.20.4+dfsg-1~deb12u2", "9f674d3536be94923bb8720c48ec17bc92b8de62f2954c3172b59a3ada1de65f"),
    Package("pci.ids", "0.0~2023.04.11-1", "eac5f889128f3f53100be7f16f9a7dd5aade7499fa9571f53a6c1cfa0bf4565d"),
    Package("perl-doc", "5.36.0-7+deb12u3", "e9e3564ff5ade27de0585835f2acad769bcc545c0a0045a9f55d5401f27f7591"),
    Package("postgresql-doc-15", "15.18-0+deb12u1", "3c598277a463c44d672daa2c335deb8d8252e1852fb025fd4578ea2d9a1b90f0"),
    Package("python-django-doc", "3:3.2.25-0+deb12u3", "33319c8e45b95693603213442ccf9bcee933ef338488115203ad25a0e01c696f"),
    Package("python3.11-doc", "3.11.2-6+deb12u8", "50eb63e7f636c4281e9ce1b8f10386f1def42159eddce34fc1f41c46261df71b"),
    Package("rust-src", "1.63.0+dfsg1-2", "410b8c6d464cabbe5fb3154ab8c3d374980dd597fbe7e3b7bb3ed8dd1bf11e25"),
    Package("sphinx-doc", "5.3.0-4", "1da3d08bb3a0bc82a4b8b8109410e223054bf5fb13904557ec8ea869046f65b4"),
    Package("unicode-data", "15.0.0-1", "5efef23bbb1c6a133ecbdd63a2cfa07159ccacf5466a49e2426101c5ecd691fc"),
)


@dataclass(frozen=True)
class Source:
    """One slice of one package: which files, of which kind, extracted how, sampled how much."""

    package: str  # a name in PACKAGES
    pattern: str  # regex (re.search) on the file's path inside the package (or inside `archive`)
    kind: str  # "prose" | "code" | "repetitive"
    extractor: str  # key of EXTRACTORS
    fraction: dict  # build size -> fraction of matching files kept, e.g. {"cpu": 0.1, "gpu": 1.0}
    archive: str | None = None  # path of a tarball inside the package whose members are read
    exclude: str | None = None  # regex of paths to skip even when `pattern` matches


LINUX_TAR = "usr/src/linux-source-6.1.tar.xz"
ALL = {"cpu": 1.0, "gpu": 1.0}

SOURCES: tuple[Source, ...] = (
    # ---- prose: documentation sources and manuals
    Source("python3.11-doc", r"/_sources/.*\.rst\.txt$", "prose", "text", ALL),
    Source("linux-source-6.1", r"^linux-source-6\.1/Documentation/.*\.(rst|txt)$", "prose", "text", ALL, LINUX_TAR),
    Source("perl-doc", r"^usr/share/perl/[^/]+/pod/.*\.pod$", "prose", "text", ALL),
    Source("postgresql-doc-15", r"^usr/share/doc/postgresql-doc-15/html/.*\.html$", "prose", "html", ALL),
    Source("python-django-doc", r"^usr/share/doc/python-django-doc/html/.*\.html$", "prose", "html", ALL,
           exclude=r"/(_modules|genindex|py-modindex|search)"),
    Source("git-doc", r"^usr/share/doc/git-doc/.*\.txt$", "prose", "text", ALL),
    Source("nodejs-doc", r"^usr/share/doc/nodejs/api/.*\.md\.gz$", "prose", "gz_text", ALL),
    Source("cmake-doc", r"/_sources/.*\.rst\.txt$", "prose", "text", ALL),
    Source("sphinx-doc", r"/_sources/.*\.rst\.txt$", "prose", "text", ALL),
    Source("manpages", r"^usr/share/man/man\d/.*\.gz$", "prose", "roff", ALL),
    Source("manpages-dev", r"^usr/share/man/man\d/.*\.gz$", "prose", "roff", ALL),
    Source("gnu-standards", r"\.text\.gz$", "prose", "gz_text", ALL),
    Source("debian-reference-en", r"\.en\.txt\.gz$", "prose", "gz_text", ALL),
    Source("rust-src", r"^usr/src/rustc-[^/]+/.*\.md$", "prose", "text", ALL),
    # ---- code
    Source("golang-1.19-src", r"^usr/share/go-1\.19/src/.*\.go$", "code", "text",
           {"cpu": 0.55, "gpu": 1.0}, exclude=r"/testdata/"),
    Source("rust-src", r"^usr/src/rustc-[^/]+/(library|compiler)/.*\.rs$", "code", "text",
           {"cpu": 0.55, "gpu": 1.0}),
    Source("emacs-el", r"\.el\.gz$", "code", "gz_text", {"cpu": 0.45, "gpu": 1.0}),
    Source("linux-source-6.1", r"^linux-source-6\.1/.*\.[ch]$", "code", "text",
           {"cpu": 0.01, "gpu": 1.0}, LINUX_TAR,
           exclude=r"^linux-source-6\.1/(Documentation|tools/perf/pmu-events)/|/asic_reg/"),
    # ---- repetitive: tables, lists, logs, data files and changelogs
    Source("unicode-data", r"^usr/share/unicode/.*\.txt$", "repetitive", "text", {"cpu": 0.3, "gpu": 1.0}),
    Source("ieee-data", r"^usr/share/ieee-data/.*\.txt$", "repetitive", "text", {"cpu": 0.5, "gpu": 1.0}),
    Source("pci.ids", r"^usr/share/misc/pci\.ids$", "repetitive", "text", ALL),
    Source("iso-codes", r"^usr/share/iso-codes/json/.*\.json$", "repetitive", "text", ALL),
    Source("golang-1.19-src", r"^usr/share/go-1\.19/api/.*\.txt$", "repetitive", "text", ALL),
    Source("rust-src", r"^usr/src/rustc-[^/]+/src/test/.*\.stderr$", "repetitive", "text",
           {"cpu": 0.3, "gpu": 1.0}),
    Source("linux-source-6.1", r"^linux-source-6\.1/(tools/perf/pmu-events/arch/.*\.json|MAINTAINERS)$",
           "repetitive", "text", {"cpu": 0.4, "gpu": 1.0}, LINUX_TAR),
    Source("linux-source-6.1", r"/asic_reg/.*\.h$", "repetitive", "text",
           {"cpu": 0.02, "gpu": 0.25}, LINUX_TAR),
    Source("linux-source-6.1", r"^usr/share/doc/linux-source-6\.1/changelog\.Debian\.gz$", "repetitive", "gz_text", ALL),
    Source("perl-doc", r"^usr/share/doc/perl-doc/.*changelog.*\.gz$", "repetitive", "gz_text", ALL),
)


class RegistryMismatch(RuntimeError):
    """The Debian registry (or the cache) no longer has a package exactly as pinned."""


# ----------------------------------------------------------------------------- text extraction


class _HTMLText(html.parser.HTMLParser):
    """Visible text of an HTML page: scripts/styles/navigation dropped, blocks on their own lines."""

    BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr",
             "table", "dt", "dd", "dl", "section", "blockquote", "title", "hr"}
    SKIP = {"script", "style", "head", "nav"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(raw: bytes) -> str:
    """Visible text of an HTML document (``<pre>`` kept verbatim, other whitespace collapsed)."""
    p = _HTMLText()
    p.feed(raw.decode("utf-8", errors="strict"))
    p.close()
    text = "".join(p.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text)


_ROFF_ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),  # font changes \fB \fI \fR \f(CW \f[...]
    (re.compile(r"\\\*?\(..|\\\[[^\]]*\]"), ""),  # special characters \(em \[...]
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[&|^]"), ""),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\ "), " "),
]
_ROFF_TEXT_MACROS = {".B", ".I", ".BR", ".IR", ".RB", ".RI", ".BI", ".IB", ".SM", ".SB", ".SH", ".SS", ".IP", ".TP", ".UR", ".MT"}


def roff_to_text(src: str) -> str:
    """Readable text of a man page: comments and requests dropped, macro arguments and escapes kept plain."""
    out: list[str] = []
    for line in src.splitlines():
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        if line.startswith((".", "'")):
            macro, _, rest = line.partition(" ")
            if macro in (".SH", ".SS"):
                out.append("")
            if macro in _ROFF_TEXT_MACROS and rest:
                words = re.findall(r'"([^"]*)"|(\S+)', rest)
                sep = " " if macro in (".B", ".I", ".SH", ".SS", ".IP", ".TP", ".SM", ".SB") else ""
                line = sep.join(a or b for a, b in words)
            elif macro in (".PP", ".P", ".LP", ".sp", ".br"):
                out.append("")
                continue
            else:
                continue
        for pat, rep in _ROFF_ESCAPES:
            line = pat.sub(rep, line)
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n") + "\n"


def _text(raw: bytes) -> str:
    if b"\x00" in raw:
        raise UnicodeDecodeError("utf-8", raw[:1], 0, 1, "NUL byte: binary file")
    return raw.decode("utf-8", errors="strict")


EXTRACTORS: dict[str, Callable[[bytes], str]] = {
    "text": _text,
    "gz_text": lambda raw: _text(gzip.decompress(raw)),
    "bz2_text": lambda raw: _text(bz2.decompress(raw)),
    "html": html_to_text,
    "roff": lambda raw: roff_to_text(_text(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)),
}


def normalize_text(text: str) -> str:
    """The text the duplicate check compares: LF line ends, no trailing spaces, no blank edge lines."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def split_document(text: str, max_chars: int) -> list[str]:
    """Cut ``text`` at line breaks into consecutive pieces of at most ``max_chars`` characters
    (a single line longer than that is cut inside it). Joining the pieces gives ``text`` back."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    pieces, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        while len(line) > max_chars:
            if cur:
                pieces.append("".join(cur))
                cur, n = [], 0
            pieces.append(line[:max_chars])
            line = line[max_chars:]
        if n + len(line) > max_chars and cur:
            pieces.append("".join(cur))
            cur, n = [], 0
        cur.append(line)
        n += len(line)
    if cur:
        pieces.append("".join(cur))
    return pieces


def path_uniform(path: str) -> float:
    """A uniform number in [0, 1) read from the sha256 of ``path``: the sampling key of a file."""
    return int.from_bytes(hashlib.sha256(path.encode("utf-8")).digest()[:8], "big") / 2.0**64


# ----------------------------------------------------------------------------- packages


def deb_filename(pkg: Package) -> str:
    """The file name ``apt-get download`` writes (``:`` of an epoch becomes ``%3a``)."""
    return f"{pkg.name}_{pkg.version.replace(':', '%3a')}_all.deb"


def registry_versions(name: str, run: Callable = subprocess.run) -> dict[str, str]:
    """Versions of ``name`` the configured apt sources offer -> their sha256 (``apt-cache show``)."""
    res = run(["apt-cache", "show", name], capture_output=True, text=True)
    out: dict[str, str] = {}
    for block in res.stdout.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", block, flags=re.M))
        if "Version" in fields:
            out[fields["Version"]] = fields.get("SHA256", "")
    return out


def check_registry(pkg: Package, offered: dict[str, str]) -> None:
    """Raise :class:`RegistryMismatch` unless the registry offers ``pkg.version`` with ``pkg.sha256``."""
    if pkg.version not in offered:
        have = ", ".join(sorted(offered)) or "none (run `apt-get update`, or the package was removed)"
        raise RegistryMismatch(
            f"package {pkg.name}: pinned version {pkg.version!r} is no longer offered by the apt "
            f"registry (offered: {have}); pin an offered version and its sha256 in PACKAGES")
    if pkg.sha256 and offered[pkg.version] and offered[pkg.version] != pkg.sha256:
        raise RegistryMismatch(
            f"package {pkg.name}={pkg.version}: registry sha256 {offered[pkg.version]} differs from "
            f"the pinned {pkg.sha256}; the archive changed: re-pin deliberately")


def verify_deb(pkg: Package, path: Path) -> str:
    """sha256 of the downloaded ``.deb``; :class:`RegistryMismatch` if it is not the pinned one."""
    got = sha256_bytes(path.read_bytes())
    if pkg.sha256 and got != pkg.sha256:
        raise RegistryMismatch(f"{path}: sha256 {got} differs from the pinned {pkg.sha256} for {pkg.name}={pkg.version}")
    return got


def fetch_deb(pkg: Package, cache: Path) -> Path:
    """The pinned ``.deb`` in ``cache/debs`` (downloaded with ``apt-get download`` when absent), verified."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    path = debs / deb_filename(pkg)
    if not path.exists():
        check_registry(pkg, registry_versions(pkg.name))
        res = subprocess.run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=debs,
                             capture_output=True, text=True)
        if res.returncode != 0 or not path.exists():
            raise RegistryMismatch(f"apt-get download {pkg.name}={pkg.version} failed:\n{res.stderr.strip()}")
    verify_deb(pkg, path)
    return path


def unpack_deb(pkg: Package, deb: Path, cache: Path) -> Path:
    """``dpkg-deb -x`` into ``cache/tree/NAME_VERSION`` once (a ``.done`` marker makes it idempotent)."""
    root = cache / "tree" / deb.name.removesuffix(".deb")
    if not (root / ".done").exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        (root / ".done").write_text(pkg.version + "\n")
    return root


def iter_tree(root: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(path relative to ``root``, bytes) of the regular files below ``root`` that ``wanted`` keeps, by path."""
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not p.is_symlink() and p.name != ".done" and wanted(rel):
            yield rel, p.read_bytes()


def iter_tar(path: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(member path, bytes) of the regular members of tarball ``path`` that ``wanted`` keeps, in tar order."""
    with tarfile.open(path, mode="r|*") as tar:
        for m in tar:
            if m.isfile() and wanted(m.name):
                yield m.name, tar.extractfile(m).read()


# ----------------------------------------------------------------------------- documents


class Doc(NamedTuple):
    source: str  # "package:path" (+ "#k" for the k-th piece of a long file)
    kind: str
    text: str


@dataclass
class Stats:
    """Counts of one build, filled while documents stream through :func:`collect`."""

    files_matched: int = 0
    files_kept: int = 0
    undecodable: int = 0
    duplicate_exact: int = 0
    duplicate_normalized: int = 0
    empty: int = 0


def _source_key(src: Source) -> str:
    return f"{src.package}:{src.kind}:{src.pattern}"


def select(sources: tuple[Source, ...], path: str) -> Source | None:
    """The first source whose pattern matches ``path`` (and whose exclude does not), or None."""
    for s in sources:
        if re.search(s.pattern, path) and not (s.exclude and re.search(s.exclude, path)):
            return s
    return None


def package_files(pkg: Package, sources: tuple[Source, ...], root: Path) -> Iterator[tuple[Source, str, bytes]]:
    """(source, path, bytes) of every file of one unpacked package that one of its sources keeps."""
    mine = tuple(s for s in sources if s.package == pkg.name)
    plain = tuple(s for s in mine if s.archive is None)
    for path, raw in iter_tree(root, lambda p: select(plain, p) is not None):
        yield select(plain, path), path, raw
    for archive in sorted({s.archive for s in mine if s.archive}):
        inner = tuple(s for s in mine if s.archive == archive)
        for path, raw in iter_tar(root / archive, lambda p: select(inner, p) is not None):
            yield select(inner, path), path, raw


def collect(files: Iterator[tuple[Source, str, bytes]], package: str, size: str, seen: dict,
            stats: Stats, per_source: dict) -> list[Doc]:
    """Documents of one package: sampled by path hash, extracted, deduplicated against ``seen``
    (normalised-text sha256 -> first source; exact-byte duplicates counted apart), split."""
    docs: list[Doc] = []
    exact: set = seen.setdefault("__exact__", set())
    for src, path, raw in files:
        stats.files_matched += 1
        if path_uniform(f"{package}:{path}") >= src.fraction[size]:
            continue
        h_raw = hashlib.sha256(raw).digest()
        if h_raw in exact:
            stats.duplicate_exact += 1
            continue
        exact.add(h_raw)
        try:
            text = EXTRACTORS[src.extractor](raw)
        except (UnicodeDecodeError, ValueError, OSError, EOFError):
            stats.undecodable += 1
            continue
        norm = normalize_text(text)
        if not norm.strip():
            stats.empty += 1
            continue
        h = hashlib.sha256(norm.encode("utf-8")).hexdigest()
        if h in seen:
            stats.duplicate_normalized += 1
            continue
        seen[h] = f"{package}:{path}"
        stats.files_kept += 1
        body = norm + "\n"
        acc = per_source.setdefault(_source_key(src), {"files": 0, "chars": 0})
        acc["files"] += 1
        acc["chars"] += len(body)
        pieces = split_document(body, MAX_DOC_CHARS)
        for k, piece in enumerate(pieces):
            name = f"{package}:{path}" + (f"#{k}" if len(pieces) > 1 else "")
            docs.append(Doc(name, src.kind, piece))
    return docs


def gzip_jsonl(docs: list[Doc], level: int = 9) -> bytes:
    """Documents as gzipped JSON lines (``{kind, source, text}``, sorted keys, gzip mtime 0)."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=level) as gz:
        for d in docs:
            gz.write((json.dumps(d._asdict(), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
    return buf.getvalue()


def sample_docs(docs: list[Doc], max_chars: int) -> list[Doc]:
    """Documents in order of their file's path hash (the pieces of one file together) until
    ``max_chars`` is reached, returned in their original order."""
    order = sorted(range(len(docs)), key=lambda i: (path_uniform(docs[i].source.split("#")[0]), docs[i].source))
    out, n = [], 0
    for i in order:
        if n >= max_chars:
            break
        out.append(i)
        n += len(docs[i].text)
    return [docs[i] for i in sorted(out)]


def subset_docs(docs: list[Doc], total_chars: int) -> list[Doc]:
    """A frozen subset of about ``total_chars`` characters with the kinds in the full build's shares."""
    share = {k: sum(len(d.text) for d in docs if d.kind == k) for k in KINDS}
    total = sum(share.values())
    keep = []
    for k in KINDS:
        keep += sample_docs([d for d in docs if d.kind == k], int(total_chars * share[k] / total))
    return sorted(keep, key=lambda d: d.source)


def count_by_kind(docs: list[Doc], tokenizers: dict, sample_chars: int) -> dict:
    """Documents, characters and tokens (per tokenizer vocabulary size) by kind, plus the total.

    Tokens are counted exactly (each document encoded once, without ``EOT`` separators) when a
    kind holds at most ``sample_chars`` characters; otherwise they are estimated as the kind's
    characters times the tokens per character of the documents :func:`sample_docs` draws up to
    ``sample_chars`` (the row then says ``tokens_estimated_from_chars``).
    """
    out = {}
    for k in KINDS:
        sel = [d for d in docs if d.kind == k]
        chars = sum(len(d.text) for d in sel)
        sample = sample_docs(sel, sample_chars) if chars > sample_chars else sel
        n_sample = sum(len(d.text) for d in sample)
        row = {"documents": len(sel), "chars": chars}
        if sample is not sel:
            row["tokens_estimated_from_chars"] = n_sample
        for v, tok in tokenizers.items():
            n = sum(len(e.ids) for e in _encode_chunked(tok, [d.text for d in sample]))
            row[f"tokens_v{v}"] = n if sample is sel else round(n * chars / n_sample)
        out[k] = row
    out["total"] = {key: sum(out[k].get(key, 0) for k in KINDS) for key in out[KINDS[0]]}
    return out


def _encode_chunked(tok, texts: list[str], chunk: int = 1024):
    for i in range(0, len(texts), chunk):
        yield from tok.encode_batch(texts[i : i + chunk])


def read_jsonl(path: Path) -> list[Doc]:
    """The documents of a ``corpus.jsonl.gz`` written by :func:`gzip_jsonl`."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [Doc(r["source"], r["kind"], r["text"]) for r in map(json.loads, f)]


def write_build(out: Path, data: bytes, docs: list[Doc], tokenizers: dict, blobs: dict, meta: dict) -> dict:
    """Write ``corpus.jsonl.gz`` (``data``: :func:`gzip_jsonl` of ``docs``), the tokenizers and
    ``manifest.json`` into ``out``; return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    (out / "corpus.jsonl.gz").write_bytes(data)
    files["corpus.jsonl.gz"] = {"bytes": len(data), "sha256": sha256_bytes(data)}
    for v, blob in blobs.items():
        name = f"tokenizer-{v}.json"
        (out / name).write_bytes(blob)
        files[name] = {"bytes": len(blob), "sha256": sha256_bytes(blob), "vocab_size": v}
    manifest = dict(meta, files=files, counts=count_by_kind(docs, tokenizers, COUNT_SAMPLE_CHARS))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def package_list_sha256(packages: tuple[Package, ...]) -> str:
    """sha256 of the pinned package list (``name=version sha256`` lines): the corpus's identity."""
    return sha256_bytes("".join(f"{p.name}={p.version} {p.sha256}\n" for p in packages).encode("utf-8"))


def check_pins(packages: tuple[Package, ...], sources: tuple[Source, ...], sizes: tuple[str, ...]) -> None:
    """Every source names a pinned package, a known kind/extractor and a fraction in [0, 1] per size."""
    names = {p.name for p in packages}
    for s in sources:
        if s.package not in names:
            raise ValueError(f"source {s.pattern!r}: package {s.package!r} is not in PACKAGES")
        if s.kind not in KINDS:
            raise ValueError(f"source {s.pattern!r}: kind {s.kind!r} not in {KINDS}")
        if s.extractor not in EXTRACTORS:
            raise ValueError(f"source {s.pattern!r}: extractor {s.extractor!r} not in {sorted(EXTRACTORS)}")
        for size in sizes:
            if not 0.0 <= s.fraction.get(size, -1) <= 1.0:
                raise ValueError(f"source {s.pattern!r}: fraction for size {size!r} must be in [0, 1]")


def extract_all(packages: tuple[Package, ...], sources: tuple[Source, ...], size: str, cache: Path) -> tuple[list[Doc], dict]:
    """Fetch, verify, unpack and extract every package: the documents sorted by source, and the counts."""
    seen: dict = {}
    stats, per_source, docs, pkg_meta = Stats(), {}, [], {}
    for pkg in packages:
        deb = fetch_deb(pkg, cache)
        root = unpack_deb(pkg, deb, cache)
        new = collect(package_files(pkg, sources, root), pkg.name, size, seen, stats, per_source)
        docs += new
        pkg_meta[pkg.name] = {"version": pkg.version, "deb_sha256": pkg.sha256, "deb_bytes": deb.stat().st_size,
                              "documents": len(new), "chars": sum(len(d.text) for d in new)}
        print(f"{pkg.name}={pkg.version}: {len(new)} documents, {pkg_meta[pkg.name]['chars']:,} chars", flush=True)
    docs.sort(key=lambda d: d.source)
    return docs, {"packages": pkg_meta, "per_source": per_source, "dedup": vars(stats)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=("cpu", "gpu"), default="cpu", help="cpu: >= 50 M tokens; gpu: >= 300 M")
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="download/unpack cache outside git")
    p.add_argument("--out", default=None, help="full-build directory (default CACHE/build-SIZE)")
    p.add_argument("--vocab-sizes", default="512,5000", help="comma-separated BPE sizes")
    p.add_argument("--subset-out", default=None, help="also write a frozen subset here (e.g. data/lm-debian)")
    p.add_argument("--subset-chars", type=int, default=8_000_000, help="characters of the frozen subset")
    p.add_argument("--reuse", action="store_true", help="reuse the extracted documents of an earlier build in --out")
    p.add_argument("--pin", action="store_true", help="print PACKAGES with the registry's sha256s and exit")
    args = p.parse_args(argv)
    cache = Path(args.cache)
    out = Path(args.out) if args.out else cache / f"build-{args.size}"
    vocab = [int(v) for v in args.vocab_sizes.split(",")]
    if args.pin:
        for pkg in PACKAGES:
            offered = registry_versions(pkg.name)
            print(f'    Package("{pkg.name}", "{pkg.version}", "{offered.get(pkg.version, "")}"),')
        return
    check_pins(PACKAGES, SOURCES, ("cpu", "gpu"))

    t0 = time.time()
    pinned = package_list_sha256(PACKAGES)
    key = [pinned, sha256_bytes(repr(SOURCES).encode("utf-8")), args.size]  # what the extraction depends on
    extract_path = out / "extract.json"  # what the extraction step found, for --reuse
    if args.reuse and extract_path.exists() and json.loads(extract_path.read_text())["key"] == key:
        docs, extracted = read_jsonl(out / "corpus.jsonl.gz"), json.loads(extract_path.read_text())
        data = (out / "corpus.jsonl.gz").read_bytes()
        print(f"reused {len(docs)} documents from {out}", flush=True)
    else:
        docs, extracted = extract_all(PACKAGES, SOURCES, args.size, cache)
        data = gzip_jsonl(docs, level=6)
        out.mkdir(parents=True, exist_ok=True)
        (out / "corpus.jsonl.gz").write_bytes(data)
        extract_path.write_text(json.dumps(dict(extracted, key=key), indent=1, sort_keys=True) + "\n")
    print(f"extracted: {time.time() - t0:.0f} s", flush=True)

    train = sample_docs(docs, TOKENIZER_SAMPLE_CHARS)
    reuse_tok = args.reuse and extract_path.exists() and all((out / f"tokenizer-{v}.json").exists() for v in vocab)
    tokenizers = {v: Tokenizer.from_file(str(out / f"tokenizer-{v}.json")) if reuse_tok
                  else train_tokenizer([d.text for d in train], v) for v in vocab}
    blobs = {v: t.to_str(pretty=True).encode("utf-8") for v, t in tokenizers.items()}
    meta = {
        "description": "Debian 12 packages: documentation (prose), source code (code), data files, tables, "
                       "lists and changelogs (repetitive); see experiments/build_debian_corpus.py",
        "built_by": f"experiments/build_debian_corpus.py --size {args.size} --vocab-sizes {args.vocab_sizes}",
        "size": args.size,
        "eot": EOT,
        "packages": extracted["packages"],
        "package_list_sha256": pinned,
        "selection": {_source_key(s): {"extractor": s.extractor, "fraction": s.fraction[args.size],
                                       "archive": s.archive, "exclude": s.exclude,
                                       **extracted["per_source"].get(_source_key(s), {})}
                      for s in SOURCES},
        "dedup": extracted["dedup"],
        "max_doc_chars": MAX_DOC_CHARS,
        "tokenizer_training_chars": sum(len(d.text) for d in train),
    }
    print(f"tokenizers: {time.time() - t0:.0f} s", flush=True)
    full = write_build(out, data, docs, tokenizers, blobs, meta)
    print(f"full build ({time.time() - t0:.0f} s):", json.dumps(full["counts"]), f"-> {out}", flush=True)
    if args.subset_out:
        sub = subset_docs(docs, args.subset_chars)
        smeta = dict(meta, built_by=meta["built_by"] + f" --subset-out <dir> --subset-chars {args.subset_chars}",
                     subset_of={"corpus.jsonl.gz": full["files"]["corpus.jsonl.gz"], "counts": full["counts"]})
        sman = write_build(Path(args.subset_out), gzip_jsonl(sub), sub, tokenizers, blobs, smeta)
        print("subset:", json.dumps(sman["counts"]), f"-> {args.subset_out}")


if __name__ == "__main__":
    sys.exit(main())
