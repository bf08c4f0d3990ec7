r"""Chapter 7, the "spacing fin": token classes in per-head susceptibility space, and the ablation.

Every probe token :math:`x_{b,t}` gets a vector :math:`\chi_{:,b,t-1} \in \mathbb R^{H}`, its
susceptibility to each of the :math:`H` attention heads (:mod:`.heads`; chapter 7 uses
its leading-order, sampling-free form). Wang et al. (2025, "Embryology of a language model") map
such vectors to 2-D with UMAP and find a "fin": tokens that continue long runs of spaces or
newlines separate from the rest. The patterning paper's sanity check (Wang & Murfet
2026) retrains on the corpus with consecutive spaces removed and the fin disappears.

This module holds the pure parts of that experiment:

* :func:`collapse_space_runs` / :func:`ablate_contexts` -- the ablation of the training text;
* :func:`susceptibility_vectors` -- one (optionally normalised) vector per probe token;
* :func:`knn_purity`, :func:`knn_purity_chance`, :func:`silhouette` -- how separable a class
  is from the rest, as numbers;
* :func:`protrusion`, :func:`spearman` -- whether a class sticks out of the bulk (a fin) and
  whether its position along the protrusion follows another quantity;
* :func:`class_groups` -- the chapter's coarse grouping of :data:`lm_data.TOKEN_CLASSES`.
"""
from __future__ import annotations

import re

import torch
from tokenizers import Tokenizer
from torch import Tensor

from . import data as lm_data

_SPACE_RUN = re.compile(r" {2,}")


# ----------------------------------------------------------------------------- the ablation


def collapse_space_runs(text: str) -> str:
    """Replace every run of two or more consecutive spaces (U+0020) by a single space.

    The rule of the ablation ("consecutive spaces removed"): after it no two spaces are adjacent,
    so the tokenizer never produces a whitespace-run token. Runs after a line break -- Python's
    indentation -- collapse too (``"\n        return"`` becomes ``"\n return"``); line breaks,
    tabs and single spaces (word boundaries) are kept, so every word still tokenizes as before.
    """
    return _SPACE_RUN.sub(" ", text)


def ablate_contexts(tokens: Tensor, tok: Tokenizer, n_ctx: int) -> Tensor:
    """Decode each context, collapse its space runs, re-encode, and re-cut the stream.

    Each row of ``tokens`` is ablated on its own (no text crosses from one context into another),
    the results are concatenated in order and cut into non-overlapping contexts of ``n_ctx``
    tokens (the tail is dropped). Applied to the *training* contexts of the base run, the ablated
    model trains on exactly the text the base model trained on, minus the repeated spaces, and
    never on its held-out contexts.

    Args:
        tokens: ``(N, T)`` int64 contexts.
        tok: the tokenizer that produced them.
        n_ctx: length of the output contexts.
    Returns:
        ``(M, n_ctx)`` int64, ``M < N`` when the text had space runs.
    """
    texts = tok.decode_batch(tokens.tolist(), skip_special_tokens=False)
    enc = tok.encode_batch([collapse_space_runs(t) for t in texts])
    stream = torch.cat([torch.tensor(e.ids, dtype=torch.long) for e in enc])  # (S,)
    n = len(stream) // n_ctx
    return stream[: n * n_ctx].view(n, n_ctx).clone()  # (M, n_ctx)


# ----------------------------------------------------------------------------- token labels

RUN_CLASSES = ("space_2", "space_3_4", "space_5_8", "space_9plus")  # the tokens the ablation removes


def spacing_run_mask(classes: Tensor) -> Tensor:
    """True where a token is a run of two or more spaces (class in :data:`RUN_CLASSES`).

    These are exactly the tokens that :func:`collapse_space_runs` removes from the training text.
    ``classes``: class indices into :data:`lm_data.TOKEN_CLASSES`, any shape.
    """
    run_ids = torch.tensor([lm_data.TOKEN_CLASSES.index(c) for c in RUN_CLASSES], device=classes.device)
    return torch.isin(classes, run_ids)


def whitespace_before(tokens: Tensor, tok: Tokenizer) -> Tensor:
    """Number of whitespace characters (spaces, line breaks, tabs) right before each token's text.

    Counted back through the preceding tokens of the same context (not across contexts), so the
    first token of an indented line after ``"\n"`` + ``"        "`` gets 9. Used to colour the fin.

    Args:
        tokens: ``(B, T)`` int64.
    Returns:
        ``(B, T)`` int64 on ``tokens``' device (counted on the CPU).
    """
    strings = [tok.decode([i], skip_special_tokens=False) for i in range(tok.get_vocab_size())]
    out = []
    for row in tokens.tolist():
        run, counts = 0, []  # whitespace characters at the end of the text so far
        for i in row:
            counts.append(run)
            s = strings[i]
            stripped = s.rstrip(" \n\r\t")
            run = run + len(s) if not stripped else len(s) - len(stripped)
        out.append(counts)
    return torch.tensor(out, dtype=tokens.dtype, device=tokens.device).view(tokens.shape)


# ----------------------------------------------------------------------------- susceptibility vectors


def susceptibility_vectors(chi: Tensor, normalize: bool = True) -> Tensor:
    """One vector per probe token from per-head χ.

    Args:
        chi: ``(H, B, T-1)`` from :class:`~patterning_core.lm.heads.HeadSusceptibilities`
            (entry ``t`` belongs to token ``t+1``).
        normalize: standardise each head over tokens (zero mean, unit variance), then scale each
            token's vector to unit length -- its *direction* in head space, which is what the
            heads' relative use of the token is; the overall size of χ, dominated by how surprising
            the token is, is dropped.
    Returns:
        ``(B, T-1, H)``; row ``[b, t]`` is the vector of token ``tokens[b, t+1]``.
    """
    v = chi.permute(1, 2, 0)  # (B, T-1, H)
    if not normalize:
        return v.clone()
    flat = v.reshape(-1, v.shape[-1])  # (N, H)
    z = (flat - flat.mean(0)) / flat.std(0).clamp_min(1e-12)  # (N, H)
    z = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return z.reshape(v.shape)


# ----------------------------------------------------------------------------- separability


def knn_purity(x: Tensor, positive: Tensor, k: int = 10) -> float:
    """Mean fraction of a positive point's ``k`` nearest neighbours that are positive too.

    Euclidean distance, the point itself excluded. With ``p`` positives among ``n`` points a
    labelling unrelated to position gives :func:`knn_purity_chance` ``= (p-1)/(n-1)``; 1 means
    the positives form clusters of at least ``k + 1`` points with no negative among them.

    Args:
        x: ``(n, D)`` points.
        positive: ``(n,)`` bool.
    """
    if x.dim() != 2 or positive.shape != x.shape[:1] or positive.dtype != torch.bool:
        raise ValueError(f"need x (n, D) and a bool positive (n,), got {tuple(x.shape)}, {tuple(positive.shape)} {positive.dtype}")
    if not 0 < k < len(x) or int(positive.sum()) == 0:
        raise ValueError(f"need 0 < k < n and at least one positive point (k={k}, n={len(x)})")
    xp = x[positive].double()  # (p, D)
    d = torch.cdist(xp, x.double())  # (p, n)
    d[torch.arange(len(xp), device=x.device), positive.nonzero().squeeze(1)] = float("inf")  # not its own neighbour
    nn = d.topk(k, dim=1, largest=False).indices  # (p, k)
    return float(positive[nn].double().mean())


def knn_purity_chance(positive: Tensor) -> float:
    """Expected :func:`knn_purity` when labels are independent of position: ``(p-1)/(n-1)``."""
    p, n = int(positive.sum()), len(positive)
    return (p - 1) / (n - 1)


def silhouette(x: Tensor, positive: Tensor) -> float:
    r"""Mean silhouette of the positive points for the two-cluster labelling (positive, rest).

    For a positive point, :math:`a` is its mean distance to the other positives and :math:`b` its
    mean distance to the negatives; its silhouette is :math:`(b - a)/\max(a, b)` (Rousseeuw 1987),
    in :math:`[-1, 1]`: near 1 when the positives are a tight group far from the rest, near 0 when
    they are mixed in.

    Args:
        x: ``(n, D)`` points; positive: ``(n,)`` bool with at least two positives and one negative.
    """
    p = int(positive.sum())
    if x.dim() != 2 or positive.shape != x.shape[:1] or not 2 <= p < len(x):
        raise ValueError("need x (n, D), positive (n,) bool with >= 2 positives and >= 1 negative")
    d = torch.cdist(x[positive].double(), x.double())  # (p, n)
    a = d[:, positive].sum(1) / (p - 1)  # (p,) the zero self-distance is in the sum
    b = d[:, ~positive].mean(1)  # (p,)
    return float(((b - a) / torch.maximum(a, b)).mean())


def protrusion(x: Tensor, positive: Tensor, q: float = 0.99) -> tuple[float, Tensor]:
    r"""How far a class sticks out of the bulk: the fraction of positives beyond the bulk's edge.

    Each point is projected on the unit direction :math:`u` from the negatives' mean to the
    positives' mean; the *bulk's edge* is the ``q``-quantile of the negatives' projections. Returns
    the fraction of positives beyond it -- ``1 - q`` when the positives are spread like the rest,
    1 when every positive lies outside the bulk along :math:`u` (a fin, or a separate island) --
    and the projections ``(n,)``, so the positives' position *along* the protrusion can be related to
    another quantity (e.g. how much whitespace precedes the token).

    Args:
        x: ``(n, D)`` points; positive: ``(n,)`` bool with at least one positive and one negative.
    """
    if x.dim() != 2 or positive.shape != x.shape[:1] or positive.dtype != torch.bool:
        raise ValueError(f"need x (n, D) and a bool positive (n,), got {tuple(x.shape)}, {tuple(positive.shape)} {positive.dtype}")
    if not 0 < int(positive.sum()) < len(x) or not 0.0 < q < 1.0:
        raise ValueError("need at least one positive and one negative point, and 0 < q < 1")
    x = x.double()
    u = x[positive].mean(0) - x[~positive].mean(0)  # (D,)
    proj = x @ (u / u.norm().clamp_min(1e-300))  # (n,)
    edge = torch.quantile(proj[~positive], q)
    return float((proj[positive] > edge).double().mean()), proj


def spearman(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation of two ``(n,)`` tensors (average ranks for ties)."""
    def rank(v: Tensor) -> Tensor:
        v = v.double()
        order = v.argsort()
        r = torch.empty_like(v)
        r[order] = torch.arange(len(v), dtype=torch.float64, device=v.device)
        uniq, inv = torch.unique(v, return_inverse=True)  # average the ranks of ties
        return torch.zeros(len(uniq), dtype=torch.float64, device=v.device).index_add_(0, inv, r)[inv] / torch.bincount(inv).double()[inv]
    ra, rb = rank(a), rank(b)
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


# ----------------------------------------------------------------------------- 2-D map


def umap_2d(x: Tensor, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int | None = None) -> Tensor:
    """UMAP embedding of ``x`` ``(n, D)`` to ``(n, 2)`` (umap-learn, seeded, one thread).

    ``n_epochs=None`` is umap-learn's default (200 for more than 10,000 points). Most of the cost of
    the first call in a process is numba compilation (tens of seconds), not the fit."""
    import umap  # noqa: PLC0415 -- slow import (numba), only where a map is drawn

    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1, n_epochs=n_epochs)
    return torch.from_numpy(reducer.fit_transform(x.double().cpu().numpy())).float()  # on the CPU


CLASS_COLOURS = {  # token class -> colour for the maps; runs of spaces in warm colours
    "space_9plus": "#b2182b", "space_5_8": "#ef6548", "space_3_4": "#fdae61", "space_2": "#fee08b",
    "newline": "#6a3d9a", "space_1": "#a6cee3", "word_start": "#1f78b4", "word_cont": "#33a02c",
    "punct": "#b2df8a", "digits": "#fb9a99", "other": "#bdbdbd", "eot": "#000000",
}


def plot_classes(ax, xy: Tensor, classes: Tensor, title: str, size: float = 3.0) -> None:
    """Scatter ``xy`` ``(n, 2)`` coloured by token class (indices into ``TOKEN_CLASSES``).

    Common classes are drawn first and runs of spaces last, so the fin is not hidden.
    """
    xy, classes = xy.cpu(), classes.cpu()
    order = ["other", "eot", "word_cont", "word_start", "punct", "digits", "space_1", "newline", *RUN_CLASSES]
    for name in order:
        m = classes == lm_data.TOKEN_CLASSES.index(name)
        if m.any():
            big = name in RUN_CLASSES or name == "newline"
            ax.scatter(xy[m, 0], xy[m, 1], s=size * (2.5 if big else 1), c=CLASS_COLOURS[name], lw=0,
                       alpha=0.9 if big else 0.5, label=f"{name} ({int(m.sum())})")
    ax.set(title=title, xticks=[], yticks=[])
