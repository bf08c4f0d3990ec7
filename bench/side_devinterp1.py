"""devinterp 1.3.2 side (TMS case), run in bench/.venv-devinterp1 as a worker process.

Uses ``devinterp.slt.sampler.estimate_learning_coeff_with_summary`` with its SGLD optimizer and an
``evaluate(model, batch)`` built on patterning_core's TMS per-sample loss; data through a shuffled
DataLoader over the sampled inputs (minibatch SGLD).
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import common as C  # noqa: E402

C.set_threads()
warnings.filterwarnings("ignore")

from devinterp.optim.sgld import SGLD  # noqa: E402
from devinterp.slt.sampler import estimate_learning_coeff_with_summary  # noqa: E402

from patterning_core.tms.model import per_sample_loss  # noqa: E402

_TMS: dict = {}


def tms():
    if not _TMS:
        _TMS.update(C.prepare_tms())
    return _TMS


def evaluate(model, batch):
    (x,) = batch
    return per_sample_loss(model, (x,)).mean()  # the minibatch mean of ℓ_x, as on our side


def timed(fn):
    out, sec, peak, rss0 = C.measure(fn)
    return out, {"seconds": sec, "peak_rss": peak, "rss_before": rss0}


def run(p: C.SGLDPlan, chains: int, draws: int, burnin: int, seed: int):
    model = C.tms_model(tms()["W"])
    x = tms()["x"]
    with torch.no_grad():
        init_loss = float(per_sample_loss(model, (x,)).mean())  # exact L_n(w*) on the sampled data, as ours
    loader = DataLoader(TensorDataset(x), batch_size=p.batch_size, shuffle=True)
    kwargs = dict(lr=p.step_size, nbeta=p.nbeta, localization=p.gamma, noise_level=1.0)
    return timed(lambda: estimate_learning_coeff_with_summary(
        model, loader, evaluate=evaluate, sampling_method=SGLD, optimizer_kwargs=kwargs, num_chains=chains,
        num_draws=draws, num_burnin_steps=burnin, num_steps_bw_draws=p.thin, init_loss=init_loss, seed=seed,
        verbose=False, device="cpu"))


def warmup() -> dict:
    """The first torch.optim step in a process imports torch._dynamo (seconds); pay it here."""
    _, t = run(C.TMS_LLC, 1, 2, 0, seed=0)
    return t


def tms_llc(seed: int = 100, threads: int = C.THREADS) -> dict:
    p = C.TMS_LLC
    with C.threads(threads):  # the same seed each time: the same estimate, the fastest time
        out, t = C.fastest(lambda: run(p, p.num_chains, p.num_draws, p.num_burnin, seed), C.TMS_REPEATS)
    per_chain = torch.tensor([out[f"llc-chain/{i}"] for i in range(p.num_chains)], dtype=torch.float64)
    trace = torch.as_tensor(out["loss/trace"], dtype=torch.float64)  # (chains, draws), after burn-in
    return {"llc": out["llc/mean"], "llc_std_reported": out["llc/std"], "se": C.chain_se(per_chain),
            "per_chain": per_chain, "xcorr": C.xcorr(trace), **t}


def tms_point(chains: int, draws: int = C.SCALE_TMS_DRAWS) -> dict:
    return C.per_draw(lambda n: run(C.TMS_LLC, chains, n, 0, seed=0)[1], draws, C.SCALE_TMS_REPEATS)


if __name__ == "__main__":
    from worker import serve

    serve({f.__name__: f for f in (warmup, tms_llc, tms_point)})
