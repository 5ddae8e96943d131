"""One cell size and one time step for radars that differ in both (training across radars, issue 30).

Radars come with 0.5-1 km pixels and 5-, 6- or 10-minute frames. A network trained on several of
them must see the same physics per cell and per step, so every composite is brought to:

- **cells of about ``cell_km`` km** (:func:`km_resolution`): the lat/lon cell size of
  :func:`core.data.radar.load_radar` chosen per radar so that a cell spans ``cell_km`` km north-south
  (``cell_km / 111.2`` degrees) and ``cell_km`` km east-west at the grid's middle latitude
  (``cell_km / (111.32 cos(lat0))`` degrees). Cells are block means of the native pixels (mm/h).
  East-west the cell size drifts by ``cos(lat) / cos(lat0)`` away from the middle latitude: a few
  per cent over a region of a few hundred km.
- **one step of ``step_minutes``** (:func:`resample_steps`): a frame stamped ``t`` is read as the mean
  rain rate over ``(t - step, t]`` (a radar accumulation is stamped at its end; an instantaneous
  reflectivity composite stands for its step). The new frame ending at ``T`` (``T`` a multiple of
  ``step_minutes`` after midnight) is the overlap-weighted mean of the old rates over
  ``(T - step_minutes, T]``: 10-minute rates from 5-minute ones are pair means, from 6-minute ones
  ``0.6 r1 + 0.4 r2`` and ``0.2 r2 + 0.6 r3 + 0.2 r4``. The rain depth (mm) of every covered
  interval is kept exactly. A new frame is made only where old frames cover its whole interval
  (never across a gap between events), and a pixel is NaN when any frame it needs is NaN (missing
  observations stay masked). Going to a shorter step is refused: it would invent the motion within
  the old step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from core.data.errors import DataError

KM_PER_DEG_LAT = 111.2  # mean length of one degree of latitude, km
KM_PER_DEG_LON_EQUATOR = 111.32  # one degree of longitude at the equator, km


def km_resolution(cell_km: float, lat_deg: float) -> tuple[float, float]:
    """``(lat, lon)`` cell size in degrees of a cell ``cell_km`` km on a side at latitude ``lat_deg``."""
    cell_km = float(cell_km)
    if not np.isfinite(cell_km) or cell_km <= 0:
        raise DataError(f"radar cell_km must be a positive number of km, got {cell_km}", variable="cell_km")
    cos_lat = np.cos(np.deg2rad(float(lat_deg)))
    if cos_lat < 0.05:
        raise DataError(f"radar cell_km: latitude {lat_deg:.2f} is too close to a pole for km cells on a "
                        "lat/lon grid", variable="cell_km")
    return cell_km / KM_PER_DEG_LAT, cell_km / (KM_PER_DEG_LON_EQUATOR * cos_lat)


def native_step_seconds(times: pd.DatetimeIndex) -> float:
    """The frame spacing in seconds: the median gap (the gaps between events do not count)."""
    if len(times) < 2:
        raise DataError(f"radar time resampling needs at least 2 frames, got {len(times)}", variable="time")
    return float(np.median(np.diff(times.values) / np.timedelta64(1, "s")))


def resample_steps(ds: xr.Dataset, step_minutes: float, source: str = "radar") -> xr.Dataset:
    """``ds`` (``rain`` on ``(time, lat, lon)`` in mm/h) with frames every ``step_minutes`` (module docstring).

    Returns a dataset of the same layout whose ``rain`` is the mean rate (mm/h) over each new step,
    stamped at the step's end; ``time_step`` attributes updated. The same step comes back as given.
    """
    times = pd.DatetimeIndex(ds["time"].values)
    old_s = native_step_seconds(times)
    new_s = float(step_minutes) * 60.0
    if new_s <= 0:
        raise DataError(f"radar step_minutes must be positive, got {step_minutes}", variable="step_minutes")
    if abs(new_s - old_s) < 1e-6:
        return ds
    if new_s < old_s:
        raise DataError(f"{source}: frames every {old_s / 60:g} min cannot be resampled to {step_minutes:g} min "
                        "(a shorter step would invent the motion within each frame); choose a step of at least "
                        f"{old_s / 60:g} min", file=source, variable="step_minutes")
    t_end = (times.values - times.values.astype("datetime64[D]")) / np.timedelta64(1, "s")
    day = times.values.astype("datetime64[D]")
    # every old frame covers (end - old_s, end], in seconds since the first frame's midnight
    base = day[0]
    ends = (day - base) / np.timedelta64(1, "s") + t_end
    starts = ends - old_s
    first = np.ceil((starts[0] + new_s) / new_s) * new_s
    candidates = np.arange(first, ends[-1] + 1e-6, new_s)
    rain = np.asarray(ds["rain"].values, dtype=np.float64)
    out, kept = [], []
    for end in candidates:
        lo = end - new_s
        overlap = np.clip(np.minimum(ends, end) - np.maximum(starts, lo), 0.0, None)
        used = overlap > 1e-6
        if abs(overlap[used].sum() - new_s) > 1e-6:
            continue  # a gap (between events, a missing frame) inside the new step: no frame
        weights = overlap[used] / new_s
        # NaN where any needed frame is NaN: a missing observation is never filled from its neighbours
        out.append(np.tensordot(weights, rain[used], axes=(0, 0)))
        kept.append(end)
    if not out:
        raise DataError(f"{source}: no {step_minutes:g}-min step is fully covered by the frames "
                        f"{times[0]} .. {times[-1]}", file=source, variable="time")
    new_times = pd.DatetimeIndex(base + (np.asarray(kept) * 1e9).astype("timedelta64[ns]"))
    attrs = dict(ds.attrs)
    attrs.update(time_step=f"{int(new_s // 60)}min", time_step_seconds=int(new_s),
                 native_time_step_seconds=int(old_s))
    rain_attrs = dict(ds["rain"].attrs)
    rain_attrs["cell_methods"] = f"time: mean (interval: {step_minutes:g} minutes, from {old_s / 60:g}-minute frames)"
    return xr.Dataset(
        {"rain": (("time", "lat", "lon"), np.stack(out).astype(np.float32), rain_attrs)},
        coords={"time": new_times, "lat": ds["lat"], "lon": ds["lon"]},
        attrs=attrs,
    )
