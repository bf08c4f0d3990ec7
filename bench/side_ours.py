"""Our side of the benchmark (patterning_core), run in the project venv as a worker process."""
from __future__ import annotations

import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.func import functional_call, vmap  # noqa: E402

import common as C  # noqa: E402
from patterning_core import SGLDConfig, llc, llc_from_losses, sample, susceptibilities  # noqa: E402
from patterning_core.lm.model import head_param_masks, per_token_loss  # noqa: E402
from patterning_core.tms.model import natural_weights, per_sample_loss, tms_data  # noqa: E402

C.set_threads()
_LM: dict = {}
_TMS: dict = {}


def lm():
    if not _LM:
        _LM.update(C.prepare_lm())
    return _LM


def tms():
    if not _TMS:
        _TMS.update(C.prepare_tms())
    return _TMS


def lm_loss(model_fn, batch):
    return per_token_loss(model_fn, batch[0])  # (B, T-1)


def config(p: C.SGLDPlan, **over) -> SGLDConfig:
    kw = dict(step_size=p.step_size, nbeta=p.nbeta, gamma=p.gamma, num_chains=p.num_chains, num_draws=p.num_draws,
              num_burnin=p.num_burnin, thin=p.thin, batch_size=p.batch_size)
    kw.update(over)
    return SGLDConfig(**kw)


def timed(fn) -> tuple[object, dict]:
    out, sec, peak, rss0 = C.measure(fn)
    return out, {"seconds": sec, "peak_rss": peak, "rss_before": rss0}


# --------------------------------------------------------------------------- tasks


def prepare() -> dict:
    (p, t), m = timed(lambda: (lm(), tms()))
    return {"lm_train_loss": p["train_loss_last50"], "lm_prepare_seconds": p["prepare_seconds"],
            "tms_population_loss": t["population_loss"], "lm_params": sum(v.numel() for k, v in p["state_dict"].items() if k != "W_pos"), **m}


def warmup() -> dict:
    model = C.load_lm(lm())
    data = (lm()["sgld_tokens"],)
    cfg = config(C.LM_LLC, num_chains=1, num_draws=2, num_burnin=0)
    _, m = timed(lambda: sample(model, lm_loss, data, config=cfg, probe=False, progress=False, anchor_loss=0.0))
    tm = C.tms_model(tms()["W"])
    sample(tm, per_sample_loss, (tms()["x"],), config=config(C.TMS_LLC, num_chains=1, num_draws=2, num_burnin=0), probe=False, progress=False)
    return m


def lm_llc(burnin_in_average: bool = False, seed: int = 0, threads: int = C.THREADS) -> dict:
    """Case 1. ``burnin_in_average``: the same chains recorded from step 0 (devinterp 2's convention)."""
    p = C.LM_LLC
    model, data = C.load_lm(lm()), (lm()["sgld_tokens"],)
    cfg = config(p, num_burnin=0, num_draws=p.num_burnin + p.num_draws) if burnin_in_average else config(p)

    def run():
        s = sample(model, lm_loss, data, config=cfg, probe=False, seed=seed, progress=False)
        return s, llc(s)

    with C.threads(threads):
        (s, r), m = timed(run)
    tr = s.loss_trace.double()
    out = {"llc": r.mean, "se": r.std_err, "per_chain": r.per_chain, "anchor_loss": s.anchor_loss, **m,
           "draws_recorded": tr.shape[1], "loss_trace_mean": tr.mean(0),
           "xcorr": C.xcorr(tr[:, p.num_burnin:] if burnin_in_average else tr)}
    if burnin_in_average:  # the same trajectories' post-burn-in part (bitwise the default run's trace)
        post = llc_from_losses(tr[:, p.num_burnin:], s.anchor_loss, p.nbeta)
        out["post_burnin"] = {"llc": post.mean, "se": post.std_err, "per_chain": post.per_chain}
    return out


def _pt_observable(model, pt: torch.Tensor):
    """φ(params) = mean next-token loss on the fixed ``pt`` sequences, for stacked params (chains, K=1)."""
    buffers = dict(model.named_buffers())

    def one(params):
        return per_token_loss(lambda t: functional_call(model, (params, buffers), (t,)), pt).mean()

    return lambda stacked: vmap(one)(stacked)[:, None]


def lm_sus(seed: int = 0) -> dict:
    """Case 2: one vectorized run, chains grouped as [full, l0h0, l0h1, ...], restrict masks per chain."""
    p = C.LM_SUS
    model, data = C.load_lm(lm()), (lm()["sgld_tokens"],)
    pt, probe = (C.devinterp_layout(x) for x in C.sus_sets(lm()))  # devinterp's row order, token for token
    heads = C.head_names(model.cfg.n_layers, model.cfg.n_heads)
    groups = torch.arange(1 + len(heads)).repeat_interleave(p.num_chains)  # (chains,)
    chains = len(groups)
    names = [n for n, _ in model.named_parameters()]
    restrict = {n: torch.zeros(chains, *dict(model.named_parameters())[n].shape, dtype=torch.bool) for n in names}
    for c, g in enumerate(groups.tolist()):
        for n in names:
            if g == 0:
                restrict[n][c] = True  # the unrestricted ("full") group
            else:
                _, layer, head = heads[g - 1]
                restrict[n][c] = head_param_masks(model, layer, head)[n]
    cfg = config(p, num_chains=chains)
    phi = _pt_observable(model, pt)

    def run():
        s = sample(model, lm_loss, data, config=cfg, observables=phi, probe=(probe,), restrict=restrict, seed=seed,
                   progress=False, keep_probe_traces=True)
        return s, susceptibilities(s, groups=groups)

    (s, chi), m = timed(run)
    moments = {}
    for g, (name, *_rest) in enumerate([("full",), *heads]):
        idx = (groups == g).nonzero().squeeze(1)
        moments[name] = C.sus_moments(s.obs_trace[idx, :, 0], s.probe_trace[idx], s.loss_trace[idx])
    return {"moments": moments, "anchor_loss": s.anchor_loss, "beta_eff": s.beta_eff,
            "chi_over_beta": {name: chi.chi[g] / s.beta_eff for g, (name, *_r) in enumerate([("full",), *heads])},
            "chi_se_over_beta": {name: chi.std_err[g] / s.beta_eff for g, (name, *_r) in enumerate([("full",), *heads])},
            "chains": chains, "probe_tokens": int(s.probe_trace.shape[-1]), **m}


def tms_llc(seed: int = 0, exact_population: bool = False, threads: int = C.THREADS) -> dict:
    """Case 3. ``exact_population``: full-batch SGLD on the exact population loss (natural weights over
    the 32 input types) -- what devinterp's data-loader API cannot express directly."""
    p = C.TMS_LLC
    model = C.tms_model(tms()["W"])
    if exact_population:
        data, weights, cfg, probe = tms_data(), natural_weights(), config(p, batch_size=None), False
    else:
        data, weights, cfg, probe = (tms()["x"],), None, config(p), False

    def run():
        s = sample(model, per_sample_loss, data, weights=weights, config=cfg, probe=probe, seed=seed, progress=False)
        return s, llc(s)

    with C.threads(threads):  # the same seed each time: the same estimate, the fastest time
        (s, r), m = C.fastest(lambda: timed(run), C.TMS_REPEATS)
    return {"llc": r.mean, "se": r.std_err, "per_chain": r.per_chain, "anchor_loss": s.anchor_loss,
            "xcorr": C.xcorr(s.loss_trace), **m}


# --------------------------------------------------------------------------- scaling


def lm_point(chains: int, probe_tokens: int | None = None, draws: int = C.SCALE_LM_DRAWS) -> dict:
    """Time per draw of an LM run (no burn-in; anchor loss given so no fixed full-data pass);
    ``probe_tokens``: that many held-out probe tokens recorded at every draw (None: no probe)."""
    model, data = C.load_lm(lm()), (lm()["sgld_tokens"],)
    seq = C.LMPlan().ctx - 1
    probe = (lm()["probe_pool"][: max(1, probe_tokens // seq)],) if probe_tokens else False

    def call(n):
        cfg = config(C.LM_LLC, num_chains=chains, num_draws=n, num_burnin=0)
        return timed(lambda: sample(model, lm_loss, data, config=cfg, probe=probe, progress=False, anchor_loss=3.0))[1]

    return {**C.per_draw(call, draws), "probe_tokens": probe[0].shape[0] * seq if probe else 0}


def tms_point(chains: int, draws: int = C.SCALE_TMS_DRAWS) -> dict:
    model = C.tms_model(tms()["W"])

    def call(n):
        cfg = config(C.TMS_LLC, num_chains=chains, num_draws=n, num_burnin=0)
        return timed(lambda: sample(model, per_sample_loss, (tms()["x"],), config=cfg, probe=False,
                                    progress=False, anchor_loss=0.0))[1]

    return C.per_draw(call, draws, C.SCALE_TMS_REPEATS)


def lm_floor(threads: int = C.THREADS, reps: int = 30) -> dict:
    """What case 1 costs with no sampler at all: the model's own forward + backward per chain-step,
    (a) one chain on one minibatch in plain eager PyTorch (what devinterp runs inside each step) and
    (b) our vmapped loss + gradient over the case's chains (the same kernels, batched), plus one
    no-gradient pass over the data for L(w*). Any library that runs this model eagerly pays at least
    ``steps x chains x min(a, b) + anchor``; devinterp's case-1 time over that is the largest speed-up
    any such library could show."""
    p = C.LM_LLC
    model, x = C.load_lm(lm()), lm()["sgld_tokens"]
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(0)

    def plain():  # one chain, one minibatch
        loss = per_token_loss(model, x[torch.randint(len(x), (p.batch_size,), generator=g)]).mean()
        torch.autograd.grad(loss, list(params.values()))

    buffers = dict(model.named_buffers())
    w = {k: v.detach().expand(p.num_chains, *v.shape).clone().requires_grad_(True) for k, v in params.items()}
    one = lambda wc, b: per_token_loss(lambda t: functional_call(model, (wc, buffers), (t,)), b).mean()
    batched_loss = vmap(one)

    def batched():  # all chains, each on its own minibatch
        idx = torch.randint(len(x), (p.num_chains, p.batch_size), generator=g)
        torch.autograd.grad(batched_loss(w, x[idx]).sum(), list(w.values()))

    def anchor():
        with torch.no_grad():
            return torch.cat([per_token_loss(model, c).mean(1) for c in x.split(64)]).mean()

    pt, probe = C.sus_sets(lm())

    def observe():  # case 2, per chain and draw: φ on the pt sequences and the probe losses, no gradient
        with torch.no_grad():
            per_token_loss(model, pt), per_token_loss(model, probe)

    def per_call(fn, n):
        fn()
        return min(C.measure(fn)[1] for _ in range(n))  # best of n: the floor, not a typical time

    with C.threads(threads):
        a, b, t_anchor = per_call(plain, reps), per_call(batched, reps) / p.num_chains, per_call(anchor, 3)
        t_obs = per_call(observe, reps)
    steps = p.num_burnin + p.num_draws * p.thin
    q = C.LM_SUS  # case 2: 1 + 8 restrictions x q.num_chains chains, each a full forward + backward per step
    chains2, steps2 = (1 + len(C.head_names(model.cfg.n_layers, model.cfg.n_heads))) * q.num_chains, q.num_burnin + q.num_draws * q.thin
    return {"plain_fwd_bwd": a, "batched_fwd_bwd_per_chain": b, "anchor": t_anchor, "steps": steps, "chains": p.num_chains,
            "floor": steps * p.num_chains * min(a, b) + t_anchor, "threads": threads,
            "observe": t_obs, "sus_chains": chains2, "sus_steps": steps2, "sus_draws": q.num_draws,
            "sus_floor": chains2 * steps2 * min(a, b) + chains2 * q.num_draws * t_obs + t_anchor}


def profile(which: str, chains: int = 4, top: int = 12) -> dict:
    """cProfile of one of our runs: the functions with the most own time."""
    if which == "lm":
        model, data = C.load_lm(lm()), (lm()["sgld_tokens"],)
        cfg = config(C.LM_LLC, num_chains=chains, num_draws=20, num_burnin=0)
        call = lambda: sample(model, lm_loss, data, config=cfg, probe=False, progress=False, anchor_loss=3.0)
    else:
        model = C.tms_model(tms()["W"])
        cfg = config(C.TMS_LLC, num_chains=chains, num_draws=300, num_burnin=0)
        call = lambda: sample(model, per_sample_loss, (tms()["x"],), config=cfg, probe=False, progress=False, anchor_loss=0.0)
    pr = cProfile.Profile()
    pr.enable()
    call()
    pr.disable()
    st = pstats.Stats(pr, stream=io.StringIO())
    total = st.total_tt
    rows = []
    for (file, line, fn), (cc, nc, tt, ct, _callers) in sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]:
        where = f"{Path(file).name}:{line}({fn})" if file != "~" else fn
        rows.append({"function": where, "ncalls": nc, "tottime": tt, "cumtime": ct, "share": tt / total})
    return {"which": which, "chains": chains, "total": total, "rows": rows, "steps": cfg.num_steps}


if __name__ == "__main__":
    from worker import serve

    serve({f.__name__: f for f in (prepare, warmup, lm_llc, lm_sus, tms_llc, lm_point, tms_point, lm_floor, profile)})
