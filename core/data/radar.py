"""Reader for FMI radar composites (gzip-compressed PGM, reflectivity) into a rain-rate dataset.

Files are named ``YYYYmmddHHMM_fmi.radar.composite.lowest_FIN_SUOMI1.pgm.gz``: one 5-minute frame of
8-bit pixels on a polar stereographic 1 km grid whose header comments give the projection
(``centrallongitude``, ``centrallatitude``, ``truelatitude``) and the corners (``bottomleft``,
``topright`` as lon lat). A pixel value ``v`` is reflectivity ``dBZ = (v - 64) / 2``, ``255`` means no
data; rain rate follows from the Marshall-Palmer type relation ``Z = 223 R^1.53`` (Z in mm6 m-3, R in mm/h).

The frames are re-gridded onto a regular latitude/longitude grid (block mean of the 1 km pixels whose
centre falls in each cell, NaN where a cell holds no valid pixel), so radar data share the layout of
DESIGN.md section 3 (``rain`` on ``(time, lat, lon)``, latitudes ascending) and region boxes, maps and
experiments work on them unchanged.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from core.data.errors import DataError

FILE_PATTERN = re.compile(r"^(\d{12})_fmi\.radar\.composite\..*\.pgm(\.gz)?$")
NO_DATA = 255
ZR_A, ZR_B = 223.0, 1.53


def reflectivity_to_rain_rate(dbz: np.ndarray) -> np.ndarray:
    """Rain rate (mm/h) from reflectivity (dBZ) through ``Z = 223 R^1.53``; NaN stays NaN."""
    z = 10.0 ** (np.asarray(dbz, dtype=np.float64) / 10.0)
    return (z / ZR_A) ** (1.0 / ZR_B)


def read_pgm(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, str]]:
    """Pixels (``uint8 [rows, cols]``, top row first) and header comments of a binary (P5) PGM file, gzip or not."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read radar file {path}: {exc}", file=path) from exc
    if not raw.startswith(b"P5"):
        raise DataError(f"radar file {path} is not a binary PGM (expected magic 'P5', got {raw[:2]!r})", file=path)
    comments: dict[str, str] = {}
    tokens: list[bytes] = []
    pos = 2
    while len(tokens) < 3:
        # header: whitespace-separated width, height, maxval, with '#' comment lines between them
        while pos < len(raw) and raw[pos : pos + 1].isspace():
            pos += 1
        if pos >= len(raw):
            raise DataError(f"radar file {path} ends inside its PGM header", file=path)
        if raw[pos : pos + 1] == b"#":
            end = raw.find(b"\n", pos)
            end = len(raw) if end < 0 else end
            parts = raw[pos + 1 : end].decode("latin-1").strip().split(None, 1)
            if parts:
                key = parts[0]
                value = parts[1] if len(parts) > 1 else ""
                comments[key] = f"{comments[key]}\n{value}" if key in comments else value
            pos = end + 1
            continue
        end = pos
        while end < len(raw) and not raw[end : end + 1].isspace():
            end += 1
        tokens.append(raw[pos:end])
        pos = end
    try:
        width, height, maxval = (int(t) for t in tokens)
    except ValueError as exc:
        raise DataError(f"radar file {path} has a malformed PGM header {tokens!r}", file=path) from exc
    if maxval > 255:
        raise DataError(f"radar file {path}: 16-bit PGM (maxval {maxval}) is not an FMI composite", file=path)
    pos += 1  # the single whitespace byte after maxval
    pixels = raw[pos : pos + width * height]
    if len(pixels) != width * height:
        raise DataError(
            f"radar file {path} is truncated: {len(pixels)} pixel bytes for a {width} x {height} image", file=path
        )
    return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width), comments


def _corner(comments: dict[str, str], key: str, path: Path) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in comments[key].split())
    except (KeyError, ValueError) as exc:
        raise DataError(f"radar file {path} lacks a usable '# {key} lon lat' header line", file=path,
                        variable=key) from exc
    return lon, lat


def pixel_lonlat(comments: dict[str, str], shape: tuple[int, int], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees) of every pixel centre, from the header's stereographic projection."""
    from pyproj import Transformer

    try:
        lon_0 = float(comments["centrallongitude"])
        lat_0 = float(comments["centrallatitude"])
        lat_ts = float(comments["truelatitude"])
    except (KeyError, ValueError) as exc:
        raise DataError(f"radar file {path} lacks its projection header (centrallongitude, centrallatitude, "
                        "truelatitude)", file=path, variable="projection") from exc
    proj = f"+proj=stere +lat_0={lat_0} +lon_0={lon_0} +lat_ts={lat_ts} +ellps=WGS84 +units=m +no_defs"
    to_xy = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
    x0, y0 = to_xy.transform(*_corner(comments, "bottomleft", path))
    x1, y1 = to_xy.transform(*_corner(comments, "topright", path))
    rows, cols = shape
    dx, dy = (x1 - x0) / cols, (y1 - y0) / rows
    xs = x0 + (np.arange(cols) + 0.5) * dx
    ys = y1 - (np.arange(rows) + 0.5) * dy  # first row is the northern edge
    xx, yy = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs(proj, "EPSG:4326", always_xy=True).transform(xx, yy)
    return np.asarray(lon), np.asarray(lat)


def radar_files(folder: str | os.PathLike) -> list[tuple[pd.Timestamp, Path]]:
    """(time, path) of every FMI composite in ``folder``, sorted by time."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"radar folder {folder} does not exist", file=folder)
    found = []
    for p in folder.iterdir():
        m = FILE_PATTERN.match(p.name)
        if m:
            found.append((pd.Timestamp(pd.to_datetime(m.group(1), format="%Y%m%d%H%M")), p))
    if not found:
        raise DataError(f"radar folder {folder} holds no FMI composite files named "
                        "'YYYYmmddHHMM_fmi.radar.composite.*.pgm.gz'", file=folder)
    return sorted(found)


def load_radar(
    folder: str | os.PathLike,
    start: str | None = None,
    end: str | None = None,
    resolution_deg: tuple[float, float] = (0.1, 0.2),
    lat_range: tuple[float, float] = (59.0, 68.0),
    lon_range: tuple[float, float] = (20.0, 32.0),
    min_rain_mm_h: float = 0.05,
) -> xr.Dataset:
    """Rain rate of the FMI composites in ``folder`` on a regular latitude/longitude grid.

    Parameters
    ----------
    folder : folder of ``*_fmi.radar.composite.*.pgm.gz`` files.
    start, end : optional time window (inclusive) of frames to read.
    resolution_deg : (lat, lon) cell size of the target grid, degrees; the default (0.1, 0.2) is about
        11 km by 10 km at 63 N, a block mean over about 100 radar pixels.
    lat_range, lon_range : target grid box, degrees.
    min_rain_mm_h : rates below this (noise and clutter near the detection limit) are set to 0 mm/h.

    Returns
    -------
    xarray.Dataset with ``rain`` (time, lat, lon) in mm/h (float32, NaN where no radar sees), the
    5-minute time step in ``attrs``. Frames may form several separate events; sample builders must
    not join windows across gaps (``core.rain.stacking.sample_end_indices`` checks the spacing).
    """
    files = radar_files(folder)
    if start is not None or end is not None:
        lo = pd.Timestamp(start) if start is not None else files[0][0]
        hi = pd.Timestamp(end) if end is not None else files[-1][0]
        files = [(t, p) for t, p in files if lo <= t <= hi]
        if not files:
            raise DataError(f"radar folder {folder} has no frame between {lo} and {hi}", file=folder, date=lo)
    lat_edges = np.arange(lat_range[0], lat_range[1] + 1e-9, resolution_deg[0])
    lon_edges = np.arange(lon_range[0], lon_range[1] + 1e-9, resolution_deg[1])
    n_lat, n_lon = lat_edges.size - 1, lon_edges.size - 1
    if n_lat < 1 or n_lon < 1:
        raise DataError(f"radar target grid lat {lat_range}, lon {lon_range} at {resolution_deg} deg is empty",
                        variable="grid")

    cell_of_pixel = None
    frames = np.empty((len(files), n_lat, n_lon), dtype=np.float32)
    for i, (_, path) in enumerate(files):
        pixels, comments = read_pgm(path)
        if cell_of_pixel is None:
            shape, geometry = pixels.shape, (comments.get("bottomleft"), comments.get("topright"))
            lon, lat = pixel_lonlat(comments, pixels.shape, path)
            r = np.floor((lat - lat_range[0]) / resolution_deg[0]).astype(np.int64)
            c = np.floor((lon - lon_range[0]) / resolution_deg[1]).astype(np.int64)
            inside = (r >= 0) & (r < n_lat) & (c >= 0) & (c < n_lon)
            cell_of_pixel = np.where(inside, r * n_lon + c, -1).ravel()
            in_grid = cell_of_pixel >= 0
        elif pixels.shape != shape or (comments.get("bottomleft"), comments.get("topright")) != geometry:
            raise DataError(f"radar file {path} has a different grid ({pixels.shape}) than the first file "
                            f"({shape}); one folder must hold one composite grid", file=path)
        values = pixels.ravel()
        valid = in_grid & (values != NO_DATA)
        rate = reflectivity_to_rain_rate((values[valid].astype(np.float64) - 64.0) / 2.0)
        rate[rate < min_rain_mm_h] = 0.0
        total = np.bincount(cell_of_pixel[valid], weights=rate, minlength=n_lat * n_lon)
        count = np.bincount(cell_of_pixel[valid], minlength=n_lat * n_lon)
        with np.errstate(invalid="ignore", divide="ignore"):
            frames[i] = np.where(count > 0, total / np.maximum(count, 1), np.nan).reshape(n_lat, n_lon)

    times = pd.DatetimeIndex([t for t, _ in files])
    return xr.Dataset(
        {"rain": (("time", "lat", "lon"), frames, {
            "units": "mm h-1",
            "standard_name": "rainfall_rate",
            "long_name": "radar rain rate, block mean of 1 km pixels (Z = 223 R^1.53)",
        })},
        coords={
            "time": times,
            "lat": ("lat", 0.5 * (lat_edges[:-1] + lat_edges[1:]), {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", 0.5 * (lon_edges[:-1] + lon_edges[1:]), {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={
            "title": "FMI radar composite rain rate",
            "source": f"Finnish Meteorological Institute radar composites (CC BY 4.0) read from {Path(folder)}",
            "Conventions": "CF-1.8",
            "time_step": "5min",
            "time_step_seconds": 300,
            "rain_units": "mm/h",
            "min_rain_mm_h": min_rain_mm_h,
        },
    )
