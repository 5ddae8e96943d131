"""NaN-masked streamflow losses: only steps with an observation contribute, and so does their gradient.

Shapes: ``sim`` and ``obs`` ``[time, batch]`` (or any equal shape), mm/step; ``obs`` NaN where missing.
"""

from __future__ import annotations

import torch


def _masked(sim: torch.Tensor, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if sim.shape != obs.shape:
        raise ValueError(f"simulated shape {tuple(sim.shape)} differs from observed shape {tuple(obs.shape)}")
    mask = torch.isfinite(obs)
    # zero the missing targets (not just skip them) so no NaN can leak into the gradient via 0 * NaN
    return mask, torch.where(mask, obs, torch.zeros_like(obs))


def masked_rmse(sim: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """Root mean square error over observed steps (mm/step); 0 when nothing is observed."""
    mask, obs0 = _masked(sim, obs)
    n = mask.sum()
    sq = torch.where(mask, (sim - obs0) ** 2, torch.zeros_like(sim)).sum()
    # the epsilon keeps sqrt's gradient finite at a perfect fit
    return torch.sqrt(sq / n.clamp(min=1) + 1e-8)


def masked_mse(sim: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """Mean square error over observed steps ((mm/step)^2)."""
    mask, obs0 = _masked(sim, obs)
    sq = torch.where(mask, (sim - obs0) ** 2, torch.zeros_like(sim)).sum()
    return sq / mask.sum().clamp(min=1)


def masked_nse_loss(
    sim: torch.Tensor, obs: torch.Tensor, obs_std: torch.Tensor | None = None, eps: float = 0.1
) -> torch.Tensor:
    """NSE-type loss over observed steps: squared errors scaled by each basin's flow variability.

    With ``obs_std`` (``[batch]``, mm/step, the basin's streamflow standard deviation over the training
    period) this is the NSE* loss of Kratzert et al. (2019): mean of ``(sim - obs)^2 / (std + eps)^2``,
    so every basin weighs alike whatever its flow volume. Without it, each sample's own variance is
    used: mean over samples of ``sum (sim - obs)^2 / (sum (obs - mean obs)^2 + eps)`` = ``1 - NSE``.
    """
    mask, obs0 = _masked(sim, obs)
    err = torch.where(mask, (sim - obs0) ** 2, torch.zeros_like(sim))
    if obs_std is not None:
        weight = 1.0 / (obs_std.to(sim.dtype) + eps) ** 2  # [batch]
        return (err * weight).sum() / mask.sum().clamp(min=1)
    n = mask.sum(dim=0)
    mean = obs0.sum(dim=0) / n.clamp(min=1)
    var = torch.where(mask, (obs0 - mean) ** 2, torch.zeros_like(obs0)).sum(dim=0)
    keep = n > 0
    if not bool(keep.any()):
        return sim.sum() * 0.0
    return (err.sum(dim=0)[keep] / (var[keep] + eps)).mean()


LOSSES = {"rmse": masked_rmse, "mse": masked_mse, "nse": masked_nse_loss}


def get_loss(name: str):
    """Loss function by config name: ``rmse``, ``mse`` or ``nse``."""
    try:
        return LOSSES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown loss {name!r} in config key 'loss'; choose one of {sorted(LOSSES)}") from None
