"""The chain-native attention-only model: the same numbers as the per-chain vmap path, on every device.

Reference everywhere: ``vmap`` over chains of ``functional_call`` on one chain's parameters with the
explicit-softmax forward (``fused_attention=False``), i.e. the path ``sample()`` took before the model
declared ``chain_batched``. ``AttnOnlyConfig(chain_native=False)`` still takes it. ``device`` is conftest's fixture (cpu, and cuda
where one is present).
"""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch.func import functional_call, vmap

from patterning_core import SGLDConfig, llc, sample
from patterning_core.lm.heads import _head_block, _head_blocks, head_param_covariance, head_susceptibilities
from patterning_core.lm.induction import repeated_random_tokens
from patterning_core.lm.model import AttnOnlyConfig, AttnOnlyTransformer, autocast_loss, head_param_masks, per_token_loss

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = AttnOnlyConfig(vocab_size=20, n_layers=2, n_heads=3, d_model=12, d_head=4, n_ctx=12)
RTOL, ATOL = 1e-5, 1e-6  # per-token losses of ~3 nats: float32 rounding, SDPA against the explicit softmax


def _model(device, cfg=TINY, seed=0, **over) -> AttnOnlyTransformer:
    return AttnOnlyTransformer(replace(cfg, **over), seed=seed).to(device)


def _stacked(model, chains: int, scale: float, seed: int = 1) -> dict[str, torch.Tensor]:
    """``w* + scale · noise``, stacked over chains: (chains, *shape) each."""
    g = torch.Generator().manual_seed(seed)
    return {k: v.detach() + scale * torch.randn(chains, *v.shape, generator=g).to(v.device) for k, v in model.named_parameters()}


def _tokens(shape, device, seed=2) -> torch.Tensor:
    return torch.randint(0, TINY.vocab_size, shape, generator=torch.Generator().manual_seed(seed)).to(device)


def _vmapped(model, params, tokens, tokens_have_chains: bool) -> torch.Tensor:
    """The reference: per-chain explicit-softmax losses under vmap, (chains, B, T-1)."""
    ref = AttnOnlyTransformer(replace(model.cfg, fused_attention=False, chain_native=False), seed=None).to(model.W_E.device)
    buffers = dict(ref.named_buffers())
    one = lambda p, t: per_token_loss(lambda x: functional_call(ref, (p, buffers), (x,)), t)  # noqa: E731
    return vmap(one, in_dims=(0, 0 if tokens_have_chains else None))(params, tokens)


def _native(model, params, tokens) -> torch.Tensor:
    return per_token_loss(lambda x: functional_call(model, (params, dict(model.named_buffers())), (x,)), tokens)


# ---------------------------------------------------------------------------- the forward pass


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
@pytest.mark.parametrize("tokens_have_chains", [True, False], ids=["minibatch", "full-batch"])
def test_chain_native_losses_match_vmap(device, positional, tokens_have_chains):
    """Each chain's own minibatch (tokens (chains, B, T)) or one shared batch (B, T)."""
    model = _model(device, positional=positional)
    params = _stacked(model, chains=4, scale=0.3)
    tokens = _tokens((4, 5, 12) if tokens_have_chains else (5, 12), device)
    got = _native(model, params, tokens)  # (4, 5, 11)
    assert got.shape == (4, 5, 11) and got.device.type == device.type
    torch.testing.assert_close(got, _vmapped(model, params, tokens, tokens_have_chains), rtol=RTOL, atol=ATOL)


def test_per_chain_head_restriction_masks_match_vmap(device):
    """Chain c moves only head c's weights (per-chain masks); everything else is the anchor expanded with
    stride 0, as sample() hands frozen parameters over (shared, not copied per chain)."""
    model = _model(device, positional="learned")
    heads = [(l, h) for l in range(TINY.n_layers) for h in range(TINY.n_heads)]
    moved = _stacked(model, chains=len(heads), scale=0.5)
    masks = [head_param_masks(model, l, h) for l, h in heads]
    params = {}
    for k, v in model.named_parameters():
        m = torch.stack([mk[k] for mk in masks])  # (chains, *shape)
        params[k] = torch.where(m, moved[k], v.detach()) if m.any() else v.detach().expand(len(heads), *v.shape)
    assert params["W_E"].stride(0) == 0  # frozen: expanded
    tokens = _tokens((len(heads), 3, 12), device)
    got = _native(model, params, tokens)
    torch.testing.assert_close(got, _vmapped(model, params, tokens, True), rtol=RTOL, atol=ATOL)
    # a chain whose head did not move reproduces the anchor's own losses
    anchor = {k: v.detach()[None] for k, v in model.named_parameters()}
    frozen = {k: v.detach().expand(2, *v.shape) for k, v in model.named_parameters()}
    torch.testing.assert_close(_native(model, frozen, tokens[:2]), _native(model, anchor, tokens[:2]).expand(2, 3, 11))


def test_unstacked_forward_paths_agree(device):
    """One set of parameters: the explicit path, the fused path and run_with_patterns give the same logits."""
    explicit, fused = _model(device), _model(device, fused_attention=True)
    x = _tokens((3, 12), device)
    torch.testing.assert_close(fused(x), explicit(x), rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(explicit.run_with_patterns(x)[0], explicit(x))
    torch.testing.assert_close(fused(x[None]), fused(x)[None], rtol=RTOL, atol=ATOL)  # tokens with a chain dim of 1


def test_shortformer_positions_enter_queries_and_keys_only(device):
    """With all queries and keys zeroed (uniform causal attention) the positional embedding cannot
    change the output: it never reaches the values or the residual stream."""
    model = _model(device, positional="learned")
    params = {k: v.detach()[None].clone() for k, v in model.named_parameters()}
    for l in range(TINY.n_layers):
        for n in ("W_Q", "W_K", "b_Q", "b_K"):
            params[f"blocks.{l}.attn.{n}"].zero_()
    other = {**params, "W_pos": 5.0 * torch.randn_like(params["W_pos"])}
    x = _tokens((2, 12), device)
    torch.testing.assert_close(_native(model, other, x), _native(model, params, x))
    for n in ("W_Q", "W_K"):  # queries and keys again: now positions matter
        other[f"blocks.0.attn.{n}"] = params[f"blocks.0.attn.{n}"] = torch.randn_like(params[f"blocks.0.attn.{n}"])
    assert not torch.allclose(_native(model, other, x), _native(model, params, x))


def test_bad_inputs_are_named():
    model = _model("cpu")
    with pytest.raises(ValueError, match="tokens must be"):
        per_token_loss(model, torch.zeros(2, 3, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds n_ctx"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="dtype must be"):
        autocast_loss(lambda f, b: f(b[0]), torch.float64)


# ---------------------------------------------------------------------------- sample() and heads.py


def _lm_loss(model_fn, batch):
    return per_token_loss(model_fn, batch[0])


def _pair(device, **over):
    """The same weights twice: chain-native (sample() skips vmap) and the vmap path."""
    native, vmapped = _model(device, **over), _model(device, chain_native=False, **over)
    assert native.chain_batched and not vmapped.chain_batched
    return native, vmapped


CFG = SGLDConfig(step_size=1e-3, nbeta=10.0, gamma=100.0, num_chains=3, num_draws=8, num_burnin=4, batch_size=4)


@pytest.mark.parametrize("mode", ["minibatch", "full-batch-weights", "head-masks"])
def test_sample_llc_matches_vmap_path(device, mode):
    data = (_tokens((16, 12), device),)
    kw = {}
    cfg = CFG
    if mode == "full-batch-weights":
        cfg = replace(CFG, batch_size=None)
        kw["weights"] = torch.rand(16, generator=torch.Generator().manual_seed(4)).to(device) + 0.5
    runs = []
    for model in _pair(device):
        if mode == "head-masks":  # chain c restricted to head (1, c)
            masks = [head_param_masks(model, 1, h) for h in range(CFG.num_chains)]
            kw["restrict"] = {k: torch.stack([m[k] for m in masks]) for k in masks[0]}
        runs.append(sample(model, _lm_loss, data, config=cfg, seed=3, progress=False, keep_probe_traces=True, **kw))
    a, b = runs
    torch.testing.assert_close(a.loss_trace, b.loss_trace, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.probe_trace, b.probe_trace, rtol=1e-5, atol=1e-5)  # (chains, draws, 16·11) per-token losses
    assert abs(llc(a).mean - llc(b).mean) <= 1e-3 * max(1.0, abs(llc(b).mean))
    assert a.loss_trace.device.type == device.type


def test_head_susceptibilities_match_vmap_path(device):
    x = _tokens((24, 12), device)
    cfg = replace(CFG, num_chains=2, num_draws=6, num_burnin=2)
    out = [head_susceptibilities(m, x[:16], x[16:20], x[20:], config=cfg, seed=1, progress=False) for m in _pair(device)]
    assert out[0].chi.shape == (6, 4, 11) and out[0].chi.device.type == device.type
    torch.testing.assert_close(out[0].mu, out[1].mu, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[0].chi, out[1].chi, rtol=1e-3, atol=1e-4 * float(out[1].chi.abs().max()))
    cov = [head_param_covariance(m, x[:16], x[20:], config=cfg, seed=1, progress=False) for m in _pair(device)]
    torch.testing.assert_close(cov[0].mu, out[0].mu)  # the same chains as the susceptibility run
    torch.testing.assert_close(cov[0].cov, cov[1].cov, rtol=1e-3, atol=1e-4 * float(cov[1].cov.abs().max()))


def test_head_blocks_pick_each_chains_own_head_over_several_layers(device):
    """``_head_blocks`` with 2 layers (a CPU mask in torch.where used to fail on CUDA)."""
    model = _model(device)
    heads = ((0, 0), (0, 2), (1, 1), (1, 2))
    groups = torch.tensor([3, 0, 2, 1, 0], device=device)
    stacked = _stacked(model, chains=len(groups), scale=1.0)
    got = _head_blocks(stacked, heads, groups)  # (chains, P_head)
    for c, g in enumerate(groups.tolist()):
        torch.testing.assert_close(got[c], _head_block({k: v[c] for k, v in stacked.items()}, *heads[g]))


# ---------------------------------------------------------------------------- bf16 autocast


def test_autocast_loss_returns_float32_close_to_float32(device):
    model = _model(device)
    x = (_tokens((4, 12), device),)
    plain = _lm_loss(model, x)
    low = autocast_loss(_lm_loss, torch.bfloat16)(model, x)
    assert low.dtype == torch.float32 and low.shape == plain.shape
    assert not torch.equal(low, plain)  # autocast did something
    torch.testing.assert_close(low, plain, rtol=0.05, atol=0.05)  # bf16 has an 8-bit mantissa
    assert autocast_loss(_lm_loss, None) is _lm_loss


def _trained(device, steps: int = 150) -> tuple[AttnOnlyTransformer, torch.Tensor]:
    """A tiny model trained on repeated random tokens (a minimum for SGLD to sit at)."""
    g = torch.Generator().manual_seed(0)
    data = repeated_random_tokens(256, 6, torch.arange(1, TINY.vocab_size), g).to(device)  # (256, 12)
    model = _model(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        loss = per_token_loss(model, data[(torch.arange(32) + 32 * step) % len(data)]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, data


@pytest.mark.slow
def test_bf16_llc_and_chi_agree_with_float32_within_monte_carlo_error(device):
    """Known answer: bf16 autocast changes λ̂ and per-head χ by less than their Monte Carlo error.

    Same seeds in both precisions (the same minibatches and noise), several seeds: for every seed the
    difference of λ̂ is compared with the combined standard error over chains, and χ token by token
    with its standard error."""
    model, data = _trained(device)
    cfg = SGLDConfig(step_size=1e-3, nbeta=10.0, gamma=100.0, num_chains=4, num_draws=60, num_burnin=30, batch_size=16)
    z = []
    for seed in range(4):
        est = [llc(sample(model, autocast_loss(_lm_loss, dt), (data,), config=cfg, probe=False, seed=seed, progress=False))
               for dt in (None, torch.bfloat16)]
        z.append((est[1].mean - est[0].mean) / (est[0].std_err ** 2 + est[1].std_err ** 2) ** 0.5)
    print(f"λ̂ fp32 {est[0].mean:.3f} ± {est[0].std_err:.3f}, bf16 {est[1].mean:.3f} ± {est[1].std_err:.3f} (last seed); "
          f"(bf16 - fp32)/s.e. per seed {[round(v, 3) for v in z]}")
    assert max(abs(v) for v in z) < 2.0, f"λ̂ bf16 - fp32 over the combined s.e., per seed: {z}"
    hcfg = replace(cfg, num_chains=3, num_draws=40, num_burnin=20)
    chi = [head_susceptibilities(model, data[:128], data[128:132], data[132:148], config=hcfg, seed=0, progress=False, dtype=dt)
           for dt in (None, torch.bfloat16)]
    dz = (chi[1].chi - chi[0].chi) / (chi[0].std_err ** 2 + chi[1].std_err ** 2).sqrt()  # (heads, B, T-1)
    print(f"χ (bf16 - fp32)/s.e.: median |z| {float(dz.abs().median()):.3f}, max |z| {float(dz.abs().max()):.3f}, "
          f"median |χ|/s.e. {float((chi[0].chi.abs() / chi[0].std_err).median()):.2f}")
    assert float(dz.abs().median()) < 0.5 and float((dz.abs() > 3).float().mean()) < 0.01, \
        f"χ bf16 - fp32 over the combined s.e.: median |z| {float(dz.abs().median()):.3f}"


def test_linear_scores_and_susceptibilities_stay_on_the_device(device):
    """linear_scores evaluates w* ± εv as two chains of one chain-stacked pass (no fresh CPU model);
    the results live on the model's device and equal the CPU's."""
    from patterning_core.lm.heads import leading_order_response, linear_scores, linear_susceptibilities

    x = _tokens((6, 12), "cpu")
    out = {}
    for dev in ("cpu", device):
        model = _model(dev)
        resp = leading_order_response(model, x[:2].to(dev), nbeta=10.0, gamma=100.0, n=100)
        u = torch.tensor([1.0, 0.0, -0.5, 0.0, 2.0, 0.0], dtype=torch.float64, device=dev)
        out[dev] = (linear_scores(model, resp, u, x[2:].to(dev)), linear_susceptibilities(model, resp, x[2:].to(dev)))
        assert all(t.device.type == torch.device(dev).type for t in (*out[dev], resp.cov, resp.mu))
    for a, b in zip(out["cpu"], out[device]):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-3, atol=1e-6 * float(a.abs().max()))
