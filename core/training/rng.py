"""Seeding and the state of every random generator a run draws from (Python, NumPy, torch CPU, CUDA).

:func:`capture` returns the states as tensors, lists and numbers only, so they go into a checkpoint
that loads with ``weights_only=True``; :func:`restore` puts them back, so a resumed run draws the
same numbers as an uninterrupted one.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def capture() -> dict[str, Any]:
    """The current generator states in checkpoint-safe types (CUDA only when a GPU is present)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": int(version), "internal": [int(v) for v in internal], "gauss_next": gauss},
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    npy = state["numpy"]
    keys = np.asarray(npy["keys"].numpy() if torch.is_tensor(npy["keys"]) else npy["keys"], dtype=np.uint32)
    np.random.set_state((npy["name"], keys, int(npy["pos"]), int(npy["has_gauss"]), float(npy["cached_gaussian"])))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))
