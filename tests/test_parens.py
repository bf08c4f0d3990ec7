"""Tests of the parentheses data (patterning_core.parens.data) and classifier (models.parens)."""
from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch

from patterning_core.parens.model import (
    ParensTransformer,
    ParensTransformerConfig,
    accuracy,
    balanced_rate,
    per_sample_loss,
    stack_params,
    stacked_logits,
)
from patterning_core.parens.data import (
    PAD,
    ParensDataConfig,
    from_strings,
    make_parens_data,
    sample_dyck,
    to_string,
)

SMALL = ParensDataConfig(n_train=300, n_test=100, n_ood=200, min_len=2, max_len=12)


def stack_balanced(s: str) -> bool:
    """Brute-force oracle: push on '(', pop on ')', fail on popping an empty stack."""
    stack = []
    for c in s:
        if c == "(":
            stack.append(c)
        elif not stack:
            return False
        else:
            stack.pop()
    return not stack


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors (fixture in conftest.py)


@pytest.fixture(scope="module")
def data():
    return make_parens_data(SMALL, seed=3)


def test_rules_agree_on_training_strings_and_disagree_on_ood(data):
    for batch in (data.train, data.test):
        assert torch.equal(batch.nested, batch.equal_count)
    assert (data.ood.equal_count & ~data.ood.nested).all()


def test_labels_match_a_stack_oracle(data):
    for batch in (data.train, data.test, data.ood):
        strings = [to_string(row) for row in batch.tokens]
        oracle = torch.tensor([stack_balanced(s) for s in strings])
        assert torch.equal(batch.nested, oracle)
        assert torch.equal(batch.labels, oracle.float())
        assert torch.equal(batch.equal_count, torch.tensor([s.count("(") == s.count(")") for s in strings]))


def test_all_short_strings_brute_force():
    strings = ["".join(p) for n in (2, 4, 6) for p in itertools.product("()", repeat=n)]
    batch = from_strings(strings, width=8)
    assert torch.equal(batch.nested, torch.tensor([stack_balanced(s) for s in strings]))
    assert batch.nested.sum() == 1 + 2 + 5  # Catalan numbers C_1 + C_2 + C_3


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_parens_data(SMALL, seed=7), make_parens_data(SMALL, seed=7), make_parens_data(SMALL, seed=8)
    for split in ("train", "test", "ood"):
        for x, y in zip(getattr(a, split), getattr(b, split)):
            assert torch.equal(x, y)
    assert not torch.equal(a.train.tokens, c.train.tokens)


def test_class_balance_lengths_and_padding(data):
    n_bal = round(SMALL.n_train * SMALL.frac_balanced)
    assert int(data.train.nested.sum()) == n_bal  # exactly frac_balanced of the training set
    for batch in (data.train, data.test, data.ood):
        assert (batch.lengths % 2 == 0).all()
        assert batch.lengths.min() >= SMALL.min_len and batch.lengths.max() <= SMALL.max_len
        assert torch.equal(batch.mask.sum(dim=1), batch.lengths)
        assert torch.equal(batch.mask, torch.arange(SMALL.max_len) < batch.lengths[:, None])
        assert ((batch.tokens == PAD) == ~batch.mask).all()
    # near-miss negatives have D_L = ±2, random ones any nonzero even D_L
    unbal = ~data.train.nested
    final = (data.train.tokens == 0).sum(1) - (data.train.tokens == 1).sum(1)
    assert (final[unbal] != 0).all()
    n_near = round((SMALL.n_train - n_bal) * SMALL.frac_near_miss)
    assert int((final[unbal].abs() == 2).sum()) >= n_near


def test_dyck_sampler_is_uniform():
    # length 8: 14 Dyck words, each with probability 1/14
    tokens = sample_dyck(torch.full((14_000,), 8), 8, torch.Generator().manual_seed(0))
    counts = torch.tensor(list(Counter(to_string(t) for t in tokens).values()))
    assert len(counts) == 14
    assert (counts - 1000).abs().max() < 5 * 1000 ** 0.5  # 5 sigma of a binomial count


def test_bad_config_raises():
    with pytest.raises(ValueError):
        ParensDataConfig(min_len=3)
    with pytest.raises(ValueError):
        ParensDataConfig(frac_balanced=1.5)
    with pytest.raises(ValueError):
        ParensTransformerConfig(attn="sideways")
    with pytest.raises(ValueError):
        ParensTransformerConfig(d_model=10, n_heads=4)
    with pytest.raises(ValueError):
        from_strings(["(a)"])


CONFIGS = [
    ParensTransformerConfig(max_len=12),
    ParensTransformerConfig(max_len=12, attn="bidirectional", pos_emb=False, pool="cls", n_layers=2),
    ParensTransformerConfig(max_len=12, attn="mixed", n_heads=2, d_mlp=0),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_shapes_and_padding_invariance(config, data):
    model = ParensTransformer(config, seed=0)
    batch = data.train
    logits = model(batch.tokens)
    assert logits.shape == (SMALL.n_train,)
    loss = per_sample_loss(model, batch)
    assert loss.shape == (SMALL.n_train,) and (loss >= 0).all()
    narrow = batch.tokens[:, : int(batch.lengths.max())]  # drop all-PAD columns
    torch.testing.assert_close(model(narrow), logits)


@pytest.mark.parametrize("config", CONFIGS)
def test_vmap_over_stacked_params_equals_a_loop(config, data):
    seeds = [0, 1, 5]
    params = stack_params(config, seeds)
    base = ParensTransformer(config)
    tokens = data.ood.tokens
    with torch.no_grad():
        vmapped = stacked_logits(base, params, tokens)  # (S, N)
        looped = torch.stack([ParensTransformer(config, seed=s)(tokens) for s in seeds])
        per_seed_data = stacked_logits(base, params, torch.stack([tokens, tokens.flip(0), tokens]))
    torch.testing.assert_close(vmapped, looped)
    torch.testing.assert_close(per_seed_data[1], looped[1].flip(0))
    assert not torch.allclose(looped[0], looped[1])  # different seeds, different models


def test_seeds_are_independent_under_vmap(data):
    config = CONFIGS[0]
    params = {k: v.requires_grad_(True) for k, v in stack_params(config, [0, 1]).items()}
    stacked_logits(ParensTransformer(config), params, data.train.tokens)[0].sum().backward()
    for grad in (p.grad for p in params.values()):
        assert grad[1].abs().max() == 0
    assert any(p.grad[0].abs().max() > 0 for p in params.values())


def test_init_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = ParensTransformer(CONFIGS[0], seed=4), ParensTransformer(CONFIGS[0], seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q)


def test_library_trainer_gets_distinct_seeds_and_tuple_batches(data):
    """``training.init_params`` seeds the global RNG; ``train`` slices batches into plain tuples."""
    from patterning_core.training import TrainConfig, init_params, train

    config = CONFIGS[2]
    params = init_params(lambda: ParensTransformer(config), seeds=[0, 1])
    assert not torch.equal(params["tok_emb.weight"][0], params["tok_emb.weight"][1])
    result = train(ParensTransformer(config), per_sample_loss, data.train, params=params,
                   config=TrainConfig(steps=3, batch_size=16, log_every=1), progress=False)
    assert result.loss_trace.shape == (2, 4) and torch.isfinite(result.loss_trace).all()


def test_metrics_batch_over_seeds():
    logits = torch.tensor([[1.0, -1.0, 2.0, -3.0], [-1.0, -1.0, -2.0, -3.0]])  # (S=2, N=4)
    labels = torch.tensor([1.0, 0.0, 0.0, 0.0])
    torch.testing.assert_close(accuracy(logits, labels), torch.tensor([0.75, 0.75]))
    torch.testing.assert_close(balanced_rate(logits), torch.tensor([0.5, 0.0]))
    with pytest.raises(ValueError):
        accuracy(logits, labels[:3])
