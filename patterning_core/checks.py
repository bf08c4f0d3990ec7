"""Argument checks shared by the core: each refuses one kind of bad input with a message that
names the argument and the problem (and, where there is one, the fix).

They run once, before any loop; none of them is called per step.
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn


def check_number(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> None:
    """``value`` is a finite real Python/NumPy number (not a bool), > 0 or >= 0 if asked."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_int(name: str, value, *, low: int = 0) -> None:
    """``value`` is an integer (not a bool, not a float such as 2.5 or 2.0) and ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def check_tensor(name: str, value) -> Tensor:
    """``value`` is a ``torch.Tensor`` (a list or an array is refused by name, not by a missing attribute)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_finite(name: str, t: Tensor, hint: str = "") -> None:
    """Refuse a floating tensor with NaN or inf entries, saying how many (integer tensors pass)."""
    if not (t.is_floating_point() or t.is_complex()):
        return
    bad = ~torch.isfinite(t)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} NaN or inf entries (of {t.numel()}){': ' + hint if hint else ''}")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters; refuses a model without parameters or on ``meta``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    p = next(model.parameters(), None)
    if p is None:
        raise ValueError(f"model ({type(model).__name__}) has no parameters: there is nothing to sample or train")
    if p.device.type == "meta":
        raise ValueError(f"model ({type(model).__name__}) is on the meta device (shapes only, no values): "
                         "materialize it first, e.g. model.to_empty(device='cpu') and load its weights")
    return p.device
