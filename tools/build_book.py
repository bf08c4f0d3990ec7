"""Build the HTML book from the executed chapters, then check that it works offline.

Stages the book's sources in ``_build/book_src/`` (so the tracked sources are never modified):
``_config.yml``, ``_toc.yml``, ``book/``, the executed notebooks ``_build/notebooks/*.ipynb`` as
``notebooks/``, and the generated pages: ``book/claims.md`` (the claims table) and
``book/_chapters.md`` (the landing page's chapter list). Into each staged notebook, under its
title, goes a generated box that links the chapter's source ``.py`` and executed ``.ipynb`` (copied
to ``downloads/``; Sphinx serves them from ``_downloads/``), gives the command that reruns just
that chapter, and its measured run time from ``timings.json``; where ``results/paper/`` holds a
paper-scale run of the chapter, the box also links that executed notebook (as
``downloads/NAME.paper.ipynb``) with its verdicts, device, date and wall time. Then runs Jupyter Book with
execution off, ``-W`` (any warning fails the build) and ``--keep-going`` (so every warning is
shown), writing a fresh ``_build/html/``, and finally ``tools/check_offline.py`` on the result.

Run ``tools/run_notebooks.py`` first: every ``notebooks/*.py`` must have an executed notebook,
a claims file and a successful run recorded in ``timings.json``.

Usage:
    python tools/build_book.py
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import check_offline  # noqa: E402
import claims_table  # noqa: E402
import paper_results  # noqa: E402

RESULTS = ROOT / "_build" / "notebooks"
STAGE = ROOT / "_build" / "book_src"
HTML = ROOT / "_build" / "html"
DOWNLOADS = "downloads"  # staged copies of each chapter's .py and executed .ipynb


def check_runs(chapters: list[str]) -> None:
    """Refuse to build from missing, failed or partial runs."""
    timings_path = RESULTS / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    problems = []
    for name in chapters:
        run = timings.get(name)
        if run is not None and run["status"] != "ok":
            problems.append(f"{name}: last run failed: {run.get('error')}")
        elif run is None or not (RESULTS / f"{name}.ipynb").exists():
            problems.append(f"{name}: not run")
    if problems:
        raise SystemExit("cannot build the book:\n  " + "\n  ".join(problems)
                         + "\nrun `python tools/run_notebooks.py` (or `make notebooks`) first")
    check_claims_parse(chapters)


def check_claims_parse(chapters: list[str]) -> None:
    """For every chapter with a committed paper run whose claim sentences are literals in its
    source, those sentences (what decides whether that run is stale) must be the ones its ci run
    just recorded."""
    problems = []
    for name in chapters:
        if not (claims_table.PAPER / f"{name}.json").exists():
            continue
        try:
            parsed = paper_results.parsed_claims(name)
        except paper_results.ClaimsNotFound:
            continue  # claims built at run time: the ci run is what they are compared with
        ran = [c["claim"] for c in json.loads((RESULTS / f"{name}.claims.json").read_text())["claims"]]
        if parsed != ran:
            problems.append(f"{name}: the claims in notebooks/{name}.py's save_claims call are not the ones "
                            f"its ci run recorded (rerun the chapter)")
    if problems:
        raise SystemExit("cannot tell whether the paper runs are current:\n  " + "\n  ".join(problems))


def paper_line(name: str, stored) -> str:
    """The run box's sentence about the chapter's committed paper-scale run."""
    if stored is None:
        return (f"No run at the `paper` preset is committed for this chapter yet "
                f"(`make paper NAME={name}` makes one, in `results/paper/`).")
    link = (f"{{download}}`{name}.paper.ipynb <../{DOWNLOADS}/{name}.paper.ipynb>` (the notebook as executed at "
            f"the `paper` preset, figures scaled down)" if stored.has_notebook
            else f"`results/paper/{name}.json` (a run at the `paper` preset; its notebook is not committed)")
    if stored.stale:
        return (f"{link} is **stale**: the chapter's claims have changed since it was made "
                f"({claims_table.where_when(stored)}).")
    return (f"{link}: claims reproduced "
            f"{claims_table.tally(stored.record['claims'])} ({claims_table.where_when(stored)}; "
            f"see {{doc}}`../book/claims`).")


def run_box(name: str, run: dict, stored=None) -> str:
    """The generated box under a chapter's title: downloads, rerun command, measured time, and the
    committed paper-scale run (a :class:`paper_results.Stored`, or ``None``)."""
    cores = f" on {run['cpus']} CPU cores" if run.get("cpus") else ""
    return f"""
:::{{admonition}} Download and rerun this chapter
:class: tip

{{download}}`{name}.py <../{DOWNLOADS}/{name}.py>` (the source, a jupytext notebook) ·
{{download}}`{name}.ipynb <../{DOWNLOADS}/{name}.ipynb>` (the notebook as executed for this page)

This page shows a run at the `{run['preset']}` preset that took **{run['seconds']:.0f} s**{cores}
(commit `{run.get('commit', 'unknown')}`). To rerun just this chapter from the repository's root,
at the book's scale (`ci`, a CPU is enough) or at the papers' scale (`paper`, a GPU is
recommended; see {{doc}}`../book/reproduce`):

```bash
make chapter NAME={name} PRESET=ci
make chapter NAME={name} PRESET=paper DEVICE=cuda
make paper NAME={name} DEVICE=cuda   # the same, stored in results/paper/ for this page
```

{paper_line(name, stored)}
:::
"""


def add_run_box(notebook: Path, box: str) -> None:
    """Insert ``box`` right under the ``# Title`` line of the notebook's first (markdown) cell."""
    nb = json.loads(notebook.read_text())
    first = nb["cells"][0]
    source = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
    title, _, rest = source.partition("\n")
    if first["cell_type"] != "markdown" or not title.startswith("# "):
        raise SystemExit(f"{notebook.name}: the first cell is not a markdown cell starting with '# Title'")
    first["source"] = f"{title}\n{box}\n{rest}"
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False))


def stage(chapters: list[str]) -> None:
    """Copy the book's sources and executed notebooks into ``_build/book_src/``; add the
    generated pages, run boxes and downloads."""
    timings = json.loads((RESULTS / "timings.json").read_text())
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "notebooks").mkdir(parents=True)
    (STAGE / DOWNLOADS).mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copyfile(ROOT / name, STAGE / name)
    shutil.copytree(ROOT / "book", STAGE / "book", copy_function=shutil.copyfile)
    papers = claims_table.paper_runs(chapters, results=RESULTS)
    for name in chapters:
        shutil.copyfile(RESULTS / f"{name}.ipynb", STAGE / DOWNLOADS / f"{name}.ipynb")
        shutil.copyfile(ROOT / "notebooks" / f"{name}.py", STAGE / DOWNLOADS / f"{name}.py")
        shutil.copyfile(RESULTS / f"{name}.ipynb", STAGE / "notebooks" / f"{name}.ipynb")
        stored = papers.get(name)
        if stored is not None and stored.has_notebook:
            shutil.copyfile(claims_table.PAPER / f"{name}.ipynb", STAGE / DOWNLOADS / f"{name}.paper.ipynb")
        add_run_box(STAGE / "notebooks" / f"{name}.ipynb", run_box(name, timings[name], stored))
    (STAGE / "book" / "claims.md").write_text(claims_table.render(chapters, RESULTS))
    (STAGE / "book" / "_chapters.md").write_text(claims_table.chapter_list(chapters, RESULTS))
    (STAGE / "book" / "throughput.md").write_text(throughput_page())


def throughput_page(bench: Path = ROOT / "bench" / "results") -> str:
    """The book's throughput page: ``bench/results/gpu.md`` (``make gpu-check`` on a CUDA machine) and
    ``cpu.md`` (``bench/gpu_check.py --device cpu``), each as committed, one heading level down."""
    parts = ["# SGLD throughput by device\n",
             "Chain-steps per second of `sample()` for TMS and the attention-only language model, by chain count "
             "and path, as written by `bench/gpu_check.py` on the machine named in each table.\n"]
    for name, missing in (("gpu.md", "No GPU table is committed yet: `make gpu-check` on a CUDA machine writes "
                                     "`bench/results/gpu.md`, and the next book build shows it here."),
                          ("cpu.md", "No CPU table is committed yet (`bench/gpu_check.py --device cpu --skip tests chapters`).")):
        f = bench / name
        if f.exists():
            parts.append("\n".join("#" + line if line.startswith("#") else line for line in f.read_text().splitlines()))
        else:
            parts.append(missing)
    return "\n\n".join(parts) + "\n"


def main() -> int:
    chapters = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
    if not chapters:
        raise SystemExit("no chapter notebooks (notebooks/*.py) to build a book from")
    check_runs(chapters)
    stage(chapters)
    shutil.rmtree(HTML, ignore_errors=True)  # no stale pages of chapters that no longer exist
    start = time.perf_counter()
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jupyter_book), "build", str(STAGE), "--path-output", str(ROOT), "--builder", "html",
           "--all", "-W", "--keep-going"]
    print("$", " ".join(cmd), flush=True)
    build = subprocess.run(cmd, cwd=ROOT)
    print(f"jupyter-book build took {time.perf_counter() - start:.1f} s", flush=True)
    if build.returncode != 0:
        print("book build FAILED (warnings count as errors); see the messages above", file=sys.stderr)
        return build.returncode
    if check_offline.main([str(HTML)]) != 0:
        return 1
    print(f"\nThe book is ready: open {HTML / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
