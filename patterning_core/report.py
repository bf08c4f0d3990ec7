"""Headline numbers a chapter records, so the book's claims table is generated, not typed.

Each executed chapter calls :func:`save_claims` once at its end; the runner collects the JSON
files written next to the executed notebooks into the claims table (``book/claims.md``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Claim:
    """One checked claim of a chapter.

    Attributes:
        claim: the seed's claim in one sentence (what the paper or post says).
        measured: what this run measured, in words with its numbers.
        reproduces: whether the chapter's assertion for this claim held.
        value: the headline number, if there is one (for sorting and plotting).
    """

    claim: str
    measured: str
    reproduces: bool
    value: float | None = None


def save_claims(chapter: str, preset: str, claims: list[Claim], results_dir: str | Path = ".") -> Path:
    """Write ``{results_dir}/{chapter}.claims.json`` and return its path."""
    path = Path(results_dir) / f"{chapter}.claims.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(c), "reproduces": bool(c.reproduces), "value": None if c.value is None else float(c.value)} for c in claims]
    payload = {"chapter": chapter, "preset": preset, "claims": rows}
    path.write_text(json.dumps(payload, indent=2))
    return path


def load_claims(path: str | Path) -> dict:
    """Read a file written by :func:`save_claims`."""
    return json.loads(Path(path).read_text())
