"""Radar composites read with pysteps' importers, re-gridded to block means on a lat/lon grid.

Formats (``format=`` of :func:`load_radar`, ``auto`` picks the one whose file names match):

| format | files | pysteps importer | value |
|---|---|---|---|
| ``mch_gif`` | ``AQCyyjjjHHMM?_00005.801.gif`` (MeteoSwiss) | ``import_mch_gif(product="AQC", unit="mm", accutime=5)`` | 5-min accumulation, mm |
| ``bom_rf3`` | ``NN_YYYYmmdd_HHMMSS.prcp-<product>.nc`` (BOM: ``prcp-c10``, ``prcp-cscn`` ...) | ``import_bom_rf3`` | accumulation over the file's ``accutime`` (10 or 6 min), mm |
| ``fmi_pgm`` | ``YYYYmmddHHMM_fmi.radar.composite.*.pgm.gz`` (FMI) | ``import_fmi_pgm(gzipped=True)`` | reflectivity, dBZ |
| ``odim_hdf5`` | ``*YYYYmmddHHMM*.h5`` / ``.hdf`` (OPERA ODIM) | ``import_odim_hdf5`` | as the file says |
| ``knmi_hdf5`` | ``RAD_NL25_RAC_*_YYYYmmddHHMM.h5`` (KNMI) | ``import_knmi_hdf5`` | as the file says |

Every frame becomes a rain rate in mm/h with ``pysteps.utils.conversion.to_rainrate`` (accumulations
divided by their period; reflectivity through the Z-R relation the importer reports, for FMI
``Z = 223 R^1.53``). The pixel centres are projected to longitude/latitude with the projection the
importer gives (pyproj) and averaged into regular lat/lon cells (block mean, NaN where no pixel is
valid), so radar shares the layout of docs/design.md, 3. Data model (``rain`` on ``(time, lat, lon)``,
latitudes ascending) and region boxes, maps and experiments work on it unchanged.

A folder may hold the files directly or in event subfolders (``radar_mch/20150515/``,
``radar_mch/20160711/``): all frames form one time axis with gaps between events. Sample builders
never join windows across a gap (:func:`core.rain.experiments.lead_sample_ends`).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from core.data.errors import DataError
from core.data.radar_steps import km_resolution, resample_steps

os.environ.setdefault("PYSTEPS_QUIET", "1")


@dataclass(frozen=True)
class RadarFormat:
    """How one composite product is recognised, timed and read."""

    name: str
    pattern: re.Pattern  # group 1 holds the time stamp
    time_format: str
    importer: str  # pysteps.io.importers function name
    kwargs: dict = field(default_factory=dict)
    title: str = ""


FORMATS: dict[str, RadarFormat] = {
    f.name: f
    for f in (
        RadarFormat("mch_gif", re.compile(r"^AQC(\d{9})\w*\.\d+\.gif$"), "%y%j%H%M", "import_mch_gif",
                    {"product": "AQC", "unit": "mm", "accutime": 5.0}, "MeteoSwiss radar composite (AQC)"),
        RadarFormat("bom_rf3", re.compile(r"^\d+_(\d{8}_\d{6})\.prcp-[a-z0-9]+\.nc$"), "%Y%m%d_%H%M%S", "import_bom_rf3",
                    {}, "Bureau of Meteorology rainfields (RF3)"),
        RadarFormat("fmi_pgm", re.compile(r"^(\d{12})_fmi\.radar\.composite\..*\.pgm\.gz$"), "%Y%m%d%H%M",
                    "import_fmi_pgm", {"gzipped": True}, "FMI radar composite"),
        RadarFormat("knmi_hdf5", re.compile(r"^RAD_NL25_RA\w*_(\d{12})\.h5$"), "%Y%m%d%H%M", "import_knmi_hdf5",
                    {}, "KNMI radar composite"),
        RadarFormat("odim_hdf5", re.compile(r"^\D*?(\d{12})\S*\.(?:h5|hdf5?)$"), "%Y%m%d%H%M", "import_odim_hdf5",
                    {}, "OPERA ODIM HDF5 composite"),
    )
}


def radar_files(folder: str | os.PathLike, fmt: str = "auto") -> tuple[RadarFormat, list[tuple[pd.Timestamp, Path]]]:
    """The format and the ``(time, path)`` of every composite in ``folder`` and its event subfolders, by time."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"radar folder {folder} does not exist", file=folder)
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown radar format {fmt!r}; use auto or one of {list(FORMATS)}")
    paths = [p for p in folder.iterdir() if p.is_file()]
    paths += [p for sub in sorted(folder.iterdir()) if sub.is_dir() for p in sub.iterdir() if p.is_file()]
    candidates = [FORMATS[fmt]] if fmt != "auto" else list(FORMATS.values())
    if fmt == "auto":
        check_one_format(folder, paths)
    for f in candidates:
        found = []
        for p in paths:
            m = f.pattern.match(p.name)
            if m:
                try:
                    found.append((pd.Timestamp(pd.to_datetime(m.group(1), format=f.time_format)), p))
                except ValueError:
                    raise DataError(f"radar file {p}: time stamp {m.group(1)!r} does not parse as {f.time_format}",
                                    file=p) from None
        if found:
            found.sort()
            times = [t for t, _ in found]
            dupes = sorted({t for t, n in zip(times, times[1:]) if t == n})
            if dupes:
                raise DataError(f"radar folder {folder} holds two files for {dupes[0]}", file=folder, date=dupes[0])
            return f, found
    names = ", ".join(f"{f.name} ({f.pattern.pattern})" for f in candidates)
    raise DataError(f"radar folder {folder} (and its subfolders) holds no composite file of a known format: {names}",
                    file=folder)


def check_one_format(folder: Path, paths: list[Path]) -> None:
    """Raise DataError when the files of ``folder`` belong to more than one known format.

    Two products in one folder have different grids, units and time steps; reading the first
    format and dropping the others without a word would train on part of the data the user gave.
    With an explicit ``format`` the other files are ignored on purpose, so this is for ``auto`` only.
    """
    counts: dict[str, int] = {}
    for p in paths:
        f = next((f for f in FORMATS.values() if f.pattern.match(p.name)), None)
        if f is not None:
            counts[f.name] = counts.get(f.name, 0) + 1
    if len(counts) > 1:
        found = ", ".join(f"{n} {name} files" for name, n in counts.items())
        raise DataError(f"radar folder {folder} mixes formats ({found}); one folder must hold one product: move the "
                        "others to their own folder, or name the one to read in data.radar.format",
                        file=folder, variable="format")


def read_frame(path: Path, fmt: RadarFormat) -> tuple[np.ndarray, dict]:
    """One composite as rain rate (mm/h, ``[rows, cols]``, top row first, NaN = no data) and its pysteps metadata."""
    from pysteps.io import importers
    from pysteps.utils import conversion

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values, _, meta = getattr(importers, fmt.importer)(str(path), **fmt.kwargs)
            rate, meta = conversion.to_rainrate(np.asarray(values, dtype=np.float64), dict(meta))
    except Exception as exc:  # the importers raise many kinds (IOError, KeyError, ValueError ...): name the file
        raise DataError(f"cannot read radar file {path} with pysteps {fmt.importer}: {exc}", file=path) from exc
    if meta.get("unit") != "mm/h":
        raise DataError(f"radar file {path}: pysteps gave unit {meta.get('unit')!r}, expected mm/h", file=path)
    return rate, meta


def pixel_lonlat(meta: dict, shape: tuple[int, int], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees) of every pixel centre, from the importer's projection and corners."""
    from pyproj import CRS, Transformer

    try:
        crs = CRS.from_proj4(meta["projection"])
        x1, y1, x2, y2 = (float(meta[k]) for k in ("x1", "y1", "x2", "y2"))
    except Exception as exc:
        raise DataError(f"radar file {path}: unusable projection metadata ({exc})", file=path,
                        variable="projection") from exc
    rows, cols = shape
    dx, dy = (x2 - x1) / cols, (y2 - y1) / rows
    xs = x1 + (np.arange(cols) + 0.5) * dx
    ys = y2 - (np.arange(rows) + 0.5) * dy
    if meta.get("yorigin", "upper") == "lower":
        ys = ys[::-1]
    xx, yy = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xx, yy)
    return np.asarray(lon), np.asarray(lat)


def _grid_edges(lo_hi: tuple[float, float] | None, step: float, values: np.ndarray) -> np.ndarray:
    if lo_hi is None:
        finite = values[np.isfinite(values)]
        lo_hi = (np.floor(finite.min() / step) * step, np.ceil(finite.max() / step) * step)
    return np.arange(float(lo_hi[0]), float(lo_hi[1]) + 1e-9, step)


def load_radar(
    folder: str | os.PathLike,
    start: str | None = None,
    end: str | None = None,
    resolution_deg: tuple[float, float] = (0.1, 0.2),
    lat_range: tuple[float, float] | None = None,
    lon_range: tuple[float, float] | None = None,
    min_rain_mm_h: float = 0.05,
    format: str = "auto",
    cell_km: float | None = None,
    step_minutes: float | None = None,
) -> xr.Dataset:
    """Rain rate of the composites in ``folder`` (and its event subfolders) on a regular lat/lon grid.

    Parameters
    ----------
    folder : folder of composites, or of event subfolders holding them.
    start, end : optional time window (inclusive) of frames to read.
    resolution_deg : (lat, lon) cell size of the target grid, degrees.
    lat_range, lon_range : target grid box, degrees (default: the composite's extent).
    min_rain_mm_h : rates below this (noise near the detection limit) are set to 0 mm/h.
    format : one of :data:`FORMATS` or ``auto``.
    cell_km : cells of about this many km instead of ``resolution_deg`` (:func:`core.data.radar_steps.km_resolution`,
        at the grid's middle latitude), so radars of different pixel sizes share one cell size.
    step_minutes : resample the frames to this step (:func:`core.data.radar_steps.resample_steps`:
        overlap-weighted mean rates, accumulations kept), so radars of different steps share one.

    Returns
    -------
    xarray.Dataset with ``rain`` (time, lat, lon) in mm/h (float32, NaN where no radar sees).
    """
    fmt, files = radar_files(folder, format)
    if start is not None or end is not None:
        lo = pd.Timestamp(str(start)) if start is not None else files[0][0]
        hi = pd.Timestamp(str(end)) if end is not None else files[-1][0]
        files = [(t, p) for t, p in files if lo <= t <= hi]
        if not files:
            raise DataError(f"radar folder {folder} has no frame between {lo} and {hi}", file=folder, date=lo)
    res_lat, res_lon = (float(v) for v in resolution_deg)
    if res_lat <= 0 or res_lon <= 0:
        raise DataError(f"radar resolution_deg {resolution_deg} must be positive", variable="resolution_deg")

    frames = None
    for i, (when, path) in enumerate(files):
        rate, meta = read_frame(path, fmt)
        if frames is None:
            shape, geometry = rate.shape, (meta.get("projection"), meta.get("x1"), meta.get("y2"))
            lon, lat = pixel_lonlat(meta, rate.shape, path)
            if cell_km is not None:  # the lon step depends on the latitude: take the grid's middle
                mid = _grid_edges(lat_range, res_lat, lat)
                res_lat, res_lon = km_resolution(cell_km, 0.5 * (mid[0] + mid[-1]))
            lat_edges = _grid_edges(lat_range, res_lat, lat)
            lon_edges = _grid_edges(lon_range, res_lon, lon)
            n_lat, n_lon = lat_edges.size - 1, lon_edges.size - 1
            if n_lat < 1 or n_lon < 1:
                raise DataError(f"radar target grid lat {lat_range}, lon {lon_range} at {resolution_deg} deg is empty",
                                variable="grid")
            r = np.floor((lat - lat_edges[0]) / res_lat).astype(np.int64)
            c = np.floor((lon - lon_edges[0]) / res_lon).astype(np.int64)
            inside = np.isfinite(lat) & (r >= 0) & (r < n_lat) & (c >= 0) & (c < n_lon)
            cell_of_pixel = np.where(inside, r * n_lon + c, -1).ravel()
            in_grid = cell_of_pixel >= 0
            if not in_grid.any():
                raise DataError(f"radar file {path}: no pixel falls inside lat {lat_range}, lon {lon_range}",
                                file=path, variable="grid")
            frames = np.empty((len(files), n_lat, n_lon), dtype=np.float32)
        elif rate.shape != shape or (meta.get("projection"), meta.get("x1"), meta.get("y2")) != geometry:
            raise DataError(f"radar file {path} has a different grid ({rate.shape}) than the first file "
                            f"({shape}); one folder must hold one composite grid", file=path, date=when)
        values = rate.ravel()
        valid = in_grid & np.isfinite(values)
        v = values[valid]
        v = np.where(v < min_rain_mm_h, 0.0, v)
        total = np.bincount(cell_of_pixel[valid], weights=v, minlength=n_lat * n_lon)
        count = np.bincount(cell_of_pixel[valid], minlength=n_lat * n_lon)
        with np.errstate(invalid="ignore", divide="ignore"):
            frames[i] = np.where(count > 0, total / np.maximum(count, 1), np.nan).reshape(n_lat, n_lon)

    times = pd.DatetimeIndex([t for t, _ in files])
    step_s = int(np.median(np.diff(times.values) / np.timedelta64(1, "s"))) if len(times) > 1 else 0
    ds = xr.Dataset(
        {"rain": (("time", "lat", "lon"), frames, {
            "units": "mm h-1",
            "standard_name": "rainfall_rate",
            "long_name": f"radar rain rate, block mean of the composite pixels ({fmt.importer})",
        })},
        coords={
            "time": times,
            "lat": ("lat", 0.5 * (lat_edges[:-1] + lat_edges[1:]), {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", 0.5 * (lon_edges[:-1] + lon_edges[1:]), {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={
            "title": f"{fmt.title} rain rate",
            "source": f"{fmt.title} read with pysteps.io.importers.{fmt.importer} from {Path(folder)}",
            "radar_format": fmt.name,
            "Conventions": "CF-1.8",
            "time_step": f"{step_s // 60}min",
            "time_step_seconds": step_s,
            "rain_units": "mm/h",
            "min_rain_mm_h": min_rain_mm_h,
        },
    )
    if cell_km is not None:
        ds.attrs["cell_km"] = float(cell_km)
    return resample_steps(ds, step_minutes, str(folder)) if step_minutes is not None else ds
