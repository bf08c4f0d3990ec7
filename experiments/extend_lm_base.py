"""Continue the chapter-5 base run from a saved checkpoint and save one more checkpoint.

``experiments/train_lm_base.py`` keeps init, pre-formation, formation and post-formation weights. The
retraining experiment of chapter 5 starts inside the formation window (step 4000, where the best
layer-1 prefix-matching score has begun to rise), so this script resumes the base run exactly —
same model, AdamW state, learning-rate schedule and batch order (:func:`lm_data.batch_indices` is a
pure function of the step) — from ``--start`` to ``--stop`` and writes ``step{stop}.pt`` with its
AdamW state. It checks that the evaluation at ``--stop`` matches the base run's ``trace.json``::

    .venv/bin/python experiments/extend_lm_base.py --start 2500 --stop 4000
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "experiments"))

from patterning_core.lm import data as lm_data  # noqa: E402
from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer  # noqa: E402
from train_lm_base import CKPT_DIR, BaseRunConfig, evaluate, git_revision, make_optimizer, make_probe, train_step  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--start", type=int, default=2500, help="step of a saved checkpoint with AdamW state")
    p.add_argument("--stop", type=int, default=4000, help="step of the new checkpoint")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    ck = torch.load(lm_data.verified_path(f"checkpoints/step{a.start}.pt"), weights_only=False)
    rc = dict(ck["run_config"])
    cfg = BaseRunConfig(**{**rc, "model": AttnOnlyConfig(**rc["model"]), "betas": tuple(rc["betas"])})
    ctx = lm_data.load_contexts(cfg.model.n_ctx, cfg.model.vocab_size)
    train_set, held_set = lm_data.split_contexts(ctx, cfg.holdout_fraction, seed=cfg.seed)
    train_tokens, held = train_set.tokens, held_set.tokens[: cfg.n_heldout]
    probe = make_probe(train_tokens, cfg)
    model = AttnOnlyTransformer(replace(cfg.model, fused_attention=True), seed=cfg.seed)
    model.load_state_dict(ck["state_dict"])
    opt, sched = make_optimizer(model, cfg)
    opt.load_state_dict(ck["optimizer_state"])
    for _ in range(a.start):  # the schedule's position (constant after warm-up, but keep it exact)
        sched.step()
    for step in range(a.start, a.stop):
        loss = train_step(model, opt, sched, train_tokens, step, cfg)
        if (step + 1) % 250 == 0:
            print(f"step {step + 1} loss {float(loss):.3f}", flush=True)
    row = {"step": a.stop, **evaluate(model, probe, held)}
    trace = json.loads((CKPT_DIR / "trace.json").read_text())["trace"]
    ref = next((r for r in trace if r["step"] == a.stop), None)
    if ref is not None:
        print(f"best L1 prefix matching {row['pm_l1_best']:.4f} (base run: {ref['pm_l1_best']:.4f})")
        if not math.isclose(row["pm_l1_best"], ref["pm_l1_best"], rel_tol=1e-3, abs_tol=1e-4):
            print("warning: the resumed run does not reproduce the base run's trace at this step")
    name = f"step{a.stop}.pt"
    out = {"state_dict": model.state_dict(), "model_config": rc["model"], "run_config": rc, "seed": cfg.seed, "step": a.stop,
           "role": "formation_window", "code_version": git_revision(), "eval": row, "probe": probe,
           "optimizer_state": opt.state_dict()}
    torch.save(out, CKPT_DIR / name)
    manifest = lm_data.load_manifest()
    manifest["checkpoints"][f"checkpoints/{name}"] = {"sha256": lm_data.sha256_file(CKPT_DIR / name),
                                                      "bytes": (CKPT_DIR / name).stat().st_size, "step": a.stop,
                                                      "role": "formation_window", "seed": cfg.seed}
    (lm_data.DATA_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {CKPT_DIR / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
