"""The language-model corpus: checksum-verified loading, tokenization, contexts, token labels.

The corpus and tokenizers are frozen in ``data/lm/`` by ``experiments/build_corpus.py`` (CPython 3.11
reference topics as English prose + top-level standard-library modules as code). Every load checks
the file's sha256 against ``data/lm/manifest.json`` and raises :class:`ChecksumError` on mismatch,
so results cannot drift silently with the installed Python.

Token labels used by the chapters are pure functions of token ids:

* :func:`token_class_table` / :func:`token_classes` -- a coarse class per token (whitespace runs
  by length, newline, word start, word continuation, digits, punctuation, ...) for chapter 7
  (the "spacing fin");
* :func:`induction_pattern_mask` -- tokens :math:`x_t` whose bigram :math:`(x_{t-1}, x_t)`
  already occurred earlier in the context, i.e. tokens an induction head can predict by
  ``[A][B] ... [A] -> [B]`` (chapter 5).
"""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import torch
from tokenizers import Tokenizer

from ..devices import check_device
from .model import AttnOnlyConfig, AttnOnlyTransformer

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "lm"
EOT_ID = 0  # "<|endoftext|>" separates documents in the token stream


class ChecksumError(ValueError):
    """A file in ``data/lm`` does not match the sha256 recorded in its manifest."""


class Document(NamedTuple):
    source: str  # stdlib file name or "pydoc_data/topics.py::<topic>"
    kind: str  # "prose" or "code"
    text: str


class Contexts(NamedTuple):
    """Fixed-length token contexts cut from the document stream."""

    tokens: torch.Tensor  # (N, T) int64
    doc_index: torch.Tensor  # (N,) int64, document in which each context starts
    kind: tuple[str, ...]  # ("prose" | "code") of each context's starting document, length N


# ----------------------------------------------------------------------------- loading


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_manifest(data_dir: str | Path = DATA_DIR) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing; build it with `python experiments/build_corpus.py`")
    return json.loads(path.read_text())


def verified_path(name: str, data_dir: str | Path = DATA_DIR, manifest: dict | None = None) -> Path:
    """Path of ``data_dir/name`` after checking its sha256 against the manifest entry.

    ``name`` is a key of ``manifest["files"]`` or ``manifest["checkpoints"]``.
    """
    manifest = load_manifest(data_dir) if manifest is None else manifest
    entry = manifest.get("files", {}).get(name) or manifest.get("checkpoints", {}).get(name)
    if entry is None:
        raise KeyError(f"{name!r} is not listed in {Path(data_dir) / 'manifest.json'}")
    path = Path(data_dir) / name
    got = sha256_file(path)
    if got != entry["sha256"]:
        raise ChecksumError(
            f"{path}: sha256 {got} does not match manifest {entry['sha256']}; "
            "rebuild with experiments/build_corpus.py (or experiments/train_lm_base.py for checkpoints)"
        )
    return path


def load_corpus(data_dir: str | Path = DATA_DIR) -> list[Document]:
    """All documents of the frozen corpus, in manifest order (prose topics, then code modules)."""
    path = verified_path("corpus.jsonl.gz", data_dir)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [Document(d["source"], d["kind"], d["text"]) for d in map(json.loads, f)]


def load_tokenizer(vocab_size: int = 1024, data_dir: str | Path = DATA_DIR) -> Tokenizer:
    """The frozen byte-level BPE tokenizer with ``vocab_size`` tokens (id 0 is ``<|endoftext|>``)."""
    path = verified_path(f"tokenizer-{vocab_size}.json", data_dir)
    return Tokenizer.from_file(str(path))


def load_checkpoint(name: str, data_dir: str | Path = DATA_DIR,
                    device: torch.device | str = "cpu") -> tuple[AttnOnlyTransformer, dict]:
    """A verified model checkpoint, e.g. ``"checkpoints/step400.pt"`` -> (model, metadata), with the
    model and every tensor of the metadata (e.g. the optimizer state) on ``device``.

    Checkpoints are written by ``experiments/train_lm_base.py``; the metadata holds the model and run
    configs, seed, step, role (``"pre_formation"``, ...) and the code revision.
    """
    ck = torch.load(verified_path(name, data_dir), weights_only=False, map_location=device)
    model = AttnOnlyTransformer(AttnOnlyConfig(**ck["model_config"]), seed=ck["seed"]).to(device)
    model.load_state_dict(ck["state_dict"])
    return model, {k: v for k, v in ck.items() if k != "state_dict"}


# ----------------------------------------------------------------------------- contexts


def encode_documents(tok: Tokenizer, docs: list[Document]) -> list[torch.Tensor]:
    """Token ids of each document, each ``(n_i,)`` int64."""
    return [torch.tensor(e.ids, dtype=torch.long) for e in tok.encode_batch([d.text for d in docs])]


def make_contexts(token_docs: list[torch.Tensor], kinds: list[str], n_ctx: int) -> Contexts:
    """Cut the stream ``doc_0 EOT doc_1 EOT ...`` into non-overlapping contexts of ``n_ctx`` tokens.

    Long documents (source files) therefore give many consecutive contexts from the same file;
    a context may straddle a document boundary, marked by the ``EOT`` token. The tail shorter
    than ``n_ctx`` is dropped.
    """
    if n_ctx < 2:
        raise ValueError(f"n_ctx must be >= 2, got {n_ctx}")
    if len(token_docs) != len(kinds):
        raise ValueError("token_docs and kinds must have the same length")
    eot = torch.tensor([EOT_ID])
    stream = torch.cat([t for d in token_docs for t in (d, eot)])  # (S,)
    owner = torch.cat([torch.full((len(d) + 1,), i) for i, d in enumerate(token_docs)])  # (S,)
    n = len(stream) // n_ctx
    tokens = stream[: n * n_ctx].view(n, n_ctx)  # (N, T)
    doc_index = owner[: n * n_ctx : n_ctx].clone()  # (N,)
    return Contexts(tokens, doc_index, tuple(kinds[i] for i in doc_index.tolist()))


def split_contexts(ctx: Contexts, holdout_fraction: float, seed: int) -> tuple[Contexts, Contexts]:
    """Seeded random split into (train, held-out) contexts (the permutation is drawn on the CPU, so
    the split is the same whatever device ``ctx.tokens`` lives on)."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    perm = torch.randperm(len(ctx.tokens), generator=torch.Generator().manual_seed(seed))
    n_hold = max(1, int(round(holdout_fraction * len(perm))))
    return _take(ctx, perm[n_hold:].sort().values), _take(ctx, perm[:n_hold].sort().values)


def _take(ctx: Contexts, idx: torch.Tensor) -> Contexts:
    return Contexts(ctx.tokens[idx], ctx.doc_index[idx], tuple(ctx.kind[i] for i in idx.tolist()))


def load_contexts(n_ctx: int, vocab_size: int = 1024, data_dir: str | Path = DATA_DIR) -> Contexts:
    """Verified corpus -> tokenizer -> contexts, in one call."""
    docs = load_corpus(data_dir)
    tok = load_tokenizer(vocab_size, data_dir)
    return make_contexts(encode_documents(tok, docs), [d.kind for d in docs], n_ctx)


def frequent_tokens(tokens: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` most frequent token ids in ``tokens`` (ties by id), ``EOT`` excluded -- ``(k,)``.

    Used as the pool for repeated random-token probes, so probe tokens have trained embeddings.
    """
    counts = torch.bincount(tokens.flatten(), minlength=int(tokens.max()) + 1)
    counts[EOT_ID] = -1
    if not 0 < k <= int((counts > 0).sum()):
        raise ValueError(f"k must be in [1, number of distinct non-EOT tokens], got {k}")
    return torch.argsort(-counts, stable=True)[:k]


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """Minibatch ``step`` (0-based) of shuffled epochs over ``n`` samples, ``(batch_size,)`` int64.

    A pure function of ``(n, batch_size, step, seed)``: epoch ``e`` is the permutation drawn from
    ``seed + e``, cut into ``n // batch_size`` batches (the remainder is dropped), so each index
    appears at most once per epoch and a run resumed at any step sees the same batches. The
    indices are drawn and returned on the CPU (they index a tensor on any device).
    """
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    per_epoch = n // batch_size
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return perm[i * batch_size : (i + 1) * batch_size]


# ----------------------------------------------------------------------------- token labels

TOKEN_CLASSES = (
    "eot",  # <|endoftext|>
    "space_1",  # exactly one space
    "space_2",  # a run of two spaces
    "space_3_4",  # three or four spaces
    "space_5_8",  # five to eight spaces
    "space_9plus",  # nine or more spaces
    "newline",  # contains a line break (with or without indentation after it)
    "word_start",  # a space then a letter/underscore: " foo"
    "word_cont",  # letters/underscore with no leading space: "foo" (start of line or mid-word)
    "digits",  # digits, optionally after one space
    "punct",  # punctuation/operators (optionally after one space), no letters or digits
    "other",  # anything else (mixed, non-ASCII, tabs)
)


def classify_token_string(s: str) -> str:
    """Coarse class of one decoded token string; one of :data:`TOKEN_CLASSES`."""
    if s == "<|endoftext|>":
        return "eot"
    if "\n" in s or "\r" in s:
        return "newline"
    if s and set(s) == {" "}:
        k = len(s)
        return "space_1" if k == 1 else "space_2" if k == 2 else "space_3_4" if k <= 4 else "space_5_8" if k <= 8 else "space_9plus"
    body = s[1:] if s.startswith(" ") else s
    if not body:
        return "other"
    wordish = all(c.isascii() and (c.isalnum() or c == "_") for c in body)
    if wordish and (body[0].isalpha() or body[0] == "_"):
        return "word_start" if s.startswith(" ") else "word_cont"
    if body.isascii() and body.isdigit():
        return "digits"
    if all(c.isascii() and not c.isalnum() and not c.isspace() and c != "_" for c in body):
        return "punct"
    return "other"


def token_class_table(tok: Tokenizer, device: torch.device | str | None = None) -> torch.Tensor:
    """Class index (into :data:`TOKEN_CLASSES`) of every token id, ``(V,)`` int64, on ``device``."""
    names = [classify_token_string(tok.decode([i], skip_special_tokens=False)) for i in range(tok.get_vocab_size())]
    return torch.tensor([TOKEN_CLASSES.index(n) for n in names], dtype=torch.long, device=device)


def token_classes(tokens: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Class index of each token: ``table[tokens]``, same shape as ``tokens`` (both on one device)."""
    if tokens.dtype != torch.long:
        raise TypeError(f"tokens must be int64, got {tokens.dtype}")
    check_device("table", table.device, tokens.device, "tokens")
    return table[tokens]


def induction_pattern_mask(tokens: torch.Tensor) -> torch.Tensor:
    """Which tokens complete a bigram seen earlier in their context.

    ``mask[b, t]`` is True iff there is :math:`s < t` with
    :math:`(x_{s-1}, x_s) = (x_{t-1}, x_t)` -- the pattern ``[A][B] ... [A][B]`` whose second
    ``[B]`` an induction head predicts. Position 0 is always False. To align with the per-token
    loss ``(B, T-1)`` (loss at index ``i`` predicts token ``i+1``) use ``mask[:, 1:]``.

    Args:
        tokens: ``(B, T)`` int64 (or ``(T,)``).
    Returns:
        ``(B, T)`` bool (or ``(T,)``).
    """
    if tokens.dim() == 1:
        return induction_pattern_mask(tokens[None])[0]
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be (B, T) or (T,), got shape {tuple(tokens.shape)}")
    prev, cur = tokens[:, :-1], tokens[:, 1:]  # bigram ending at t = 1..T-1, each (B, T-1)
    same = (prev[:, :, None] == prev[:, None, :]) & (cur[:, :, None] == cur[:, None, :])  # (B, T-1, T-1)
    earlier = torch.ones(same.shape[-1], same.shape[-1], dtype=torch.bool, device=tokens.device).tril(-1)  # s < t
    hit = (same & earlier).any(-1)  # (B, T-1)
    return torch.cat([torch.zeros_like(hit[:, :1]), hit], dim=1)  # (B, T)
