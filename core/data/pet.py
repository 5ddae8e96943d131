"""Potential evapotranspiration (PET) from basin meteorology, computed with pyet.

Methods
-------
``hargreaves``
    Hargreaves & Samani (1982) as implemented by ``pyet.hargreaves``: needs daily minimum and
    maximum air temperature (degC) and latitude. Temperature-only, so it works for almost any
    source, but it over-estimates PET in humid regions.
``priestley_taylor``
    Priestley & Taylor (1972), ``pyet.priestley_taylor`` with alpha = 1.26, fed with net radiation
    from ``pyet.calc_rad_net`` (FAO-56 eq. 39-40) built from incoming shortwave radiation, air
    temperature and actual vapour pressure. CAMELS-US ``pet_mean`` uses the same formulation.
``provided``
    Use the ``pet`` series shipped with the source.
``auto``
    ``provided`` when a ``pet`` series exists, else ``priestley_taylor`` when ``srad`` and ``vp``
    are present, else ``hargreaves``.

Units: Daymet ``srad`` is the mean flux over the daylight hours, so when a ``dayl`` (hours) column
is present the 24-hour mean is ``srad * dayl / 24``; without ``dayl`` ``srad`` is taken as a 24-hour
mean. ``vp`` is in Pa. Sub-daily series are aggregated to days (min of ``tmin``, max of ``tmax``,
means of the rest), daily PET is computed, then spread evenly over the steps of each day so the
result stays in mm per step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .errors import DataError

PET_METHODS = ("auto", "provided", "hargreaves", "priestley_taylor")

# W m-2 averaged over 24 h -> MJ m-2 day-1
_W_M2_TO_MJ_DAY = 86400.0 / 1e6


def choose_pet_method(columns: list[str] | pd.Index, requested: str = "auto", sub_daily: bool = False) -> str:
    """Resolve ``requested`` (one of :data:`PET_METHODS`) to a concrete method for these columns.

    ``sub_daily``: the series has steps shorter than a day, so daily minimum and maximum temperature
    can be taken from an hourly ``tmean`` when ``tmin``/``tmax`` are absent.
    Raises :class:`DataError` naming the missing variable when the method cannot be applied.
    """
    cols = set(columns)
    if sub_daily and "tmean" in cols:
        cols |= {"tmin", "tmax"}
    if requested not in PET_METHODS:
        raise DataError(
            f"unknown PET method {requested!r}; choose one of {', '.join(PET_METHODS)}", variable="pet"
        )
    has_temperature = {"tmin", "tmax"} <= cols
    if requested == "auto":
        if "pet" in cols:
            return "provided"
        if has_temperature and {"srad", "vp"} <= cols:
            return "priestley_taylor"
        if has_temperature:
            return "hargreaves"
        raise DataError(
            "no 'pet' series and no 'tmin'/'tmax' columns to compute it from: add a pet column "
            "(mm per step) or daily minimum and maximum temperature (degC)",
            variable="pet",
        )
    if requested == "provided" and "pet" not in cols:
        raise DataError("pet_method='provided' but the source has no 'pet' series", variable="pet")
    needed = {"hargreaves": ("tmin", "tmax"), "priestley_taylor": ("tmin", "tmax", "srad", "vp")}
    for name in needed.get(requested, ()):
        if name not in cols:
            raise DataError(f"PET method {requested!r} needs the variable {name!r}", variable=name)
    return requested


def compute_pet(
    frame: pd.DataFrame,
    method: str,
    lat_deg: float,
    elevation_m: float | None = None,
) -> pd.Series:
    """PET in mm per step for one basin.

    Parameters
    ----------
    frame : DataFrame indexed by a regular DatetimeIndex (step of one day or less), canonical
        columns ``tmin``, ``tmax`` (degC), optional ``tmean`` (degC), ``srad`` (W m-2), ``vp`` (Pa),
        ``dayl`` (h); sub-daily frames may carry only ``tmean``.
    method : ``"hargreaves"`` or ``"priestley_taylor"`` (already resolved, see :func:`choose_pet_method`).
    lat_deg : basin latitude in degrees north.
    elevation_m : basin mean elevation in metres, used for air pressure (Priestley-Taylor); sea
        level when unknown (about 1 % effect per 100 m).

    Returns
    -------
    Series of PET (mm per step), same index as ``frame``; NaN where an input is NaN.
    """
    return compute_pet_batch([frame], method, [lat_deg], [elevation_m])[0]


def compute_pet_batch(
    frames: list[pd.DataFrame],
    method: str,
    lats_deg: list[float],
    elevations_m: list[float | None],
) -> list[pd.Series]:
    """:func:`compute_pet` for several basins sharing one time index, in one pyet call.

    pyet derives the day of year by formatting every date as text, which costs more than the PET
    formula itself; passing all basins as one ``(time, basin, 1)`` array pays that once.
    """
    index = frames[0].index
    for frame in frames[1:]:
        if not frame.index.equals(index):
            raise DataError("basins passed to one PET batch must share their time axis", variable="pet")
    for lat in lats_deg:
        if lat is None or not np.isfinite(lat):
            raise DataError(f"PET method {method!r} needs the basin latitude", variable="lat")
        if not -90.0 <= lat <= 90.0:
            raise DataError(f"latitude {lat} is outside -90..90 degrees", variable="lat")
    step = _step_of(index)
    if step > pd.Timedelta(days=1):
        raise DataError(f"cannot compute PET for a time step of {step}; provide a 'pet' series", variable="pet")
    daily_frames = frames if step == pd.Timedelta(days=1) else [_to_daily(f) for f in frames]
    pet_day = _pet_daily(daily_frames, method, lats_deg, elevations_m)  # (days, basins)
    if step == pd.Timedelta(days=1):
        return [pd.Series(pet_day[:, i], index=index, name="pet") for i in range(len(frames))]
    steps_per_day = pd.Timedelta(days=1) / step
    # spread each day's PET evenly over its steps
    position = daily_frames[0].index.get_indexer(index.normalize())
    return [pd.Series(pet_day[position, i] / steps_per_day, index=index, name="pet") for i in range(len(frames))]


def _pet_daily(
    daily: list[pd.DataFrame], method: str, lats_deg: list[float], elevations_m: list[float | None]
) -> np.ndarray:
    """Daily PET (mm/day), shape ``(days, basins)``."""
    import pyet  # imported here: keeps `import core.data` light
    import xarray as xr

    index = pd.DatetimeIndex(daily[0].index, name="time")

    def grid(values: list[np.ndarray]) -> xr.DataArray:
        # pyet's gridded layout: (time, y, x); basins along y, a single x
        return xr.DataArray(np.stack(values, axis=1)[:, :, None], dims=("time", "y", "x"), coords={"time": index})

    def column(name: str) -> list[np.ndarray]:
        return [f[name].to_numpy(dtype=float) for f in daily]

    tmin = grid(column("tmin"))
    # gridded products occasionally give tmax a hair below tmin; a zero range, not NaN, is meant
    tmax = np.maximum(grid(column("tmax")), tmin)
    tmean = grid(
        [
            f["tmean"].to_numpy(dtype=float) if "tmean" in f else (f["tmin"].to_numpy(dtype=float) + f["tmax"].to_numpy(dtype=float)) / 2.0
            for f in daily
        ]
    )
    lat = xr.DataArray(np.radians(np.asarray(lats_deg, dtype=float))[:, None], dims=("y", "x"))
    elevation = xr.DataArray(
        np.array([0.0 if e is None or not np.isfinite(e) else float(e) for e in elevations_m])[:, None], dims=("y", "x")
    )
    with warnings.catch_warnings():
        # pyet warns about NaN in inputs; NaN forcing is reported by our own validation instead
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "hargreaves":
            pet = pyet.hargreaves(tmean, tmax, tmin, lat)
        elif method == "priestley_taylor":
            # Daymet srad is the daylight-hours mean: with a day length, scale to a 24-hour mean
            srad = grid(
                [
                    f["srad"].to_numpy(dtype=float) * (f["dayl"].to_numpy(dtype=float) / 24.0 if "dayl" in f else 1.0)
                    for f in daily
                ]
            )
            rs = srad * _W_M2_TO_MJ_DAY
            ea = grid(column("vp")) / 1000.0  # Pa -> kPa
            try:
                rn = pyet.calc_rad_net(tmean, rs=rs, lat=lat, tmax=tmax, tmin=tmin, elevation=elevation, ea=ea)
            except Exception as exc:  # pyet raises a bare Exception for radiation > 100 MJ m-2 d-1
                raise DataError(f"incoming radiation looks implausible for W m-2 ({exc})", variable="srad") from exc
            pet = pyet.priestley_taylor(tmean, rn=rn, elevation=elevation)
        else:
            raise DataError(f"cannot compute PET with method {method!r}", variable="pet")
    return np.asarray(pet.transpose("time", "y", "x").values, dtype=float)[:, :, 0]


def _to_daily(frame: pd.DataFrame) -> pd.DataFrame:
    """Aggregate a sub-daily frame to calendar days for the daily PET formulas."""
    grouped = frame.groupby(frame.index.normalize())
    daily = grouped.mean(numeric_only=True)
    # hourly records often carry only the air temperature: its daily range gives tmin/tmax
    daily["tmin"] = grouped["tmin" if "tmin" in frame else "tmean"].min()
    daily["tmax"] = grouped["tmax" if "tmax" in frame else "tmean"].max()
    # daylight length is a daily quantity: sub-daily srad is already a per-step (24 h) mean
    daily = daily.drop(columns=["dayl"], errors="ignore")
    daily.index = pd.DatetimeIndex(daily.index, name="time")
    return daily


def _step_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    if len(index) < 2:
        return pd.Timedelta(days=1)
    return pd.Timedelta(np.median(np.diff(index.asi8)), unit="ns")
