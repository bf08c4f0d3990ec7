"""Chapter 7 helpers: the space ablation, token labels, separability measures with known answers."""
from __future__ import annotations

import pytest
import torch

from patterning_core.lm import data as lm_data, spacing


# ----------------------------------------------------------------------------- the ablation


@pytest.mark.parametrize("text, want", [
    ("a  b", "a b"),
    ("def f():\n        return  x   # c\n", "def f():\n return x # c\n"),
    ("no runs here", "no runs here"),
    ("\n\n  \n", "\n\n \n"),  # line breaks are kept, spaces between them collapse
    ("tab\t\there", "tab\t\there"),  # only U+0020 counts
    ("", ""),
])
def test_collapse_space_runs(text, want):
    assert spacing.collapse_space_runs(text) == want


def test_collapse_space_runs_is_idempotent_and_leaves_no_double_space():
    text = "x" + "".join(" " * k + str(k) for k in range(12)) + "\n    y"
    once = spacing.collapse_space_runs(text)
    assert "  " not in once and spacing.collapse_space_runs(once) == once
    assert once.replace(" ", "") == text.replace(" ", "")  # nothing but spaces removed


def test_ablated_contexts_have_no_space_run_tokens():
    tok = lm_data.load_tokenizer(512)
    text = "class A:\n    def f(self):\n        return  1\n" * 20
    tokens = torch.tensor(tok.encode(text).ids[:96]).view(3, 32)  # (3, 32)
    classes = lm_data.token_classes(tokens, lm_data.token_class_table(tok))
    assert spacing.spacing_run_mask(classes).any()  # the original has runs of spaces
    out = spacing.ablate_contexts(tokens, tok, 16)  # (M, 16)
    assert out.shape[1] == 16 and 0 < out.shape[0] < 6
    assert not spacing.spacing_run_mask(lm_data.token_classes(out, lm_data.token_class_table(tok))).any()
    assert "  " not in tok.decode(out.flatten().tolist())


def test_whitespace_before_counts_through_tokens():
    tok = lm_data.load_tokenizer(512)
    ids = tok.encode("a\n        b c").ids
    strings = [tok.decode([i]) for i in ids]
    got = spacing.whitespace_before(torch.tensor([ids]), tok)[0].tolist()
    assert got[0] == 0
    b = next(i for i, s in enumerate(strings) if s.strip() == "b")
    want = 9 if strings[b] == "b" else 8  # "b" after "\n" + 8 spaces, or " b" after "\n" + 7
    assert got[b] == want


# ----------------------------------------------------------------------------- separability


def test_knn_purity_known_answers():
    x = torch.tensor([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2], [10.3]])  # (7, 1)
    pos = torch.tensor([True, True, True, False, False, False, False])
    assert spacing.knn_purity(x, pos, k=2) == 1.0  # the three positives are each other's neighbours
    assert spacing.knn_purity(x, pos, k=3) == pytest.approx(2 / 3)  # third neighbour is a negative
    assert spacing.knn_purity_chance(pos) == pytest.approx(2 / 6)
    mixed = torch.tensor([True, False, True, False, True, False, True])
    xm = torch.arange(7.0)[:, None]  # alternating on a line: inner positives see two negatives,
    assert spacing.knn_purity(xm, mixed, k=2) == pytest.approx((0.5 + 0 + 0 + 0.5) / 4)  # the ends one


def test_knn_purity_of_random_labels_is_near_chance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 4, generator=g)
    pos = torch.rand(2000, generator=g) < 0.2
    assert abs(spacing.knn_purity(x, pos, k=10) - spacing.knn_purity_chance(pos)) < 0.03


def test_silhouette_matches_hand_computation_and_sklearn():
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [4.0, 0.0], [5.0, 0.0]])
    pos = torch.tensor([True, True, False, False])
    a = torch.tensor([1.0, 1.0])  # distance to the other positive
    b = torch.tensor([(4 + 5) / 2, (17**0.5 + 26**0.5) / 2])
    assert spacing.silhouette(x, pos) == pytest.approx(float(((b - a) / torch.maximum(a, b)).mean()))
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(1)
    y = torch.randn(300, 3, generator=g)
    lab = torch.rand(300, generator=g) < 0.3
    y[lab] += 1.5
    per = metrics.silhouette_samples(y.numpy(), lab.numpy())
    assert spacing.silhouette(y, lab) == pytest.approx(float(per[lab.numpy()].mean()), rel=1e-6)


def test_susceptibility_vectors_layout_and_normalisation():
    chi = torch.randn(8, 3, 5, generator=torch.Generator().manual_seed(0))  # (H, B, T-1)
    raw = spacing.susceptibility_vectors(chi, normalize=False)  # (B, T-1, H)
    assert raw.shape == (3, 5, 8) and torch.equal(raw[1, 2], chi[:, 1, 2])
    v = spacing.susceptibility_vectors(chi)
    assert torch.allclose(v.norm(dim=-1), torch.ones(3, 5), atol=1e-6)


def test_protrusion_known_answers():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 3, generator=g)
    pos = torch.zeros(4000, dtype=torch.bool)
    pos[:200] = True
    frac, proj = spacing.protrusion(x, pos, q=0.95)  # same spread as the rest: about 1 - q
    assert proj.shape == (4000,) and abs(frac - 0.05) < 0.05
    y = x.clone()
    y[pos, 0] += 20.0  # an island far out along the first axis: all beyond the bulk's edge
    frac, proj = spacing.protrusion(y, pos, q=0.99)
    assert frac == 1.0 and proj[pos].min() > proj[~pos].max()
    with pytest.raises(ValueError):
        spacing.protrusion(x, torch.zeros(4000, dtype=torch.bool))


def test_spearman_known_answers():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spacing.spearman(a, a**3) == pytest.approx(1.0)
    assert spacing.spearman(a, -a) == pytest.approx(-1.0)
    stats = pytest.importorskip("scipy.stats")
    b = torch.tensor([1.0, 1.0, 2.0, 5.0, 3.0])  # with a tie
    assert spacing.spearman(a, b) == pytest.approx(stats.spearmanr(a.numpy(), b.numpy())[0])
