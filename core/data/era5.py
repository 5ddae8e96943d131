"""Reader for ERA5 (and older ECMWF reanalysis) NetCDF files into the gridded weather layout.

Input, as the Copernicus Climate Data Store delivers it:

- pressure-level files with ``t`` (K), ``u``, ``v`` (m s-1), ``z`` (geopotential, m2 s-2) and relative
  humidity ``r`` (%) or specific humidity ``q`` (kg kg-1); the level coordinate is ``pressure_level``
  (newer files) or ``level`` (older) in hPa, time is ``valid_time`` or ``time``, latitudes run north to
  south, longitudes may run 0..360;
- single-level files (or the same files) with total precipitation ``tp`` in metres per (hourly) step.

Output (docs/design.md, 3. Data model): ``temperature``, ``dewpoint`` (K, Magnus formula), ``u``, ``v``,
``height`` (``z / 9.80665``, m) on ``(time, level, lat, lon)`` and ``rain`` (mm accumulated over the
``accumulate_hours`` ending at each time stamp) on ``(time, lat, lon)``; latitudes ascending, longitudes
-180..180. Files are opened lazily (dask chunks), so long records are not read whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from core.data.errors import DataError
from core.data.weather_demo import GRAVITY, _VARIABLE_ATTRS, magnus_dewpoint

_RENAMES = {"pressure_level": "level", "valid_time": "time", "latitude": "lat", "longitude": "lon"}
_PRESSURE_VARIABLES = ("t", "u", "v", "z")
_MAGNUS_B, _MAGNUS_C, _E0_HPA = 17.625, 243.04, 6.112


def dewpoint_from_specific_humidity(q: np.ndarray, pressure_hpa: np.ndarray) -> np.ndarray:
    """Dew point (K) from specific humidity (kg kg-1) and pressure (hPa), Magnus formula over water.

    Vapour pressure ``e = q p / (0.622 + 0.378 q)``; ``Td = c ln(e/e0) / (b - ln(e/e0))`` in degC.
    """
    q = np.clip(np.asarray(q, dtype=np.float64), 1e-8, None)
    e = q * pressure_hpa / (0.622 + 0.378 * q)
    ln_ratio = np.log(e / _E0_HPA)
    return _MAGNUS_C * ln_ratio / (_MAGNUS_B - ln_ratio) + 273.15


def _as_paths(files: str | os.PathLike | Iterable[str | os.PathLike] | None) -> list[Path]:
    if files is None:
        return []
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.exists():
            raise DataError(f"ERA5 file {p} does not exist", file=p)
    return paths


def _open(paths: list[Path], chunks: dict | None) -> xr.Dataset:
    try:
        if len(paths) == 1:
            ds = xr.open_dataset(paths[0], chunks=chunks)
        else:
            ds = xr.open_mfdataset(paths, chunks=chunks, combine="by_coords", data_vars="minimal",
                                   coords="minimal", compat="override")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot open ERA5 file(s) {', '.join(map(str, paths))}: {exc}",
                        file=", ".join(map(str, paths))) from exc
    ds = ds.rename({k: v for k, v in _RENAMES.items() if k in ds.variables or k in ds.dims})
    # ERA5 netCDF from the new CDS carries an 'expver' and a 'number' coordinate we do not use
    return ds.drop_vars([c for c in ("expver", "number") if c in ds.coords])


def _tidy_grid(ds: xr.Dataset, files: str) -> xr.Dataset:
    for dim in ("time", "lat", "lon"):
        if dim not in ds.dims:
            raise DataError(f"ERA5 file(s) {files} have no '{dim}' dimension (dims: {sorted(ds.dims)}); "
                            "expected valid_time/time, latitude and longitude", file=files, variable=dim)
    if float(ds["lon"].max()) > 180.0:
        ds = ds.assign_coords(lon=((ds["lon"] + 180.0) % 360.0) - 180.0)
    return ds.sortby("lat").sortby("lon")


def open_era5(
    pressure_level_files: str | os.PathLike | Iterable[str | os.PathLike],
    single_level_files: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
    accumulate_hours: int = 12,
    chunks: dict | None = None,
) -> xr.Dataset:
    """Open ERA5 pressure-level (and single-level) files as the gridded weather dataset.

    Raises :class:`DataError` listing every missing variable (``t``, ``r`` or ``q``, ``u``, ``v``, ``z``,
    ``tp``) and naming the files, before any data are read.
    """
    pl_paths = _as_paths(pressure_level_files)
    if not pl_paths:
        raise DataError("open_era5 needs at least one pressure-level file", variable="pressure_level_files")
    sl_paths = _as_paths(single_level_files)
    chunks = {"time": 24} if chunks is None else chunks
    pl_names = ", ".join(map(str, pl_paths))
    all_names = ", ".join(map(str, pl_paths + sl_paths))

    pl = _open(pl_paths, chunks=None)  # metadata only until the variables are known to be there
    sl = _open(sl_paths, chunks=None) if sl_paths else None
    missing = [name for name in _PRESSURE_VARIABLES if name not in pl.data_vars]
    if "r" not in pl.data_vars and "q" not in pl.data_vars:
        missing.insert(1, "humidity (r or q)")
    has_tp = "tp" in pl.data_vars or (sl is not None and "tp" in sl.data_vars)
    if not has_tp:
        missing.append("tp (total precipitation)")
    if "level" not in pl.dims:
        missing.append("pressure_level/level coordinate")
    if missing:
        raise DataError(f"ERA5 input {all_names} lacks {', '.join(missing)}; found variables "
                        f"{sorted(pl.data_vars) + (sorted(sl.data_vars) if sl is not None else [])}",
                        file=all_names, variable=", ".join(missing))

    pl = _tidy_grid(_open(pl_paths, chunks=chunks), pl_names)
    tp_source = pl if "tp" in pl.data_vars else _tidy_grid(_open(sl_paths, chunks=chunks), ", ".join(map(str, sl_paths)))
    tp = tp_source["tp"]
    if "level" in tp.dims:
        raise DataError(f"ERA5 'tp' in {all_names} has a level dimension; expected a single-level field",
                        file=all_names, variable="tp")

    times = pd.DatetimeIndex(tp["time"].values)
    if times.size < 2:
        raise DataError(f"ERA5 'tp' in {all_names} has fewer than 2 time steps", file=all_names, variable="tp")
    step = pd.Timedelta(np.median(np.diff(times.values)))
    per_window = pd.Timedelta(hours=accumulate_hours) / step
    if per_window < 1 or per_window != int(per_window):
        raise DataError(f"ERA5 'tp' step {step} does not divide the {accumulate_hours} h accumulation",
                        file=all_names, variable="tp")
    rain_mm = (tp * 1000.0).resample(time=f"{accumulate_hours}h", closed="right", label="right")
    rain = rain_mm.sum(skipna=False)
    complete = (tp.notnull().resample(time=f"{accumulate_hours}h", closed="right", label="right").sum()
                == int(per_window)).all(dim=("lat", "lon")).compute()
    rain = rain.where(complete, drop=True)

    common = np.intersect1d(rain["time"].values, pl["time"].values)
    if common.size == 0:
        raise DataError(f"ERA5 pressure-level times in {pl_names} never coincide with the ends of complete "
                        f"{accumulate_hours} h precipitation sums", file=all_names, variable="time")
    pl = pl.sel(time=common)
    rain = rain.sel(time=common)

    pressure = pl["level"].astype("float64")
    if "r" in pl.data_vars:
        dewpoint = xr.apply_ufunc(lambda t, r: magnus_dewpoint(t, r / 100.0), pl["t"], pl["r"], dask="parallelized",
                                  output_dtypes=[np.float64])
        humidity_source = "relative humidity r"
    else:
        dewpoint = xr.apply_ufunc(dewpoint_from_specific_humidity, pl["q"], pressure, dask="parallelized",
                                  output_dtypes=[np.float64])
        humidity_source = "specific humidity q"
    dewpoint = np.minimum(dewpoint, pl["t"])  # supersaturation in the analysis is rounding, not physics

    fields = {
        "temperature": pl["t"],
        "dewpoint": dewpoint,
        "u": pl["u"],
        "v": pl["v"],
        "height": pl["z"] / GRAVITY,
    }
    out = xr.Dataset(
        {name: da.transpose("time", "level", "lat", "lon").astype(np.float32).assign_attrs(_VARIABLE_ATTRS[name])
         for name, da in fields.items()}
    )
    out["rain"] = rain.transpose("time", "lat", "lon").astype(np.float32).assign_attrs(_VARIABLE_ATTRS["rain"])
    out["level"].attrs.update({"units": "hPa", "standard_name": "air_pressure", "positive": "down"})
    out.attrs.update({
        "title": "ERA5 pressure-level fields and precipitation",
        "source": f"ECMWF reanalysis read from {all_names}",
        "Conventions": "CF-1.8",
        "time_step": f"{accumulate_hours}h",
        "time_step_seconds": accumulate_hours * 3600,
        "dewpoint_from": humidity_source,
    })
    return out
