"""Masked losses for rain maps: weighted MSE and log-cosh.

Both take predictions and observations of the same shape ``[B, 1, H, W]`` (or any broadcastable
shape) in the model's normalised rain space, plus a boolean ``mask`` ``[H, W]`` that is True on the
pixels that count (region 1). Pixels outside the mask, and pixels whose observation is NaN, contribute neither to the value nor to the
gradient, which is what lets experiment 2 see region 2 without being scored on it.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from core.registry import Registry

LOSSES: Registry[Callable[..., torch.Tensor]] = Registry("loss")
"""The rain losses by config name (``train.loss``): ``loss(pred, obs, mask=None, alpha=...) -> scalar``."""


def _keep(obs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Pixels that count: inside ``mask`` and observed (NaN obs, e.g. radar no-data, never count)."""
    keep = torch.isfinite(obs)
    if mask is not None:
        keep = keep & mask.to(device=obs.device, dtype=torch.bool).expand_as(obs)
    return keep


def _masked_mean(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    # select rather than multiply, so nothing outside the mask can reach the value or the gradient
    return torch.where(keep, values, torch.zeros_like(values)).sum() / keep.sum().clamp(min=1)


@LOSSES.register("weighted_mse")
def weighted_mse(pred: torch.Tensor, obs: torch.Tensor, mask: torch.Tensor | None = None, alpha: float = 1.0) -> torch.Tensor:
    """``mean((pred - obs)^2 * (1 + alpha * obs))`` over the masked pixels.

    ``alpha`` >= 0 weights heavy rain more, so the model does not settle for a blurred mean (seed,
    section 4.2). ``obs`` is the normalised target (non-negative), so the weight is in those units.
    """
    pred = pred.float()
    obs = obs.float().expand_as(pred)
    keep = _keep(obs, mask)
    # pixels that do not count are zeroed before the arithmetic: 0 * NaN in the backward pass would
    # still be NaN, so a NaN observation or a wild region-2 prediction must never enter it
    obs = torch.where(keep, obs, torch.zeros_like(obs))
    pred = torch.where(keep, pred, torch.zeros_like(pred))
    return _masked_mean((pred - obs) ** 2 * (1.0 + alpha * obs), keep)


@LOSSES.register("log_cosh")
def log_cosh(pred: torch.Tensor, obs: torch.Tensor, mask: torch.Tensor | None = None, alpha: float = 0.0) -> torch.Tensor:
    """``mean(log(cosh(pred - obs)))`` over the masked pixels (quadratic near 0, linear for large errors).

    Computed as ``|d| + softplus(-2|d|) - log 2``, which does not overflow for large ``d``.
    ``alpha`` is accepted for a uniform signature and ignored.
    """
    pred = pred.float()
    obs = obs.float().expand_as(pred)
    keep = _keep(obs, mask)
    obs = torch.where(keep, obs, torch.zeros_like(obs))
    pred = torch.where(keep, pred, torch.zeros_like(pred))
    d = (pred - obs).abs()
    return _masked_mean(d + torch.nn.functional.softplus(-2.0 * d) - math.log(2.0), keep)


def get_loss(name: str) -> Callable[..., torch.Tensor]:
    """The loss function called ``name`` (one of :data:`LOSSES`)."""
    return LOSSES.get(name)
