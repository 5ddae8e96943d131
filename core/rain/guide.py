"""The steering-wind guide: the last rain map advected by the wind of the experiment's own input grid.

On gridded weather (reanalysis, the demo world) the rain is carried by the mid-level wind, which is
one of the stacked channels. This guide is a Lagrangian first guess built from what the experiment
sees, and nothing else: the last rain frame of the experiment's input grid is moved by the
``u``/``v`` wind at the steering level of the same frame (pySTEPS semi-Lagrangian advection, one
displacement per step, held for every lead). Rain that would enter from outside the grid is unknown
and set to 0. So experiment 1 (region 1 only) gets no rain coming in from upstream and experiment 2
(region 2 + region 1) does: the guide keeps the question of the experiments (does the upstream
region help?) instead of handing both the same domain-wide nowcast.

Displacement per step, in cells: ``dx = u dt / (111320 cos(lat) dlon)``, ``dy = v dt / (111320 dlat)``
with ``u``, ``v`` in m s-1, ``dt`` the step in seconds and ``dlon``, ``dlat`` the cell size in
degrees (lat ascending, so a northward wind moves rain to higher rows).
"""

from __future__ import annotations

import warnings

import numpy as np

from core.data.errors import DataError

STEERING_WIND = "steering_wind"
METRES_PER_DEGREE = 111_320.0


def _channel(channels: list[str], variable: str, level: float) -> int:
    for k, name in enumerate(channels):
        var, _, lev = name.partition("@")
        if var == variable and lev and np.isclose(float(lev), float(level)):
            return k
    raise DataError(f"config nowcast.guide = {STEERING_WIND} needs the channel {variable}@{level:g} (wind at "
                    f"nowcast.steering_level); the stacked channels are {', '.join(channels[:12])}...",
                    variable=f"{variable}@{level:g}")


def steering_displacement(u: np.ndarray, v: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                          step_seconds: float) -> np.ndarray:
    """Cells moved per step ``[2, H, W]`` (x = columns, then y = rows) by the wind ``u``, ``v`` ``[H, W]`` (m s-1)
    on the grid of cell centres ``lat`` ``[H]`` (ascending) and ``lon`` ``[W]`` (degrees)."""
    dlat = float(np.median(np.abs(np.diff(lat)))) if len(lat) > 1 else 1.0
    dlon = float(np.median(np.abs(np.diff(lon)))) if len(lon) > 1 else 1.0
    coslat = np.cos(np.deg2rad(np.asarray(lat, dtype=np.float64)))[:, None]
    dx = np.asarray(u, dtype=np.float64) * step_seconds / (METRES_PER_DEGREE * coslat * dlon)
    dy = np.asarray(v, dtype=np.float64) * step_seconds / (METRES_PER_DEGREE * dlat)
    return np.stack([dx, dy])


def steering_wind_guide(grid: np.ndarray, channels: list[str], lat: np.ndarray, lon: np.ndarray,
                        step_seconds: float, n_leads: int, level: float) -> np.ndarray:
    """The guide issued at every frame of ``grid`` ``[time, C, H, W]`` (physical units, rain last, in mm):
    ``[time, n_leads, H, W]`` mm, lead ``k`` being the last rain map advected ``k`` steps."""
    from pysteps import extrapolation

    iu, iv = _channel(channels, "u", level), _channel(channels, "v", level)
    advect = extrapolation.get_method("semilagrangian")
    rain = np.nan_to_num(np.clip(grid[:, -1].astype(np.float64), 0, None), nan=0.0)
    out = np.zeros((grid.shape[0], int(n_leads)) + grid.shape[-2:], dtype=np.float32)
    for t in range(grid.shape[0]):
        if not (rain[t] > 0).any():
            continue  # a dry map stays dry
        u = np.nan_to_num(grid[t, iu].astype(np.float64), nan=0.0)
        v = np.nan_to_num(grid[t, iv].astype(np.float64), nan=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moved = advect(rain[t], steering_displacement(u, v, lat, lon, step_seconds), int(n_leads), outval=0.0)
        out[t] = np.clip(np.nan_to_num(np.asarray(moved), nan=0.0), 0, None)
    return out
