"""SGLD throughput: chain-draws per second as chains grow, vectorized vs a per-chain loop.

Run: ``python bench/sgld_throughput.py [--device cpu|cuda]``. Prints a table; ratios within one
run are the meaningful numbers (absolute speed depends on the machine and its load).
"""
from __future__ import annotations

import argparse
import platform
import time

import torch
from torch import nn

from patterning_core import SGLDConfig, sample


def mlp(d_in: int = 8, width: int = 32) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))


def mse(model, batch):
    x, y = batch
    return (model(x).squeeze(-1) - y) ** 2  # (B,)


def timed(fn) -> float:
    fn()  # warm-up (first call imports and allocates)
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    dev = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1024, 8, generator=g)
    data = (x.to(dev), torch.sin(x.sum(1)).to(dev))
    model = mlp().to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"# SGLD throughput on {dev} ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads); MLP with {n_params} parameters, minibatch {args.batch_size}, {args.draws} draws")
    print(f"{'chains':>7} {'vectorized draws/s':>20} {'loop draws/s':>14} {'speed-up':>9}")
    for chains in (1, 8, 64):
        cfg = SGLDConfig(step_size=1e-4, nbeta=100.0, gamma=100.0, num_chains=chains, num_draws=args.draws, num_burnin=0, batch_size=args.batch_size)
        vec = timed(lambda: sample(model, mse, data, config=cfg, probe=(data[0][:64], data[1][:64]), progress=False))
        one = SGLDConfig(**{**cfg.__dict__, "num_chains": 1})
        loop = timed(lambda: [sample(model, mse, data, config=one, probe=(data[0][:64], data[1][:64]), seed=c, progress=False) for c in range(chains)])
        total = chains * args.draws
        print(f"{chains:>7} {total / vec:>20.0f} {total / loop:>14.0f} {loop / vec:>8.1f}x")


if __name__ == "__main__":
    main()
