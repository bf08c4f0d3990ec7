r"""Per-head susceptibilities of a language model: one observable per attention head.

For head :math:`c` the SGLD chains move only that head's weights (:math:`W_Q, W_K, W_V, W_O` and its
biases; every other weight stays at :math:`w^*`), and the observable is the mean next-token loss on
a fixed set of *observable* sequences, :math:`\phi_c(w) = L_{\rm obs}(w)`. Its response to the
weight of probe token :math:`i` is

.. math::
    \chi_{c,i} = -\beta_{\rm eff}\,\mathrm{Cov}_{c}\big[\phi_c,\ \ell_i - L\big],

with the covariance under the posterior restricted to head :math:`c` (Baker et al. 2025, "Structural
inference"; Wang & Murfet 2026, §3: the per-component susceptibilities of the patterning paper).
A negative :math:`\chi_{c,i}` means that up-weighting token :math:`i` lowers the head's loss
contribution, i.e. token :math:`i` "uses" the head.

All heads are sampled in **one** vectorized run: the chains are grouped head by head
(``chains_per_head`` each) and each chain carries its own boolean restriction mask, so the cost
is one batched forward/backward per step for every head at once. The observable set is fixed (not
the SGLD minibatch), so minibatch noise does not enter the covariance.

**Scoring many samples.** Recording every training token's loss at every draw costs one forward
pass over the training set per chain and draw. For a re-weighting of *all* training sequences
along a direction :math:`u` over heads we use the linear response of the per-sample loss instead:
with :math:`\ell_s(w) \approx \ell_s(w^*) + \nabla\ell_s\cdot(w - w^*)`,

.. math::
    \sum_c u_c\,\chi_{c,s} \approx -\beta_{\rm eff}\,\nabla\ell_s(w^*)\cdot v,
    \qquad v = \sum_c u_c\,\mathrm{Cov}_c[\phi_c,\ w_c],

one parameter-space vector :math:`v` (each head's block holds :math:`u_c` times that head's
observable–weight covariance, estimated from the same chains) and one Jacobian-vector product per
sample (:func:`head_param_covariance`, :func:`linear_scores`). It drops the curvature of
:math:`\ell_s` within the posterior's width; check it against the exact estimator on a probe.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torch.func import functional_call, vmap

from .model import AttnOnlyTransformer, autocast_loss, head_param_masks, per_token_loss
from ..sgld import SGLDConfig, sample
from ..susceptibility import susceptibilities


@dataclass(frozen=True)
class HeadSusceptibilities:
    chi: Tensor  # (heads, B, T-1) χ of each probe token's loss (entry t predicts token t+1)
    std_err: Tensor  # (heads, B, T-1) standard error over the head's chains
    mu: Tensor  # (heads,) posterior mean of each head's observable
    heads: tuple[tuple[int, int], ...]  # (layer, head) of each row
    beta_eff: float  # β in χ = -β Cov[φ, ℓ - L]
    probe_tokens: Tensor  # (B, T) the probe sequences

    @property
    def labels(self) -> list[str]:
        return [f"{l}.{h}" for l, h in self.heads]

    def matrix(self) -> Tensor:
        """χ as a (heads, tokens) matrix, tokens in row-major (sequence, position) order."""
        return self.chi.reshape(len(self.heads), -1)


HEAD_PARAMS = ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V")  # a head's slice of each, along dim 0
EVAL_CHUNK = 64  # contexts per chunk of the no-gradient passes (anchor loss, probe losses)


def _obs_loss(model: AttnOnlyTransformer, obs_tokens: Tensor, dtype: torch.dtype | None = None):
    """φ(stacked) = each chain's mean next-token loss on ``obs_tokens``, ``(chains, 1)``: one call of the
    chain-stacked model (``model.chain_batched``), else ``vmap`` over chains; under autocast in ``dtype``."""
    buffers = dict(model.named_buffers())
    loss = autocast_loss(lambda f, batch: per_token_loss(f, batch[0]), dtype)

    def mean_loss(params):  # (chains,) from stacked params, or () from one chain's
        return loss(lambda t: functional_call(model, (params, buffers), (t,)), (obs_tokens,)).mean((-2, -1))

    if model.chain_batched:
        return lambda stacked: mean_loss(stacked)[:, None]  # (chains, 1)
    return lambda stacked: vmap(mean_loss)(stacked)[:, None]  # (chains, 1)


def _lm_loss(model_fn, batch: tuple[Tensor]) -> Tensor:
    return per_token_loss(model_fn, batch[0])  # (B, T-1): averaged for L, flattened for probes


def _device(model: AttnOnlyTransformer) -> torch.device:
    return model.W_E.device


def _heads(model: AttnOnlyTransformer) -> tuple[tuple[int, int], ...]:
    """Every (layer, head), layer-major: the row order of all per-head results."""
    return tuple((l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads))


def _chain_layout(model: AttnOnlyTransformer, per_head: int):
    heads = _heads(model)
    groups = torch.arange(len(heads), device=_device(model)).repeat_interleave(per_head)  # (chains,)
    masks = [head_param_masks(model, l, h) for l, h in heads]
    restrict = {n: torch.stack([masks[g][n] for g in groups.tolist()]) for n, _ in model.named_parameters()}  # (chains, *shape)
    return heads, groups, restrict


def head_susceptibilities(
    model: AttnOnlyTransformer,
    sgld_tokens: Tensor,
    probe_tokens: Tensor,
    obs_tokens: Tensor,
    *,
    config: SGLDConfig,
    chains_per_head: int | None = None,
    seed: int = 0,
    eval_batch_size: int = EVAL_CHUNK,
    progress: bool = True,
    dtype: torch.dtype | None = None,
) -> HeadSusceptibilities:
    """χ of every attention head against every probe token, from one chain-batched SGLD run.

    Args:
        model: the network at :math:`w^*` (an :class:`AttnOnlyTransformer`).
        sgld_tokens: ``(n, T)`` contexts the posterior is built on (minibatches of
            ``config.batch_size``).
        probe_tokens: ``(B, T_p)`` contexts whose per-token losses are recorded at every draw.
        obs_tokens: ``(m, T_o)`` fixed contexts whose mean loss is each head's observable.
        config: SGLD settings; ``num_chains`` is the number of chains *per head* unless
            ``chains_per_head`` is given.
        eval_batch_size: contexts per chunk of the anchor-loss and probe passes (memory).
        dtype: ``torch.bfloat16`` runs every forward pass under autocast (:func:`~.model.autocast_loss`;
            losses, updates and statistics stay float32); ``None``: float32 throughout.
    """
    for name, t in (("sgld_tokens", sgld_tokens), ("probe_tokens", probe_tokens), ("obs_tokens", obs_tokens)):
        if t.dim() != 2 or t.dtype != torch.long:
            raise ValueError(f"{name} must be a (B, T) int64 tensor, got {tuple(t.shape)} {t.dtype}")
    heads, groups, restrict = _chain_layout(model, chains_per_head or config.num_chains)
    s = sample(model, autocast_loss(_lm_loss, dtype), (sgld_tokens,), config=replace(config, num_chains=len(groups)),
               observables=_obs_loss(model, obs_tokens, dtype),
               probe=(probe_tokens,), restrict=restrict, seed=seed, eval_batch_size=eval_batch_size, progress=progress,
               keep_obs_traces=False)
    sus = susceptibilities(s, groups=groups)
    shape = (len(heads), probe_tokens.shape[0], probe_tokens.shape[1] - 1)
    return HeadSusceptibilities(sus.chi.reshape(shape), sus.std_err.reshape(shape), sus.mu, heads, s.beta_eff, probe_tokens)


def _head_block(params: dict[str, Tensor], layer: int, head: int) -> Tensor:
    """One head's weights, flattened: ``(P_head,)``; with a leading chain dim use :func:`_head_blocks`."""
    return torch.cat([params[f"blocks.{layer}.attn.{n}"][head].reshape(-1) for n in HEAD_PARAMS])


def _head_blocks(stacked: dict[str, Tensor], heads: tuple[tuple[int, int], ...], groups: Tensor) -> Tensor:
    """Each chain's own head block, ``(chains, P_head)`` (all heads have the same shapes)."""
    device = groups.device
    layer = torch.tensor([heads[g][0] for g in groups.tolist()], device=device)  # (chains,)
    head = torch.tensor([heads[g][1] for g in groups.tolist()], device=device)  # (chains,)
    ar = torch.arange(len(groups), device=device)
    out = None
    for l in sorted(set(layer.tolist())):
        blk = torch.cat([stacked[f"blocks.{l}.attn.{n}"][ar, head].reshape(len(ar), -1) for n in HEAD_PARAMS], 1)  # (chains, P)
        out = blk if out is None else torch.where((layer == l)[:, None], blk, out)
    return out


@dataclass(frozen=True)
class HeadResponse:
    cov: Tensor  # (heads, P_head) Cov_c[φ_c, w_c] of each head's observable with its own weights
    mu: Tensor  # (heads,) posterior mean of each head's observable
    heads: tuple[tuple[int, int], ...]  # (layer, head) of each row
    beta_eff: float  # β in χ = -β Cov[φ, ℓ - L]


def head_param_covariance(
    model: AttnOnlyTransformer,
    sgld_tokens: Tensor,
    obs_tokens: Tensor,
    *,
    config: SGLDConfig,
    seed: int = 0,
    progress: bool = True,
    dtype: torch.dtype | None = None,
) -> HeadResponse:
    r""":math:`\mathrm{Cov}_c[\phi_c, w_c]` for every head ``c``, from the same chains as
    :func:`head_susceptibilities` with the same ``config``, ``seed`` and ``dtype`` (the probe does not
    change the chains). ``config.num_chains`` is per head."""
    heads, groups, restrict = _chain_layout(model, config.num_chains)
    obs = _obs_loss(model, obs_tokens, dtype)

    def phi_and_block(stacked):
        return torch.cat([obs(stacked), _head_blocks(stacked, heads, groups)], 1)  # (chains, 1 + P_head)

    s = sample(model, autocast_loss(_lm_loss, dtype), (sgld_tokens,), config=replace(config, num_chains=len(groups)), observables=phi_and_block,
               probe=False, restrict=restrict, seed=seed, progress=progress, eval_batch_size=EVAL_CHUNK)
    tr = s.obs_trace.double()  # (chains, draws, 1 + P_head)
    covs, mus = [], []
    for g in range(len(heads)):
        x = tr[groups == g].reshape(-1, tr.shape[-1])  # (chains_g * draws, 1 + P_head), pooled
        x = x - x.mean(0)
        covs.append((x[:, 0:1] * x[:, 1:]).mean(0))
        mus.append(tr[groups == g][..., 0].mean())
    return HeadResponse(torch.stack(covs), torch.stack(mus), heads, s.beta_eff)


def _tangent(model: AttnOnlyTransformer, response: HeadResponse, direction: Tensor) -> dict[str, Tensor]:
    """The parameter-space vector :math:`v = \\sum_c u_c\\,\\mathrm{Cov}_c[\\phi_c, w_c]` as a parameter dict."""
    tangent = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
    for (l, h), u, c in zip(response.heads, direction.tolist(), response.cov):
        off = 0
        for n in HEAD_PARAMS:
            t = tangent[f"blocks.{l}.attn.{n}"][h]
            t.copy_((u * c[off: off + t.numel()]).reshape(t.shape).to(t.dtype))
            off += t.numel()
    return tangent


def _directional(model: AttnOnlyTransformer, tangent: dict[str, Tensor], tokens: Tensor, chunk: int) -> Tensor:
    """:math:`\\nabla\\ell_{b,t}(w^*)\\cdot v` for every next-token loss of ``tokens``, ``(B, T-1)``."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    out = []
    for x in tokens.split(chunk):
        f = lambda p: per_token_loss(lambda t: functional_call(model, (p, buffers), (t,)), x)  # noqa: E731
        out.append(torch.func.jvp(f, (params,), (tangent,))[1].detach())
    return torch.cat(out)


def linear_scores(
    model: AttnOnlyTransformer, response: HeadResponse, direction: Tensor, tokens: Tensor, *, chunk: int = EVAL_CHUNK,
    rel_step: float = 1e-3,
) -> Tensor:
    r""":math:`-\beta_{\rm eff}\,\nabla\ell_s(w^*)\cdot v` for every sequence ``s`` of ``tokens`` ``(N, T)``,
    :math:`v = \sum_c u_c\,\mathrm{Cov}_c[\phi_c, w_c]`, ``u = direction`` ``(heads,)``; ``ℓ_s`` is the
    sequence's mean next-token loss. Approximates :math:`\sum_c u_c \chi_{c,s}` (module docstring). ``(N,)``.

    Evaluated as a central difference :math:`[\ell_s(w^* + \epsilon v) - \ell_s(w^* - \epsilon v)]/2\epsilon`
    with :math:`\epsilon\max|v| =` ``rel_step`` :math:`\cdot\max|w^*|`: two gradient-free forward passes
    (fused attention) instead of a Jacobian-vector product, so many sequences are cheap."""
    if direction.shape != (len(response.heads),):
        raise ValueError(f"direction must have shape ({len(response.heads)},), got {tuple(direction.shape)}")
    v = _tangent(model, response, direction)
    vmax = max(float(t.abs().max()) for t in v.values())
    if vmax == 0:
        return torch.zeros(len(tokens), dtype=torch.float64, device=tokens.device)
    wmax = max(float(p.detach().abs().max()) for p in model.parameters())
    eps = rel_step * wmax / vmax
    pm = {k: torch.stack([p.detach() + eps * v[k], p.detach() - eps * v[k]]) for k, p in model.named_parameters()}  # (2, *shape): w* ± εv
    buffers = dict(model.named_buffers())
    with torch.no_grad():  # both shifts as two chains of one chain-stacked (fused-attention) pass
        shifted = torch.cat([per_token_loss(lambda t: functional_call(model, (pm, buffers), (t,)), x).double().mean(-1)
                             for x in tokens.split(chunk)], dim=1)  # (2, N)
    return -response.beta_eff * (shifted[0] - shifted[1]) / (2 * eps)


def leading_order_response(model: AttnOnlyTransformer, obs_tokens: Tensor, *, nbeta: float, gamma: float, n: int) -> HeadResponse:
    r"""The localization-dominated limit of :func:`head_param_covariance`, without sampling.

    When :math:`\gamma` dominates the posterior's curvature in head :math:`c`'s weights
    (:math:`n\beta\,\lVert H_c\rVert \ll \gamma`), the restricted posterior is close to
    :math:`\mathcal N(w^*_c, \gamma^{-1}I)` and :math:`\mathrm{Cov}_c[\phi_c, w_c] \to \nabla_c\phi_c(w^*)/\gamma`, so
    :math:`\chi_{c,i} \to -\frac{\beta}{\gamma}\,\nabla_c\phi_c\cdot\nabla_c\ell_i` — the leading term of the
    susceptibility, a gradient inner product within each head. ``beta_eff = nbeta / n``."""
    model.zero_grad(set_to_none=True)
    per_token_loss(model, obs_tokens).mean().backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    heads = _heads(model)
    cov = torch.stack([_head_block(grads, l, h).double() / gamma for l, h in heads])
    return HeadResponse(cov, torch.full((len(heads),), float("nan"), dtype=torch.float64, device=cov.device), heads, nbeta / n)


def linear_susceptibilities(model: AttnOnlyTransformer, response: HeadResponse, tokens: Tensor, *, chunk: int = EVAL_CHUNK) -> Tensor:
    r"""The linear-response :math:`\chi_{c,i} \approx -\beta_{\rm eff}\,\nabla\ell_i(w^*)\cdot\mathrm{Cov}_c[\phi_c, w_c]`
    of every head against every next-token loss of ``tokens`` ``(B, T)``: ``(heads, B, T-1)``, one
    Jacobian-vector product per head (module docstring)."""
    eye = torch.eye(len(response.heads), dtype=torch.float64, device=response.cov.device)
    return torch.stack([-response.beta_eff * _directional(model, _tangent(model, response, e), tokens, chunk) for e in eye])
