"""The 4 parameters of the HBV snow routine (docs/design.md, 4.9 Snow routine): order, units, ranges.

Kept apart from the 15 XAJ parameters (``core.hydro.params``) on purpose: a run without snow never
sees them, so its parameter tensors, LSTM head and checkpoints are exactly what they were before
the snow routine existed. Column order of every snow parameter tensor ``[..., 4]``: TT, CFMAX, CFR, CWH.

Ranges: those of δHBV on the 671 CAMELS-US basins (Feng, Liu, Lawson & Shen 2022, WRR 58,
e2022WR032404, table of HBV parameter ranges), which follow HBV-light (Seibert & Vis 2012, HESS 16,
3315-3325) and Beck et al. (2016, WRR 52, 3599-3622): TT -2.5..2.5 degC, CFMAX 0.5..10 mm/degC/day,
CFR 0..0.1, CWH 0..0.2.
"""

from __future__ import annotations

import math

import torch

from core.hydro.params import ParamSpec

SNOW_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("TT", "degC", "threshold temperature of the rain/snow partition and of melt", -2.5, 2.5,
              -math.inf, math.inf),
    ParamSpec("CFMAX", "mm/degC/day", "degree-day factor of snowmelt", 0.5, 10.0, 0.0, math.inf),
    ParamSpec("CFR", "-", "refreezing coefficient (share of CFMAX below TT)", 0.0, 0.1, 0.0, 1.0),
    ParamSpec("CWH", "-", "liquid water the pack holds, as a share of its solid water", 0.0, 0.2, 0.0, 1.0),
)

SNOW_PARAMS: tuple[str, ...] = tuple(spec.name for spec in SNOW_SPECS)
"""The snow parameter names in tensor column order."""

N_SNOW_PARAMS = len(SNOW_PARAMS)

SNOW_INDEX: dict[str, int] = {name: i for i, name in enumerate(SNOW_PARAMS)}

PARTITION_INTERVAL = 2.0
"""degC: precipitation turns from all snow to all rain linearly over ``TT -/+ 1 degC`` (HBV-light's
``TTI`` option, Seibert & Vis 2012), fixed rather than learned. A step at TT would give TT no
gradient through the partition; the ramp gives it one on every day within 1 degC of TT."""

SNOW_LOWER = tuple(spec.default_lower for spec in SNOW_SPECS)
SNOW_UPPER = tuple(spec.default_upper for spec in SNOW_SPECS)


def snowfall_ceiling() -> float:
    """degC: the warmest daily mean temperature at which some parameter set inside the ranges makes
    snow (upper TT plus half the partition interval). ``model_args.snow: auto`` turns the routine on
    when a basin's temperature goes below it (``core.hydro.snow_setup.resolve_snow``)."""
    return SNOW_UPPER[SNOW_INDEX["TT"]] + PARTITION_INTERVAL / 2.0


def denormalise_snow(p01: torch.Tensor) -> torch.Tensor:
    """Normalised ``p01 [..., 4]`` in [0, 1] -> physical ``[..., 4]``: ``lower + p (upper - lower)``."""
    if p01.shape[-1] != N_SNOW_PARAMS:
        raise ValueError(f"denormalise_snow: last dimension must be {N_SNOW_PARAMS}, got shape {tuple(p01.shape)}")
    lower = torch.tensor(SNOW_LOWER, dtype=p01.dtype, device=p01.device)
    upper = torch.tensor(SNOW_UPPER, dtype=p01.dtype, device=p01.device)
    return lower + p01 * (upper - lower)


def snow_step_constants(params: torch.Tensor, step_hours: float) -> torch.Tensor:
    """``params [..., 4]`` with their daily meaning -> a step of ``step_hours`` hours: CFMAX (mm/degC
    per day) becomes mm/degC per step, ``CFMAX dt / 24``; TT, CFR, CWH are unchanged (a temperature
    and two ratios). Returns a new tensor when anything changes (differentiable)."""
    if step_hours <= 0:
        raise ValueError(f"snow_step_constants: step_hours must be positive, got {step_hours}")
    ratio = float(step_hours) / 24.0
    if ratio == 1.0:
        return params
    scale = torch.ones(N_SNOW_PARAMS, dtype=params.dtype, device=params.device)
    scale[SNOW_INDEX["CFMAX"]] = ratio
    return params * scale
