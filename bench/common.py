"""What both sides of the benchmark share: the plan (models, data, hyperparameters), the prepared
inputs, and the measurement helpers.

Imported by the three worker processes -- ``side_ours.py`` (project venv), ``side_devinterp2.py``
(bench/.venv-devinterp2) and ``side_devinterp1.py`` (bench/.venv-devinterp1) -- so it needs only
torch and patterning_core. Nothing here comes from devinterp.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RAW = BENCH / "results" / "raw"  # git-ignored: prepared inputs and per-side scratch
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

THREADS = 1  # torch intra-op threads on both sides (fairness on a shared 2-core machine)


def set_threads(n: int = THREADS) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set (interop threads can only be set once per process)
        pass


@contextlib.contextmanager
def threads(n: int):
    """Run a task with ``n`` torch intra-op threads, then go back to :data:`THREADS`."""
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(THREADS)


# --------------------------------------------------------------------------- the plan
# One source of truth for both sides: every hyperparameter below is passed to our sample() and
# to devinterp under its own name (see MAPPING). ε = devinterp lr, nβ = n_beta / nbeta,
# γ = localization, noise_level = 1; see README for why this is the same update.


@dataclass(frozen=True)
class LMPlan:
    vocab_size: int = 512  # data/lm/tokenizer-512.json, AttnOnlyConfig.ci()
    ctx: int = 65  # tokens per context: 64 next-token losses per sequence
    n_sgld: int = 1024  # contexts in the SGLD data set (n); a multiple of batch_size
    n_probe_pool: int = 64  # held-out contexts for probes: 64 x 64 = 4096 probe tokens at most
    train_steps: int = 300  # Adam steps from init (the anchor w* is this trained model)
    train_batch: int = 16
    train_lr: float = 1e-2
    seed: int = 0


@dataclass(frozen=True)
class SGLDPlan:
    step_size: float  # ε [devinterp 2: lr; 1.3.2: optimizer_kwargs["lr"]]
    nbeta: float  # nβ [devinterp 2: n_beta; 1.3.2: optimizer_kwargs["nbeta"]]
    gamma: float  # γ [devinterp: localization]
    num_chains: int  # [num_chains]
    num_draws: int  # [num_draws]
    num_burnin: int  # [num_burnin_steps]
    batch_size: int  # [devinterp 2: batch_size; 1.3.2: the DataLoader's batch_size]
    thin: int = 1  # [num_steps_bw_draws]


# Case 1: LLC of the attention-only LM (devinterp 2.0.1 llc()).
LM_LLC = SGLDPlan(step_size=3e-4, nbeta=20.0, gamma=100.0, num_chains=4, num_draws=100, num_burnin=60, batch_size=8)
# Case 2: per-head susceptibilities (devinterp 2.0.1 susceptibilities()); chains per restriction.
LM_SUS = SGLDPlan(step_size=3e-4, nbeta=20.0, gamma=100.0, num_chains=3, num_draws=40, num_burnin=30, batch_size=8)
SUS_PT_SEQS = 8  # sequences of SGLD data whose mean loss is the observable φ (devinterp's "sampling_task")
SUS_PROBE_SEQS = 8  # held-out probe sequences: 8 x 64 = 512 probe tokens
# Case 3: LLC of TMS (devinterp 1.3.2 estimate_learning_coeff_with_summary), minibatch SGLD.
TMS_N = 4096  # inputs sampled i.i.d. from the TMS input distribution (sparsity 0.9)
TMS_REPEATS = 3  # case 3 takes 0.2-4 s per call: its time is the fastest of 3 identical calls, on both sides
TMS_LLC = SGLDPlan(step_size=1e-3, nbeta=100.0, gamma=100.0, num_chains=16, num_draws=400, num_burnin=100, batch_size=64)
# Scaling (time per draw): chains and probe size.
SCALE_CHAINS = (1, 4, 16, 64)
SCALE_LM_DRAWS = 20  # LM chain/probe scaling: recorded draws per call (no burn-in)
SCALE_TMS_DRAWS = 100
SCALE_TMS_REPEATS = 3  # TMS calls take ~0.1 s: the fastest of 3, on both sides
SCALE_PROBE_TOKENS = (64, 512, 4096)
SCALE_PROBE_CHAINS = 4
BOTH_CORES = 2  # case 1 is also run with this many threads on both sides (the machine's cores)
DEVINTERP_LM_MAX_CHAINS = 16  # devinterp 2 LM chain scaling is measured up to here; 64 is extrapolated
DEVINTERP_OBS_SEED = 1337  # devinterp 2's default obs_seed (order of observable sequences)


def plan_dict() -> dict:
    return {
        "lm": asdict(LMPlan()),
        "lm_llc": asdict(LM_LLC),
        "lm_sus": {**asdict(LM_SUS), "pt_seqs": SUS_PT_SEQS, "probe_seqs": SUS_PROBE_SEQS},
        "tms_llc": {**asdict(TMS_LLC), "n": TMS_N, "repeats": TMS_REPEATS},
        "scaling": {
            "chains": SCALE_CHAINS, "lm_draws": SCALE_LM_DRAWS, "tms_draws": SCALE_TMS_DRAWS, "tms_repeats": SCALE_TMS_REPEATS,
            "probe_tokens": SCALE_PROBE_TOKENS, "probe_chains": SCALE_PROBE_CHAINS,
            "devinterp_lm_max_chains": DEVINTERP_LM_MAX_CHAINS,
        },
        "threads": THREADS,
        "both_cores": BOTH_CORES,
    }


# --------------------------------------------------------------------------- LM inputs


def lm_prepared_path(plan: LMPlan = LMPlan()) -> Path:
    key = f"v{plan.vocab_size}-c{plan.ctx}-n{plan.n_sgld}-p{plan.n_probe_pool}-s{plan.train_steps}-b{plan.train_batch}-lr{plan.train_lr}-seed{plan.seed}"
    return RAW / f"lm-{key}.pt"


def prepare_lm(plan: LMPlan = LMPlan()) -> dict:
    """Tokenize the frozen corpus, split, train the CI attention-only model briefly; cached."""
    path = lm_prepared_path(plan)
    if path.exists():
        return torch.load(path, weights_only=False)
    from patterning_core.lm import data as lm_data
    from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer, per_token_loss

    t0 = time.perf_counter()
    tokens = lm_data.load_contexts(plan.ctx, plan.vocab_size).tokens  # (N, ctx), checksum-verified
    perm = torch.randperm(len(tokens), generator=torch.Generator().manual_seed(plan.seed))
    probe_pool = tokens[perm[-plan.n_probe_pool:]]  # held out from training and SGLD
    train = tokens[perm[: -plan.n_probe_pool]]
    sgld = train[: plan.n_sgld]  # the SGLD data: a sample of the training contexts
    cfg = AttnOnlyConfig.ci()
    model = AttnOnlyTransformer(cfg, seed=plan.seed)
    opt = torch.optim.Adam(model.parameters(), lr=plan.train_lr, betas=(0.9, 0.99))
    warmup = max(1, plan.train_steps // 6)
    losses = []
    for step in range(plan.train_steps):
        for g in opt.param_groups:
            g["lr"] = plan.train_lr * min(1.0, (step + 1) / warmup)
        idx = lm_data.batch_indices(len(train), plan.train_batch, step, plan.seed)
        loss = per_token_loss(model, train[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    prepared = {
        "plan": asdict(plan),
        "model_config": asdict(cfg),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "sgld_tokens": sgld.clone(),
        "probe_pool": probe_pool.clone(),
        "train_loss_last50": sum(losses[-50:]) / 50,
        "prepare_seconds": time.perf_counter() - t0,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(prepared, path)
    return prepared


def load_lm(prepared: dict):
    from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer

    model = AttnOnlyTransformer(AttnOnlyConfig(**prepared["model_config"]), seed=0)
    model.load_state_dict(prepared["state_dict"])
    return model


def devinterp_layout(x: torch.Tensor, seed: int = DEVINTERP_OBS_SEED) -> torch.Tensor:
    """The rows of an observable data set ``x`` of exactly batch_size x batches_per_draw sequences in
    the order devinterp 2 evaluates them (``random.Random(obs_seed).sample(range(n), n)``). Our side
    feeds its probe in this order so per-token results line up position by position; the devinterp
    side checks the input_ids it stored against it."""
    return x[random.Random(seed).sample(range(len(x)), len(x))]


def sus_sets(prepared: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(pt, probe) token sets for case 2, as given to devinterp (apply :func:`devinterp_layout` for its order)."""
    return prepared["sgld_tokens"][:SUS_PT_SEQS], prepared["probe_pool"][:SUS_PROBE_SEQS]


def head_names(n_layers: int, n_heads: int) -> list[tuple[str, int, int]]:
    return [(f"l{l}h{h}", l, h) for l in range(n_layers) for h in range(n_heads)]


# --------------------------------------------------------------------------- TMS inputs


def prepare_tms(seed: int = 0) -> dict:
    """A trained TMS anchor (Adam on the exact population loss) and ``TMS_N`` sampled inputs; cached."""
    path = RAW / f"tms-n{TMS_N}-seed{seed}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    from patterning_core.tms.model import TMS, TMSConfig, population_loss

    cfg = TMSConfig()
    model = TMS(cfg, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3000):
        loss = population_loss(model.W, cfg.sparsity)
        opt.zero_grad()
        loss.backward()
        opt.step()
    g = torch.Generator().manual_seed(seed + 1)
    x = (torch.rand(TMS_N, cfg.n_features, generator=g) < 1 - cfg.sparsity).float()  # (n, d) i.i.d. from q
    prepared = {"W": model.W.detach().clone(), "x": x, "population_loss": float(population_loss(model.W.detach(), cfg.sparsity))}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(prepared, path)
    return prepared


def tms_model(W: torch.Tensor):
    from patterning_core.tms.model import TMS, TMSConfig

    model = TMS(TMSConfig())
    with torch.no_grad():
        model.W.copy_(W)
    return model


# --------------------------------------------------------------------------- measurement


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return -1


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def measure(fn):
    """Run ``fn()``; return (result, seconds, peak RSS bytes during the call, RSS before)."""
    import gc

    gc.collect()
    rss0 = _status("VmRSS")
    reset_peak_rss()
    t0 = time.perf_counter()
    out = fn()
    sec = time.perf_counter() - t0
    return out, sec, _status("VmHWM"), rss0


def fastest(fn, repeats: int, seconds=lambda r: r[1]["seconds"]):
    """The result of the fastest of ``repeats`` identical calls ``fn()``; ``seconds(result)`` reads a
    call's time (default: from an ``(output, measurement)`` pair). Short calls on a shared machine are
    at the mercy of the other load; the fastest is the least disturbed."""
    return min((fn() for _ in range(repeats)), key=seconds)


def per_draw(call, draws: int, repeats: int = 1) -> dict:
    """Time per draw of ``call(num_draws) -> measurement``: all-in (t_N / N) and marginal
    ((t_N - t_1) / (N - 1), i.e. without the fixed per-call costs); each call the :func:`fastest` of
    ``repeats``."""
    one, full = (fastest(lambda: call(n), repeats, seconds=lambda m: m["seconds"]) for n in (1, draws))
    return {**full, "draws": draws, "seconds_1": one["seconds"], "per_draw": full["seconds"] / draws,
            "marginal": (full["seconds"] - one["seconds"]) / (draws - 1)}


def xcorr(trace: torch.Tensor) -> float:
    """Mean pairwise correlation across chains of the step-to-step changes of the per-step minibatch
    loss (trace: chains x steps, after burn-in). Chains that see the same minibatch at the same step
    share that batch's noise, which shows up here; slow drifts do not (first differences)."""
    d = trace.double().diff(dim=1)
    d = d - d.mean(1, keepdim=True)
    d = d / d.norm(dim=1, keepdim=True)
    c = d @ d.T
    k = c.shape[0]
    return float((c.sum() - c.diagonal().sum()) / (k * (k - 1))) if k > 1 else float("nan")


def chain_se(per_chain) -> float:
    x = [float(v) for v in per_chain]
    c = len(x)
    if c < 2:
        return float("nan")
    m = sum(x) / c
    return math.sqrt(sum((v - m) ** 2 for v in x) / (c - 1) / c)


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": platform.platform(),
    }


def dumps(obj) -> str:
    def default(o):
        if isinstance(o, torch.Tensor):
            return o.tolist()
        if hasattr(o, "tolist"):
            return o.tolist()
        if hasattr(o, "item"):
            return o.item()
        raise TypeError(type(o))

    return json.dumps(obj, default=default)


# --------------------------------------------------------------------------- susceptibility moments
# Both sides hand the orchestrator the same per-chain moments of their draws, so every estimator
# variant below is computed by one piece of code from either side's samples.
#   Lpt (C, D): mean loss on the fixed "pt" sequences (devinterp's sampling_task observable; our φ)
#   ell (C, D, P): per-token probe losses ℓ_i
#   Lmb (C, D): the SGLD minibatch loss at the draw (our library's L in d = ℓ − L)


def sus_moments(Lpt: torch.Tensor, ell: torch.Tensor, Lmb: torch.Tensor) -> dict:
    """Per-chain means over draws (float64): E[Lpt], E[Lpt²], E[Lmb], E[Lpt·Lmb], E[ℓ], E[Lpt·ℓ]."""
    Lpt, ell, Lmb = Lpt.double(), ell.double(), Lmb.double()
    return {
        "pt": Lpt.mean(1), "pt2": (Lpt * Lpt).mean(1), "mb": Lmb.mean(1), "pt_mb": (Lpt * Lmb).mean(1),
        "ell": ell.mean(1), "pt_ell": (Lpt[:, :, None] * ell).mean(1), "draws": Lpt.shape[1],
    }


def _tensors(m: dict) -> dict:
    return {k: (torch.as_tensor(v, dtype=torch.float64) if k != "draws" else v) for k, v in m.items()}


def sus_variants(group: dict, full: dict, init_loss: float) -> dict:
    """Per-token estimators for one weight restriction, each with a standard error over chains.

    ``group`` / ``full``: :func:`sus_moments` of the restricted run and of the unrestricted run.
      devinterp : E_g[φ(Lpt − ℓ)] − E_g[φ]·E_full[Lpt − ℓ], φ = Lpt − init_loss (devinterp 2.0.1)
      selfcent  : Cov_g[Lpt, Lpt − ℓ]  (centred with the restricted chain itself)
      ours      : Cov_g[Lpt, Lmb − ℓ] = χ / β_eff of patterning_core (φ = Lpt, d = ℓ − L_minibatch)
    The per-chain versions use each chain's own means; the point estimate pools all draws (each
    chain has the same number of draws, so pooled means are means of chain means).
    """
    g, f = _tensors(group), _tensors(full)
    Fc = f["pt"][:, None] - f["ell"]  # (C_full, P) per-chain E_full[Lpt − ℓ]
    F = Fc.mean(0)  # (P,) pooled over the full run's chains
    F_se = Fc.std(0, unbiased=True) / Fc.shape[0] ** 0.5 if Fc.shape[0] > 1 else torch.zeros_like(F)

    def estimates(pt, pt2, mb, pt_mb, ell, pt_ell):
        phi = pt - init_loss
        e_phi_d = (pt2 - init_loss * pt)[..., None] - (pt_ell - init_loss * ell)  # E[φ(Lpt − ℓ)]
        dv = e_phi_d - phi[..., None] * F
        selfc = (pt2 - pt * pt)[..., None] - (pt_ell - pt[..., None] * ell)  # Cov[Lpt, Lpt − ℓ]
        ours = (pt_mb - pt * mb)[..., None] - (pt_ell - pt[..., None] * ell)  # Cov[Lpt, Lmb − ℓ]
        return {"devinterp": dv, "selfcent": selfc, "ours": ours}

    per_chain = estimates(g["pt"], g["pt2"], g["mb"], g["pt_mb"], g["ell"], g["pt_ell"])  # each (C, P)
    pooled = estimates(*(g[k].mean(0) for k in ("pt", "pt2", "mb", "pt_mb", "ell", "pt_ell")))  # each (P,)
    c = g["pt"].shape[0]
    out = {}
    e_phi = float(g["pt"].mean() - init_loss)
    for name, pc in per_chain.items():
        se = pc.std(0, unbiased=True) / c**0.5 if c > 1 else torch.full_like(pooled[name], float("nan"))
        tok_mean = pc.mean(1)  # (C,) per-chain mean over probe tokens
        tm_se = float(tok_mean.std(unbiased=True) / c**0.5) if c > 1 else float("nan")
        if name == "devinterp":  # + the unrestricted run's own Monte Carlo error, through −E_g[φ]·F
            se = (se**2 + (e_phi * F_se) ** 2).sqrt()
            fm = Fc.mean(1)
            fm_se = float(fm.std(unbiased=True) / len(fm) ** 0.5) if len(fm) > 1 else 0.0
            tm_se = (tm_se**2 + (e_phi * fm_se) ** 2) ** 0.5
        out[name] = {"value": pooled[name], "se": se, "per_chain": pc, "token_mean": float(pooled[name].mean()),
                     "token_mean_se": tm_se}
    out["e_phi"] = e_phi
    return out
