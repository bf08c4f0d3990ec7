"""Train the chapter-5 base language model once and freeze pre-/post-formation checkpoints.

Induction heads need more tokens than a CI run can afford on 2 CPU cores, so the base model is
trained here, once, and the chapters start from its saved *pre-formation* checkpoint and train
through the formation window themselves. The run is seeded and resumable: it trains for at most
``--max-seconds`` per invocation, saves its full state (model, AdamW, step, trajectory, kept
weights) to ``--state``, and the next invocation continues bit-for-bit (batches are a pure
function of the step, :func:`lm_data.batch_indices`). Run it until it prints ``done``::

    while .venv/bin/python experiments/train_lm_base.py; [ $? -eq 3 ]; do :; done   # 3 = "call again"

When the last step is reached it writes into ``data/lm/checkpoints/``

* ``trace.json`` -- the evaluation trajectory (prefix matching of every head, previous-token
  scores, in-context loss drop, held-out loss) every ``eval_every`` steps;
* ``step{N}.pt`` for the kept checkpoints chosen around the formation step (the first evaluation
  whose best layer-1 prefix-matching score reaches ``threshold``): ``pre_formation`` and
  ``post_formation`` plus the step-0 initialisation -- each a dict with ``state_dict``, the model
  config, the run config, seed, step, role and the git revision of the code;

and records each file's sha256 in ``data/lm/manifest.json`` under ``checkpoints``.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from patterning_core.lm import data as lm_data  # noqa: E402
from patterning_core.lm.induction import (  # noqa: E402
    measure_induction,
    prefix_matching_score,
    previous_token_score,
    repeated_random_tokens,
)
from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer, per_token_loss  # noqa: E402

CKPT_DIR = REPO / "data" / "lm" / "checkpoints"
AGAIN = 3  # exit code: time budget used up, call again to continue
THRESHOLD = 0.1  # formation: best layer-1 prefix matching >= this (~4x the uniform-attention 0.023)
OPT_KEEP_EVERY = 500  # AdamW state is kept (for exact resumption from a checkpoint) every this many steps


@dataclass(frozen=True)
class BaseRunConfig:
    model: AttnOnlyConfig = field(default_factory=AttnOnlyConfig.ci)  # the architecture
    batch_size: int = 8  # contexts per step
    lr: float = 1e-2  # AdamW peak learning rate
    warmup: int = 100  # linear warm-up steps, then constant
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    grad_clip: float | None = None  # global gradient-norm clip (None: none)
    steps: int = 12000  # total optimizer steps
    eval_every: int = 100  # steps between evaluations (and kept weights)
    holdout_fraction: float = 0.02  # contexts held out for the natural-text loss
    n_heldout: int = 32  # held-out contexts evaluated
    probe_seqs: int = 32  # repeated random-token probe sequences
    probe_half_len: int = 32  # their half length N (probe length 2N)
    seed: int = 0  # init, batch order, split and probe


def make_probe(train_tokens: torch.Tensor, cfg: BaseRunConfig) -> torch.Tensor:
    """Repeated random-token probe ``(probe_seqs, 2N)`` from the ``V/2`` most frequent corpus tokens."""
    pool = lm_data.frequent_tokens(train_tokens, cfg.model.vocab_size // 2)
    return repeated_random_tokens(cfg.probe_seqs, cfg.probe_half_len, pool, torch.Generator().manual_seed(cfg.seed + 1))


@torch.no_grad()
def evaluate(model: AttnOnlyTransformer, probe: torch.Tensor, held: torch.Tensor) -> dict:
    """Induction measures on the probe and natural-text measures on held-out contexts."""
    m = measure_induction(model.run_with_patterns, probe)
    logits, patterns = model.run_with_patterns(held)  # (B, T, V), (B, L, H, T, T)
    losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), held[:, 1:], reduction="none")  # (B, T-1)
    ind = lm_data.induction_pattern_mask(held)[:, 1:]  # (B, T-1)
    return {
        "prefix_matching": m.prefix_matching.tolist(),  # (L, H)
        "pm_l1_best": m.best_l1_head[1],
        "pm_l1_head": m.best_l1_head[0],
        "previous_token": previous_token_score(patterns).tolist(),  # (L, H) on natural text
        "prev_l0_best": float(previous_token_score(patterns)[0].max()),
        "pm_text_l1_best": float(prefix_matching_score(patterns, held)[-1].max()),
        "loss_drop": m.loss_drop,
        "heldout_loss": float(losses.mean()),
        "heldout_loss_induction_tokens": float(losses[ind].mean()),
        "heldout_loss_other_tokens": float(losses[~ind].mean()),
    }


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def make_optimizer(model: torch.nn.Module, cfg) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with the run's betas and decay, the learning rate warmed up linearly over ``cfg.warmup`` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup))


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, sched, train_tokens: torch.Tensor, step: int, cfg) -> torch.Tensor:
    """One optimizer step on minibatch ``step`` (a pure function of the step, :func:`lm_data.batch_indices`),
    with the optional gradient clip; returns the batch loss. Shared by the base run, the sweep, the
    extension and the space-ablated run, so all of them train the same way."""
    x = train_tokens[lm_data.batch_indices(len(train_tokens), cfg.batch_size, step, cfg.seed)]  # (B, T)
    loss = per_token_loss(model, x).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    sched.step()
    return loss


def train(cfg: BaseRunConfig, state_path: Path, max_seconds: float, log_every: int = 1) -> dict:
    """Continue (or start) the run stored at ``state_path`` for at most ``max_seconds``."""
    ctx = lm_data.load_contexts(cfg.model.n_ctx, cfg.model.vocab_size)
    train_set, held_set = lm_data.split_contexts(ctx, cfg.holdout_fraction, seed=cfg.seed)
    train_tokens, held = train_set.tokens, held_set.tokens[: cfg.n_heldout]  # (N, T), (n_heldout, T)
    probe = make_probe(train_tokens, cfg)
    model = AttnOnlyTransformer(replace(cfg.model, fused_attention=True), seed=cfg.seed)  # same weights, faster
    opt, sched = make_optimizer(model, cfg)
    if state_path.exists():
        st = torch.load(state_path, weights_only=False)
        if st["run_config"] != asdict(cfg):
            raise ValueError(f"{state_path} belongs to a different run config; delete it to start over")
        model.load_state_dict(st["model"]), opt.load_state_dict(st["opt"]), sched.load_state_dict(st["sched"])
        step, trace, kept, elapsed = st["step"], st["trace"], st["kept"], st["train_seconds"]
        kept_opt = st.get("kept_opt", {})
    else:
        step, elapsed = 0, 0.0
        trace = [{"step": 0, "train_seconds": 0.0, **evaluate(model, probe, held)}]
        kept = {0: {k: v.clone() for k, v in model.state_dict().items()}}
        kept_opt = {0: copy.deepcopy(opt.state_dict())}
    t_start = time.time()
    while step < cfg.steps and time.time() - t_start < max_seconds:
        t0 = time.time()
        loss = train_step(model, opt, sched, train_tokens, step, cfg)
        step += 1
        elapsed += time.time() - t0
        if step % cfg.eval_every == 0 or step == cfg.steps:
            row = {"step": step, "train_seconds": round(elapsed, 2), "train_loss": float(loss.detach()), **evaluate(model, probe, held)}
            trace.append(row)
            kept[step] = {k: v.clone() for k, v in model.state_dict().items()}
            if step % OPT_KEEP_EVERY == 0:
                kept_opt[step] = copy.deepcopy(opt.state_dict())
            if (step // cfg.eval_every) % log_every == 0:  # noqa: SIM102
                print(f"step {step:5d} {elapsed:6.0f}s loss {row['train_loss']:.3f} held {row['heldout_loss']:.3f} "
                      f"prev-L0 {row['prev_l0_best']:.2f} PM-L1 {row['pm_l1_best']:.3f} drop {row['loss_drop']:+.3f}", flush=True)
    state = {"run_config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
             "step": step, "trace": trace, "kept": kept, "kept_opt": kept_opt, "train_seconds": elapsed}
    tmp = state_path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(state_path)  # atomic: an interrupted save never corrupts the run
    return state


def finish(cfg: BaseRunConfig, state: dict, out: Path, threshold: float = THRESHOLD) -> None:
    """Pick pre/post-formation checkpoints, write them and the trace, record sha256s in the manifest."""
    from patterning_core.lm.induction import formation_step

    trace = state["trace"]
    steps = [r["step"] for r in trace]
    formed = formation_step(steps, [r["pm_l1_best"] for r in trace], threshold)
    if formed is None:
        print(f"no layer-1 head reached prefix matching {threshold} in {cfg.steps} steps; saving init + final only")
        roles = {0: "init", steps[-1]: "final"}
    else:  # pre-formation: the last step with a kept AdamW state at or before half the formation step
        pre = max(s for s in (state.get("kept_opt") or state["kept"]) if s <= formed // 2)
        roles = {0: "init", pre: "pre_formation", formed: "formation", steps[-1]: "post_formation"}
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("step*.pt"):  # checkpoints of an earlier run
        old.unlink()
    ctx = lm_data.load_contexts(cfg.model.n_ctx, cfg.model.vocab_size)
    probe = make_probe(lm_data.split_contexts(ctx, cfg.holdout_fraction, seed=cfg.seed)[0].tokens, cfg)  # (S, 2N)
    record = out.resolve().parent == lm_data.DATA_DIR.resolve()  # only checkpoints under data/lm enter its manifest
    manifest = lm_data.load_manifest()
    # drop only this folder's old entries (other runs, e.g. checkpoints-nospace/, keep theirs)
    manifest["checkpoints"] = {k: v for k, v in manifest.get("checkpoints", {}).items() if not k.startswith(f"{out.name}/")}
    rev = git_revision()
    for s, role in sorted(roles.items()):
        name = f"step{s}.pt"
        ck = {"state_dict": state["kept"][s], "model_config": asdict(cfg.model), "run_config": asdict(cfg),
              "seed": cfg.seed, "step": s, "role": role, "code_version": rev, "eval": trace[steps.index(s)],
              "probe": probe}  # the repeated-token probe the "eval" measures were computed on
        if s in state.get("kept_opt", {}):
            ck["optimizer_state"] = state["kept_opt"][s]  # AdamW state_dict: resume exactly from here
        torch.save(ck, out / name)
        rel = f"{out.name}/{name}"
        manifest["checkpoints"][rel] = {"sha256": lm_data.sha256_file(out / name), "bytes": (out / name).stat().st_size,
                                        "step": s, "role": role, "seed": cfg.seed}
    (out / "trace.json").write_text(json.dumps({"run_config": asdict(cfg), "formation_step": formed,
                                                "threshold": threshold, "trace": trace}, indent=1) + "\n")
    manifest["checkpoints"][f"{out.name}/trace.json"] = {"sha256": lm_data.sha256_file(out / "trace.json"),
                                                         "bytes": (out / "trace.json").stat().st_size, "role": "trace"}
    if record:
        (lm_data.DATA_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"formation step {formed}; wrote {sorted(roles.items())} to {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", default="/tmp/patterning_lm_base_state.pt", help="resumable run state")
    p.add_argument("--max-seconds", type=float, default=270.0, help="wall-clock budget of this invocation")
    p.add_argument("--steps", type=int, default=None, help="override the total steps")
    p.add_argument("--out", default=str(CKPT_DIR), help="checkpoint directory")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="formation threshold on best L1 prefix matching")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = BaseRunConfig() if args.steps is None else BaseRunConfig(steps=args.steps)
    state = train(cfg, Path(args.state), args.max_seconds)
    if state["step"] < cfg.steps:
        print(f"paused at step {state['step']}/{cfg.steps}; run again to continue")
        return AGAIN
    finish(cfg, state, Path(args.out), args.threshold)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
