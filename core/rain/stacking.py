"""Gridded weather -> stacked channels, sliding-window samples and normalisation.

Channel order (the contract every model input follows, tested in ``tests/test_rain_stacking.py``)::

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

from dataclasses import asdict, dataclass, field

import numpy as np
import xarray as xr

from core.data.gridded import channel_names  # the one definition of the channel order, shared with the data layer

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


@dataclass
class Normalizer:
    """Per-channel normalisation fitted on training frames (see the module docstring).

    ``mean``/``std`` hold one value per atmospheric channel (rain excluded); ``rain_scale`` is ``s``.
    """

    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    rain_scale: float = 1.0

    @classmethod
    def fit(cls, stack: np.ndarray, frames: np.ndarray) -> "Normalizer":
        """Fit on ``stack[frames]`` (``stack``: ``[time, C, y, x]``, rain last; ``frames``: training frame indices)."""
        if len(frames) == 0:
            raise ValueError("cannot fit the normalisation: the training period holds no frames")
        train = stack[np.asarray(frames)]
        atmos = train[:, :-1].astype(np.float64)
        mean = np.nanmean(atmos, axis=(0, 2, 3)) if atmos.shape[1] else np.zeros(0)
        std = np.nanstd(atmos, axis=(0, 2, 3)) if atmos.shape[1] else np.zeros(0)
        # constant channels (e.g. a level never reached) would divide by zero
        std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        logr = np.log1p(np.clip(train[:, -1].astype(np.float64), 0, None))
        scale = float(np.sqrt(np.nanmean(logr**2))) if np.isfinite(logr).any() else 1.0
        if not np.isfinite(scale) or scale < 1e-6:
            scale = 1.0
        return cls(mean=[float(m) for m in mean], std=[float(s) for s in std], rain_scale=scale)

    def transform(self, stack: np.ndarray) -> np.ndarray:
        """Normalised copy of ``stack`` ``[time, C, y, x]``; NaN stays NaN."""
        out = np.empty_like(stack, dtype=np.float32)
        n = stack.shape[1] - 1
        if n != len(self.mean):
            raise ValueError(f"normalisation was fitted on {len(self.mean)} atmospheric channels, data has {n}")
        if n:
            mean = np.asarray(self.mean, dtype=np.float32)[None, :, None, None]
            std = np.asarray(self.std, dtype=np.float32)[None, :, None, None]
            out[:, :-1] = (stack[:, :-1] - mean) / std
        out[:, -1] = self.rain_forward(stack[:, -1])
        return out

    def rain_forward(self, rain_mm: np.ndarray) -> np.ndarray:
        """mm -> normalised rain, ``log1p(max(mm, 0)) / s``."""
        return (np.log1p(np.clip(rain_mm, 0, None)) / self.rain_scale).astype(np.float32)

    def rain_inverse(self, rain_norm):
        """Normalised rain -> mm, ``expm1(y * s)`` (numpy array or torch tensor)."""
        if hasattr(rain_norm, "expm1"):
            return (rain_norm * self.rain_scale).expm1()
        return np.expm1(np.asarray(rain_norm, dtype=np.float64) * self.rain_scale)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        return cls(mean=list(d["mean"]), std=list(d["std"]), rain_scale=float(d["rain_scale"]))
