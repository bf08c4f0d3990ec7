"""The chapter-5 model's SGLD on the CPU: the per-chain ``vmap`` path against the chain-native path.

Both paths run the same ``sample()`` with the same seed on the committed step-5500 checkpoint
(``AttnOnlyConfig.ci()``), one thread, alternately, best of ``--repeats``:

* ``llc``: the LLC run of bench case 1 (4 chains, minibatch 8, 20 burn-in + 40 draws), on 256-token
  contexts as in chapter 5 (the issue's "batch 8 x 256");
* ``heads``: chapter 5's ``head_param_covariance`` (4 chains per head x 8 heads = 32 chains, each
  restricted to its head, minibatch 2, 20 burn-in + 10 draws).

Prints the seconds of each and the ratio vmap / native (> 1: native faster), and checks that both
paths give the same λ̂ / covariance. ``python bench/lm_chains_speed.py [--repeats 3]``
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from patterning_core import SGLDConfig, llc, sample  # noqa: E402
from patterning_core.lm import data as lm_data  # noqa: E402
from patterning_core.lm.heads import head_param_covariance  # noqa: E402
from patterning_core.lm.model import AttnOnlyTransformer, per_token_loss  # noqa: E402


def lm_loss(model_fn, batch):
    return per_token_loss(model_fn, batch[0])  # (B, T-1) or (chains, B, T-1)


def with_path(model: AttnOnlyTransformer, native: bool) -> AttnOnlyTransformer:
    """The same weights with ``cfg.chain_native`` set (False: vmap over chains, explicit softmax as today)."""
    m = AttnOnlyTransformer(replace(model.cfg, chain_native=native), seed=None)
    m.load_state_dict(model.state_dict())
    return m


def cases(model: AttnOnlyTransformer, tokens: torch.Tensor, draws: int) -> dict:
    llc_cfg = SGLDConfig(step_size=3e-4, nbeta=20.0, gamma=100.0, num_chains=4, num_draws=2 * draws, num_burnin=20, batch_size=8)
    head_cfg = SGLDConfig(step_size=3e-4, nbeta=20.0, gamma=100.0, num_chains=4, num_draws=draws, num_burnin=20, batch_size=2)
    return {
        "llc": lambda m: llc(sample(m, lm_loss, (tokens,), config=llc_cfg, probe=False, seed=0, progress=False, anchor_loss=3.0)).mean,
        "heads": lambda m: head_param_covariance(m, tokens, tokens[:2], config=head_cfg, seed=0, progress=False).cov,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="best of this many calls of each path")
    ap.add_argument("--draws", type=int, default=10, help="recorded draws of the heads case (llc: twice as many)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    base, _ = lm_data.load_checkpoint("checkpoints/step5500.pt")
    tokens = lm_data.load_contexts(256, 512).tokens[-1024:]  # (1024, 256)
    paths = {"vmap": with_path(base, False), "native": with_path(base, True)}
    for name, run in cases(base, tokens, args.draws).items():
        best, out = {"vmap": float("inf"), "native": float("inf")}, {}
        for _ in range(args.repeats):
            for path, m in paths.items():  # alternately, so drift of the machine's speed hits both
                t0 = time.perf_counter()
                out[path] = run(m)
                best[path] = min(best[path], time.perf_counter() - t0)
        diff = float((torch.as_tensor(out["vmap"]) - torch.as_tensor(out["native"])).abs().max())
        print(f"{name:6s} vmap {best['vmap']:7.2f} s   native {best['native']:7.2f} s   "
              f"vmap/native {best['vmap'] / best['native']:.2f}   max |difference| of the estimate {diff:.2e}")


if __name__ == "__main__":
    main()
