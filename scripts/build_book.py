"""Build the HTML book from the executed chapters, then check that it works offline.

Stages the book's sources in ``_build/book_src/`` (so the tracked sources are never modified):
``_config.yml``, ``_toc.yml``, ``book/``, the executed notebooks ``_build/notebooks/*.ipynb`` as
``notebooks/`` and the generated ``book/claims.md``. Then runs Jupyter Book with execution off,
``-W`` (any warning fails the build) and ``--keep-going`` (so every warning is shown), writing
``_build/html/``, and finally ``scripts/check_offline.py`` on the result.

Run ``scripts/run_notebooks.py`` first: every ``notebooks/*.py`` must have an executed notebook,
a claims file and a successful run recorded in ``timings.json``.

Usage:
    python scripts/build_book.py
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_offline  # noqa: E402
import claims_table  # noqa: E402

RESULTS = ROOT / "_build" / "notebooks"
STAGE = ROOT / "_build" / "book_src"
HTML = ROOT / "_build" / "html"


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
                         + "\nrun `python scripts/run_notebooks.py` (or `make notebooks`) first")


def stage(chapters: list[str]) -> None:
    """Copy the book's sources and executed notebooks into ``_build/book_src/``."""
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copyfile(ROOT / name, STAGE / name)
    shutil.copytree(ROOT / "book", STAGE / "book", copy_function=shutil.copyfile)
    for name in chapters:
        shutil.copyfile(RESULTS / f"{name}.ipynb", STAGE / "notebooks" / f"{name}.ipynb")
    (STAGE / "book" / "claims.md").write_text(claims_table.render(chapters, RESULTS))


def main() -> int:
    chapters = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
    if not chapters:
        raise SystemExit("no chapter notebooks (notebooks/*.py) to build a book from")
    check_runs(chapters)
    stage(chapters)
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
