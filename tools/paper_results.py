"""Committed paper-scale runs: store one with its provenance, slim its notebook, check it is current.

A chapter run at the ``paper`` preset (``make paper NAME=...``) is stored as two files in
``results/paper/``:

- ``NAME.json``: the chapter's claims exactly as ``save_claims`` wrote them, plus ``provenance``
  (commit and whether the tree was dirty, machine, torch version, device, wall time, date, load);
- ``NAME.ipynb``: the executed notebook, slimmed (:func:`slim_notebook`) so the folder stays small.

A stored run is *current* when its claim sentences are the chapter's current claim sentences, in
order. The current sentences come from (:func:`current_claims`):

1. the chapter's source, without running it, when its one ``save_claims(name, preset, [Claim("...",
   ...), ...], results_dir)`` call lists claims whose sentences are string literals: ``ast`` reads
   them exactly (:func:`parsed_claims`);
2. otherwise (claims built in a loop or with f-strings) the chapter's ci run,
   ``_build/notebooks/NAME.claims.json``, which every book build has just made.

Where both exist the book build checks that they agree (``tools/build_book.py``), so the parser
reads what the chapter saves. A run that is not current is *stale*: the claims table flags it
instead of showing its verdicts as if they were about today's chapter.
"""
from __future__ import annotations

import ast
import base64
import io
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CI_RUNS = ROOT / "_build" / "notebooks"
PAPER = ROOT / "results" / "paper"
PROVENANCE_FIELDS = ("commit", "dirty", "machine", "torch", "device", "seconds", "date", "load_start", "load_end")
MAX_PNG_WIDTH = 800  # px: figures wider than this are scaled down in the stored notebook
MAX_STREAM_CHARS = 20_000  # printed output longer than this keeps its head and tail only


class ClaimsNotFound(Exception):
    """Neither the chapter's source nor a ci run gives its claim sentences."""


def parsed_claims(name: str, notebooks: Path = NOTEBOOKS) -> list[str]:
    """The claim sentences of ``notebooks/NAME.py``, in order, read from its ``save_claims`` call.

    Raises :class:`ClaimsNotFound` unless the file has exactly one ``save_claims(...)`` call whose
    third argument is a list of ``Claim(...)`` calls, each with a string literal as its first argument.
    """
    path = notebooks / f"{name}.py"
    if not path.exists():
        raise ClaimsNotFound(f"no chapter source {path}")
    calls = [n for n in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "save_claims"]
    if len(calls) != 1:
        raise ClaimsNotFound(f"{path.name}: found {len(calls)} save_claims(...) calls; expected exactly one")
    args = calls[0].args
    if len(args) < 3 or not isinstance(args[2], ast.List):
        raise ClaimsNotFound(f"{path.name}: save_claims's third argument is not a literal list [Claim(...), ...]")
    sentences = []
    for i, el in enumerate(args[2].elts):
        ok = (isinstance(el, ast.Call) and getattr(el.func, "id", None) == "Claim" and el.args
              and isinstance(el.args[0], ast.Constant) and isinstance(el.args[0].value, str))
        if not ok:
            raise ClaimsNotFound(f"{path.name}: claim {i} is not Claim(\"a literal sentence\", ...)")
        sentences.append(el.args[0].value)
    return sentences


def current_claims(name: str, notebooks: Path = NOTEBOOKS, ci_runs: Path = CI_RUNS) -> list[str]:
    """The chapter's current claim sentences: :func:`parsed_claims` where the source lists them as
    literals, else those of its ci run ``ci_runs/NAME.claims.json``; raise :class:`ClaimsNotFound`
    when neither is there."""
    try:
        return parsed_claims(name, notebooks)
    except ClaimsNotFound as err:
        run = ci_runs / f"{name}.claims.json"
        if not run.exists():
            raise ClaimsNotFound(f"{err}; and there is no ci run {run} to read them from") from err
        return [c["claim"] for c in json.loads(run.read_text())["claims"]]


class Stored(NamedTuple):
    """A committed paper run as the claims table sees it."""

    name: str
    record: dict  # NAME.json: chapter, preset, claims, provenance
    stale: bool  # its claim sentences are not the chapter's current ones
    has_notebook: bool


def is_stale(record: dict, current: list[str]) -> bool:
    """Whether a stored run's claim sentences differ from ``current`` (the chapter's, in order)."""
    return [c["claim"] for c in record.get("claims", [])] != list(current)


def load(name: str, paper: Path = PAPER, notebooks: Path = NOTEBOOKS, ci_runs: Path = CI_RUNS) -> Stored | None:
    """The stored paper run of chapter ``name``, or ``None`` when there is none."""
    path = paper / f"{name}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return Stored(name, record, is_stale(record, current_claims(name, notebooks, ci_runs)),
                  (paper / f"{name}.ipynb").exists())


def missing_provenance(record: dict) -> list[str]:
    """The provenance fields a stored run lacks (empty when complete)."""
    prov = record.get("provenance") or {}
    return [f for f in PROVENANCE_FIELDS if prov.get(f) is None]


# ---------------------------------------------------------------------------------------------
# provenance


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (the machine may be shared: the wall time says less
    when the load exceeds the core count)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine(device: str) -> dict:
    """CPU model and usable cores, and the GPU's name when ``device`` is a CUDA device."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None
    return {"cpu": cpu_model(), "cores": cores, "gpu": gpu}


def describe_machine(m: dict) -> str:
    """``NVIDIA H100`` for a GPU run, ``Intel Xeon, 2 cores`` for a CPU run."""
    return m["gpu"] if m.get("gpu") else f"{m.get('cpu', 'unknown CPU')}, {m.get('cores', '?')} cores"


def resolved_device(device: str) -> str:
    """What the chapters' ``"auto"`` resolves to here (the library's rule)."""
    from patterning_core.devices import resolve_device

    return str(resolve_device(device))


def provenance(device: str, seconds: float, load_start: list[float] | None, commit: str, dirty: bool,
               dirty_files: tuple[str, ...] = ()) -> dict:
    """Everything needed to say where and how a stored run was made (``dirty_files``: the tracked
    files that differed from ``commit`` when the run started)."""
    import torch

    dev = resolved_device(device)
    return {"commit": commit, "dirty": dirty, "dirty_files": list(dirty_files), "machine": machine(dev),
            "torch": torch.__version__,
            "device": dev, "device_requested": device, "seconds": round(seconds, 1),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_start": load_start, "load_end": load_average()}


def commit_state() -> tuple[str, bool, tuple[str, ...]]:
    """The full commit hash of HEAD, whether tracked files differ from it, and which. The store
    ``results/paper/`` itself does not count: earlier runs written there change no chapter."""
    changed = tuple(f for f in git("diff", "--name-only", "HEAD").splitlines() if not f.startswith("results/paper/"))
    return git("rev-parse", "HEAD") or "unknown", bool(changed), changed


# ---------------------------------------------------------------------------------------------
# slimming the stored notebook


def shrink_png(data: str, max_width: int = MAX_PNG_WIDTH) -> str:
    """A base64 PNG scaled down to ``max_width`` px (aspect kept) and re-encoded with a 256-colour
    palette; returned unchanged when that is not smaller."""
    from PIL import Image

    raw = base64.b64decode(data)
    img = Image.open(io.BytesIO(raw))
    if img.width > max_width:
        img = img.resize((max_width, round(img.height * max_width / img.width)), Image.LANCZOS)
    img = img.convert("RGB").quantize(colors=256)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode() if buf.tell() < len(raw) else data


def cut_stream(text: str, limit: int = MAX_STREAM_CHARS) -> str:
    """Keep the head and tail of a long printed output, saying how much was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut from the stored notebook ...]\n{text[-half:]}"


def slim_notebook(nb: dict) -> dict:
    """A copy of an executed notebook (nbformat JSON) small enough to commit: PNG figures scaled
    to at most ``MAX_PNG_WIDTH`` px with a 256-colour palette, long printed output cut to its head
    and tail, widget state and papermill's per-cell timing metadata dropped."""
    out = json.loads(json.dumps(nb))  # never mutate the argument
    out.get("metadata", {}).pop("widgets", None)
    for c in out.get("cells", []):
        c.get("metadata", {}).pop("papermill", None)
        c.get("metadata", {}).pop("execution", None)
        for o in c.get("outputs", []):
            data = o.get("data", {})
            if "image/png" in data:
                png = data["image/png"]
                data["image/png"] = shrink_png("".join(png) if isinstance(png, list) else png)
            data.pop("application/vnd.jupyter.widget-view+json", None)
            if o.get("output_type") == "stream":
                text = "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                o["text"] = cut_stream(text)
    return out


def store(name: str, executed: Path, claims: Path, prov: dict, paper: Path = PAPER) -> tuple[Path, Path]:
    """Write ``paper/NAME.json`` (claims + provenance) and ``paper/NAME.ipynb`` (slimmed)."""
    record = json.loads(claims.read_text())
    record["provenance"] = prov
    paper.mkdir(parents=True, exist_ok=True)
    js, ipynb = paper / f"{name}.json", paper / f"{name}.ipynb"
    js.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    ipynb.write_text(json.dumps(slim_notebook(json.loads(executed.read_text())), indent=1, ensure_ascii=False) + "\n")
    return js, ipynb
