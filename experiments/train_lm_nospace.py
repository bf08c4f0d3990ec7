"""Train the chapter-7 control model: the base run on text with consecutive spaces removed.

The patterning paper's sanity check for the "spacing fin": retrain on the corpus with runs of
spaces removed and recompute the per-token susceptibilities on the same probe set. This script
trains that model once, offline, with everything but the data identical to the base run of
``experiments/train_lm_base.py`` (same :class:`BaseRunConfig`, seed 0, initialisation, AdamW and
learning-rate schedule, batch 8 x 256), and stops at ``--steps`` (default 2500, the step of the
base checkpoint chapter 7 compares against)::

    .venv/bin/python experiments/train_lm_nospace.py      # ~5 CPU-min on one core

The data: the base run's *training* contexts (same seeded split, so its held-out contexts -- the
chapter's probe -- are never trained on), each decoded, passed through
:func:`patterning_core.lm.spacing.collapse_space_runs` (every run of >= 2 spaces becomes one space),
re-encoded with the same tokenizer and re-cut into 256-token contexts. Batches are
:func:`lm_data.batch_indices` of that set with the base seed.

It writes ``data/lm/checkpoints-nospace/step{N}.pt`` (weights, configs, seed, step, the ablation
rule, held-out losses, code revision; no optimizer state) and records its sha256 in
``data/lm/manifest.json`` under ``checkpoints`` (adding to, never replacing, the base entries).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "experiments"))

from train_lm_base import BaseRunConfig, git_revision, make_optimizer, train_step  # noqa: E402

from patterning_core.lm import data as lm_data, spacing  # noqa: E402
from patterning_core.lm.model import AttnOnlyTransformer, per_token_loss  # noqa: E402

OUT = lm_data.DATA_DIR / "checkpoints-nospace"
RULE = "every run of >= 2 consecutive spaces (U+0020) replaced by one space (spacing.collapse_space_runs)"


def ablated_split(cfg: BaseRunConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ablated train contexts, original held-out contexts, ablated held-out contexts), each (N, T)."""
    ctx = lm_data.load_contexts(cfg.model.n_ctx, cfg.model.vocab_size)
    train_set, held_set = lm_data.split_contexts(ctx, cfg.holdout_fraction, seed=cfg.seed)
    tok = lm_data.load_tokenizer(cfg.model.vocab_size)
    held = held_set.tokens[: cfg.n_heldout]
    return (spacing.ablate_contexts(train_set.tokens, tok, cfg.model.n_ctx), held,
            spacing.ablate_contexts(held, tok, cfg.model.n_ctx))


@torch.no_grad()
def heldout_loss(model: AttnOnlyTransformer, tokens: torch.Tensor) -> float:
    return float(per_token_loss(model, tokens).mean())


def train(cfg: BaseRunConfig, steps: int) -> tuple[AttnOnlyTransformer, dict]:
    train_tokens, held, held_ablated = ablated_split(cfg)
    print(f"{len(train_tokens)} ablated training contexts (the base run has "
          f"{round(len(lm_data.load_contexts(cfg.model.n_ctx, cfg.model.vocab_size).tokens) * (1 - cfg.holdout_fraction))})", flush=True)
    model = AttnOnlyTransformer(replace(cfg.model, fused_attention=True), seed=cfg.seed)  # as the base run
    opt, sched = make_optimizer(model, cfg)
    trace, t0 = [], time.time()
    for step in range(steps):
        loss = train_step(model, opt, sched, train_tokens, step, cfg)
        if (step + 1) % 500 == 0 or step + 1 == steps:
            row = {"step": step + 1, "train_loss": float(loss.detach()), "heldout_loss": heldout_loss(model, held),
                   "heldout_loss_ablated_text": heldout_loss(model, held_ablated), "train_seconds": round(time.time() - t0, 1)}
            trace.append(row)
            print(json.dumps(row), flush=True)
    return model, {"trace": trace, "n_train_contexts": len(train_tokens)}


def save(cfg: BaseRunConfig, model: AttnOnlyTransformer, info: dict, steps: int) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"step{steps}.pt"
    ck = {"state_dict": model.state_dict(), "model_config": asdict(cfg.model), "run_config": asdict(cfg),
          "seed": cfg.seed, "step": steps, "role": "nospace", "ablation": RULE, "code_version": git_revision(),
          "eval": info["trace"][-1], "trace": info["trace"], "n_train_contexts": info["n_train_contexts"]}
    torch.save(ck, path)
    manifest = lm_data.load_manifest()
    manifest.setdefault("checkpoints", {})[f"{OUT.name}/{path.name}"] = {
        "sha256": lm_data.sha256_file(path), "bytes": path.stat().st_size, "step": steps, "role": "nospace", "seed": cfg.seed}
    (lm_data.DATA_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2500, help="optimizer steps (the base checkpoint's step)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = BaseRunConfig()  # the base run's config: the learning-rate schedule does not depend on cfg.steps
    model, info = train(cfg, args.steps)
    print(f"wrote {save(cfg, model, info, args.steps)}; done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
