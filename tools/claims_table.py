"""Render the book's claims page from what the executed chapters recorded.

Reads ``_build/notebooks/NAME.claims.json`` (written by each chapter through
``patterning_core.report.save_claims``) and ``_build/notebooks/timings.json`` (written by
``tools/run_notebooks.py``), and writes a MyST page: one row per claim with what the run
measured, whether it reproduces, and the chapter's measured run time; then the timing table.
Nothing in the page is typed in by hand.

Usage:
    python tools/claims_table.py [OUTPUT.md]      # default: print to stdout
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "_build" / "notebooks"


def cell(text: str) -> str:
    """Make text safe for one cell of a markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def load(chapters: list[str], results: Path = RESULTS) -> tuple[dict, dict]:
    """The claims and timing records of ``chapters``; raise if any chapter has none."""
    timings_path = results / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    claims, missing = {}, []
    for name in chapters:
        path = results / f"{name}.claims.json"
        if not path.exists() or name not in timings:
            missing.append(name)
            continue
        claims[name] = json.loads(path.read_text())
    if missing:
        raise SystemExit(f"no recorded run (claims.json and timings.json entry) for: {', '.join(missing)}; "
                         f"run `python tools/run_notebooks.py` first")
    return claims, timings


def run_time(t: dict) -> str:
    """A chapter's measured run time, its preset and the machine's core count."""
    cores = f", {t['cpus']} cores" if t.get("cpus") else ""
    return f"{t['seconds']:.0f} s ({t['preset']}{cores})"


def chapter_list(chapters: list[str], results: Path = RESULTS, doc_prefix: str = "../notebooks/") -> str:
    """One row per chapter: what it checks, how many of its claims reproduce, its run time."""
    claims, timings = load(chapters, results)
    rows = []
    for name in chapters:
        cs = claims[name]["claims"]
        ok = sum(bool(c["reproduces"]) for c in cs)
        checks = "; ".join(cell(c["claim"]) for c in cs)
        mark = "✓" if ok == len(cs) else "✗"
        rows.append(f"| {{doc}}`{doc_prefix}{name}` | {checks} | {ok} of {len(cs)} {mark} | {run_time(timings[name])} |")
    return "\n".join([
        "| Chapter | What it checks | Reproduces | Run time |",
        "| --- | --- | :---: | ---: |",
        *rows,
        "",
    ])


def render(chapters: list[str], results: Path = RESULTS, doc_prefix: str = "../notebooks/") -> str:
    """The claims page as MyST markdown."""
    claims, timings = load(chapters, results)
    rows, n_ok, n_all = [], 0, 0
    for name in chapters:
        for i, c in enumerate(claims[name]["claims"]):
            mark = "✓" if c["reproduces"] else "✗"
            n_ok += bool(c["reproduces"])
            n_all += 1
            chapter = f"{{doc}}`{doc_prefix}{name}`" if i == 0 else ""  # the chapter's title
            time = run_time(timings[name]) if i == 0 else ""
            rows.append(f"| {chapter} | {cell(c['claim'])} | {cell(c['measured'])} | {mark} | {time} |")
    total = sum(timings[n]["seconds"] for n in chapters)
    commits = sorted({timings[n].get("commit", "unknown") for n in chapters})
    presets = sorted({timings[n]["preset"] for n in chapters})
    lines = [
        "# Claims",
        "",
        "Each row is one claim of the papers, checked by a chapter of this book. *Measured* is what",
        "the chapter's run recorded, at the preset given with its run time; *Reproduces* is whether",
        "the chapter's own check of the claim held at that scale. This page is generated, when the",
        "book is built, from the files the runs wrote (`_build/notebooks/*.claims.json`, `timings.json`).",
        "",
        f"**{n_ok} of {n_all} claims reproduce** across {len(chapters)} chapters, at the "
        f"{' and '.join(f'`{p}`' for p in presets)} preset{'s' if len(presets) > 1 else ''}.",
        "",
        "| Chapter | Claim | Measured | Reproduces | Run time |",
        "| --- | --- | --- | :---: | ---: |",
        *rows,
        "",
        "## Runs",
        "",
        "One row per chapter: the run this book shows.",
        "",
        "| Chapter | Preset | Claims reproduced | Seconds | CPU cores | Status | Finished (UTC) |",
        "| --- | --- | :---: | ---: | ---: | --- | --- |",
        *(f"| {n} | {timings[n]['preset']} "
          f"| {sum(bool(c['reproduces']) for c in claims[n]['claims'])} of {len(claims[n]['claims'])} "
          f"| {timings[n]['seconds']:.1f} | {timings[n].get('cpus', '')} | {timings[n]['status']} "
          f"| {timings[n].get('finished', '')} |" for n in chapters),
        f"| **total** | | **{n_ok} of {n_all}** | **{total:.1f}** | | | |",
        "",
        f"Run from commit {', '.join(f'`{c}`' for c in commits)}, one notebook at a time, on the",
        "machine that built this book. To rerun one chapter: `make chapter NAME=... PRESET=ci|paper`",
        "({doc}`reproduce`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    chapters = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
    page = render(chapters)
    if argv:
        Path(argv[0]).write_text(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
