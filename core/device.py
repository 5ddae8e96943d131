"""Choice of the torch device training runs on."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Return the device for ``name``: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.

    Raises ``ValueError`` when CUDA is asked for and none is available.
    """
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but no CUDA GPU is available on this machine")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}: use 'auto', 'cpu' or 'cuda[:N]'")
    return torch.device(name)


def describe_device(device: torch.device | None = None) -> str:
    """Human-readable name of the device training will use, e.g. ``"CPU (2 threads)"`` or the GPU name."""
    device = device or resolve_device("auto")
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"
