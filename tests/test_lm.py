"""Language-model infrastructure: frozen corpus, tokenizer, attention-only model, induction measures."""
from __future__ import annotations

import shutil

import pytest
import torch
from torch.func import functional_call, vmap

from patterning_core.lm import data as lm_data
from patterning_core.lm.induction import (
    formation_step,
    in_context_loss_drop,
    measure_induction,
    prefix_matching_score,
    previous_token_score,
    repeated_random_tokens,
)
from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer, head_param_masks, per_token_loss

TINY = AttnOnlyConfig(vocab_size=50, n_layers=2, n_heads=3, d_model=12, d_head=4, n_ctx=16)


# ----------------------------------------------------------------------------- corpus and tokenizer


def test_every_manifest_file_matches_its_checksum():
    manifest = lm_data.load_manifest()
    for name in list(manifest["files"]) + list(manifest.get("checkpoints", {})):
        assert lm_data.verified_path(name, manifest=manifest).exists()


def test_tampered_file_raises_checksum_error(tmp_path):
    shutil.copy(lm_data.DATA_DIR / "manifest.json", tmp_path / "manifest.json")
    shutil.copy(lm_data.DATA_DIR / "tokenizer-512.json", tmp_path / "tokenizer-512.json")
    lm_data.load_tokenizer(512, data_dir=tmp_path)  # intact copy loads
    with open(tmp_path / "tokenizer-512.json", "a") as f:
        f.write(" ")
    with pytest.raises(lm_data.ChecksumError, match="sha256"):
        lm_data.load_tokenizer(512, data_dir=tmp_path)


def test_corpus_has_prose_and_indented_code():
    docs = lm_data.load_corpus()
    kinds = {d.kind for d in docs}
    assert kinds == {"prose", "code"}
    assert any("\n        " in d.text for d in docs if d.kind == "code")
    assert len(docs) == sum(v["count"] for v in lm_data.load_manifest()["documents"].values())


def test_tokenizer_round_trip_and_space_runs():
    tok = lm_data.load_tokenizer(1024)
    code = next(d.text for d in lm_data.load_corpus() if d.kind == "code")[:3000]
    assert tok.decode(tok.encode(code).ids) == code
    assert len(tok.encode(" " * 8).ids) < 8
    ids = tok.encode("def f(x):\n        return x").ids
    table = lm_data.token_class_table(tok)
    names = [lm_data.TOKEN_CLASSES[c] for c in lm_data.token_classes(torch.tensor(ids), table).tolist()]
    assert "newline" in names and any(n.startswith("space_") for n in names)


# ----------------------------------------------------------------------------- token labels and contexts


@pytest.mark.parametrize(
    "s, cls",
    [(" ", "space_1"), ("  ", "space_2"), ("    ", "space_3_4"), ("       ", "space_5_8"), (" " * 12, "space_9plus"),
     ("\n", "newline"), (" foo", "word_start"), ("_bar", "word_cont"), (" 42", "digits"), ("):", "punct"),
     ("<|endoftext|>", "eot"), (" a1.", "other")],
)
def test_classify_token_string(s, cls):
    assert lm_data.classify_token_string(s) == cls


def test_induction_pattern_mask_matches_brute_force():
    x = torch.randint(0, 4, (3, 20), generator=torch.Generator().manual_seed(0))
    got = lm_data.induction_pattern_mask(x)
    for b in range(3):
        for t in range(20):
            want = any(x[b, s - 1] == x[b, t - 1] and x[b, s] == x[b, t] for s in range(1, t)) if t >= 1 else False
            assert bool(got[b, t]) == want


def test_make_contexts_and_batches():
    docs = [torch.arange(1, 8), torch.arange(10, 14)]
    ctx = lm_data.make_contexts(docs, ["code", "prose"], n_ctx=4)  # stream 1..7 EOT 10..13 EOT: 13 tokens
    assert ctx.tokens.tolist() == [[1, 2, 3, 4], [5, 6, 7, 0], [10, 11, 12, 13]]
    assert ctx.kind == ("code", "code", "prose")
    epoch = torch.cat([lm_data.batch_indices(10, 3, step, seed=0) for step in range(3)])
    assert len(set(epoch.tolist())) == 9  # each index at most once per epoch
    assert torch.equal(lm_data.batch_indices(10, 3, 4, seed=0), lm_data.batch_indices(10, 3, 4, seed=0))
    assert not torch.equal(lm_data.batch_indices(10, 3, 0, seed=0), lm_data.batch_indices(10, 3, 3, seed=0))
    with pytest.raises(ValueError):
        lm_data.batch_indices(2, 3, 0, seed=0)


# ----------------------------------------------------------------------------- model


def test_shapes_patterns_and_causal_masking():
    model = AttnOnlyTransformer(TINY, seed=0)
    x = torch.randint(0, 50, (2, 10), generator=torch.Generator().manual_seed(1))
    logits, patterns = model.run_with_patterns(x)
    assert logits.shape == (2, 10, 50) and patterns.shape == (2, 2, 3, 10, 10)
    assert torch.allclose(patterns.sum(-1), torch.ones(2, 2, 3, 10))
    assert (patterns.triu(1) == 0).all()
    y = x.clone()
    y[:, 6] = (y[:, 6] + 1) % 50  # change a future token
    assert torch.allclose(model(y)[:, :6], logits[:, :6], atol=1e-6)
    assert not torch.allclose(model(y)[:, 6:], logits[:, 6:])
    assert per_token_loss(model, x).shape == (2, 9)
    with pytest.raises(ValueError, match="n_ctx"):
        model(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_fused_attention_matches_explicit(positional):
    from dataclasses import replace

    cfg = replace(TINY, positional=positional)
    explicit = AttnOnlyTransformer(cfg, seed=3)
    fused = AttnOnlyTransformer(replace(cfg, fused_attention=True), seed=3)
    x = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(2))
    assert torch.allclose(explicit(x), fused(x), atol=1e-5)


def test_same_seed_same_init_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, b = AttnOnlyTransformer(TINY, seed=5), AttnOnlyTransformer(TINY, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.W_E, AttnOnlyTransformer(TINY, seed=6).W_E)


def test_vmap_over_stacked_params_matches_loop():
    models = [AttnOnlyTransformer(TINY, seed=s) for s in range(3)]
    stacked = {k: torch.stack([dict(m.named_parameters())[k].detach() for m in models]) for k, _ in models[0].named_parameters()}
    x = torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(4))
    base = models[0]
    batched = vmap(lambda p: per_token_loss(lambda t: functional_call(base, p, (t,)), x))(stacked)  # (3, 2, 11)
    looped = torch.stack([per_token_loss(m, x) for m in models])
    assert torch.allclose(batched, looped, atol=1e-5)


def test_head_param_masks_select_one_head():
    model = AttnOnlyTransformer(TINY, seed=0)
    masks = head_param_masks(model, layer=1, head=2)
    assert masks["blocks.1.attn.W_Q"].shape == (3, 12, 4)
    assert masks["blocks.1.attn.W_Q"][2].all() and not masks["blocks.1.attn.W_Q"][:2].any()
    assert not masks["blocks.0.attn.W_Q"].any() and not masks["W_E"].any()
    n_head = sum(int(m.sum()) for m in masks.values())
    assert n_head == 4 * (12 * 4) + 3 * 4  # W_Q, W_K, W_V, W_O and three biases of one head
    with pytest.raises(ValueError):
        head_param_masks(model, layer=2, head=0)


# ----------------------------------------------------------------------------- induction measures


def _repeated(n: int = 6) -> torch.Tensor:
    return repeated_random_tokens(2, n, torch.arange(1, 40), torch.Generator().manual_seed(0))  # (2, 2n)


def test_prefix_matching_perfect_pattern_scores_one():
    x = _repeated()
    T, n = x.shape[1], x.shape[1] // 2
    pattern = torch.zeros(2, 1, 1, T, T)
    pattern[..., 0, 0] = 1.0
    for t in range(1, T):
        pattern[..., t, t - n + 1 if t >= n else t] = 1.0  # second copy: the token after the earlier occurrence
    assert prefix_matching_score(pattern, x).item() == pytest.approx(1.0)


def test_prefix_matching_uniform_pattern_scores_one_over_position():
    x = _repeated()
    T, n = x.shape[1], x.shape[1] // 2
    uniform = torch.ones(T, T).tril() / torch.arange(1, T + 1)[:, None]  # (T, T)
    want = torch.tensor([1.0 / (t + 1) for t in range(n, T)]).mean()
    got = prefix_matching_score(uniform.expand(2, 2, 3, T, T), x)
    assert got.shape == (2, 3) and torch.allclose(got, want.expand(2, 3))
    assert previous_token_score(uniform.expand(2, 1, T, T)).item() == pytest.approx(sum(1 / (t + 1) for t in range(1, T)) / (T - 1))


def test_prefix_matching_rejects_sequences_without_repeats():
    x = torch.arange(8)[None]
    with pytest.raises(ValueError, match="no token repeats"):
        prefix_matching_score(torch.ones(1, 1, 8, 8) / 8, x)


def test_in_context_loss_drop_and_measures_on_model():
    losses = torch.cat([torch.full((1, 4), 3.0), torch.full((1, 1), 9.0), torch.full((1, 4), 1.0)], dim=1)  # (1, 9)
    assert in_context_loss_drop(losses, half_len=5) == (3.0, 1.0, 2.0)
    m = measure_induction(AttnOnlyTransformer(TINY, seed=0).run_with_patterns, _repeated(8))
    assert m.prefix_matching.shape == (2, 3) and 0 <= m.best_l1_head[0] < 3
    assert m.loss_drop == pytest.approx(m.loss_first_half - m.loss_second_half)


def test_formation_step():
    assert formation_step([0, 100, 200, 300], [0.02, 0.1, 0.5, 0.6], threshold=0.4) == 200
    assert formation_step([0, 100], [0.02, 0.1], threshold=0.4) is None


# ----------------------------------------------------------------------------- frozen base-model checkpoints


def test_checkpoints_reproduce_their_recorded_induction_scores():
    """Pre-formation is below the formation threshold and post-formation above, recomputed from the weights."""
    entries = lm_data.load_manifest()["checkpoints"]
    by_role = {e["role"]: name for name, e in entries.items()}
    assert {"init", "pre_formation", "post_formation"} <= set(by_role)
    threshold = None
    scores = {}
    for role in ("pre_formation", "post_formation"):
        model, meta = lm_data.load_checkpoint(by_role[role])
        m = measure_induction(model.run_with_patterns, meta["probe"])
        assert m.best_l1_head[1] == pytest.approx(meta["eval"]["pm_l1_best"], abs=1e-5)
        assert m.loss_drop == pytest.approx(meta["eval"]["loss_drop"], abs=1e-4)
        assert "optimizer_state" in meta or role != "pre_formation"  # chapters resume AdamW from pre-formation
        scores[role] = m.best_l1_head[1]
    import json

    threshold = json.loads(lm_data.verified_path("checkpoints/trace.json").read_text())["threshold"]
    assert scores["pre_formation"] < threshold <= scores["post_formation"]
