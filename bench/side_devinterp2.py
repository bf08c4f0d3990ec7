"""devinterp 2.0.1 side (LM cases), run in bench/.venv-devinterp2 as a worker process.

Uses only devinterp's public entry points: ``devinterp.slt.llc.llc`` and
``devinterp.slt.susceptibilities.susceptibilities``. The per-chain moments returned for the
susceptibility comparison are read back from the zarr stores devinterp itself wrote.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import common as C  # noqa: E402

C.set_threads()
warnings.filterwarnings("ignore")  # devinterp warns on every call without an output_path, etc.

import xarray as xr  # noqa: E402
from datasets import Dataset  # noqa: E402
from devinterp.slt.llc import llc as dv_llc  # noqa: E402
from devinterp.slt.susceptibilities import susceptibilities as dv_susceptibilities  # noqa: E402

from patterning_core.lm.model import head_param_masks  # noqa: E402

_LM: dict = {}


def lm():
    if not _LM:
        _LM.update(C.prepare_lm())
    return _LM


class DevinterpLM(nn.Module):
    """Thin adapter. devinterp 2 treats any model with ``model.cfg.n_heads`` as a TransformerLens
    HookedTransformer (it calls ``model(ids, return_type="logits")`` and ``model.to(..., print_details=False)``);
    our AttnOnlyTransformer has such a ``cfg``, so we hide it behind a module without one.
    Parameter names gain the prefix ``lm.``; the forward is unchanged."""

    def __init__(self, lm_model: nn.Module):
        super().__init__()
        self.lm = lm_model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.lm(input_ids)  # (B, T, V) logits


def model() -> DevinterpLM:
    return DevinterpLM(C.load_lm(lm()))


def dataset(tokens: torch.Tensor) -> Dataset:
    return Dataset.from_dict({"input_ids": tokens.tolist()}).with_format("torch")


def timed(fn):
    out, sec, peak, rss0 = C.measure(fn)
    return out, {"seconds": sec, "peak_rss": peak, "rss_before": rss0}


def common_kwargs(p: C.SGLDPlan, **over) -> dict:
    kw = dict(lr=p.step_size, n_beta=p.nbeta, localization=p.gamma, num_chains=p.num_chains, num_draws=p.num_draws,
              num_burnin_steps=p.num_burnin, num_steps_bw_draws=p.thin, batch_size=p.batch_size, noise_level=1.0)
    kw.update(over)
    return kw


# --------------------------------------------------------------------------- tasks


def warmup() -> dict:
    m, ds = model(), dataset(lm()["sgld_tokens"][:16])
    with tempfile.TemporaryDirectory() as tmp:
        _, t = timed(lambda: dv_llc(m, ds, {}, **common_kwargs(C.LM_LLC, num_chains=1, num_draws=2, num_burnin_steps=0,
                                                            num_init_loss_batches=1), output_path=Path(tmp) / "w.zarr"))
    return t


def lm_llc(match: bool = True, seed: int = 100, threads: int = C.THREADS) -> dict:
    """Case 1 with devinterp's llc(). ``num_init_loss_batches = n / batch_size`` makes its init loss
    the full-data loss (its default, 32 batches, would be a partial estimate)."""
    p = C.LM_LLC
    m, ds = model(), dataset(lm()["sgld_tokens"])
    n_batches = len(ds) // p.batch_size
    tmp = tempfile.mkdtemp()
    try:
        with C.threads(threads):
            out, t = timed(lambda: dv_llc(m, ds, {}, **common_kwargs(p, num_init_loss_batches=n_batches, init_seed=seed,
                                                                    match_sampling_input_ids_across_chains=match),
                                          output_path=Path(tmp) / "llc.zarr"))
        disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    trace = torch.as_tensor(out.loss_trace.values, dtype=torch.float64)  # (chain, step), burn-in included
    init = float(out.init_loss)
    post = p.nbeta * (trace[:, p.num_burnin:].mean(1) - init)  # the same chains without burn-in
    per_chain = torch.as_tensor(out.llc_per_chain.values, dtype=torch.float64)
    return {"llc": float(out.llc_mean), "llc_std_reported": float(out.llc_std), "se": C.chain_se(per_chain),
            "per_chain": per_chain, "init_loss": init, "zarr_bytes": disk, **t,
            "post_burnin": {"llc": float(post.mean()), "se": C.chain_se(post), "per_chain": post},
            "loss_trace_mean": trace.mean(0), "xcorr": C.xcorr(trace[:, p.num_burnin:])}


def lm_sus(seed: int = 100) -> dict:
    """Case 2 with devinterp's susceptibilities(): "full" plus one weight restriction per head."""
    p = C.LM_SUS
    m = model()
    ds = dataset(lm()["sgld_tokens"])
    pt, probe = C.sus_sets(lm())
    # observables of exactly batch_size x batches_per_draw sequences: devinterp evaluates all of them, in
    # the order C.devinterp_layout gives (checked below against the input_ids it stores)
    pt_ds, probe_ds = dataset(pt), dataset(probe)
    obs = {"pt": (pt_ds, len(pt) // p.batch_size), "probe": (probe_ds, len(probe) // p.batch_size)}
    heads = C.head_names(m.lm.cfg.n_layers, m.lm.cfg.n_heads)
    wr = {"full": None}
    for name, layer, head in heads:
        masks = head_param_masks(m.lm, layer, head)
        wr[name] = {f"lm.{k}": v for k, v in masks.items() if v.any()}
    tmp = tempfile.mkdtemp()
    try:
        out, t = timed(lambda: dv_susceptibilities(m, ds, obs, wr, sampling_task="pt", **common_kwargs(p, init_seed=seed),
                                                   output_path=Path(tmp) / "s.zarr"))
        sus = out["susceptibilities"].dataset
        order = [str(w) for w in sus.coords["wr"].values]
        values = torch.as_tensor(sus["sus"].values, dtype=torch.float64)  # (sus_flat, wr): probe (batch, pos) raveled
        moments, init_losses, ids_ok = {}, {}, True
        for name in ["full", *[h for h, *_ in heads]]:
            d = xr.open_datatree(str(Path(tmp) / f"s_{name}.zarr"), engine="zarr", consolidated=False).dataset
            Lpt = torch.as_tensor(d["loss_pt"].values).mean((2, 3))  # (chain, draw)
            ell = torch.as_tensor(d["loss_probe"].values).flatten(2)  # (chain, draw, P)
            Lmb = torch.as_tensor(d["sampling_loss"].values).mean((2, 3))  # (chain, draw)
            moments[name] = C.sus_moments(Lpt, ell, Lmb)
            init_losses[name] = float(d["init_loss"].values.mean())
            ids_ok &= bool(torch.equal(torch.as_tensor(d["input_ids_probe"].values), C.devinterp_layout(probe)))
            ids_ok &= bool(torch.equal(torch.as_tensor(d["input_ids_pt"].values), C.devinterp_layout(pt)))
        disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"sus": {w: values[:, i] for i, w in enumerate(order)}, "moments": moments, "init_loss": init_losses,
            "probe_ids_match": ids_ok, "zarr_bytes": disk, **t}


# --------------------------------------------------------------------------- scaling


def lm_point(chains: int, probe_tokens: int | None = None, draws: int = C.SCALE_LM_DRAWS) -> dict:
    """Time per draw with devinterp's llc() (no burn-in, one init-loss batch: minimal fixed cost).
    ``probe_tokens``: an observable of that many tokens, evaluated at every draw."""
    p = C.LM_LLC
    m, ds = model(), dataset(lm()["sgld_tokens"])
    seq = C.LMPlan().ctx - 1
    obs = {}
    if probe_tokens:
        n = probe_tokens // seq
        if n % p.batch_size:
            return {"skipped": f"{probe_tokens} probe tokens = {n} sequences, not a multiple of batch_size {p.batch_size}"}
        obs = {"probe": (dataset(lm()["probe_pool"][:n]), n // p.batch_size)}

    def call(n):
        tmp = tempfile.mkdtemp()
        try:
            return timed(lambda: dv_llc(m, ds, obs, **common_kwargs(p, num_chains=chains, num_draws=n, num_burnin_steps=0,
                                                                 num_init_loss_batches=1), output_path=Path(tmp) / "p.zarr"))[1]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return C.per_draw(call, draws)


if __name__ == "__main__":
    from worker import serve

    serve({f.__name__: f for f in (warmup, lm_llc, lm_sus, lm_point)})
