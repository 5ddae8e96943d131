"""Seed ensembles: n copies of a model from consecutive seeds, trained side by side and averaged.

Each member sees the same batches but has its own loss (the mean of the members' losses is
minimised, and the members share no weights, so each gets exactly the gradient of its own loss):
the classic seed ensemble of Kratzert et al. (2019, HESS 23, 5089-5110), in one process. Predictions,
evaporation and reported parameters are member means.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class Ensemble(nn.Module):
    """``forward(x, z, warmup, basin)`` of every member -> means, plus ``q_members [n, T, B]``."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 1:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.kind = getattr(members[0], "kind", "ensemble")

    def forward(self, x: torch.Tensor, z: torch.Tensor, warmup: int,
                basin: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        outs = [m(x, z, warmup, basin) for m in self.members]
        merged = {key: torch.stack([o[key] for o in outs]).mean(0) for key in outs[0]}
        merged["q_members"] = torch.stack([o["q"] for o in outs])
        return merged


def member_loss_inputs(out: dict[str, torch.Tensor], y: torch.Tensor,
                       q_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(q, y, q_std)`` for the training loss: the members side by side along the batch axis
    (``[T, n B]``), so an element-wise mean loss is the mean of the members' losses; a single model
    passes through unchanged."""
    members = out.get("q_members")
    if members is None:
        return out["q"], y, q_std
    n = members.shape[0]
    q = members.permute(1, 0, 2).reshape(members.shape[1], -1)
    return q, y.repeat(1, n), q_std.repeat(n)
