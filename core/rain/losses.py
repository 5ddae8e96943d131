"""Masked losses for rain maps: pointwise (weighted MSE, weighted MAE, log-cosh) and structure terms
(soft CSI over several thresholds, soft FSS) added to the weighted MSE.

Every loss takes predictions and observations of the same shape ``[B, 1, H, W]`` (or any broadcastable
shape) in the model's normalised rain space, plus a boolean ``mask`` ``[H, W]`` that is True on the
pixels that count (region 1). Pixels outside the mask, and pixels whose observation is NaN, contribute neither to the value nor to the
gradient, which is what lets experiment 2 see region 2 without being scored on it.

The structure losses (issue 30) fight the blur a pointwise loss settles for: a forecast that never
reaches 15 mm costs nothing extra under MSE when heavy rain is rare, but it loses the whole CSI term
at 15 mm. An event "value >= threshold" is made differentiable by a sigmoid of width ``width``
(normalised rain units): ``s(x) = sigmoid((x - threshold) / width)``. ``thresholds`` are in the
normalised rain space too (the caller maps mm through the run's normaliser). Every loss has the
signature ``loss(pred, obs, mask=None, alpha=1.0, thresholds=(), weight=1.0)``; pointwise losses
ignore the last two.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from core.registry import Registry

LOSSES: Registry[Callable[..., torch.Tensor]] = Registry("loss")
"""The rain losses by config name (``train.loss``):
``loss(pred, obs, mask=None, alpha=1.0, thresholds=(), weight=1.0) -> scalar``."""
SOFT_WIDTH = 0.05  # normalised rain units (log1p(mm) / s): about 5-10 % of the rain at 5-30 mm
FSS_SCALE = 3  # pixels: the window of the soft FSS term
_EPS = 1e-6  # keeps CSI and FSS defined (1) when neither field has an event


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
def weighted_mse(pred: torch.Tensor, obs: torch.Tensor, mask: torch.Tensor | None = None, alpha: float = 1.0,
                 thresholds=(), weight: float = 1.0) -> torch.Tensor:
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
def log_cosh(pred: torch.Tensor, obs: torch.Tensor, mask: torch.Tensor | None = None, alpha: float = 0.0,
             thresholds=(), weight: float = 1.0) -> torch.Tensor:
    """``mean(log(cosh(pred - obs)))`` over the masked pixels (quadratic near 0, linear for large errors).

    Computed as ``|d| + softplus(-2|d|) - log 2``, which does not overflow for large ``d``.
    ``alpha``, ``thresholds`` and ``weight`` are accepted for a uniform signature and ignored.
    """
    pred = pred.float()
    obs = obs.float().expand_as(pred)
    keep = _keep(obs, mask)
    obs = torch.where(keep, obs, torch.zeros_like(obs))
    pred = torch.where(keep, pred, torch.zeros_like(pred))
    d = (pred - obs).abs()
    return _masked_mean(d + torch.nn.functional.softplus(-2.0 * d) - math.log(2.0), keep)


def _kept(pred: torch.Tensor, obs: torch.Tensor, mask: torch.Tensor | None):
    """``(pred, obs, keep)`` in float32, zeroed where they do not count (no NaN reaches the gradient)."""
    pred = pred.float()
    obs = obs.float().expand_as(pred)
    keep = _keep(obs, mask)
    return torch.where(keep, pred, torch.zeros_like(pred)), torch.where(keep, obs, torch.zeros_like(obs)), keep


@LOSSES.register("weighted_mae")
def weighted_mae(pred: torch.Tensor, obs: torch.Tensor, mask: torch.Tensor | None = None, alpha: float = 1.0,
                 thresholds=(), weight: float = 1.0) -> torch.Tensor:
    """``mean(|pred - obs| * (1 + alpha * obs))`` over the masked pixels.

    The median, not the mean, minimises an absolute error, so a bimodal (rain or no rain) target is
    not averaged into drizzle as readily as under MSE.
    """
    pred, obs, keep = _kept(pred, obs, mask)
    return _masked_mean((pred - obs).abs() * (1.0 + alpha * obs), keep)


def soft_csi(pred: torch.Tensor, obs: torch.Tensor, threshold: float, mask: torch.Tensor | None = None,
             width: float = SOFT_WIDTH) -> torch.Tensor:
    """Differentiable CSI of the event ``>= threshold`` over all masked pixels of the batch.

    The forecast event is ``sigmoid((pred - threshold) / width)``, the observed one is exact:
    ``hits = sum(s_p o)``, ``CSI = hits / (sum(s_p) + sum(o) - hits)`` (``hits + false alarms +
    misses`` in the denominator). 1 when neither field has an event.
    """
    pred, obs, keep = _kept(pred, obs, mask)
    k = keep.float()
    sp = torch.sigmoid((pred - threshold) / width) * k
    so = (obs >= threshold).float() * k
    hits = (sp * so).sum()
    return (hits + _EPS) / (sp.sum() + so.sum() - hits + _EPS)


def _region_box(mask: torch.Tensor | None) -> tuple[slice, slice]:
    """The rows and columns of the smallest box around ``mask`` (the whole map without one)."""
    if mask is None:
        return slice(None), slice(None)
    m = mask.to(torch.bool)
    rows, cols = torch.nonzero(m.any(dim=1)).flatten(), torch.nonzero(m.any(dim=0)).flatten()
    if rows.numel() == 0:
        return slice(0, 0), slice(0, 0)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def soft_fss(pred: torch.Tensor, obs: torch.Tensor, threshold: float, mask: torch.Tensor | None = None,
             scale: int = FSS_SCALE, width: float = SOFT_WIDTH) -> torch.Tensor:
    """Differentiable fractions skill score (Roberts and Lean 2008) of ``[B, L, H, W]`` fields.

    Computed on the box around ``mask`` (region 1), as :func:`core.metrics.fss`: event fractions
    averaged over a ``scale`` x ``scale`` window with zeros outside the box, then
    ``1 - mean((Fp - Fo)^2) / (mean(Fp^2) + mean(Fo^2))``. Unobserved pixels count as no event in
    both fields. 1 when neither field has an event.
    """
    rows, cols = _region_box(mask)
    pred, obs, keep = _kept(pred, obs, mask)
    k = keep.float()
    sp = (torch.sigmoid((pred - threshold) / width) * k)[..., rows, cols]
    so = ((obs >= threshold).float() * k)[..., rows, cols]
    h, w = sp.shape[-2:]
    flat_p, flat_o = sp.reshape(-1, 1, h, w), so.reshape(-1, 1, h, w)
    fp = torch.nn.functional.avg_pool2d(flat_p, scale, stride=1, padding=scale // 2, count_include_pad=True)
    fo = torch.nn.functional.avg_pool2d(flat_o, scale, stride=1, padding=scale // 2, count_include_pad=True)
    reference = (fp**2).mean() + (fo**2).mean()
    return 1.0 - ((fp - fo) ** 2).mean() / (reference + _EPS)


def _mean_skill_loss(skill, pred, obs, mask, thresholds) -> torch.Tensor:
    if not len(thresholds):
        raise ValueError("a structure loss needs train.loss_thresholds (or evaluate.thresholds) to score events")
    return torch.stack([1.0 - skill(pred, obs, float(t), mask) for t in thresholds]).mean()


@LOSSES.register("mse_soft_csi")
def mse_soft_csi(pred: torch.Tensor, obs: torch.Tensor, mask: torch.Tensor | None = None, alpha: float = 1.0,
                 thresholds=(), weight: float = 1.0) -> torch.Tensor:
    """``weighted_mse + weight * mean over thresholds of (1 - soft CSI)``."""
    return weighted_mse(pred, obs, mask, alpha) + weight * _mean_skill_loss(soft_csi, pred, obs, mask, thresholds)


@LOSSES.register("mse_fss")
def mse_fss(pred: torch.Tensor, obs: torch.Tensor, mask: torch.Tensor | None = None, alpha: float = 1.0,
            thresholds=(), weight: float = 1.0) -> torch.Tensor:
    """``weighted_mse + weight * mean over thresholds of (1 - soft FSS)`` (window :data:`FSS_SCALE`)."""
    return weighted_mse(pred, obs, mask, alpha) + weight * _mean_skill_loss(soft_fss, pred, obs, mask, thresholds)


def get_loss(name: str) -> Callable[..., torch.Tensor]:
    """The loss function called ``name`` (one of :data:`LOSSES`)."""
    return LOSSES.get(name)
