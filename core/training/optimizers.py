"""Optimisers by name: ``get_optimizer(name)(params, lr=, weight_decay=) -> torch.optim.Optimizer``."""

from __future__ import annotations

from typing import Callable, Iterable

import torch

OptimizerFactory = Callable[..., torch.optim.Optimizer]

OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adamw": lambda params, lr, weight_decay: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
    "adadelta": lambda params, lr, weight_decay: torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay),
}


def get_optimizer(name: str) -> OptimizerFactory:
    try:
        return OPTIMIZERS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None
