"""NaN-masked streamflow losses: only steps with an observation contribute, and so does their gradient.

Shapes: ``sim`` and ``obs`` ``[time, batch]`` (or any equal shape), mm/step; ``obs`` NaN where missing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch

from core.registry import Registry


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


def _observed_means(sim: torch.Tensor, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(obs0, w, n, mean_obs, mean_sim)``: zero-filled targets, the 0/1 observed weights, the observed
    step count ``[batch]`` and the means of both series over the observed steps ``[batch]``."""
    mask, obs0 = _masked(sim, obs)
    w = mask.to(sim.dtype)
    n = w.sum(dim=0)
    n1 = n.clamp(min=1)
    return obs0, w, n, (obs0 * w).sum(dim=0) / n1, (sim * w).sum(dim=0) / n1


def masked_kge_distance(
    sim: torch.Tensor, obs: torch.Tensor, min_flow: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1 - KGE, defined)`` of each sample (column) over its observed steps, each ``[batch]``.

    ``1 - KGE = sqrt((r - 1)^2 + (alpha - 1)^2 + (beta - 1)^2)`` (Gupta et al. 2009) with ``r`` the
    correlation, ``alpha`` the ratio of standard deviations and ``beta`` the ratio of means (sim / obs).
    ``defined`` is False where fewer than 2 steps are observed or the observed mean or standard deviation
    is below ``min_flow`` (mm/step, a dry window): there the ratios have no meaning, and the distance is
    0 with a zero gradient.
    """
    obs0, w, n, mean_obs, mean_sim = _observed_means(sim, obs)
    n1 = n.clamp(min=1)
    dev_obs, dev_sim = (obs0 - mean_obs) * w, (sim - mean_sim) * w
    std_obs = torch.sqrt((dev_obs**2).sum(dim=0) / n1)
    # the epsilon keeps sqrt's gradient finite when a simulated window is flat
    std_sim = torch.sqrt((dev_sim**2).sum(dim=0) / n1 + 1e-12)
    defined = (n >= 2) & (mean_obs > min_flow) & (std_obs > min_flow)
    # safe denominators in the undefined columns, so no inf or NaN reaches the gradient through where()
    safe_std_obs = torch.where(defined, std_obs, torch.ones_like(std_obs))
    safe_mean_obs = torch.where(defined, mean_obs, torch.ones_like(mean_obs))
    r = (dev_obs * dev_sim).sum(dim=0) / n1 / (std_sim * safe_std_obs)
    alpha, beta = std_sim / safe_std_obs, mean_sim / safe_mean_obs
    distance = torch.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2 + 1e-12)
    return torch.where(defined, distance, torch.zeros_like(distance)), defined


def masked_nse_kge_loss(
    sim: torch.Tensor, obs: torch.Tensor, obs_std: torch.Tensor | None = None, eps: float = 0.1,
    kge_weight: float = 1.0,
) -> torch.Tensor:
    """NSE-type loss (:func:`masked_nse_loss`) plus ``kge_weight`` times the mean ``1 - KGE`` of the
    samples (windows).

    Squared errors alone are minimised by a simulation whose variability ratio equals its correlation
    (``alpha = r < 1``): peaks come out damped and KGE suffers. The KGE term weighs correlation,
    variability and volume alike within each window. Samples without a defined KGE (dry windows,
    :func:`masked_kge_distance`) contribute through the NSE term only.
    """
    distance, defined = masked_kge_distance(sim, obs)
    kge_term = distance.sum() / defined.sum().clamp(min=1)
    return masked_nse_loss(sim, obs, obs_std=obs_std, eps=eps) + kge_weight * kge_term


def masked_volume_error(
    sim: torch.Tensor, obs: torch.Tensor, min_flow: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(|beta - 1|, defined)`` of each sample (column) over its observed steps, each ``[batch]``.

    ``beta`` is the ratio of simulated to observed volume (means over the observed steps), so
    ``|beta - 1|`` is the relative volume error (|PBIAS| / 100), KGE's third component. ``defined`` is
    False where no step is observed or the observed mean is below ``min_flow`` (mm/step, a dry window):
    there the ratio has no meaning, and the error is 0 with a zero gradient.
    """
    _, _, n, mean_obs, mean_sim = _observed_means(sim, obs)
    defined = (n >= 1) & (mean_obs > min_flow)
    beta = mean_sim / torch.where(defined, mean_obs, torch.ones_like(mean_obs))
    # the epsilon keeps the gradient finite (and zero) at beta = 1
    error = torch.sqrt((beta - 1) ** 2 + 1e-12)
    return torch.where(defined, error, torch.zeros_like(error)), defined


def masked_nse_volume_loss(
    sim: torch.Tensor, obs: torch.Tensor, obs_std: torch.Tensor | None = None, eps: float = 0.1,
    volume_weight: float = 0.5,
) -> torch.Tensor:
    """NSE-type loss (:func:`masked_nse_loss`) plus ``volume_weight`` times the mean relative volume
    error ``|beta - 1|`` of the samples (windows).

    Of KGE's three components only the volume is added, for a simulation whose timing and variability
    suit squared errors but whose volume does not (on CAMELS-US it lost to ``nse_kge`` on validation;
    docs/results_hydro.md). Samples without a defined volume error (dry windows, :func:`masked_volume_error`)
    contribute through the NSE term only.
    """
    error, defined = masked_volume_error(sim, obs)
    volume_term = error.sum() / defined.sum().clamp(min=1)
    return masked_nse_loss(sim, obs, obs_std=obs_std, eps=eps) + volume_weight * volume_term


LOSSES: Registry[Callable[..., torch.Tensor]] = Registry("loss")
"""The hydrology losses by config name (``train.loss``): ``loss(sim, obs, **options) -> scalar``."""
for _name, _fn in (("nse", masked_nse_loss), ("nse_kge", masked_nse_kge_loss), ("nse_volume", masked_nse_volume_loss),
                   ("rmse", masked_rmse), ("mse", masked_mse)):
    LOSSES.register(_name, _fn)
_TAKES_OBS_STD = frozenset({"nse", "nse_kge", "nse_volume"})


def get_loss(name: str) -> Callable[..., torch.Tensor]:
    """Loss function by config name (case-insensitive): one of :data:`LOSSES`."""
    return LOSSES.get(name.lower() if isinstance(name, str) else name)


def training_loss(train: Mapping[str, Any]) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(sim, obs, obs_std)`` as the ``train`` config section asks (``loss``, ``kge_weight``,
    ``volume_weight``).

    ``obs_std`` (``[batch]``, each sample's basin flow standard deviation over the training period,
    mm/step) reaches the losses that scale by it and is ignored by the others.
    """
    name = str(train["loss"]).lower()
    fn = get_loss(name)
    if name == "nse_kge":
        fn = functools.partial(fn, kge_weight=float(train["kge_weight"]))
    elif name == "nse_volume":
        fn = functools.partial(fn, volume_weight=float(train["volume_weight"]))
    if name in _TAKES_OBS_STD:
        return lambda sim, obs, obs_std: fn(sim, obs, obs_std=obs_std)
    return lambda sim, obs, obs_std: fn(sim, obs)
