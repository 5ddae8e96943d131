"""What both snow backends share: the recorded series, the store and parameter tuples, input checks.

``core.hydro.snow`` (eager reference and the backend choice) and ``core.hydro.snow_fused``
(compiled) both import from here, so neither imports the other's internals (as ``xaj_setup``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.hydro.snow_params import N_SNOW_PARAMS

SNOW_SERIES: tuple[str, ...] = ("SNOWPACK", "LIQUID", "OUTFLOW", "MELT")
"""Recorded per-step series ``[T, B]``: solid pack and liquid water at the end of the step (mm),
the water reaching the ground (rain + release, mm/step) and the gross melt (mm/step)."""


class SnowState(NamedTuple):
    """Snow stores per basin ``[B]``, mm over the basin: solid pack and liquid water held in it."""

    SNOWPACK: torch.Tensor
    LIQUID: torch.Tensor


class SnowParams(NamedTuple):
    """Columns of ``params [B, 4]``, each ``[B]``: TT degC, CFMAX mm/degC/step, CFR -, CWH -."""

    TT: torch.Tensor
    CFMAX: torch.Tensor
    CFR: torch.Tensor
    CWH: torch.Tensor


def check_snow_inputs(prcp: torch.Tensor, temp: torch.Tensor, params: torch.Tensor, warmup: int) -> None:
    """Shapes, warmup and finiteness; errors name the culprit (basin and step indices)."""
    if prcp.dim() != 2 or temp.shape != prcp.shape:
        raise ValueError(f"snow: prcp and temp must both be [T, B], got {tuple(prcp.shape)} and {tuple(temp.shape)}")
    if params.dim() != 2 or params.shape != (prcp.shape[1], N_SNOW_PARAMS):
        raise ValueError(f"snow: params must be [B, {N_SNOW_PARAMS}] (TT, CFMAX, CFR, CWH) for "
                         f"{prcp.shape[1]} basins, got shape {tuple(params.shape)}")
    if not 0 <= warmup < prcp.shape[0]:
        raise ValueError(f"snow: warmup must be in [0, T) = [0, {prcp.shape[0]}), got {warmup}")
    with torch.no_grad():
        bad = ~torch.isfinite(temp)
        if bool(bad.any()):
            t, b = (int(i) for i in torch.nonzero(bad)[0])
            raise ValueError(f"snow: temperature of basin index {b} is missing (non-finite) at step {t}")
        if not bool(torch.isfinite(params).all()):
            b = int(torch.nonzero(~torch.isfinite(params).all(-1))[0, 0])
            raise ValueError(f"snow: basin index {b} has non-finite snow parameters {params[b].tolist()}")
