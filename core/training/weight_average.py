"""Exponential moving average of a model's weights (Polyak averaging), shared by both halves.

Training steps move the raw weights; after each optimizer step the average moves towards them,
``average <- decay * average + (1 - decay) * raw``. Validation, the kept checkpoint and evaluation
use the average: on small, noisy data sets (25 basins) single steps make the validation loss jump
from epoch to epoch, and the average follows the trend instead of the last step. With ``decay`` d
the average spans about ``1 / (1 - d)`` steps (0.98: about one 50-iteration epoch).

Only floating-point parameters and buffers are averaged; integer buffers (counters) are copied.
The averaged state dict is what a checkpoint keeps as ``model``; :meth:`WeightAverage.load_state_dict`
takes it back, so that a resumed run continues the same average.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


class WeightAverage:
    """An exponential moving average of ``model``'s floating-point state, ``decay`` in (0, 1)."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight average: decay must be in (0, 1), got {decay}")
        self.model = model
        self.decay = float(decay)
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the current weights (call after every optimizer step)."""
        current = self.model.state_dict()
        for key, avg in self.average.items():
            avg.lerp_(current[key], 1.0 - self.decay)

    def averaged_state_dict(self) -> dict[str, torch.Tensor]:
        """The model's state dict with the averaged tensors in place of the raw ones."""
        return {k: (self.average[k].clone() if k in self.average else v) for k, v in self.model.state_dict().items()}

    @contextlib.contextmanager
    def applied(self) -> Iterator[nn.Module]:
        """The model with the averaged weights inside the block, its raw weights restored after."""
        raw = {k: v.detach().clone() for k, v in self.model.state_dict().items() if k in self.average}
        self.model.load_state_dict(self.averaged_state_dict())
        try:
            yield self.model
        finally:
            self.model.load_state_dict({**self.model.state_dict(), **raw})

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Take the average from an averaged state dict (integer entries, not averaged, are ignored)."""
        missing = set(self.average) - set(state)
        if missing:
            raise ValueError(f"weight average: checkpoint does not match the model (keys {sorted(missing)[:5]})")
        for key, avg in self.average.items():
            avg.copy_(state[key])
