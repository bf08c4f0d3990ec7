"""``make gpu-check``: the tests, every chapter and a throughput table on one CUDA device (<= 5 min on an H100).

Three parts, each reported (and each failure counted) on its own:

1. **tests** -- ``pytest -k DEVICE`` over ``tests/``: every test parametrized with conftest's
   ``device`` fixture runs on the device, the slow known-answer tests included;
2. **chapters** -- every ``notebooks/NN_*.py`` at the ``smoke`` preset with ``device=DEVICE``, through
   ``tools/run_notebooks.py`` when papermill is installed, else as a plain Python script: the
   parameters cell's values replaced, run in ``notebooks/`` (:func:`script_with_parameters`); each
   must write its claims JSON;
3. **throughput** -- SGLD chain-steps/s and tokens/s by chain count for TMS and the attention-only
   LM (the chapter-5 checkpoint; the paper-size model in float32 and bf16 autocast; the old ``vmap``
   path for comparison), on the device and on this machine's CPU, written with the card's name, the
   torch version and the date to ``bench/results/gpu.md`` (``--device cpu``: ``bench/results/cpu.md``,
   labelled CPU; a CPU run never writes ``gpu.md``).

``python bench/gpu_check.py`` (cuda); ``--device cpu --quick`` exercises every part on a CPU in a few
minutes (one test file, one chapter, the smallest points). Exit status 1 when any part failed.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from patterning_core import SGLDConfig, sample  # noqa: E402
from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer, autocast_loss, per_token_loss  # noqa: E402
from patterning_core.tms.model import TMS, TMSConfig  # noqa: E402
from patterning_core.tms.model import per_sample_loss as tms_loss  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
PARAMS_CELL = '# %% tags=["parameters"]'
CHAPTER_TIMEOUT = 600  # seconds one chapter may take before it counts as failed


@dataclass(frozen=True)
class Step:
    part: str  # tests | chapter | throughput
    name: str
    ok: bool
    seconds: float
    detail: str = ""


# ---------------------------------------------------------------------------- 1. tests


def run_tests(device: str, quick: bool) -> Step:
    """pytest over the device-parametrized tests (``-k cpu`` / ``-k cuda``), slow known-answer tests included."""
    kind = torch.device(device).type
    where = ["tests/test_lm_chains.py", "-m", "not slow"] if quick else [
        "tests", "--ignore=tests/test_browser.py", "--ignore=tests/test_book_offline.py"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *where, "-k", kind]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    tail = (r.stdout.strip().splitlines() or [""])[-1]
    if r.returncode:
        print(r.stdout[-4000:], r.stderr[-2000:], sep="\n")
    return Step("tests", " ".join(cmd[3:]), r.returncode == 0, time.perf_counter() - t0, tail)


# ---------------------------------------------------------------------------- 2. chapters


def script_with_parameters(source: str, values: dict[str, object]) -> tuple[str, list[str]]:
    """A jupytext percent file's source with the parameters cell's assignments of ``values`` replaced
    (``name = value`` lines, comments kept out); returns the source and the names the cell lacked."""
    lines = source.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == PARAMS_CELL)
    except StopIteration:
        raise ValueError(f"no {PARAMS_CELL!r} cell") from None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# %%")), len(lines))
    missing = set(values)
    for i in range(start + 1, end):
        m = re.match(r"^(\w+)\s*=", lines[i])
        if m and m.group(1) in values:
            lines[i] = f"{m.group(1)} = {values[m.group(1)]!r}  # set by bench/gpu_check.py"
            missing.discard(m.group(1))
    return "\n".join(lines) + "\n", sorted(missing)


def run_chapter_script(name: str, preset: str, device: str, out: Path, timeout: float = CHAPTER_TIMEOUT) -> Step:
    """Run ``notebooks/NAME.py`` as a plain script with its parameters set; it must write its claims."""
    t0 = time.perf_counter()
    claims = out / f"{name}.claims.json"
    claims.unlink(missing_ok=True)
    source, missing = script_with_parameters((NOTEBOOKS / f"{name}.py").read_text(),
                                             {"preset": preset, "device": device, "results_dir": str(out)})
    if "device" in missing:  # it would silently run on its own default device
        return Step("chapter", name, False, 0.0, "the parameters cell sets no `device`")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / f"{name}.py"
        script.write_text(source)
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        try:
            r = subprocess.run([sys.executable, str(script)], cwd=NOTEBOOKS, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Step("chapter", name, False, time.perf_counter() - t0, f"timed out after {timeout:.0f} s")
    seconds = time.perf_counter() - t0
    if r.returncode:
        err = (r.stderr.strip().splitlines() or ["?"])[-1]
        return Step("chapter", name, False, seconds, f"exit {r.returncode}: {err[:200]}")
    if not claims.exists():
        return Step("chapter", name, False, seconds, f"ran, but wrote no {claims.name}")
    return Step("chapter", name, True, seconds, "plain script")


def run_chapter(name: str, preset: str, device: str, out: Path, plain: bool = False) -> Step:
    """Through tools/run_notebooks.py (papermill) when papermill is installed, else (or with ``plain``) as a plain script."""
    if plain or importlib.util.find_spec("papermill") is None:
        return run_chapter_script(name, preset, device, out)
    t0 = time.perf_counter()
    cmd = [sys.executable, "tools/run_notebooks.py", "--only", name, "--preset", preset, "--device", device, "--out", str(out)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    tail = (r.stdout.strip().splitlines() or [""])[-1]
    return Step("chapter", name, r.returncode == 0, time.perf_counter() - t0, f"papermill: {tail[:200]}")


# ---------------------------------------------------------------------------- 3. throughput


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sgld_rate(model, loss, data: tuple, chains: int, batch_size: int, steps: int, anchor: float) -> float:
    """Chain-steps per second of ``sample()`` (no burn-in, no probe; one short warm-up call first)."""
    device = data[0].device
    cfg = SGLDConfig(step_size=1e-5, nbeta=10.0, gamma=100.0, num_chains=chains, num_draws=steps, num_burnin=0,
                     batch_size=batch_size, blowup=1e30)  # timing only: never stop for divergence
    sample(model, loss, data, config=replace(cfg, num_draws=2), probe=False, progress=False, anchor_loss=anchor)
    _sync(device)
    t0 = time.perf_counter()
    sample(model, loss, data, config=cfg, probe=False, progress=False, anchor_loss=anchor)
    _sync(device)
    return chains * steps / (time.perf_counter() - t0)


def _lm_loss(model_fn, batch):
    return per_token_loss(model_fn, batch[0])  # (B, T-1) or (chains, B, T-1)


def tms_rows(device: torch.device, chain_counts, steps: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    model = TMS(TMSConfig(), generator=g).to(device)
    x = (torch.rand(4096, 5, generator=g) < 0.1).float().to(device)  # bench case 3's inputs: each feature on with p = 0.1
    return [dict(family="TMS", model="5→2 (bench case 3)", path="chain-batched", dtype="fp32", chains=c, batch="64 inputs",
                 tokens=0, device=device, rate=sgld_rate(model, tms_loss, (x,), c, 64, steps, 0.0)) for c in chain_counts]


def lm_rows(device: torch.device, which: str, points, quick: bool) -> list[dict]:
    """``points``: (path, dtype, chains) triples; path 'native' (chain-stacked) or 'vmap' (the old path)."""
    if which == "ci":
        from patterning_core.lm import data as lm_data
        base, _ = lm_data.load_checkpoint("checkpoints/step5500.pt", device=device)
        cfg, B, T, steps, label = base.cfg, 8, 256, (4 if quick else 20), "chapter 5 (ci, step 5500)"
    else:
        cfg, B, T, steps, label = AttnOnlyConfig.paper(), (2 if quick else 32), (128 if quick else 1024), (2 if quick else 10), "paper size (3M)"
        base = AttnOnlyTransformer(cfg, seed=0).to(device)
    tokens = torch.randint(0, cfg.vocab_size, (512 if not quick else 16, T), generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        anchor = float(per_token_loss(base, tokens[:B]).mean())
    rows = []
    for path, dtype, chains in points:
        model = AttnOnlyTransformer(replace(cfg, chain_native=path == "native"), seed=None).to(device)
        model.load_state_dict(base.state_dict())
        loss = autocast_loss(_lm_loss, torch.bfloat16 if dtype == "bf16" else None)
        try:
            rate = sgld_rate(model, loss, (tokens,), chains, B, steps, anchor)
        except torch.cuda.OutOfMemoryError:
            rate = float("nan")
            torch.cuda.empty_cache()
        rows.append(dict(family="LM", model=label, path=path, dtype=dtype, chains=chains, batch=f"{B} × {T}",
                         tokens=B * (T - 1), device=device, rate=rate))
    return rows


def throughput(device: torch.device, quick: bool) -> list[dict]:
    cpu = torch.device("cpu")
    devices = [device] if device.type == "cpu" else [device, cpu]
    rows = []
    for dev in devices:
        on_gpu = dev.type == "cuda"
        tms_chains = (16, 1024) if quick or not on_gpu else (16, 1024, 16384, 131072)
        rows += tms_rows(dev, tms_chains, steps=50 if quick else 200)
        ci = [("native", "fp32", 4)] + ([] if quick else [("vmap", "fp32", 4)])
        if on_gpu:
            ci += [("native", "fp32", 16), ("native", "fp32", 64), ("native", "bf16", 64)]
        rows += lm_rows(dev, "ci", ci, quick)
        if on_gpu:
            rows += lm_rows(dev, "paper", [("vmap", "fp32", 4), ("native", "fp32", 4), ("native", "fp32", 16),
                                           ("native", "bf16", 4), ("native", "bf16", 16)], quick)
        elif quick:
            rows += lm_rows(dev, "paper", [("native", "fp32", 2)], quick)
    return rows


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from tools.paper_results import cpu_model  # the model name from /proc/cpuinfo (platform.processor() is often empty)

    return f"CPU: {cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def table(rows: list[dict], device: torch.device, quick: bool) -> str:
    """The markdown page: machine, date, torch, then one row per measured point."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kind = "GPU" if device.type == "cuda" else "CPU only (no GPU at hand)"
    lines = [f"# SGLD throughput: {kind}", "",
             f"Written by `bench/gpu_check.py{' --quick' if quick else ''} --device {device}` on {now}; torch {torch.__version__}"
             + (f", CUDA {torch.version.cuda}" if device.type == "cuda" else "") + ".", "",
             f"* device: **{device_name(device)}**"]
    if device.type == "cuda":
        lines.append(f"* CPU rows: the same machine's {device_name(torch.device('cpu'))}")
    lines.append(f"* load average when the table was written: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
                 "(CPU rows measured while other processes use the cores can be many times slower: torch's threads "
                 "wait for each other; with 2 threads and one core busy, 60× slower measured for TMS at 16 chains)")
    lines += ["", "*chain-steps/s*: SGLD steps times chains per second of `sample()` (minibatch, no probe, no burn-in, after a "
              "warm-up call); *tokens/s*: chain-steps/s times the next-token losses of one minibatch. *path*: `native` = the "
              "chain-stacked model (no `vmap`, attention through `scaled_dot_product_attention`), `vmap` = one chain's "
              "explicit-softmax forward vmapped over chains (the path before issue 15); `bf16` = `autocast_loss(..., "
              "torch.bfloat16)`.", "",
              "| family | model | path | dtype | device | chains | minibatch | chain-steps/s | tokens/s |",
              "|---|---|---|---|---|---:|---|---:|---:|"]
    for r in rows:
        tok = _num(r["rate"] * r["tokens"]) if r["tokens"] and r["rate"] == r["rate"] else "–"
        rate = "out of memory" if r["rate"] != r["rate"] else _num(r["rate"])
        lines.append(f"| {r['family']} | {r['model']} | {r['path']} | {r['dtype']} | {r['device'].type} | {r['chains']:,} | "
                     f"{r['batch']} | {rate} | {tok} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:1, ... or cpu")
    ap.add_argument("--quick", action="store_true", help="the smallest version of each part (a CPU check of this script)")
    ap.add_argument("--preset", default="smoke", help="the chapters' preset (default smoke)")
    ap.add_argument("--only", nargs="*", help="these chapters (default: all; with --quick: 99_template)")
    ap.add_argument("--plain", action="store_true", help="run the chapters as plain scripts even where papermill is installed")
    ap.add_argument("--skip", nargs="*", default=[], choices=("tests", "chapters", "throughput"), help="parts to leave out")
    ap.add_argument("--out", type=Path, help="the throughput page (default bench/results/gpu.md on cuda, cpu.md on cpu)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: torch.cuda.is_available() is False here; use --device cpu --quick on a CPU")
    t_start = time.perf_counter()
    steps: list[Step] = []
    if "tests" not in args.skip:
        steps.append(run_tests(str(device), args.quick))
        print(steps[-1], flush=True)
    if "chapters" not in args.skip:
        out = ROOT / "_build" / "gpu-check"
        out.mkdir(parents=True, exist_ok=True)
        names = args.only or (["99_template"] if args.quick else sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py")))
        for name in names:
            steps.append(run_chapter(name, args.preset, str(device), out, args.plain))
            print(steps[-1], flush=True)
    if "throughput" not in args.skip:
        t0 = time.perf_counter()
        page = args.out or ROOT / "bench" / "results" / ("gpu.md" if device.type == "cuda" else "cpu.md")
        try:
            rows = throughput(device, args.quick)
        except Exception as err:  # noqa: BLE001 -- reported as a failed part, the others still count
            steps.append(Step("throughput", page.name, False, time.perf_counter() - t0, f"{type(err).__name__}: {err}"[:300]))
        else:
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(table(rows, device, args.quick))
            steps.append(Step("throughput", page.name, True, time.perf_counter() - t0))
            print(page.read_text())
    print(f"\n{'part':10s} {'name':40s} {'ok':4s} {'seconds':>8s}  detail")
    for s in steps:
        print(f"{s.part:10s} {s.name[:40]:40s} {'yes' if s.ok else 'NO':4s} {s.seconds:8.1f}  {s.detail}")
    failed = [s for s in steps if not s.ok]
    print(f"total {time.perf_counter() - t_start:.0f} s; {len(failed)} of {len(steps)} parts failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
