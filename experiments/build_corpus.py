"""Freeze the language-model corpus and train its byte-level BPE tokenizers into ``data/lm/``.

The corpus is a real, offline mix of English prose and Python source code, both taken from a
CPython 3.11 installation:

* prose: the reference-manual topics that ``pydoc`` ships (``pydoc_data/topics.py``), one
  document per topic, read with ``ast.literal_eval`` (the module is never imported);
* code: every top-level ``*.py`` module of the standard library, one document per file, verbatim
  (indentation included, which the spacing fin of chapter 7 needs).

Documents are sorted (topics by key, files by name) so the build is deterministic. The text is
written to ``corpus.jsonl.gz`` (gzip with a zero mtime, so the bytes do not depend on the build
time) and a byte-level BPE tokenizer is trained with the ``tokenizers`` library for each requested
vocabulary size (GPT-2 pre-tokenization: runs of spaces become their own pre-tokens, so frequent
indentation runs become single tokens). ``manifest.json`` records every file's size and sha256, the
source files' own hashes, the Python version read from, and this command.

Usage::

    .venv/bin/python experiments/build_corpus.py                     # default source and sizes
    .venv/bin/python experiments/build_corpus.py --stdlib /path/to/lib/python3.11 --vocab-sizes 1024
"""
from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import io
import json
import sys
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

DEFAULT_STDLIB = "/root/.pyenv/versions/3.11.7/lib/python3.11"  # CPython 3.11.7 on the build box
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "lm"
EOT = "<|endoftext|>"  # document separator, token id 0 in every tokenizer


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_topics(stdlib: Path) -> list[dict]:
    """The pydoc reference topics as prose documents, sorted by topic name."""
    path = stdlib / "pydoc_data" / "topics.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assigns = [n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "topics"]
    if len(assigns) != 1:
        raise ValueError(f"{path}: expected one `topics = {{...}}` assignment")
    topics: dict[str, str] = ast.literal_eval(assigns[0].value)
    return [{"source": f"pydoc_data/topics.py::{k}", "kind": "prose", "text": topics[k]} for k in sorted(topics)]


def read_modules(stdlib: Path) -> list[dict]:
    """Every top-level standard-library module as a code document, sorted by file name."""
    files = sorted(stdlib.glob("*.py"))
    if not files:
        raise FileNotFoundError(f"no *.py files under {stdlib}")
    return [{"source": f.name, "kind": "code", "text": f.read_text(encoding="utf-8")} for f in files]


def write_corpus(docs: list[dict], path: Path) -> bytes:
    """Write documents as gzipped JSON lines with a fixed header (mtime 0); return the bytes."""
    raw = "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    data = buf.getvalue()
    path.write_bytes(data)
    return data


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE (newlines split off, then GPT-2 pre-tokenization) with ``EOT`` as id 0."""
    tok = Tokenizer(models.BPE())
    # Line breaks are isolated first, so indentation after a newline is a run of spaces of its
    # own (as GPT-2 tokenizes code), then the GPT-2 byte-level regex splits the rest.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\r?\n+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    if tok.get_vocab_size() != vocab_size:
        raise RuntimeError(f"trained vocab {tok.get_vocab_size()} != requested {vocab_size}")
    return tok


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stdlib", default=DEFAULT_STDLIB, help="CPython lib/python3.x directory to read")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (data/lm)")
    p.add_argument("--vocab-sizes", default="512,1024,2048,5000", help="comma-separated BPE sizes")
    args = p.parse_args(argv)
    stdlib, out = Path(args.stdlib), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    docs = read_topics(stdlib) + read_modules(stdlib)
    corpus_bytes = write_corpus(docs, out / "corpus.jsonl.gz")
    files = {"corpus.jsonl.gz": {"bytes": len(corpus_bytes), "sha256": sha256_bytes(corpus_bytes)}}
    texts = [d["text"] for d in docs]
    for v in [int(s) for s in args.vocab_sizes.split(",")]:
        name = f"tokenizer-{v}.json"
        blob = train_tokenizer(texts, v).to_str(pretty=True).encode("utf-8")
        (out / name).write_bytes(blob)
        files[name] = {"bytes": len(blob), "sha256": sha256_bytes(blob), "vocab_size": v}
        print(f"{name}: {len(blob)} bytes")

    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    by_kind = {k: [d for d in docs if d["kind"] == k] for k in ("prose", "code")}
    manifest = {
        "description": "CPython 3.11 reference topics (English prose) + top-level stdlib modules (code)",
        "built_by": "experiments/build_corpus.py --stdlib <dir> --vocab-sizes " + args.vocab_sizes,
        "python_source": {"stdlib": str(stdlib), "version_read": (stdlib / "pydoc_data/topics.py").read_text()[:120].splitlines()[1]},
        "documents": {k: {"count": len(v), "chars": sum(len(d["text"]) for d in v)} for k, v in by_kind.items()},
        "sources": {d["source"]: sha256_bytes(d["text"].encode("utf-8")) for d in docs},
        "files": files,
        "checkpoints": old.get("checkpoints", {}),  # written by experiments/train_lm_base.py; kept across rebuilds
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"{len(docs)} documents ({manifest['documents']}), corpus {len(corpus_bytes)} bytes gz")


if __name__ == "__main__":
    sys.exit(main())
