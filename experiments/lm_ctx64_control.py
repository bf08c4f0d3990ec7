"""Positive control for chapter 5: does re-weighting contexts by their true induction share move formation?

Issue 17, the oracle and shuffled controls, in the setting where re-weighting has leverage
(``results/lm/README.md``, "Changing the setting to reach 2×"): the committed Debian subset
``data/lm-debian``, V 512, contexts of **64** tokens, prose + code only (the ``repetitive`` kind
dropped), where mean-one weights in :math:`[1/4, 4]` move the token-weighted induction-pattern
share up to 2.02× and the oracle form below reaches 1.70×.

Each context :math:`i` of the training pool gets its share :math:`s_i` of induction-pattern tokens
(``patterning_core.lm.leverage.induction_share``: positions 1..63 of ``lm_data.induction_pattern_mask``) and
:math:`z_i = (s_i - \\bar s)/\\mathrm{sd}(s)`. Conditions (weights :math:`w`, mean one):

* ``baseline``  -- :math:`w_i = 1`;
* ``oracle_up`` / ``oracle_down`` -- :math:`w_i \\propto \\exp(\\pm 1.5 z_i)` clipped to
  :math:`[1/4, 4]` and renormalised to mean one (``patterning_core.lm.leverage.oracle_weights``);
* ``shuffled`` -- the ``oracle_up`` weights permuted at random over contexts (seeded): the same
  weight distribution with no relation to induction, i.e. the cost of weighting alone.

Weights are realised by **resampling**: every batch draws ``batch_size`` contexts with replacement
with probability :math:`w_i/\\sum_j w_j` (:func:`resample_indices`, a ``torch.Generator`` seeded by
the run's seed), and the loss is the plain mean over the batch -- so every condition has the same
batch size and the same gradient noise per example; only *which* contexts are seen changes.

The chapter-5 CPU model (``AttnOnlyConfig.ci()``: 2 attention-only layers, 4 heads of 16, d 64) with
``n_ctx = 64`` is trained from initialisation (init seeded by the run's seed, identical across
conditions) with AdamW as in ``experiments/train_lm_base.py`` (learning rate, warm-up, betas), at 32
contexts of 64 tokens per step -- the 2,048 tokens per step of that script's 8 x 256. Every ``eval_every`` steps it is
evaluated as there (``train_lm_base.evaluate``: prefix matching of every head on repeated
random-token probes :math:`[r, r]` with :math:`|r| = 32`, the in-context loss drop, held-out loss);
the formation step is the first evaluation whose best layer-1 prefix-matching score reaches
``threshold`` (``induction.formation_step``). The held-out split and the probe depend only on
``data_seed``, so all runs are measured on the same data.

Usage (one training process at a time; each run is merged into the JSON as soon as it ends)::

    nice -n 10 .venv/bin/python experiments/lm_ctx64_control.py run --conditions baseline --seeds 0
    nice -n 10 .venv/bin/python experiments/lm_ctx64_control.py report   # markdown table from the JSON
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_lm_base import evaluate, git_revision, make_optimizer  # noqa: E402

from patterning_core.lm import data as lm_data  # noqa: E402
from patterning_core.lm.leverage import induction_share, oracle_weights, resample_indices  # noqa: E402
from patterning_core.lm.induction import formation_step, prefix_matching_score, repeated_random_tokens  # noqa: E402
from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer, per_token_loss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "lm" / "ctx64_control.json"
CONDITIONS = ("baseline", "oracle_up", "oracle_down", "shuffled")
PC2_CONDITIONS = ("induce", "repress", "induce_sgld", "repress_sgld", "induce_sgld1", "repress_sgld1")  # chapter 5's method:
# weights from lm_ctx64_pc2.py (leading-order PC2; "_sgld": PC2 of the SGLD covariance, its --sgld-chains mode, on draw 0 of
# the contexts; "_sgld1": the same on draw 1, --sgld-draw 1), branch runs only


def pc2_source(name: str, base: str, start_step: int) -> tuple[Path, str]:
    """(weights file, key in it) of PC2 condition ``name``: ``induce_sgld1`` is ``induce_sgld`` of the ``_sgld1`` file."""
    direction, _, variant = name.partition("_")  # "induce", "sgld1"
    return pc2_weights_path(base + (f"_{variant}" if variant else ""), start_step), (f"{direction}_sgld" if variant else direction)


@dataclass(frozen=True)
class ControlConfig:
    model: AttnOnlyConfig = field(default_factory=lambda: replace(AttnOnlyConfig.ci(), n_ctx=64))  # CPU model, 64 tokens
    data_dir: str = "data/lm-debian"  # the committed corpus subset (relative to the repository root)
    exclude_kind: str = "repetitive"  # contexts of this kind are dropped (prose + code: the 2.02x setting)
    batch_size: int = 32  # contexts per step, drawn by weight: 2,048 tokens, as train_lm_base's 8 x 256
    lr: float = 1e-2  # AdamW peak learning rate (train_lm_base.py)
    warmup: int = 100  # linear warm-up steps, then constant (train_lm_base.py)
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas (train_lm_base.py)
    weight_decay: float = 0.0  # AdamW decoupled weight decay (train_lm_base.py)
    max_steps: int = 6000  # a run that has not formed by then is reported as not formed (censored)
    steps_after_formation: int = 200  # keep training this long past formation, then stop
    eval_every: int = 50  # steps between evaluations
    holdout_fraction: float = 0.02  # contexts held out for the natural-text measures
    n_heldout: int = 64  # held-out contexts evaluated
    probe_seqs: int = 128  # repeated random-token probe sequences
    probe_half_len: int = 32  # their half length N (probe length 2N = n_ctx)
    threshold: float = 0.3  # formation: best layer-1 prefix matching >= this (issue 17)
    oracle_strength: float = 1.5  # w ∝ exp(±strength · z), the chapter's weight form
    weight_cap: tuple[float, float] = (0.25, 4.0)  # weights clipped to this range (issue 17)
    data_seed: int = 0  # held-out split and probe (the same for every run)


class Pool(NamedTuple):
    """Training contexts with their induction shares, and the fixed evaluation data."""

    train: torch.Tensor  # (N, T) int64
    shares: torch.Tensor  # (N,) float64, induction-pattern share of each training context
    held: torch.Tensor  # (n_heldout, T) int64
    probe: torch.Tensor  # (probe_seqs, 2 * probe_half_len) int64
    kinds: dict  # contexts per kind before the drop


def load_pool(cfg: ControlConfig) -> Pool:
    """Subset -> V-token contexts of ``n_ctx`` -> drop ``exclude_kind`` -> seeded split -> shares and probe."""
    data_dir = ROOT / cfg.data_dir
    docs = lm_data.load_corpus(data_dir)
    tok = lm_data.load_tokenizer(cfg.model.vocab_size, data_dir)
    ctx = lm_data.make_contexts(lm_data.encode_documents(tok, docs), [d.kind for d in docs], cfg.model.n_ctx)
    keep = torch.tensor([k != cfg.exclude_kind for k in ctx.kind])  # (N_all,)
    if not bool(keep.any()):
        raise ValueError(f"exclude_kind={cfg.exclude_kind!r} drops every context")
    idx = keep.nonzero().flatten()  # (N,)
    kept = lm_data.Contexts(ctx.tokens[idx], ctx.doc_index[idx], tuple(ctx.kind[i] for i in idx.tolist()))
    train, held = lm_data.split_contexts(kept, cfg.holdout_fraction, seed=cfg.data_seed)
    pool = lm_data.frequent_tokens(train.tokens, cfg.model.vocab_size // 2)
    probe = repeated_random_tokens(cfg.probe_seqs, cfg.probe_half_len, pool, torch.Generator().manual_seed(cfg.data_seed + 1))
    kinds = {k: ctx.kind.count(k) for k in sorted(set(ctx.kind))}
    return Pool(train.tokens, induction_share(train.tokens), held.tokens[: cfg.n_heldout], probe, kinds)


def condition_weights(name: str, shares: torch.Tensor, cfg: ControlConfig, seed: int) -> torch.Tensor:
    """Mean-one sampling weights ``(N,)`` of condition ``name`` (one of :data:`CONDITIONS`)."""
    if name == "baseline":
        return torch.ones(len(shares), dtype=torch.float64)
    if name in ("oracle_up", "oracle_down"):
        return oracle_weights(shares, 1.0 if name == "oracle_up" else -1.0, cfg.oracle_strength, cfg.weight_cap)
    if name == "shuffled":
        w = oracle_weights(shares, 1.0, cfg.oracle_strength, cfg.weight_cap)
        return w[torch.randperm(len(w), generator=torch.Generator().manual_seed(10_007 + seed))]
    raise ValueError(f"condition must be one of {CONDITIONS}, got {name!r}")


CHECKPOINTS = ROOT / "_build" / "lm_ctx64"  # model + optimizer states of long runs (not committed)


def checkpoint_path(tag: str, seed: int, step: int) -> Path:
    return CHECKPOINTS / f"{tag}_seed{seed}_step{step}.pt"


def pc2_weights_path(base: str, step: int) -> Path:
    """Where ``lm_ctx64_pc2.py`` stores the Induce / Repress weights computed at ``base``'s checkpoint ``step``."""
    return CHECKPOINTS / f"pc2_weights_{base}_step{step}.pt"


def save_state(model: torch.nn.Module, opt: torch.optim.Optimizer, sched, step: int, path: Path) -> None:
    """Model, optimizer and schedule at ``step``: what :func:`train_condition` resumes from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step}, path)


def import_checkpoint(name: str, data_dir: str, cfg: ControlConfig, tag: str, seed: int) -> int:
    """Save a committed checkpoint of ``experiments/train_lm_base.py`` (model and AdamW state, e.g.
    chapter 5's ``checkpoints/step4000.pt``) as the branch point :func:`checkpoint_path` ``(tag, seed, step)``;
    its warm-up is over, so the schedule resumes at its constant rate. Returns the step."""
    model, meta = lm_data.load_checkpoint(name, ROOT / data_dir)
    if meta["model_config"]["n_ctx"] != cfg.model.n_ctx:
        raise ValueError(f"{name} has n_ctx {meta['model_config']['n_ctx']}, the run {cfg.model.n_ctx}")
    step = int(meta["step"])
    opt, sched = make_optimizer(AttnOnlyTransformer(replace(cfg.model, fused_attention=True), seed=seed), cfg)
    opt.load_state_dict(meta["optimizer_state"])
    for _ in range(cfg.warmup):  # a schedule past its warm-up: factor 1
        sched.step()
    save_state(model, opt, sched, step, checkpoint_path(tag, seed, step))
    return step


def train_condition(cfg: ControlConfig, pool: Pool, weights: torch.Tensor, seed: int, log: bool = True,
                    start: Path | None = None, save_every: int = 0, tag: str = "") -> dict:
    """Train from the ``seed`` initialisation (or from the checkpoint ``start``: model, optimizer and
    schedule of a baseline run, the batch generator re-seeded by ``seed`` so that branches differ
    only in their weights) with batches resampled by ``weights``; the trajectory. Every
    ``save_every`` steps (0: never) the state is saved to :func:`checkpoint_path` ``(tag, seed, step)``."""
    model = AttnOnlyTransformer(replace(cfg.model, fused_attention=True), seed=seed)
    opt, sched = make_optimizer(model, cfg)
    step = 0
    if start is not None:
        state = torch.load(start, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = int(state["step"])
    gen = torch.Generator().manual_seed(seed + (1_000_003 * step if start is not None else 0))
    trajectory = [{"step": step, "train_seconds": 0.0, **evaluate(model, pool.probe, pool.held)}]
    drawn_share, elapsed, formed, first = 0.0, 0.0, None, step
    while step < cfg.max_steps and (formed is None or step < formed + cfg.steps_after_formation):
        t0 = time.time()
        idx = resample_indices(weights, cfg.batch_size, gen)  # (B,)
        loss = per_token_loss(model, pool.train[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        elapsed += time.time() - t0
        drawn_share += float(pool.shares[idx].mean())
        if save_every and step % save_every == 0:
            save_state(model, opt, sched, step, checkpoint_path(tag, seed, step))
        if step % cfg.eval_every == 0:
            row = {"step": step, "train_seconds": round(elapsed, 2), "train_loss": float(loss.detach()),
                   "drawn_share": drawn_share / (step - first), **evaluate(model, pool.probe, pool.held)}
            trajectory.append(row)
            formed = formation_step([r["step"] for r in trajectory], [r["pm_l1_best"] for r in trajectory], cfg.threshold)
            if log:
                print(f"  step {step:5d} {elapsed:6.0f}s loss {row['train_loss']:.3f} held {row['heldout_loss']:.3f} "
                      f"prev-L0 {row['prev_l0_best']:.2f} PM-L1 {row['pm_l1_best']:.3f} drop {row['loss_drop']:+.3f}", flush=True)
    return {"formation_step": formed, "steps": step, "start_step": first, "train_seconds": round(elapsed, 1),
            "steps_per_second": (step - first) / elapsed, "drawn_share": drawn_share / (step - first),
            "final_pm_l1_best": trajectory[-1]["pm_l1_best"], "final_loss_drop": trajectory[-1]["loss_drop"],
            "trajectory": trajectory}


def weight_summary(shares: torch.Tensor, w: torch.Tensor) -> dict:
    """Mean, range, effective-sample fraction and the token-weighted share ratio of weights ``w``."""
    return {"mean": float(w.mean()), "min": float(w.min()), "max": float(w.max()),
            "effective_n_fraction": float(w.sum() ** 2 / (w**2).sum()) / len(w),
            "share_ratio": float((w * shares).sum() / w.sum() / shares.mean())}


def provenance(wall: float) -> dict:
    return {"commit": git_revision(), "cpu": platform.processor() or platform.machine(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "wall_seconds": round(wall, 1),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([f"experiments/{Path(sys.argv[0]).name}", *sys.argv[1:]])}  # the script that ran, pc2 included


def load_results(path: Path, cfg: ControlConfig) -> dict:
    """The JSON at ``path`` (runs merged across invocations), or a fresh one; refuses another config."""
    if not path.exists():
        return {"config": json.loads(json.dumps(asdict(cfg))), "runs": {}}
    res = json.loads(path.read_text())
    if res["config"] != json.loads(json.dumps(asdict(cfg))):
        raise ValueError(f"{path} was written with another config; pass another --out or delete it")
    return res


def run(cfg: ControlConfig, conditions: list[str], seeds: list[int], out: Path, start_step: int = 0,
        save_every: int = 0, base: str = "", base_seed: int | None = None) -> None:
    pool = load_pool(cfg)
    res = load_results(out, cfg)
    res["pool"] = {"train_contexts": len(pool.train), "heldout_evaluated": len(pool.held), "contexts_by_kind_before_drop": pool.kinds,
                   "mean_share": float(pool.shares.mean()), "probe_shape": list(pool.probe.shape)}
    if start_step:
        res["branch"] = {"base": base or out.stem, "base_seed": base_seed, "start_step": start_step}
    for seed in seeds:
        for name in conditions:
            if name in PC2_CONDITIONS:
                src, key = pc2_source(name, base or out.stem, start_step)
                if not src.exists():
                    raise FileNotFoundError(f"no PC2 weights {src}: run experiments/lm_ctx64_pc2.py --step {start_step} first")
                w = torch.load(src, weights_only=True)[key].double()
                if w.shape != pool.shares.shape:
                    raise ValueError(f"PC2 weights have shape {tuple(w.shape)}, the pool {tuple(pool.shares.shape)}")
            else:
                w = condition_weights(name, pool.shares, cfg, seed)
            print(f"{name} seed {seed}: share ratio {weight_summary(pool.shares, w)['share_ratio']:.2f}x", flush=True)
            t0 = time.time()
            start = checkpoint_path(base or out.stem, seed if base_seed is None else base_seed, start_step) if start_step else None
            if start is not None and not start.exists():
                raise FileNotFoundError(f"no checkpoint {start}: run the baseline with --save-every first")
            r = train_condition(cfg, pool, w, seed, start=start, save_every=save_every if name == "baseline" else 0,
                                tag=out.stem)
            res["runs"].setdefault(name, {})[str(seed)] = {**r, "weights": weight_summary(pool.shares, w),
                                                          "provenance": provenance(time.time() - t0)}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
            print(f"{name} seed {seed}: formation {r['formation_step']} after {r['train_seconds']:.0f}s "
                  f"({r['steps_per_second']:.1f} steps/s) -> {out}", flush=True)


SECONDARY = (0.05, 0.1)  # lower thresholds reported beside the primary one (fixed before any weighted run)
TAIL = 1000  # steps averaged for the smoothed endpoints of report() (chosen after seed 0, when no run had formed)


def _step_or_censored(trajectory: list[dict], threshold: float, steps: int) -> str:
    s = formation_step([r["step"] for r in trajectory], [r["pm_l1_best"] for r in trajectory], threshold)
    return str(s) if s is not None else f"> {steps}"


def tail_mean(run: dict, key: str, last_steps: int = TAIL) -> float:
    """Mean of ``key`` over the evaluations in the last ``last_steps`` steps of a run (a smoothed endpoint)."""
    rows = [r for r in run["trajectory"] if r["step"] > run["steps"] - last_steps]
    return sum(r[key] for r in rows) / len(rows)


def uniform_attention_pm(half_len: int) -> float:
    """Prefix-matching score of uniform causal attention on a probe ``[r, r]`` with distinct ``r``
    (the chance level, :math:`\\approx \\frac1N\\sum_{t=N}^{2N-1} \\frac{1}{t+1}`)."""
    r = torch.arange(half_len)
    tokens = torch.cat([r, r])[None]  # (1, 2N)
    T = tokens.shape[1]
    causal = torch.ones(T, T).tril()  # (T, T)
    return float(prefix_matching_score((causal / causal.sum(-1, keepdim=True))[None], tokens))


def merged_runs(paths: list[Path]) -> tuple[dict, dict]:
    """The config (the same in every file, else an error) and the runs of several result files, merged."""
    config, runs = None, {}
    for path in paths:
        res = json.loads(path.read_text())
        if config is not None and res["config"] != config:
            raise ValueError(f"{path} was written with another config than {paths[0]}")
        config = res["config"]
        for name, by_seed in res["runs"].items():
            runs.setdefault(name, {}).update(by_seed)
    return config, runs


def merge(paths: list[Path], out: Path) -> None:
    """Write the runs of several result files (one config) into ``out``, with the pool and branch of the first."""
    config, runs = merged_runs(paths)
    first = json.loads(paths[0].read_text())
    res = {"config": config, "runs": runs, **{k: first[k] for k in ("pool", "branch") if k in first}}
    out.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")


def report(paths: list[Path], secondary: tuple[float, ...] = SECONDARY) -> str:
    """Markdown table condition x seed: formation steps (primary and ``secondary`` thresholds),
    best layer-1 prefix matching (final, largest, mean over the last :data:`TAIL` steps), in-context
    loss drop and held-out loss on induction-pattern tokens (last :data:`TAIL` steps), drawn share."""
    config, runs = merged_runs(paths)
    thr = config["threshold"]
    cols = [f"formation @ {t}" for t in (thr, *secondary)]
    lines = ["| condition | seed | share ratio | drawn share | " + " | ".join(cols) +
             f" | final best L1 PM | max best L1 PM | best L1 PM, last {TAIL} | loss drop, last {TAIL} | "
             f"held-out loss on induction tokens, last {TAIL} |",
             "|---|---|---|---|" + "---|" * len(cols) + "---|---|---|---|---|"]
    chance = uniform_attention_pm(config["probe_half_len"])
    for name in CONDITIONS + PC2_CONDITIONS:
        for seed, r in sorted(runs.get(name, {}).items(), key=lambda kv: int(kv[0])):
            tr = r["trajectory"]
            form = " | ".join(_step_or_censored(tr, t, r["steps"]) for t in (thr, *secondary))
            lines.append(f"| {name} | {seed} | {r['weights']['share_ratio']:.2f}x | {r['drawn_share']:.3f} | {form} | "
                         f"{r['final_pm_l1_best']:.3f} | {max(x['pm_l1_best'] for x in tr):.3f} | "
                         f"{tail_mean(r, 'pm_l1_best'):.4f} | {tail_mean(r, 'loss_drop'):+.3f} | "
                         f"{tail_mean(r, 'heldout_loss_induction_tokens'):.3f} |")
    return "\n".join(lines) + f"\n\nBest L1 PM of uniform causal attention on this probe (chance): {chance:.4f}.\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("run", "report", "merge"))
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS + PC2_CONDITIONS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--max-steps", type=int, default=ControlConfig.max_steps, help="censor runs not formed by then")
    p.add_argument("--threshold", type=float, default=ControlConfig.threshold, help="formation threshold, best L1 PM")
    p.add_argument("--lr", type=float, default=ControlConfig.lr, help="AdamW peak learning rate")
    p.add_argument("--batch-size", type=int, default=ControlConfig.batch_size, help="contexts per step")
    p.add_argument("--data-dir", default=ControlConfig.data_dir, help="corpus directory (relative to the repository)")
    p.add_argument("--eval-every", type=int, default=ControlConfig.eval_every, help="steps between evaluations")
    p.add_argument("--import-checkpoint", default="", help="save this committed checkpoint (e.g. checkpoints/step4000.pt) as a branch point and stop")
    p.add_argument("--n-ctx", type=int, default=64, help="context length (the leverage falls as it grows: results/lm/README.md)")
    p.add_argument("--out", nargs="+", default=[str(OUT)], help="result file (report, merge: several are merged)")
    p.add_argument("--merged", default="", help="merge: the file the merged runs are written to")
    p.add_argument("--secondary", nargs="+", type=float, default=list(SECONDARY), help="report: further formation thresholds")
    p.add_argument("--save-every", type=int, default=0, help="baseline runs save their state every this many steps")
    p.add_argument("--start-step", type=int, default=0, help="branch from the baseline checkpoint at this step")
    p.add_argument("--base-seed", type=int, default=None, help="seed of the baseline run to branch from (default: each run's own seed)")
    p.add_argument("--base", default="", help="stem of the --out file whose baseline saved the checkpoints (default: this --out)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.action == "report":
        print(report([Path(x) for x in args.out], tuple(args.secondary)))
        return
    if args.action == "merge":
        if not args.merged:
            raise ValueError("merge needs --merged FILE")
        merge([Path(x) for x in args.out], Path(args.merged))
        return
    cfg = ControlConfig(max_steps=args.max_steps, threshold=args.threshold, lr=args.lr, batch_size=args.batch_size,
                        data_dir=args.data_dir, eval_every=args.eval_every)
    if args.n_ctx != cfg.model.n_ctx:  # the same probe ([r, r], |r| = 32) at every context length
        cfg = replace(cfg, model=replace(cfg.model, n_ctx=args.n_ctx))
    if args.import_checkpoint:
        step = import_checkpoint(args.import_checkpoint, cfg.data_dir, cfg, args.base or Path(args.out[0]).stem, args.base_seed or 0)
        print(f"{args.import_checkpoint} -> branch point at step {step}")
        return
    run(cfg, args.conditions, args.seeds, Path(args.out[0]), args.start_step, args.save_every, args.base, args.base_seed)


if __name__ == "__main__":
    main()
