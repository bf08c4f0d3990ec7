r"""Patterning the induction circuit: per-sequence weights along a susceptibility mode, and
retraining under several weightings from one checkpoint (chapter 5; Wang & Murfet 2026, §3).

The weights come from a *score* per training sequence, :math:`z_s` (e.g. the sequence's loading on
PC2 of the per-head susceptibility matrix, :func:`~patterning_core.lm.heads.linear_scores`):

.. math::
    h_s \propto \exp(\sigma\, z_s / \mathrm{sd}(z)), \qquad h_s \in [1/r, r],\quad \tfrac1N\textstyle\sum_s h_s = 1,

so :math:`\sigma > 0` up-weights the sequences that load positively on the mode ("Induce") and
:math:`\sigma < 0` those that load negatively ("Repress"); :math:`r` caps the ratio (the paper's
weights reach 4×). All weightings are trained as one seed-batched computation from the same
parameters, the same optimizer state and the same minibatches, so they differ only by the weights.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Sequence

import torch
from torch import Tensor

from ..devices import check_device
from .induction import formation_step, measure_induction
from .model import AttnOnlyTransformer, per_token_loss
from ..training import TrainConfig, train


def sequence_weights(scores: Tensor, strength: float, max_ratio: float = 4.0) -> Tensor:
    """Mean-one weights :math:`h_s \\propto e^{\\sigma z_s/\\mathrm{sd}(z)}` clipped to ``[1/max_ratio, max_ratio]``, ``(N,)``."""
    if scores.dim() != 1 or len(scores) < 2:
        raise ValueError(f"scores must be (N,) with N >= 2, got {tuple(scores.shape)}")
    if max_ratio < 1:
        raise ValueError(f"max_ratio must be >= 1, got {max_ratio}")
    z = (scores - scores.mean()) / scores.std().clamp_min(1e-30)
    h = torch.exp(strength * z.double())
    for _ in range(20):  # clip and renormalize until both hold
        h = (h / h.mean()).clamp(1 / max_ratio, max_ratio)
    return (h / h.mean()).to(scores.dtype)


def optimizer_state_by_name(model: AttnOnlyTransformer, state_dict: dict) -> dict[str, dict[str, Tensor]]:
    """A ``torch.optim`` state dict (params in ``model.parameters()`` order) keyed by parameter name."""
    names = [n for n, _ in model.named_parameters()]
    order = state_dict["param_groups"][0]["params"]
    if len(order) != len(names):
        raise ValueError(f"optimizer state has {len(order)} parameters, the model {len(names)}")
    return {names[i]: state_dict["state"][pid] for i, pid in enumerate(order)}


@dataclass(frozen=True)
class Retraining:
    names: tuple[str, ...]  # one per weighting ("Baseline", "Induce", ...)
    steps: Tensor  # (E,) evaluation steps, counted from the start checkpoint
    prefix_matching: Tensor  # (conditions, E, L, H) prefix-matching score of every head
    loss_drop: Tensor  # (conditions, E) in-context loss drop on the repeated-token probe (nats)
    train_loss: Tensor  # (conditions, logged) weighted training loss

    @property
    def best_l1(self) -> Tensor:
        """(conditions, E) best last-layer prefix-matching score."""
        return self.prefix_matching[:, :, -1].amax(-1)

    def formation_steps(self, threshold: float) -> list[int | None]:
        """First evaluation step at which the best last-layer head reaches ``threshold`` (None: never)."""
        return [formation_step(self.steps.tolist(), row.tolist(), threshold) for row in self.best_l1]


def retrain(
    model: AttnOnlyTransformer,
    tokens: Tensor,
    weights: Tensor,
    names: Sequence[str],
    induction_probe: Tensor,
    *,
    config: TrainConfig,
    optimizer_state: dict[str, dict[str, Tensor]] | None = None,
    eval_every: int = 100,
    seed: int = 0,
    progress: bool = True,
) -> Retraining:
    """Train copies of ``model`` under each row of ``weights`` ``(conditions, N)`` on ``tokens`` ``(N, T)``
    and measure induction on ``induction_probe`` ``(B, 2M)`` every ``eval_every`` steps.

    All conditions start from the model's parameters and ``optimizer_state`` and draw the same
    minibatches (``config.shared_batches`` is forced on). Everything runs on the model's device, where
    ``tokens``, ``weights`` and ``induction_probe`` must live."""
    device = next(model.parameters()).device
    for what, t in (("tokens", tokens), ("weights", weights), ("induction_probe", induction_probe)):
        check_device(what, t.device, device)
    if weights.dim() != 2 or weights.shape != (len(names), len(tokens)):
        raise ValueError(f"weights must be (conditions, N) = ({len(names)}, {len(tokens)}), got {tuple(weights.shape)}")
    cfg = replace(config, shared_batches=True)
    params = {k: v.detach()[None].expand(len(names), *v.shape).clone() for k, v in model.named_parameters()}
    r = train(model, lambda f, b: per_token_loss(f, b[0]).mean(-1), (tokens,), config=cfg, params=params, weights=weights,
              seed=seed, checkpoint_every=eval_every, optimizer_state=optimizer_state, progress=progress)
    scratch = copy.deepcopy(model)  # on the model's device; each checkpoint is loaded into it
    pm, drop = [], []
    for c in range(len(names)):
        pm_c, drop_c = [], []
        for _, p in r.checkpoints:
            scratch.load_state_dict({k: v[c] for k, v in p.items()}, strict=False)
            m = measure_induction(scratch.run_with_patterns, induction_probe)
            pm_c.append(m.prefix_matching)
            drop_c.append(m.loss_drop)
        pm.append(torch.stack(pm_c))
        drop.append(torch.tensor(drop_c))
    steps = torch.tensor([s for s, _ in r.checkpoints])
    return Retraining(tuple(names), steps, torch.stack(pm), torch.stack(drop), r.loss_trace)
