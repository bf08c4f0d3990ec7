"""Leverage before method: how far can context re-weighting move the induction-pattern share?

Issue 17, part 2. Before training anything, measure on each corpus (contexts of ``--n-ctx``
tokens under the ``--vocab``-token tokenizer, as the CPU model sees them):

* the per-context share of induction-pattern tokens, :math:`s_i = \\frac{1}{T-1}\\sum_{t=1}^{T-1} m_{it}`
  with :math:`m` = ``patterning_core.lm.data.induction_pattern_mask`` (token :math:`t` completes a
  bigram seen earlier in its context; positions 1..T-1, i.e. the tokens a next-token loss scores);
* its distribution: mean and quantiles, overall and by kind (``prose`` / ``code`` / ``repetitive``,
  the kind of the document a context starts in);
* the largest and smallest token-weighted share reachable by mean-one weights in
  :math:`[1/4, 4]`: the linear programme :math:`\\max_w \\sum_i w_i s_i / N` s.t.
  :math:`\\frac1N\\sum_i w_i = 1`, :math:`w_i \\in [1/4, 4]` is solved exactly by the greedy
  (fractional-knapsack) fill of :func:`extreme_weights` (every context has the same number of
  scored tokens, so the token-weighted share is the weighted mean of :math:`s_i`);
* an oracle of the chapter's form, :math:`w_i \\propto \\exp(\\pm 1.5 z_i)` with :math:`z` the
  standardised share, capped to :math:`[1/4, 4]` and renormalised to mean one (:func:`capped_mean_one`);

reported as ratios to the unweighted share, on all contexts, on all but the repetitive ones, on
pools with the repetitive slice mixed in at several shares (:func:`mix_sweep`: what the slice
can add), and on a seeded pool of 2,048 contexts (the size of chapter 5's
retraining pool). The old corpus (``data/lm``) is measured the same way. A corpus larger than
``--max-chars`` is measured on the documents drawn by path hash up to that size (the builder's
:func:`sample_docs`), which the JSON records.

Usage::

    nice -n 10 .venv/bin/python experiments/lm_leverage.py \\
        --corpus new=~/.cache/patterning-corpus/build-cpu --corpus subset=data/lm-debian --corpus old=data/lm
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

from patterning_core.lm import data as lm_data
from patterning_core.lm import leverage as lever
from patterning_core.lm.leverage import induction_share

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_debian_corpus import sample_docs, subset_docs  # noqa: E402  (the builder's path-hash draws)

ROOT = Path(__file__).resolve().parents[1]
QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)  # reported quantiles of the per-context share
W_LO, W_HI = 0.25, 4.0  # the weight cap of issue 17
ORACLE_STRENGTH = 1.5  # exp(±1.5 z), the chapter's weight form
POOL = 2048  # contexts in chapter 5's retraining pool


def leverage(scores: torch.Tensor) -> dict:
    """Unweighted share and the ratios the best / oracle weights reach, up and down (issue 17's cap and strength)."""
    return lever.leverage(scores, W_LO, W_HI, ORACLE_STRENGTH)


def distribution(scores: torch.Tensor) -> dict:
    q = torch.quantile(scores, torch.tensor(QUANTILES, dtype=torch.float64)).tolist()
    return {"contexts": len(scores), "mean": float(scores.mean()), "quantiles": dict(zip(map(str, QUANTILES), q))}


REPETITIVE_SHARES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)  # mixes of the repetitive slice into the rest


def mix_sweep(s: torch.Tensor, is_rep: torch.Tensor, base: torch.Tensor, seed: int) -> dict:
    """Leverage of pools made of the ``base`` contexts plus repetitive ones at each share of
    :data:`REPETITIVE_SHARES` (repetitive contexts drawn without replacement, seeded; the base
    pool subsampled when there are too few repetitive contexts for the share)."""
    g = torch.Generator().manual_seed(seed)
    rep = s[is_rep][torch.randperm(int(is_rep.sum()), generator=g)]
    rest = s[base & ~is_rep][torch.randperm(int((base & ~is_rep).sum()), generator=g)]
    out = {}
    for f in REPETITIVE_SHARES:
        n_rest = len(rest) if f == 0 else min(len(rest), int(len(rep) * (1 - f) / f))
        n_rep = int(round(n_rest * f / (1 - f)))
        if n_rep > len(rep) or n_rest < 1:
            continue
        out[str(f)] = leverage(torch.cat([rest[:n_rest], rep[:n_rep]]))
    return out


def measure(ctx: lm_data.Contexts, seed: int) -> dict:
    """Distribution and leverage on all contexts, without the repetitive ones, and on a seeded pool."""
    s = induction_share(ctx.tokens)
    kinds = sorted(set(ctx.kind))
    kind_t = [k for k in ctx.kind]
    mask = {k: torch.tensor([x == k for x in kind_t]) for k in kinds}
    pool = torch.randperm(len(s), generator=torch.Generator().manual_seed(seed))[: min(POOL, len(s))]
    not_rep = ~mask["repetitive"] if "repetitive" in mask else torch.ones(len(s), dtype=torch.bool)
    return {
        "distribution": {"all": distribution(s), **{k: distribution(s[m]) for k, m in mask.items()}},
        "context_share_by_kind": {k: float(m.double().mean()) for k, m in mask.items()},
        "leverage": {
            "all": leverage(s),
            "without_repetitive": leverage(s[not_rep]),
            f"pool_{POOL}_seed{seed}": leverage(s[pool]),
        },
        "repetitive_mix": {} if "repetitive" not in mask else {
            "prose_code_plus_repetitive": mix_sweep(s, mask["repetitive"], torch.ones(len(s), dtype=torch.bool), seed),
            "prose_plus_repetitive": mix_sweep(s, mask["repetitive"], mask.get("prose", torch.zeros(len(s), dtype=torch.bool)), seed),
        },
    }


def provenance(dirs: dict) -> dict:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    info = {
        "commit": git("rev-parse", "HEAD"),
        "worktree_clean_for_this_script": git("status", "--porcelain", "--", "experiments/lm_leverage.py") == "",
        "machine": {"node": platform.node(), "platform": platform.platform(), "processor": platform.processor(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "experiments/lm_leverage.py " + " ".join(sys.argv[1:]),
        "corpora": {},
    }
    for name, d in dirs.items():
        man = lm_data.load_manifest(d)
        info["corpora"][name] = {
            "data_dir": str(d).replace(str(Path.home()), "~"),
            "corpus_sha256": man["files"]["corpus.jsonl.gz"]["sha256"],
            "package_list_sha256": man.get("package_list_sha256"),
            "built_by": man.get("built_by"),
        }
    return info


def load_sampled_contexts(data_dir: Path, n_ctx: int, vocab: int, max_chars: int,
                          stratified: bool) -> tuple[lm_data.Contexts, dict]:
    """Contexts of the verified corpus in ``data_dir``; when it holds more than ``max_chars``
    characters, of the documents drawn by path hash up to ``max_chars`` -- per kind in the
    corpus's character shares (``stratified``, the builder's :func:`subset_docs`) or not
    (:func:`sample_docs`)."""
    docs = lm_data.load_corpus(data_dir)
    total = sum(len(d.text) for d in docs)
    if total > max_chars:
        docs = subset_docs(docs, max_chars) if stratified else sample_docs(docs, max_chars)
    tok = lm_data.load_tokenizer(vocab, data_dir)
    ctx = lm_data.make_contexts(lm_data.encode_documents(tok, docs), [d.kind for d in docs], n_ctx)
    return ctx, {"stratified": stratified and total > max_chars, "corpus_chars": total, "measured_chars": sum(len(d.text) for d in docs), "measured_documents": len(docs)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", action="append", required=True, help="NAME=DATA_DIR (repeatable)")
    p.add_argument("--n-ctx", type=int, default=256, help="context length (the CPU model's)")
    p.add_argument("--vocab", type=int, default=512, help="tokenizer size (the CPU model's)")
    p.add_argument("--max-chars", type=int, default=30_000_000,
                   help="measure a corpus larger than this on documents drawn by path hash up to this size")
    p.add_argument("--stratified", action="store_true", help="draw the sample per kind in the corpus's shares")
    p.add_argument("--seed", type=int, default=0, help="seed of the 2,048-context pool")
    p.add_argument("--out", default=str(ROOT / "results" / "lm" / "leverage.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    dirs = {}
    for item in args.corpus:
        name, sep, d = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--corpus must be NAME=DATA_DIR, got {item!r}")
        dirs[name] = Path(d).expanduser()
    result = {"n_ctx": args.n_ctx, "vocab_size": args.vocab, "weight_cap": [W_LO, W_HI],
              "oracle_strength": ORACLE_STRENGTH, "quantiles": list(QUANTILES), "corpora": {}}
    for name, d in dirs.items():
        ctx, sampled = load_sampled_contexts(d, args.n_ctx, args.vocab, args.max_chars, args.stratified)
        result["corpora"][name] = dict(measure(ctx, args.seed), sample=sampled)
        lev = result["corpora"][name]["leverage"]["all"]
        print(f"{name}: {len(ctx.tokens)} contexts, share {lev['share']:.3f}, best up {lev['best_up']:.2f}x, "
              f"down {lev['best_down']:.2f}x", flush=True)
    result["provenance"] = provenance(dirs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    sys.exit(main())
