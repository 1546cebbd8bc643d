"""Choosing the torch device: cuda, mps or cpu, and never a silent fallback."""

from __future__ import annotations

import torch

from .errors import InputError

DEVICE_KINDS = ("cuda", "mps", "cpu")


def best_device() -> torch.device:
    """CUDA if present, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to run on; ``None`` picks the best available one.

    A device that was asked for but is not available raises :class:`InputError`
    instead of silently running elsewhere.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() in ("", "auto")):
        return best_device()
    try:
        resolved = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; use one of {', '.join(DEVICE_KINDS)}") from None
    if resolved.type not in DEVICE_KINDS:
        raise InputError(f"unknown device {device!r}; use one of {', '.join(DEVICE_KINDS)}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                "device 'cuda' was requested but CUDA is not available here "
                f"(torch {torch.__version__}); use --device cpu, or leave --device out to pick the best device"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise InputError(
                f"device {str(resolved)!r} does not exist; this machine has "
                f"{torch.cuda.device_count()} CUDA device(s): cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    if resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError(
                "device 'mps' was requested but Apple's MPS is not available here; "
                "use --device cpu, or leave --device out to pick the best device"
            )
    return resolved
