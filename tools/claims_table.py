"""Render the book's claims page from what the executed chapters recorded.

Reads ``_build/notebooks/NAME.claims.json`` (written by each chapter through
``patterning_core.report.save_claims``) and ``_build/notebooks/timings.json`` (written by
``tools/run_notebooks.py``), and writes a MyST page: one row per claim with what the run
measured, whether it reproduces, and the chapter's measured run time; then the timing table.
Beside each ci result stands the chapter's committed paper-scale result from ``results/paper/``
(see ``tools/paper_results.py``), with its device and date, "not run" where there is none, and
a flag instead of the verdict where the chapter's claims changed since that run (stale).
Nothing in the page is typed in by hand.

Usage:
    python tools/claims_table.py [OUTPUT.md]      # default: print to stdout
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import paper_results  # noqa: E402

RESULTS = ROOT / "_build" / "notebooks"
PAPER = paper_results.PAPER
NOTEBOOKS = paper_results.NOTEBOOKS


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


def tally(claims: list[dict]) -> str:
    """``2 of 3 ✗``: how many claims reproduce."""
    ok = sum(bool(c["reproduces"]) for c in claims)
    return f"{ok} of {len(claims)} {'✓' if ok == len(claims) else '✗'}"


def paper_runs(chapters: list[str], paper: Path = PAPER, notebooks: Path = NOTEBOOKS, results: Path = RESULTS) -> dict:
    """The committed paper run of each chapter that has one (:class:`paper_results.Stored`);
    ``results`` holds the ci runs, for chapters whose claim sentences are not literals."""
    return {n: s for n in chapters if (s := paper_results.load(n, paper, notebooks, results)) is not None}


def where_when(stored: paper_results.Stored) -> str:
    """``cpu, 2026-11-27, 1234 s``: the device, date and wall time of a paper run."""
    prov = stored.record["provenance"]
    return f"{prov['device']}, {prov['date'][:10]}, {prov['seconds']:.0f} s"


def stale_note(stored: paper_results.Stored) -> str:
    prov = stored.record["provenance"]
    return (f"stale: chapter changed since the paper run of {prov['date'][:10]} "
            f"(its claims differ); rerun `make paper NAME={stored.name}`")


def paper_summary(stored: paper_results.Stored | None) -> str:
    """A chapter's paper-scale verdict for the chapter list: a tally, "not run" or "stale"."""
    if stored is None:
        return "not run"
    if stored.stale:
        return "stale"
    return f"{tally(stored.record['claims'])} ({where_when(stored)})"


def chapter_list(chapters: list[str], results: Path = RESULTS, doc_prefix: str = "../notebooks/",
                 paper: Path = PAPER, notebooks: Path = NOTEBOOKS) -> str:
    """One row per chapter: what it checks, how many of its claims reproduce (ci and paper), its run time."""
    claims, timings = load(chapters, results)
    papers = paper_runs(chapters, paper, notebooks, results)
    rows = []
    for name in chapters:
        cs = claims[name]["claims"]
        checks = "; ".join(cell(c["claim"]) for c in cs)
        rows.append(f"| {{doc}}`{doc_prefix}{name}` | {checks} | {tally(cs)} | {run_time(timings[name])} "
                    f"| {paper_summary(papers.get(name))} |")
    return "\n".join([
        "| Chapter | What it checks | Reproduces (ci) | Run time (ci) | At the paper preset |",
        "| --- | --- | :---: | ---: | --- |",
        *rows,
        "",
    ])


def paper_cell(stored: paper_results.Stored | None, i: int) -> str:
    """Claim ``i``'s paper-scale result: verdict and measurement (device, date and time on the
    chapter's first row), "not run", or the stale flag."""
    if stored is None:
        return "not run"
    if stored.stale:
        return stale_note(stored)
    c = stored.record["claims"][i]
    where = f" ({where_when(stored)})" if i == 0 else ""
    return f"{'✓' if c['reproduces'] else '✗'} {cell(c['measured'])}{where}"


def paper_rows(chapters: list[str], papers: dict) -> list[str]:
    """One row per chapter with its paper run's provenance."""
    rows = []
    for n in chapters:
        s = papers.get(n)
        if s is None:
            rows.append(f"| {n} | not run | | | | | |")
            continue
        prov = s.record["provenance"]
        verdict = "stale" if s.stale else tally(s.record["claims"])
        load = "–".join(f"{x:.1f}" for x in (prov["load_start"][0], prov["load_end"][0]))
        commit = f"`{prov['commit'][:9]}`" + (" (dirty)" if prov["dirty"] else "")
        rows.append(f"| {n} | {verdict} | {prov['seconds']:.0f} | {prov['device']} "
                    f"| {cell(paper_results.describe_machine(prov['machine']))}, torch {prov['torch']}, load {load} "
                    f"| {commit} | {prov['date']} |")
    return rows


def render(chapters: list[str], results: Path = RESULTS, doc_prefix: str = "../notebooks/",
           paper: Path = PAPER, notebooks: Path = NOTEBOOKS) -> str:
    """The claims page as MyST markdown."""
    claims, timings = load(chapters, results)
    papers = paper_runs(chapters, paper, notebooks, results)
    rows, n_ok, n_all = [], 0, 0
    for name in chapters:
        for i, c in enumerate(claims[name]["claims"]):
            mark = "✓" if c["reproduces"] else "✗"
            n_ok += bool(c["reproduces"])
            n_all += 1
            chapter = f"{{doc}}`{doc_prefix}{name}`" if i == 0 else ""  # the chapter's title
            time = run_time(timings[name]) if i == 0 else ""
            rows.append(f"| {chapter} | {cell(c['claim'])} | {cell(c['measured'])} | {mark} "
                        f"| {paper_cell(papers.get(name), i)} | {time} |")
    total = sum(timings[n]["seconds"] for n in chapters)
    commits = sorted({timings[n].get("commit", "unknown") for n in chapters})
    presets = sorted({timings[n]["preset"] for n in chapters})
    lines = [
        "# Claims",
        "",
        "Each row is one claim of the papers, checked by a chapter of this book. *Measured* is what",
        "the chapter's run recorded, at the preset given with its run time; *Reproduces* is whether",
        "the chapter's own check of the claim held at that scale. *At the paper preset* is the same",
        "check in the chapter's committed run at the papers' scale (`results/paper/`, made once with",
        "`make paper NAME=...`), with its device, date and wall time; \"not run\" where there is none,",
        "and \"stale\" instead of a verdict where the chapter's claims have changed since that run.",
        "This page is generated, when the book is built, from the files the runs wrote",
        "(`_build/notebooks/*.claims.json`, `timings.json`, `results/paper/*.json`).",
        "",
        f"**{n_ok} of {n_all} claims reproduce** across {len(chapters)} chapters, at the "
        f"{' and '.join(f'`{p}`' for p in presets)} preset{'s' if len(presets) > 1 else ''}; "
        f"{len(papers)} of {len(chapters)} chapters have a paper-scale run"
        + (f" ({sum(s.stale for s in papers.values())} stale)" if any(s.stale for s in papers.values()) else "") + ".",
        "",
        "| Chapter | Claim | Measured | Reproduces | At the paper preset | Run time (ci) |",
        "| --- | --- | --- | :---: | --- | ---: |",
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
        "machine that built this book. To rerun one chapter: `make chapter NAME=... PRESET=ci|paper`;",
        "to run it at the paper preset and store the run for this page: `make paper NAME=... DEVICE=...`",
        "({doc}`reproduce`).",
        "",
        "## Paper-scale runs",
        "",
        "One row per chapter: its committed run at the `paper` preset, with where and when it was made.",
        "The load is the machine's 1-minute load average at the start and end of the run: above the",
        "core count, other work shared the cores and the wall time is longer than the chapter needs.",
        "",
        "| Chapter | Claims reproduced | Seconds | Device | Machine | Commit | Date (UTC) |",
        "| --- | :---: | ---: | --- | --- | --- | --- |",
        *paper_rows(chapters, papers),
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
