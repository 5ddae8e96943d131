"""Optimizers by config name (``train.optimizer``), shared by both halves.

Every entry of :data:`OPTIMIZERS` is ``make(params, lr, weight_decay) -> torch.optim.Optimizer``;
``get_optimizer(name)`` returns it. The first entry is the default.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from core.registry import Registry

MakeOptimizer = Callable[[Iterable[Any], float, float], torch.optim.Optimizer]
OPTIMIZERS: Registry[MakeOptimizer] = Registry("optimizer")


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable[Any], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=float(lr), weight_decay=float(weight_decay))


@OPTIMIZERS.register("adadelta")
def adadelta(params: Iterable[Any], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.Adadelta(params, lr=float(lr), weight_decay=float(weight_decay))


def get_optimizer(name: str) -> MakeOptimizer:
    """``make(params, lr, weight_decay)`` of the optimizer called ``name`` (one of :data:`OPTIMIZERS`)."""
    return OPTIMIZERS.get(name)
