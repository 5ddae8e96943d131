"""Gridded weather -> stacked channels, sliding-window samples and normalisation.

Channel order (the contract every model input follows, tested in ``tests/rain/test_rain_stacking.py``)::

    for variable in variables:          # e.g. temperature, dewpoint, u, v, height
        for level in levels:            # e.g. 1000, 925, ..., 200 hPa, in the dataset's order
            channel "<variable>@<level>"
    channel "rain"                      # always last

so the default 5 variables x 11 levels + rain give 56 channels, channel ``v * L + l`` being variable
``v`` on level ``l``. A rain-only source (radar) gives one channel.

A sample ending at frame ``i`` holds frames ``i - T + 1 .. i`` (``[T, C, y, x]``) and predicts the
rain of frame ``i + 1``; it exists only when those ``T + 1`` frames are evenly spaced in time.

Normalisation is fitted on training frames only: z-score per atmospheric channel, and for rain
``log1p(mm) / s`` with ``s`` the RMS of ``log1p`` rain over training frames. Rain is scaled but not
centred so that zero rain stays 0 and the model's final ReLU can reach it; predictions are mapped
back with ``expm1(y * s)``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from core.data.gridded import channel_names  # the one definition of the channel order, shared with the data layer
from core.data.normalize import Normalizer  # the one normaliser of both models (fit_stack for stacks)

RAIN = "rain"
__all__ = ["channel_names", "resolve_variables", "stack_channels", "coarsen", "sample_end_indices", "Normalizer"]


def resolve_variables(ds: xr.Dataset, variables, levels) -> tuple[list[str], list]:
    """Atmospheric variables and levels to stack.

    ``variables="auto"`` takes every data variable with a ``level`` dimension, in dataset order;
    ``levels="auto"`` takes all levels. Explicit lists are checked against the dataset.
    """
    if RAIN not in ds.data_vars:
        raise ValueError(f"gridded dataset has no 'rain' variable (has {sorted(ds.data_vars)})")
    atmos = [name for name, da in ds.data_vars.items() if "level" in da.dims]
    if variables in (None, "auto"):
        variables = atmos
    else:
        variables = list(variables)
        missing = [v for v in variables if v not in atmos]
        if missing:
            raise ValueError(
                f"config data.variables lists {missing}, not found as (time, level, lat, lon) variables "
                f"in the dataset (available: {atmos})"
            )
    if not variables:
        return [], []
    available = list(ds["level"].values)
    if levels in (None, "auto"):
        levels = available
    else:
        levels = list(levels)
        missing = [lev for lev in levels if not np.any(np.isclose(available, float(lev)))]
        if missing:
            raise ValueError(f"config data.levels lists {missing}, not in the dataset levels {available}")
    return variables, levels


def stack_channels(ds: xr.Dataset, variables: list[str], levels: list) -> np.ndarray:
    """``[time, C, lat, lon]`` float32 array in the order of :func:`channel_names`.

    Atmospheric variables need dims ``(time, level, lat, lon)``, rain ``(time, lat, lon)`` (mm per step).
    """
    parts = []
    for var in variables:
        da = ds[var].sel(level=levels).transpose("time", "level", "lat", "lon")
        parts.append(np.asarray(da.values, dtype=np.float32))
    rain = ds[RAIN].transpose("time", "lat", "lon")
    parts.append(np.asarray(rain.values, dtype=np.float32)[:, None])
    return np.concatenate(parts, axis=1)


def coarsen(ds: xr.Dataset, factor: int) -> xr.Dataset:
    """Block-average ``factor x factor`` grid cells (rain stays in mm per step); trims ragged edges."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"config data.coarsen must be an integer >= 1, got {factor}")
    if factor == 1:
        return ds
    for dim in ("lat", "lon"):
        if ds.sizes[dim] < factor:
            raise ValueError(f"config data.coarsen={factor} is larger than the grid ({dim} has {ds.sizes[dim]} cells)")
    return ds.coarsen(lat=factor, lon=factor, boundary="trim").mean(keep_attrs=True)


def sample_end_indices(times: np.ndarray, steps: int) -> np.ndarray:
    """Indices ``i`` of the last input frame of every valid sample (frames ``i-steps+1 .. i+1`` evenly spaced)."""
    if steps < 1:
        raise ValueError(f"config data.steps must be >= 1, got {steps}")
    t = np.asarray(times)
    n = len(t)
    if n < steps + 1:
        return np.zeros(0, dtype=np.int64)
    dt = np.diff(t)
    step = np.median(dt)
    regular = dt == step
    ends = []
    for i in range(steps - 1, n - 1):
        # the window uses the gaps between frames i-steps+1 .. i+1
        if regular[i - steps + 1 : i + 1].all():
            ends.append(i)
    return np.asarray(ends, dtype=np.int64)

