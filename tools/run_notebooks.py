"""Execute the chapter notebooks (jupytext percent ``.py`` files) with papermill.

Every ``notebooks/*.py`` is a chapter. Each one is read with jupytext, checked (a single ``# Title``
markdown cell first, a cell tagged ``parameters`` that sets ``preset`` and ``results_dir``), and
executed in a kernel running this interpreter, with the working directory ``notebooks/``. The
executed notebook goes to ``_build/notebooks/NAME.ipynb``; the chapter writes its claims to
``_build/notebooks/NAME.claims.json`` through ``patterning_core.report.save_claims``. The chapter
gets the parameters ``preset`` (ci, paper or smoke: a short size of paper, for the GPU check),
``device`` (``"auto"``: cuda when available, else cpu) and ``results_dir``.

``--out DIR`` puts the executed notebooks, claims and timings elsewhere (``make paper`` uses
``_build/paper/``, so a paper run never replaces the ci runs the book is built from). ``--store
DIR`` (``make paper``: ``results/paper/``) then keeps each successful run, slimmed and with its
provenance, as ``DIR/NAME.{json,ipynb}`` (see ``tools/paper_results.py``).

All chapters are run even when one fails; the exit status is 1 if any failed. A timing table is
printed at the end and merged into ``_build/notebooks/timings.json``.

Usage:
    python tools/run_notebooks.py                      # every chapter, preset ci
    python tools/run_notebooks.py --only 00_quickstart --preset paper --device cuda
    python tools/run_notebooks.py --only 00_quickstart --preset paper --out _build/paper --store results/paper
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import paper_results  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "_build" / "notebooks"
TIMINGS = OUT / "timings.json"
PRESETS = ("ci", "paper", "smoke")
KERNEL = "python3"


class ChapterError(Exception):
    """A chapter that cannot be run or did not do what every chapter must do."""


def chapters() -> list[str]:
    """Names (file stems) of every chapter notebook, in book order."""
    return sorted(p.stem for p in NOTEBOOKS.glob("*.py"))


def git_commit() -> str:
    """Short commit hash of the working tree, with ``-dirty`` if tracked files were modified."""
    commit, dirty, _ = paper_results.commit_state()
    return commit[:7] + ("-dirty" if dirty else "")


def check_kernel() -> None:
    """Make sure the kernel named ``python3`` runs this very interpreter (the project's venv).

    jupyter_client maps a spec whose argv[0] is a bare ``python`` to ``sys.executable``; a spec
    installed elsewhere (e.g. in ``~/.local/share/jupyter/kernels``) with an absolute path to
    another interpreter would silently run the chapters outside the venv.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel as e:
        raise SystemExit(f"no Jupyter kernel named {KERNEL!r}: is ipykernel installed in {sys.prefix}?") from e
    exe = spec.argv[0]
    major, minor = sys.version_info[:2]
    if exe in {"python", f"python{major}", f"python{major}.{minor}"}:
        return
    if Path(exe).absolute() != Path(sys.executable).absolute():
        raise SystemExit(
            f"the Jupyter kernel {KERNEL!r} ({spec.resource_dir}) runs {exe}, not this interpreter "
            f"({sys.executable}); remove that kernel spec or run this script with {exe}"
        )


def level1_headings(markdown: str) -> list[str]:
    """The ``# `` headings of a markdown cell, ignoring lines inside fenced code blocks."""
    headings, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            headings.append(line)
    return headings


def read_chapter(name: str):
    """Read ``notebooks/NAME.py`` with jupytext and check the structure every chapter needs."""
    import jupytext

    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    cells = nb.cells
    first = cells[0] if cells else None
    if first is None or first.cell_type != "markdown" or not first.source.lstrip().startswith("# "):
        raise ChapterError("the first cell must be a markdown cell starting with a '# Title' heading")
    titles = [h for c in cells if c.cell_type == "markdown" for h in level1_headings(c.source)]
    if len(titles) != 1:
        raise ChapterError(f"found {len(titles)} level-1 '# ' headings; a chapter has exactly one (its title)")
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        raise ChapterError(f"found {len(params)} cells tagged 'parameters'; a chapter needs exactly one")
    for var in ("preset", "results_dir"):
        if not any(line.split("=")[0].strip() == var for line in params[0].source.splitlines()):
            raise ChapterError(f"the 'parameters' cell does not set {var!r}")
    # The book shows papermill's injected cell (the values this run used), not the defaults.
    params[0].metadata["tags"] = [*params[0].metadata["tags"], "remove-cell"]
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    return nb


def run_chapter(name: str, preset: str, device: str = "auto", out: Path = OUT) -> None:
    """Execute one chapter into ``out``; raise :class:`ChapterError` or papermill's error on failure."""
    import papermill

    claims, executed = out / f"{name}.claims.json", out / f"{name}.ipynb"
    for stale in (claims, executed):  # never let an earlier run's files stand in for this one
        stale.unlink(missing_ok=True)
    nb = read_chapter(name)
    papermill.execute_notebook(
        nb,
        str(executed),
        parameters={"preset": preset, "device": device, "results_dir": os.path.relpath(out, NOTEBOOKS)},
        kernel_name=KERNEL,
        language="python",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        log_output=False,
        start_timeout=120,
    )
    if not claims.exists():
        raise ChapterError(f"ran, but wrote no {claims.name}: end the chapter with "
                           f"save_claims({name!r}, preset, [...], results_dir)")
    recorded = json.loads(claims.read_text())
    if recorded.get("chapter") != name or recorded.get("preset") != preset or not recorded.get("claims"):
        raise ChapterError(f"{claims.name} records chapter={recorded.get('chapter')!r}, "
                           f"preset={recorded.get('preset')!r} and {len(recorded.get('claims') or [])} "
                           f"claims; expected chapter={name!r}, preset={preset!r} and at least one claim")


def describe(err: BaseException) -> str:
    """A short, readable account of why a chapter failed."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        return f"{err.ename}: {err.evalue} (in the cell with execution count {err.exec_count})"
    if isinstance(err, ChapterError):
        return str(err)
    return "".join(traceback.format_exception_only(type(err), err)).strip()


def load_timings(path: Path = TIMINGS) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {}


def save_timings(results: list[dict], path: Path = TIMINGS) -> None:
    """Merge this run's rows into ``timings.json``, dropping chapters that no longer exist."""
    table = {k: v for k, v in load_timings(path).items() if k in set(chapters())}
    table.update({r["chapter"]: r for r in results})
    path.write_text(json.dumps(dict(sorted(table.items())), indent=2))


def print_table(results: list[dict]) -> None:
    print(f"\n{'chapter':<28} {'preset':<7} {'seconds':>8}  status")
    for r in results:
        print(f"{r['chapter']:<28} {r['preset']:<7} {r['seconds']:>8.1f}  {r['status']}")
    print(f"{'total':<28} {'':<7} {sum(r['seconds'] for r in results):>8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", metavar="NAME", help="run only this chapter (file stem, e.g. 00_quickstart)")
    parser.add_argument("--preset", choices=PRESETS, default="ci",
                        help="ci: minutes on a CPU; paper: the seed's scale; smoke: a short size of paper (GPU check)")
    parser.add_argument("--device", default="auto",
                        help="the chapters' device parameter: auto (cuda when available, else cpu), cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", type=Path, default=OUT, metavar="DIR",
                        help=f"where the executed notebooks, claims and timings go (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--store", type=Path, metavar="DIR",
                        help="also keep each successful run, slimmed, with its provenance, as DIR/NAME.{json,ipynb}")
    args = parser.parse_args(argv)
    out = args.out.resolve()

    names = chapters()
    if args.only is not None:
        if args.only not in names:
            raise SystemExit(f"no chapter {args.only!r}; chapters: {', '.join(names) or '(none)'}")
        names = [args.only]
    if not names:
        raise SystemExit(f"no chapter notebooks (*.py) in {NOTEBOOKS}")
    try:
        device = paper_results.resolved_device(args.device)
    except (ValueError, RuntimeError) as err:
        raise SystemExit(f"--device {args.device!r}: {err}") from err
    check_kernel()
    out.mkdir(parents=True, exist_ok=True)
    timings = out / TIMINGS.name

    commit = git_commit()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    results, failures = [], []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} (preset {args.preset}, device {args.device} -> {device}) ...", flush=True)
        commit_full, dirty, dirty_files = paper_results.commit_state()
        load_start = paper_results.load_average()
        start = time.perf_counter()
        error = None
        try:
            run_chapter(name, args.preset, args.device, out)
        except Exception as err:  # report every chapter, then fail
            error = describe(err)
            failures.append((name, error))
        seconds = time.perf_counter() - start
        if error is None and args.store is not None:
            prov = paper_results.provenance(args.device, seconds, load_start, commit_full, dirty, dirty_files)
            kept = paper_results.store(name, out / f"{name}.ipynb", out / f"{name}.claims.json", prov, args.store)
            print(f"      stored {', '.join(str(p) for p in kept)}", flush=True)
        status = "ok" if error is None else "FAILED"
        print(f"      {status} in {seconds:.1f} s" + ("" if error is None else f": {error}"), flush=True)
        results.append({"chapter": name, "preset": args.preset, "seconds": round(seconds, 1),
                        "status": status, "error": error, "commit": commit, "cpus": cpus, "device": device,
                        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        save_timings(results, timings)

    print_table(results)
    print(f"executed notebooks and timings.json in {out}/")
    if failures:
        print(f"\n{len(failures)} chapter(s) failed:", file=sys.stderr)
        for name, error in failures:
            partial = out / f"{name}.ipynb"
            where = f"\n    (executed up to the error: {partial})" if partial.exists() else ""
            print(f"  {name}: {error}{where}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
