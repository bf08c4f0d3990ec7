"""patterning_core: SGLD, LLC, susceptibilities and patterning (Wang & Murfet 2026).

One module per concept: :mod:`.sgld` (sampler), :mod:`.llc`, :mod:`.susceptibility`,
:mod:`.patterning` (step and weights), :mod:`.modes` (SVD), :mod:`.training`
(re-weighted, seed-batched training), :mod:`.loop` (the patterning controller); :mod:`.stats`
(streaming draw statistics); :mod:`.devices` (choosing a device, refusing to mix them); :mod:`.toy` (known-answer models: monomials, Gaussian); :mod:`.report`
(the claims a chapter records).

This package exports the core API only. The three model families live in their own sub-packages
and are imported by their path: :mod:`patterning_core.tms` (toy model of superposition),
:mod:`patterning_core.lm` (attention-only language model), :mod:`patterning_core.parens`
(parentheses). No core module imports a family; no family imports another.
"""
from .devices import DeviceMismatchError, check_device, resolve_device
from .llc import LLCResponse, LLCResult, llc, llc_from_losses, llc_response
from .modes import Modes, modes
from .patterning import PatterningStep, patterning_step, reweight
from .sgld import Samples, SGLDConfig, SGLDDivergenceError, sample, sgld_step
from .susceptibility import Susceptibilities, susceptibilities, susceptibilities_from_stats, susceptibilities_from_traces
from .training import LangevinResult, TrainConfig, TrainResult, init_params, langevin, train

__all__ = [
    "DeviceMismatchError", "check_device", "resolve_device",
    "LLCResponse", "LLCResult", "llc", "llc_from_losses", "llc_response", "Modes", "modes", "PatterningStep", "patterning_step", "reweight",
    "Samples", "SGLDConfig", "SGLDDivergenceError", "sample", "sgld_step", "Susceptibilities", "susceptibilities",
    "susceptibilities_from_stats", "susceptibilities_from_traces", "TrainConfig", "TrainResult", "init_params", "train", "langevin", "LangevinResult",
]
from .loop import EventTriggered, PatterningTrajectory, Periodic, Single, Target, pattern

__all__ += ["EventTriggered", "PatterningTrajectory", "Periodic", "Single", "Target", "pattern"]
