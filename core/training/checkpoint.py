"""Checkpoint files: written atomically, read without running code, errors that name the file.

A checkpoint is a ``torch.save`` of a dict built only from tensors, dicts, lists, tuples, numbers,
strings, booleans and None, so it loads with ``torch.load(..., weights_only=True)``: a crafted file
(a pickle whose ``__reduce__`` calls ``os.system``, say) is refused instead of executed. RNG states
and normalisation statistics are converted to such types by :mod:`core.training.rng` and
:class:`core.training.normalize.Normalizer`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from core.atomic_io import atomic_write_with


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read: missing, truncated, not a checkpoint, or unsafe."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        super().__init__(f"cannot read checkpoint {self.path}: {reason}")


def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (the file is whole or absent, never half written)."""
    atomic_write_with(path, lambda tmp: torch.save(dict(payload), tmp))


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a checkpoint on the CPU with ``weights_only=True``; any failure raises :class:`CheckpointError`.

    ``required``: keys the caller needs; a checkpoint without one of them is reported as not one of ours.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "the file does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, garbage bytes, a pickle with forbidden globals, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = f"it holds objects other than tensors and plain data, refused for safety ({reason})"
        elif isinstance(exc, EOFError) or "zip" in str(exc).lower() or "central directory" in str(exc):
            reason = f"the file is truncated or not a torch checkpoint ({type(exc).__name__}: {reason})"
        else:
            reason = f"{type(exc).__name__}: {reason}"
        raise CheckpointError(path, reason) from exc
    if not isinstance(payload, dict):
        raise CheckpointError(path, f"expected a dict, found {type(payload).__name__}")
    missing = [key for key in required if key not in payload]
    if missing:
        raise CheckpointError(path, f"keys {missing} are missing: not a checkpoint of this kind of run")
    return payload
