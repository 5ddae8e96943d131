"""Large gridded records: lazy opening, window-by-window samples, prepared Zarr stores.

A 10-year, 12-hourly, 56-channel record on a 0.25-degree grid is far larger than memory. Here the
record stays a dask-backed ``xarray.Dataset`` (``open_mfdataset``/``open_zarr`` with chunks) and
samples are cut one window at a time from a rolling buffer of the last ``steps + 1`` frames, so only
one time chunk is ever read at once.

Channel order (docs/design.md, 6. ST-RainNet): for each atmospheric variable, for each level (surface first),
then rain last — ``channel_names(("temperature", "dewpoint"), (1000, 850))`` gives
``temperature@1000, temperature@850, dewpoint@1000, dewpoint@850, rain``.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import xarray as xr

from core.data.errors import DataError

ATMOSPHERE_VARIABLES = ("temperature", "dewpoint", "u", "v", "height")


def channel_names(variables: Sequence[str], levels: Sequence[float]) -> list[str]:
    """Names of the stacked channels: ``<variable>@<level>`` for each variable and level, then ``rain``."""
    return [f"{v}@{int(lev) if float(lev).is_integer() else lev}" for v in variables for lev in levels] + ["rain"]


def open_gridded_files(paths: str | os.PathLike | Iterable[str | os.PathLike], chunks: dict | None = None) -> xr.Dataset:
    """Open one or many Zarr stores, or many NetCDF files, as one lazy dataset (nothing is read until used).

    ``chunks`` defaults to one time step per chunk along time and whole fields in space.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no gridded files given", variable="paths")
    for p in paths:
        if not p.exists():
            raise DataError(f"gridded file {p} does not exist", file=p)
    chunks = {"time": 1} if chunks is None else chunks
    try:
        zarr_stores = [p.suffix == ".zarr" or p.is_dir() for p in paths]
        if len(paths) == 1 and zarr_stores[0]:
            ds = xr.open_zarr(paths[0], chunks=chunks)
        elif all(zarr_stores):
            # many stores (e.g. one per year): the same lazy combine as for NetCDF files
            ds = xr.open_mfdataset(sorted(paths), engine="zarr", chunks=chunks, combine="by_coords",
                                   data_vars="minimal", coords="minimal", compat="override", parallel=False)
        else:
            ds = xr.open_mfdataset(sorted(paths), chunks=chunks, combine="by_coords", data_vars="minimal",
                                   coords="minimal", compat="override", parallel=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot open gridded file(s) {', '.join(map(str, paths))}: {exc}",
                        file=", ".join(map(str, paths))) from exc
    validate_gridded(ds, ", ".join(map(str, paths)))
    return ds


def validate_gridded(ds: xr.Dataset, source: str = "dataset") -> None:
    """Check the layout of docs/design.md, 3. Data model; raise :class:`DataError` naming what is wrong."""
    if "rain" not in ds.data_vars:
        raise DataError(f"{source} has no 'rain' variable (has {sorted(ds.data_vars)})", file=source, variable="rain")
    if ds["rain"].dims != ("time", "lat", "lon"):
        raise DataError(f"{source}: 'rain' has dims {ds['rain'].dims}, expected ('time', 'lat', 'lon')",
                        file=source, variable="rain")
    for name in ds.data_vars:
        if "level" in ds[name].dims and ds[name].dims != ("time", "level", "lat", "lon"):
            raise DataError(f"{source}: '{name}' has dims {ds[name].dims}, expected ('time', 'level', 'lat', 'lon')",
                            file=source, variable=name)
    if ds.sizes["lat"] > 1 and not bool((ds["lat"].diff("lat") > 0).all()):
        raise DataError(f"{source}: latitudes must be ascending", file=source, variable="lat")
    if float(ds["lon"].min()) < -180 or float(ds["lon"].max()) > 180:
        raise DataError(f"{source}: longitudes must lie in -180..180", file=source, variable="lon")
    check_time_axis(ds, source)


def check_time_axis(ds: xr.Dataset, source: str = "dataset") -> None:
    """The ``time`` axis must hold dates, each once, in increasing order (coordinates only: cheap)."""
    values = ds["time"].values
    if not np.issubdtype(values.dtype, np.datetime64):
        # numbers read as nanoseconds would all fall on 1970-01-01 and pass for duplicated dates
        shown = f"{values[0]} .. {values[-1]}" if values.size else "empty"
        raise DataError(f"{source}: the 'time' axis holds {values.dtype} values ({shown}), not dates; give it CF "
                        "units such as 'hours since 2000-01-01'", file=source, variable="time")
    steps = np.diff(values)
    wrong = steps <= np.timedelta64(0, "ns")
    if wrong.any():
        where = int(wrong.nonzero()[0][0]) + 1
        what = "is duplicated" if steps[where - 1] == np.timedelta64(0, "ns") else "is out of order"
        # two fields for one time cannot both be the rain of that step; which one is meant is unknowable
        raise DataError(f"{source}: time stamp {np.datetime_as_string(values[where], unit='s')} {what}; "
                        "each time must appear once, in increasing order", file=source, variable="time",
                        date=values[where])


def check_rain_values(ds: xr.Dataset, source: str = "dataset") -> None:
    """Refuse rain no instrument produces: an infinite value anywhere, or no rain at all in the record.

    Reads the whole ``rain`` variable (call it where the data are read anyway, before training). NaN
    stays allowed: radar composites have cells no radar sees. An infinite value would otherwise make
    the rain scale fall back to 1, and a record without rain trains a model that can only be scored
    as undefined (CSI NaN).
    """
    check_time_axis(ds, source)
    rain = ds["rain"]
    infinite = np.isinf(rain).any(dim=[d for d in rain.dims if d != "time"]).values
    if infinite.any():
        where = int(infinite.nonzero()[0][0])
        raise DataError(f"{source}: infinite rain value at {np.datetime_as_string(ds['time'].values[where], unit='s')}",
                        file=source, variable="rain", date=ds["time"].values[where])
    wettest = float(rain.max(skipna=True).values) if rain.size else float("nan")
    if not np.isfinite(wettest) or wettest <= 0:
        times = ds["time"].values
        period = f"{np.datetime_as_string(times[0], unit='s')} .. {np.datetime_as_string(times[-1], unit='s')}" \
            if times.size else "empty"
        raise DataError(f"{source}: no rain anywhere in the record ({period}); there is nothing to learn or to "
                        "score (CSI would be undefined): choose a file or period with rain", file=source,
                        variable="rain", date=times[0] if times.size else None)


def _frame_stack(block: xr.Dataset, variables: Sequence[str], levels: Sequence[float] | None) -> np.ndarray:
    """``[time, C, lat, lon]`` float32 array of ``block`` in the channel order of :func:`channel_names`."""
    parts = []
    for name in variables:
        da = block[name] if levels is None else block[name].sel(level=list(levels))
        parts.append(np.asarray(da.values, dtype=np.float32))
    parts.append(np.asarray(block["rain"].values, dtype=np.float32)[:, None])
    return np.concatenate(parts, axis=1)


def iter_windows(
    ds: xr.Dataset,
    steps: int = 6,
    variables: Sequence[str] = ATMOSPHERE_VARIABLES,
    levels: Sequence[float] | None = None,
    block_steps: int = 16,
) -> Iterator[tuple[np.datetime64, np.ndarray, np.ndarray]]:
    """Yield ``(target time, inputs [steps, C, lat, lon], target rain [lat, lon])`` for every window, in time order.

    Reads ``block_steps`` frames at a time and keeps only the last ``steps + 1`` frames, so memory
    holds one block plus one window whatever the length of the record. Windows never span a gap in
    the time axis (a step different from the record's usual step).
    """
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise DataError(f"gridded dataset lacks variable(s) {missing} (has {sorted(ds.data_vars)})",
                        variable=", ".join(missing))
    times = ds["time"].values
    if times.size < steps + 1:
        raise DataError(f"gridded record has {times.size} steps; a window needs {steps + 1}", variable="time")
    yield from _rolling_windows(
        times, lambda sl: _frame_stack(ds.isel(time=sl), variables, levels), steps, block_steps)


def _rolling_windows(times: np.ndarray, read_block, steps: int, block_steps: int
                     ) -> Iterator[tuple[np.datetime64, np.ndarray, np.ndarray]]:
    """Windows from frames read ``block_steps`` at a time by ``read_block(slice) -> [time, C, lat, lon]``."""
    usual_step = np.median(np.diff(times))
    buffer: deque[tuple[np.datetime64, np.ndarray]] = deque(maxlen=steps + 1)
    for start in range(0, times.size, block_steps):
        block = read_block(slice(start, start + block_steps))
        for k in range(block.shape[0]):
            t = times[start + k]
            if buffer and t - buffer[-1][0] != usual_step:
                buffer.clear()  # a gap: start a new run of frames
            buffer.append((t, block[k]))
            if len(buffer) == steps + 1:
                frames = [f for _, f in buffer]
                yield t, np.stack(frames[:-1]), frames[-1][-1]


def prepare_zarr(
    ds: xr.Dataset,
    path: str | os.PathLike,
    variables: Sequence[str] = ATMOSPHERE_VARIABLES,
    levels: Sequence[float] | None = None,
    time_chunk: int = 16,
) -> Path:
    """Write ``ds`` as a chunked Zarr store of stacked channels for repeated training.

    The store holds ``stack`` ``(time, channel, lat, lon)`` float32 in the order of :func:`channel_names`,
    chunked ``time_chunk`` steps by whole fields, and ``rain`` as given. It is written to a temporary
    folder and renamed into place, so an interrupted write never leaves a half store at ``path``.
    """
    path = Path(path)
    if path.exists():
        raise DataError(f"Zarr store {path} already exists; remove it or choose another path", file=path)
    level_values = list(ds["level"].values) if levels is None else list(levels)
    names = channel_names(variables, level_values)
    atmosphere = [ds[v].sel(level=level_values) for v in variables]
    stacked = xr.concat([da.rename({"level": "channel"}).drop_vars("channel") for da in atmosphere]
                        + [ds["rain"].expand_dims(channel=1, axis=1)], dim="channel")
    stacked = stacked.assign_coords(channel=names).astype(np.float32).chunk(
        {"time": time_chunk, "channel": -1, "lat": -1, "lon": -1})
    out = xr.Dataset({"stack": stacked, "rain": ds["rain"].chunk({"time": time_chunk, "lat": -1, "lon": -1})},
                     attrs=dict(ds.attrs, channels=",".join(names)))
    for name in out.variables:
        out[name].encoding = {}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        out.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def iter_zarr_windows(store: str | os.PathLike, steps: int = 6, block_steps: int = 16
                      ) -> Iterator[tuple[np.datetime64, np.ndarray, np.ndarray]]:
    """Like :func:`iter_windows`, reading a store made by :func:`prepare_zarr` (channels already stacked)."""
    ds = xr.open_zarr(store)
    stack = ds["stack"]
    yield from _rolling_windows(
        ds["time"].values, lambda sl: np.asarray(stack.isel(time=sl).values, dtype=np.float32), steps, block_steps)
