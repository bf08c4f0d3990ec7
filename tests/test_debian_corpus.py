"""The Debian corpus builder (experiments/build_debian_corpus.py), its frozen subset
(data/lm-debian/) and the leverage measurement (experiments/lm_leverage.py): fast, no downloads."""
from __future__ import annotations

import gzip
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import build_debian_corpus as bdc  # noqa: E402
import lm_leverage as lev  # noqa: E402

from patterning_core.lm import data as lm_data  # noqa: E402

SUBSET = ROOT / "data" / "lm-debian"


# ----------------------------------------------------------------------------- text extraction


def test_normalize_text_ignores_line_ends_trailing_space_and_blank_edges():
    assert bdc.normalize_text("\n\na  \r\nb\t\r\n\n") == "a\nb"
    assert bdc.normalize_text("a\n b") != bdc.normalize_text("a\nb")  # leading space is content


def test_split_document_round_trips_and_respects_the_limit():
    text = "".join(f"line {i} " * (i % 7) + "\n" for i in range(200)) + "x" * 95
    pieces = bdc.split_document(text, 50)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= 50 for p in pieces)
    assert bdc.split_document("short\n", 50) == ["short\n"]
    with pytest.raises(ValueError, match="max_chars"):
        bdc.split_document("x", 0)


def test_html_to_text_keeps_visible_text_and_pre():
    raw = (b"<html><head><title>T</title><style>p{}</style></head><body><nav>menu</nav>"
           b"<h1>Head</h1><p>one\n   two</p><script>var x;</script><pre>  a\n    b</pre></body></html>")
    text = bdc.html_to_text(raw)
    assert "Head" in text and "one two" in text and "  a\n    b" in text
    assert "var x" not in text and "menu" not in text and "p{}" not in text


def test_roff_to_text_drops_requests_and_escapes():
    src = '.\\" comment\n.TH LS 1\n.SH NAME\nls \\- list\n.B \\-l\nlong \\fBformat\\fR here\n.PP\nmore\n'
    text = bdc.roff_to_text(src)
    assert "comment" not in text and ".TH" not in text and "\\f" not in text
    assert "NAME" in text and "ls - list" in text and "-l" in text and "long format here" in text


def test_binary_and_undecodable_files_are_rejected():
    with pytest.raises(UnicodeDecodeError):
        bdc.EXTRACTORS["text"](b"ab\x00cd")
    with pytest.raises(UnicodeDecodeError):
        bdc.EXTRACTORS["text"](b"\xff\xfe")


def test_path_uniform_is_deterministic_and_spread():
    u = [bdc.path_uniform(f"pkg:file{i}.c") for i in range(2000)]
    assert u == [bdc.path_uniform(f"pkg:file{i}.c") for i in range(2000)]
    assert all(0.0 <= x < 1.0 for x in u)
    assert 0.45 < sum(x < 0.5 for x in u) / len(u) < 0.55


# ----------------------------------------------------------------------------- a fake unpacked package


def _fake_tree(root: Path) -> Path:
    """A tiny 'dpkg-deb -x' tree: docs, a duplicate, a whitespace-variant duplicate, a binary, a tarball."""
    doc = root / "usr/share/doc/fake"
    doc.mkdir(parents=True)
    (doc / "a.txt").write_text("Alpha text.\nSecond line.\n")
    (doc / "b.txt").write_text("Alpha text.\nSecond line.\n")  # exact duplicate of a.txt
    (doc / "c.txt").write_text("Alpha text.   \r\nSecond line.\n\n\n")  # same after normalisation
    (doc / "d.txt").write_text("Different.\n")
    (doc / "e.txt").write_bytes(b"\x00\x01binary")
    (doc / "page.html").write_bytes(b"<p>Hello <b>world</b></p>")
    (doc / "ignored.png").write_bytes(b"PNG")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, body in (("src/x.c", b"int x;\n"), ("src/y.h", b"#define Y 1\n"), ("src/z.o", b"obj")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    (root / "usr/src").mkdir(parents=True)
    (root / "usr/src/src.tar.xz").write_bytes(buf.getvalue())
    return root


FAKE_PKG = bdc.Package("fake", "1.0-1", "")
FAKE_SOURCES = (
    bdc.Source("fake", r"^usr/share/doc/fake/.*\.txt$", "prose", "text", {"cpu": 1.0, "gpu": 1.0}),
    bdc.Source("fake", r"\.html$", "prose", "html", {"cpu": 1.0, "gpu": 1.0}),
    bdc.Source("fake", r"^src/.*\.[ch]$", "code", "text", {"cpu": 1.0, "gpu": 1.0}, archive="usr/src/src.tar.xz"),
    bdc.Source("other", r".*", "code", "text", {"cpu": 1.0, "gpu": 1.0}),  # another package's: never used here
)


def test_collect_extracts_deduplicates_and_counts(tmp_path):
    root = _fake_tree(tmp_path)
    stats, per_source, seen = bdc.Stats(), {}, {}
    docs = bdc.collect(bdc.package_files(FAKE_PKG, FAKE_SOURCES, root), "fake", "cpu", seen, stats, per_source)
    got = {d.source: (d.kind, d.text) for d in docs}
    assert got == {
        "fake:usr/share/doc/fake/a.txt": ("prose", "Alpha text.\nSecond line.\n"),
        "fake:usr/share/doc/fake/d.txt": ("prose", "Different.\n"),
        "fake:usr/share/doc/fake/page.html": ("prose", "Hello world\n"),
        "fake:src/x.c": ("code", "int x;\n"),
        "fake:src/y.h": ("code", "#define Y 1\n"),
    }
    assert (stats.files_matched, stats.files_kept) == (8, 5)
    assert (stats.duplicate_exact, stats.duplicate_normalized, stats.undecodable) == (1, 1, 1)
    assert sum(v["files"] for v in per_source.values()) == 5
    # a second package with the same text is deduplicated against the first
    again = bdc.collect(bdc.package_files(FAKE_PKG, FAKE_SOURCES, root), "fake", "cpu", seen, bdc.Stats(), {})
    assert again == []


def test_collect_samples_by_path_hash(tmp_path):
    root = tmp_path / "t"
    (root / "d").mkdir(parents=True)
    for i in range(400):
        (root / "d" / f"f{i}.txt").write_text(f"file number {i}\n")
    src = (bdc.Source("fake", r"\.txt$", "code", "text", {"cpu": 0.25, "gpu": 1.0}),)
    half = bdc.collect(bdc.package_files(FAKE_PKG, src, root), "fake", "cpu", {}, bdc.Stats(), {})
    full = bdc.collect(bdc.package_files(FAKE_PKG, src, root), "fake", "gpu", {}, bdc.Stats(), {})
    assert len(full) == 400 and 70 < len(half) < 130
    assert {d.source for d in half} == {d.source for d in full if bdc.path_uniform(d.source) < 0.25}


def test_gzip_jsonl_is_deterministic_and_loadable(tmp_path):
    docs = [bdc.Doc("p:a", "prose", "héllo\n"), bdc.Doc("p:b", "code", "x = 1\n")]
    blob = bdc.gzip_jsonl(docs)
    assert blob == bdc.gzip_jsonl(docs)
    rows = [json.loads(line) for line in gzip.decompress(blob).decode("utf-8").splitlines()]
    assert rows == [d._asdict() for d in docs]


def test_subset_keeps_kind_shares_and_whole_files():
    docs = [bdc.Doc(f"p:{k}{i}" + (f"#{j}" if k == "code" else ""), k, "x" * 100)
            for k in bdc.KINDS for i in range(100) for j in range(2 if k == "code" else 1)]
    sub = bdc.subset_docs(docs, 6000)
    chars = {k: sum(len(d.text) for d in sub if d.kind == k) for k in bdc.KINDS}
    assert chars["code"] >= 2 * chars["prose"] - 200 and chars["prose"] > 0 and chars["repetitive"] > 0
    files = {d.source.split("#")[0] for d in sub if d.kind == "code"}
    assert len([d for d in sub if d.kind == "code"]) == 2 * len(files)  # both pieces of each kept file


# ----------------------------------------------------------------------------- registry pins


def test_version_no_longer_offered_raises_a_clear_error():
    pkg = bdc.Package("linux-source-6.1", "6.1.1-1", "ab" * 32)
    with pytest.raises(bdc.RegistryMismatch, match=r"linux-source-6\.1: pinned version '6\.1\.1-1' is no longer offered.*6\.1\.176-1"):
        bdc.check_registry(pkg, {"6.1.176-1": "cd" * 32})
    with pytest.raises(bdc.RegistryMismatch, match="registry sha256 .* differs from the pinned"):
        bdc.check_registry(pkg, {"6.1.1-1": "cd" * 32})
    bdc.check_registry(pkg, {"6.1.1-1": "ab" * 32})  # as pinned: no error


def test_registry_versions_parses_apt_cache_show():
    out = "Package: x\nVersion: 2.0-1\nSHA256: aa\n\nPackage: x\nVersion: 1.0-1\nSHA256: bb\n"
    fake_run = lambda *a, **k: type("R", (), {"stdout": out})()  # noqa: E731
    assert bdc.registry_versions("x", run=fake_run) == {"2.0-1": "aa", "1.0-1": "bb"}


def test_downloaded_deb_with_other_sha256_is_rejected(tmp_path):
    deb = tmp_path / "fake_1.0-1_all.deb"
    deb.write_bytes(b"not the pinned bytes")
    with pytest.raises(bdc.RegistryMismatch, match="differs from the pinned"):
        bdc.verify_deb(bdc.Package("fake", "1.0-1", "0" * 64), deb)
    assert bdc.verify_deb(bdc.Package("fake", "1.0-1", bdc.sha256_bytes(deb.read_bytes())), deb)


def test_pinned_packages_and_sources_are_consistent():
    bdc.check_pins(bdc.PACKAGES, bdc.SOURCES, ("cpu", "gpu"))
    assert all(len(p.sha256) == 64 for p in bdc.PACKAGES)
    assert bdc.deb_filename(bdc.Package("emacs-el", "1:28.2+1", "")) == "emacs-el_1%3a28.2+1_all.deb"
    with pytest.raises(ValueError, match="kind 'poetry'"):
        bdc.check_pins(bdc.PACKAGES, (bdc.Source("perl-doc", "x", "poetry", "text", {"cpu": 1, "gpu": 1}),), ("cpu",))
    with pytest.raises(ValueError, match="not in PACKAGES"):
        bdc.check_pins(bdc.PACKAGES, (bdc.Source("nope", "x", "code", "text", {"cpu": 1}),), ("cpu",))


# ----------------------------------------------------------------------------- the frozen subset


def test_frozen_subset_matches_its_manifest_and_loads():
    man = lm_data.load_manifest(SUBSET)
    for name, entry in man["files"].items():
        assert lm_data.sha256_file(SUBSET / name) == entry["sha256"], name
    assert man["package_list_sha256"] == bdc.package_list_sha256(bdc.PACKAGES)
    docs = lm_data.load_corpus(SUBSET)
    assert {d.kind for d in docs} == set(bdc.KINDS)
    chars = {k: sum(len(d.text) for d in docs if d.kind == k) for k in bdc.KINDS}
    assert chars == {k: man["counts"][k]["chars"] for k in bdc.KINDS}
    assert (SUBSET / "corpus.jsonl.gz").stat().st_size <= 20 * 2**20


def test_tampered_subset_raises_checksum_error(tmp_path):
    for name in ("manifest.json", "corpus.jsonl.gz"):
        (tmp_path / name).write_bytes((SUBSET / name).read_bytes())
    with open(tmp_path / "corpus.jsonl.gz", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(lm_data.ChecksumError):
        lm_data.load_corpus(tmp_path)


# ----------------------------------------------------------------------------- leverage


def test_leverage_of_a_two_valued_share_is_known():
    # 20 % of contexts at share 1, 80 % at 0: the best up-weighting puts all of the budget there.
    s = torch.tensor([1.0] * 20 + [0.0] * 80, dtype=torch.float64)
    out = lev.leverage(s)
    assert out["share"] == pytest.approx(0.2)
    assert out["best_up"] == pytest.approx(4.0)  # weights 4 on the 20 %, 1/4 on the rest
    assert out["best_down"] == pytest.approx(0.25)  # every high one at 1/4


def test_mix_sweep_builds_pools_with_the_requested_repetitive_share():
    s = torch.tensor([0.1] * 900 + [1.0] * 300, dtype=torch.float64)  # the repetitive contexts at share 1
    is_rep = torch.tensor([False] * 900 + [True] * 300)
    out = lev.mix_sweep(s, is_rep, torch.ones(1200, dtype=torch.bool), seed=0)
    assert set(out) == {str(f) for f in lev.REPETITIVE_SHARES}  # 0.5: the base pool subsampled to 300
    for f, row in out.items():
        assert row["share"] == pytest.approx(0.1 * (1 - float(f)) + float(f), abs=2e-3)
    assert out["0.2"]["best_up"] == pytest.approx((0.2 * 4 + 0.8 * 0.25 * 0.1) / 0.28, abs=0.02)  # 20 % at weight 4
    with pytest.raises(ValueError, match="positive mean"):
        lev.leverage(torch.zeros(10, dtype=torch.float64))
