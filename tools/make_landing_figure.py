"""Draw the book's landing figure: the read/write loop of patterning.

Interpretability *reads* the trained model through susceptibilities, χ = −β Cov[φ, ℓ_i];
patterning *writes* to it by inverting them, dh = χᵀ(χχᵀ + αI)⁻¹ dμ, and retraining on the
re-weighted data. The output, ``book/figures/patterning_loop.svg``, is committed; the test
``tests/test_book_offline.py::test_landing_figure_is_current`` redraws it and compares bytes, so
it cannot drift from this script. Text is drawn as paths (no fonts needed) and the SVG carries
no date, so the same matplotlib draws the same bytes.

Usage:
    python tools/make_landing_figure.py [OUTPUT.svg]
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "book" / "figures" / "patterning_loop.svg"

READ, WRITE, NEUTRAL = "#1f77b4", "#d95f02", "#444444"  # interpretability, patterning, the rest

# (x, y) centre, title, formula, colour of each node, clockwise from the top left.
NODES = {
    "data": ((0.16, 0.75), "data", r"$n$ samples with weights $h_i$", NEUTRAL),
    "model": ((0.84, 0.75), "trained model", r"$w^*$ minimizes $\Sigma_i\, h_i\,\ell_i(w)$", NEUTRAL),
    "read": ((0.84, 0.25), "read: susceptibilities", r"$\chi = -\beta\ \mathrm{Cov}[\phi,\ \ell_i]$", READ),
    "write": ((0.16, 0.25), "write: patterning step", r"$dh = \chi^{\top}(\chi\chi^{\top} + \alpha I)^{-1}\,d\mu$", WRITE),
}
# (from, to, label, colour, label offset)
EDGES = [
    ("data", "model", "train on the re-weighted data", NEUTRAL, (0, 0.045)),
    ("model", "read", "SGLD draws around $w^*$", READ, (0.02, 0)),
    ("read", "write", r"ask for $d\mu = \mu_{\mathrm{goal}} - \mu$", WRITE, (0, -0.045)),
    ("write", "data", r"$h \leftarrow h + s\,dh$", WRITE, (-0.02, 0)),
]
BOX_W, BOX_H = 0.31, 0.17


def draw(path: Path) -> None:
    plt.rcParams.update({"svg.hashsalt": "patterning-landing", "svg.fonttype": "path", "font.size": 11})
    fig, ax = plt.subplots(figsize=(9.6, 4.2))
    ax.set(xlim=(-0.01, 1.01), ylim=(0.13, 0.87), aspect="auto")
    ax.axis("off")
    for (x, y), title, formula, colour in NODES.values():
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H, boxstyle="round,pad=0.01,rounding_size=0.03",
                                    fc="white", ec=colour, lw=2))
        ax.text(x, y + 0.035, title, ha="center", va="center", color=colour, weight="bold")
        ax.text(x, y - 0.035, formula, ha="center", va="center", fontsize=11.5)
    for a, b, label, colour, (dx, dy) in EDGES:
        (xa, ya), (xb, yb) = NODES[a][0], NODES[b][0]
        horizontal = ya == yb
        sx, sy = (BOX_W / 2 + 0.01, 0) if horizontal else (0, BOX_H / 2 + 0.01)
        sign_x, sign_y = (1 if xb > xa else -1), (1 if yb > ya else -1)
        start = (xa + sign_x * sx, ya + sign_y * sy) if horizontal else (xa, ya + sign_y * sy)
        end = (xb - sign_x * sx, yb) if horizontal else (xb, yb - sign_y * sy)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=18, lw=2, color=colour))
        mx, my = (start[0] + end[0]) / 2 + dx, (start[1] + end[1]) / 2 + dy
        ax.text(mx, my, label, ha="left" if dx > 0 else "right" if dx < 0 else "center", va="center", color=colour, fontsize=10)
    ax.text(0.5, 0.53, "the patterning loop", ha="center", va="center", style="italic", color=NEUTRAL, fontsize=11)
    ax.text(0.5, 0.47, "interpretability reads, patterning writes", ha="center", va="center", color=NEUTRAL, fontsize=9)
    fig.tight_layout(pad=0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else OUTPUT
    draw(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
