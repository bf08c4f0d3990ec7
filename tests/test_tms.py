"""Tests of the TMS model (patterning_core.tms.model) and polygon helpers (patterning_core.tms.polygons).

Oracles: brute-force loops over the 32 inputs, hand-computed pentagon angles, the post's quartic
identity H(r, theta) = 1 + r^4 at the square, and the count of 12 gap patterns.
"""
from __future__ import annotations

import collections
import itertools
import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch.func import functional_call, vmap  # noqa: E402

from patterning_core.tms.model import (  # noqa: E402
    TMS, TMSConfig, init_weights, input_probs, input_types, make_per_sample_loss, natural_weights,
    observable_names, per_input_losses, per_sample_loss, phi_dot, phi_norm, population_loss, reconstruct,
    tms_observables,
)
from patterning_core.tms.polygons import (  # noqa: E402
    classify_polygon, cycle_edges, dead_feature_expansion, gap_pattern, gap_patterns, ideal_kgon, optimal_kgon,
    pentagon_targets,
    optimal_scale, plot_glyph, plot_glyph_strip, plot_sample_cloud, read_polygon, regularity, stage_runs,
)

F64 = torch.float64


def brute_force_loss(W, sparsity, h=None, importance=None, b=None):
    """Explicit loops: sum_x h_x l_x / sum_x h_x, or sum_x q(x) l_x when h is None."""
    m, d = W.shape
    W = W.tolist()  # plain floats: no tensor code in the oracle
    I = [1.0] * d if importance is None else [float(v) for v in importance]
    num, den = 0.0, 0.0
    for idx, x in enumerate(itertools.product([0, 1], repeat=d)):
        pre = [sum(sum(W[a][i] * W[a][j] for a in range(m)) * x[j] for j in range(d)) for i in range(d)]
        xhat = [max(float(pre[i]) + (0.0 if b is None else float(b[i])), 0.0) for i in range(d)]
        loss = sum(I[i] * (x[i] - xhat[i]) ** 2 for i in range(d))
        if h is None:
            k = sum(x)
            w = (1 - sparsity) ** k * sparsity ** (d - k)
        else:  # h is indexed in input_types order; find this x's row
            w = float(h[_row(x)])
        num, den = num + w * loss, den + w
    return num / den


def _row(x):
    rows = input_types(len(x)).tolist()
    return rows.index([float(v) for v in x])


# ---------------------------------------------------------------------------------------------- data


def test_input_types_order_and_probs():
    x = input_types(5)
    assert x.shape == (32, 5)
    assert len({tuple(r) for r in x.tolist()}) == 32
    card = x.sum(-1)
    assert torch.all(card[1:] >= card[:-1])  # sorted by cardinality
    assert torch.equal(x[1:6], torch.eye(5))  # rows 1..5 are the one-hots
    assert x[6].tolist() == [1, 1, 0, 0, 0] and x[7].tolist() == [1, 0, 1, 0, 0]
    for S in (0.0, 0.3, 0.9, 0.999):
        q = input_probs(5, S)
        assert q.shape == (32,) and abs(float(q.sum()) - 1.0) < 1e-12
        assert abs(float(natural_weights(5, S).mean()) - 1.0) < 1e-12
    assert float(input_probs(5, 0.9)[0]) == pytest.approx(0.9**5)


# ---------------------------------------------------------------------------------------------- loss


def test_population_loss_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    W = torch.randn(2, 5, generator=g, dtype=F64)
    for S in (0.5, 0.9):
        assert float(population_loss(W, S)) == pytest.approx(brute_force_loss(W, S), rel=1e-12)
    h = torch.rand(32, generator=g, dtype=F64) * 3
    imp = torch.tensor([1.0, 0.9, 0.7, 0.5, 0.2], dtype=F64)
    got = float(population_loss(W, 0.9, weights=h, importance=imp))
    assert got == pytest.approx(brute_force_loss(W, 0.9, h=h, importance=imp), rel=1e-12)
    b = torch.randn(5, generator=g, dtype=F64) * 0.3
    got = float(population_loss(W, 0.8, b=b))
    assert got == pytest.approx(brute_force_loss(W, 0.8, b=b), rel=1e-12)


def test_weighted_mean_of_per_sample_loss_is_population_loss():
    model = TMS(TMSConfig(init_scale=0.7), generator=torch.Generator().manual_seed(3)).double()
    x = input_types(5, F64)
    losses = per_sample_loss(model, (x,))  # (32,)
    assert losses.shape == (32,)
    h = natural_weights(5, 0.85)
    with torch.no_grad():
        assert float((h * losses).sum() / h.sum()) == pytest.approx(float(population_loss(model.W, 0.85)), rel=1e-12)
    imp = (1.0, 2.0, 0.5, 1.0, 3.0)
    weighted = make_per_sample_loss(imp)(model, (x,))
    with torch.no_grad():
        assert torch.allclose(weighted, per_input_losses(model.W, importance=torch.tensor(imp)), atol=1e-12)


def test_bias_variant_forward():
    cfg = TMSConfig(bias=True)
    model = TMS(cfg, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.b.fill_(-0.5)
    x = input_types(5)
    expected = torch.relu(x @ model.W.T @ model.W - 0.5)
    assert torch.allclose(model(x), expected)


def test_vmap_over_chains_matches_loop():
    model = TMS(TMSConfig())
    W = init_weights(TMSConfig(init_scale=0.8), range(5, 9))  # (chains, 2, 5)
    x = input_types(5)

    def loss_one(params, xx):
        return per_sample_loss(lambda inp: functional_call(model, params, (inp,)), (xx,))

    batched = vmap(loss_one, in_dims=(0, None))({"W": W}, x)  # (chains, 32)
    looped = torch.stack([loss_one({"W": W[c]}, x) for c in range(4)])
    assert batched.shape == (4, 32)
    assert torch.allclose(batched, looped, atol=1e-6)
    assert torch.allclose(batched, per_input_losses(W), atol=1e-6)


def test_quartic_identity_at_the_square():
    """Post §4.3: unit square on f0..f3, W_4 = r(cos t, sin t): one-hot losses sum to 1 + r^4."""
    g = torch.Generator().manual_seed(7)
    one_hots = input_types(5, F64)[1:6]
    for _ in range(20):
        r = float(torch.rand(1, generator=g, dtype=F64)) * 1.5
        t = float(torch.rand(1, generator=g, dtype=F64)) * 2 * math.pi
        W = ideal_kgon(4)
        W[0, 4], W[1, 4] = r * math.cos(t), r * math.sin(t)
        ell = per_sample_loss(lambda x: reconstruct(W, x), (one_hots,))  # (5,)
        assert abs(float(ell.sum()) - (1 + r**4)) < 1e-12
        assert abs(float(ell[0]) - r**2 * math.cos(t) ** 2 * (math.cos(t) > 0)) < 1e-12
        assert abs(float(ell[1]) - r**2 * math.sin(t) ** 2 * (math.sin(t) > 0)) < 1e-12


# ---------------------------------------------------------------------------------------------- observables


def test_observables_regular_pentagon():
    W = ideal_kgon(5, rotation=0.4) * 0.9
    dots = phi_dot({"W": W.unsqueeze(0)})[0]  # (10,)
    names = observable_names(5)
    assert len(names) == 15 and names[0] == "dot[0,1]" and names[-1] == "norm[4]"
    for (i, j), v in zip(itertools.combinations(range(5), 2), dots.tolist()):
        expected = math.cos(2 * math.pi / 5) if (j - i) % 5 in (1, 4) else math.cos(4 * math.pi / 5)
        assert v == pytest.approx(expected, abs=1e-7)
    assert torch.allclose(phi_norm(W), torch.full((5,), 0.9, dtype=F64))
    obs = tms_observables({"W": torch.stack([W, 2 * W])})
    assert obs.shape == (2, 15)
    assert torch.allclose(obs[1, 10:], torch.full((5,), 1.8, dtype=F64))


def test_observables_by_hand_and_dead_feature():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(3, 2, 5, generator=g, dtype=F64)
    W[1, :, 2] = 0.0  # a dead feature
    dots = phi_dot({"W": W})
    assert torch.isfinite(dots).all()
    for c in range(3):
        for p, (i, j) in enumerate(itertools.combinations(range(5), 2)):
            ni, nj = W[c, :, i].norm(), W[c, :, j].norm()
            if ni == 0 or nj == 0:
                assert float(dots[c, p]) == 0.0
            else:
                assert float(dots[c, p]) == pytest.approx(float(W[c, :, i] @ W[c, :, j] / (ni * nj)), abs=1e-7)
    with pytest.raises(ValueError, match="shape"):
        phi_dot({"W": torch.zeros(5)})


# ---------------------------------------------------------------------------------------------- polygons


def test_ideal_kgon_and_optimal_scale():
    for k in range(1, 6):
        W = ideal_kgon(k, assignment=tuple(range(5 - k, 5)))
        norms = W.norm(dim=0)
        assert torch.allclose(norms[5 - k:], torch.ones(k, dtype=F64)) and torch.all(norms[: 5 - k] == 0)
    W = ideal_kgon(5)
    a = float(optimal_scale(W, 0.95))
    loss = lambda s: float(population_loss(s * W, 0.95))  # noqa: E731
    assert loss(a) < loss(a * 1.01) and loss(a) < loss(a * 0.99)
    grid = torch.linspace(0.5, 1.5, 2001, dtype=F64)
    assert loss(a) <= min(loss(float(s)) for s in grid) + 1e-12
    assert float(optimal_kgon(5, 0.95).norm(dim=0)[0]) == pytest.approx(a)
    with pytest.raises(ValueError, match="assignment"):
        ideal_kgon(3, assignment=(0, 0, 1))


def test_read_polygon_round_trip():
    g = torch.Generator().manual_seed(11)
    for trial in range(30):
        k = int(torch.randint(1, 6, (1,), generator=g))
        assignment = [int(v) for v in torch.randperm(5, generator=g)[:k]]
        rot = float(torch.rand(1, generator=g)) * 2 * math.pi
        W = ideal_kgon(k, assignment=assignment, rotation=rot)
        if trial % 2:  # reflect: the counter-clockwise order reverses
            W = W * torch.tensor([[1.0], [-1.0]], dtype=F64)
            assignment = assignment[:1] + assignment[1:][::-1]
        W = W + torch.randn(2, 5, generator=g, dtype=F64) * 1e-3 * (W.norm(dim=0) > 0)
        poly = read_polygon(W)
        start = assignment.index(min(assignment))
        assert poly.k == k and poly.alive == tuple(sorted(assignment))
        assert poly.order == tuple(assignment[start:] + assignment[:start])
        assert poly.regularity_error < 0.01 and poly.is_regular()
        assert sum(poly.gaps) == pytest.approx(2 * math.pi)
        kv, err = regularity(W.unsqueeze(0))
        assert int(kv[0]) == k and float(err[0]) == pytest.approx(poly.regularity_error, abs=1e-9)
        assert int(classify_polygon(W)) == k


def test_read_polygon_irregular_and_errors():
    W = ideal_kgon(3)
    W[:, 1] = torch.tensor([0.0, 1.0], dtype=F64)  # features at 0, 90, 240 degrees
    poly = read_polygon(W)
    assert poly.regularity_error == pytest.approx(math.radians(150 - 120), abs=1e-9)
    assert int(classify_polygon(W)) == -1
    half = ideal_kgon(4)
    half[:, 4] = torch.tensor([0.3, 0.0], dtype=F64)  # a feature neither dead nor alive
    assert int(classify_polygon(half)) == -1 and int(classify_polygon(half, dead=0.5)) == 4
    with pytest.raises(ValueError, match=r"\(2, d\)"):
        read_polygon(torch.zeros(3, 5))
    assert cycle_edges((0, 2, 4, 1, 3)) == cycle_edges((3, 1, 4, 2, 0))


def test_gap_patterns_of_the_pentagon():
    pats = gap_patterns(5)
    assert len(pats) == 12 and len({p.pattern for p in pats}) == 12
    assert collections.Counter(p.breaks for p in pats) == {0: 1, 2: 5, 3: 5, 5: 1}
    assert sum(p.size for p in pats) == 120
    for p in pats:
        assert gap_pattern(p.representative) == p.pattern and p.representative[0] == 0
    assert pats[0].pattern == "11111" and pats[0].cycles == "id"
    assert pats[-1].pattern == "22222" and pats[-1].cycles == "(f1 f3 f4 f2)"
    # no arrangement breaks exactly 1 or 4 neighbour pairs
    counts = {gap_pattern(a).count("2") for a in itertools.permutations(range(5))}
    assert counts == {0, 2, 3, 5}


def test_dead_feature_expansion_one_hot_limit():
    h = torch.zeros(32, dtype=F64)
    h[1:6] = 1.0  # only one-hot inputs: the post's H(r, theta)
    sq = dead_feature_expansion(4, 0.5, weights=h)
    assert sq.slope.abs().max() < 1e-8 and sq.curvature.abs().max() < 1e-6  # H = 1 + r^4: no r^2 term
    dig = dead_feature_expansion(2, 0.5, weights=h)
    assert torch.allclose(dig.curvature, -2 * torch.sin(dig.theta) ** 2, atol=1e-6)
    tri = dead_feature_expansion(3, 0.99)
    assert float(tri.curvature.min()) == pytest.approx(-1.0, abs=0.05) and float(tri.slope.max()) < 0


def test_stage_runs():
    labels = [0, 0, 0, -1, 2, 2, 2, 2, 3, 4, 4, 4, 4, -1, 4, 4, 4, 5, 5, 5, 5]
    runs = stage_runs(labels, min_length=3)
    assert [(s.k, s.start, s.length) for s in runs] == [(0, 0, 3), (2, 4, 4), (4, 9, 8), (5, 17, 4)]


def test_init_is_seeded():
    cfg = TMSConfig(init_scale=0.1)
    assert torch.equal(init_weights(cfg, [4, 5, 6]), init_weights(cfg, [4, 5, 6]))
    assert torch.equal(init_weights(cfg, [4, 5, 6])[1], init_weights(cfg, 20)[5])  # a seed's init is its own
    assert not torch.equal(init_weights(cfg, [4])[0], init_weights(cfg, [5])[0])
    a = TMS(cfg, generator=torch.Generator().manual_seed(9)).W
    b = TMS(cfg, generator=torch.Generator().manual_seed(9)).W
    assert torch.equal(a, b) and a.shape == (2, 5)
    with pytest.raises(ValueError, match="sparsity"):
        TMSConfig(sparsity=1.0)
    with pytest.raises(ValueError, match="weights"):
        population_loss(torch.zeros(2, 5), 0.9, weights=torch.ones(31))


def test_plots_return_axes():
    W = ideal_kgon(5)
    ax = plot_glyph(W, title="pentagon", labels=True)
    assert len(ax.collections) == 5
    fig = plot_glyph_strip([ideal_kgon(k) for k in (2, 3, 4, 5)], titles=["2", "3", "4", "5"])
    assert len(fig.axes) == 4
    samples = W.unsqueeze(0) + 0.05 * torch.randn(50, 2, 5, generator=torch.Generator().manual_seed(0), dtype=F64)
    ax = plot_sample_cloud(samples, values=torch.rand(50, dtype=F64), anchor=W)
    assert len(ax.collections) >= 5
    with pytest.raises(ValueError, match="values"):
        plot_sample_cloud(samples, values=torch.rand(10))
    matplotlib.pyplot.close("all")


def test_pentagon_targets_are_what_the_observables_see():
    targets = pentagon_targets(5)
    assert len(targets) == 12 and all(t.size == 10 for t in targets)
    assert collections.Counter(t.breaks for t in targets) == {0: 1, 2: 5, 3: 5, 5: 1}
    dots = []
    for t in targets:
        arrs = [a for a in itertools.permutations(range(5)) if cycle_edges(a) == t.edges]
        d = torch.stack([phi_dot(ideal_kgon(5, assignment=a, rotation=0.3 * i)) for i, a in enumerate(arrs)])
        assert torch.allclose(d, d[0].expand_as(d), atol=1e-9)  # one target, one observable vector
        dots.append(d[0])
    dots = torch.stack(dots)
    assert torch.cdist(dots, dots).add(torch.eye(12, dtype=F64)).min() > 0.5  # distinct targets differ
