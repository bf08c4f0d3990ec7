"""Where tensors live: choosing a device, and refusing to mix devices.

Every function of the library computes on the device of the model's parameters; the data,
weights, probes and generators a caller hands over must live there too. :func:`resolve_device`
turns a chapter's ``device`` parameter (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...)
into a :class:`torch.device`; :func:`check_device` raises a :class:`DeviceMismatchError` that
names both devices instead of PyTorch's "Expected all tensors to be on the same device".
"""
from __future__ import annotations

import torch


class DeviceMismatchError(ValueError):
    """An input lives on another device than the model (the message names both)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: ``cuda`` when a CUDA device is available, else ``cpu``; anything else as given.

    Raises ``ValueError`` for a CUDA device when none is available (rather than failing later
    inside the first kernel).
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(dev)!r} was asked for, but torch.cuda.is_available() is False here")
    return dev


def _canonical(device: torch.device) -> torch.device:
    """``cuda`` without an index is the current CUDA device."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def check_device(what: str, device: torch.device, expected: torch.device, expected_what: str = "the model") -> None:
    """Raise :class:`DeviceMismatchError` naming both devices unless ``device`` is ``expected``.

    Example: ``check_device("data[0]", x.device, model_device)`` ->
    ``data[0] is on cpu but the model is on cuda:0: move it with .to('cuda:0')``.
    """
    device, expected = torch.device(device), torch.device(expected)
    if _canonical(device) != _canonical(expected):
        raise DeviceMismatchError(
            f"{what} is on {device} but {expected_what} is on {expected}: move it with .to({str(expected)!r})"
        )
