"""Region boxes on a gridded dataset: region 1, its upstream neighbour region 2, subsetting, motion.

A :class:`Region` is an inclusive latitude/longitude box in degrees. ``upstream_region`` builds the
box of region 2 right next to region 1 on the upstream side (west by default, since mid-latitude
weather moves west to east); ``upstream_cells`` gives the same region 2 as grid rows and columns.
For a record with an unknown flow direction (a radar event), ``upstream_side_from_motion`` estimates
the mean displacement of the rain field between consecutive frames by phase correlation and picks
the side the rain comes from. The rain experiments (:mod:`core.rain.experiments`) build their
region 1 / region 2 layout on these functions.

Every box that does not fit the grid raises :class:`DataError` naming the box and the grid extent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from core.data.errors import DataError

SIDES = ("west", "east", "south", "north")


@dataclass(frozen=True)
class Region:
    """Inclusive lat/lon box in degrees (``lat_min < lat_max``, ``lon_min < lon_max``, lon in -180..180)."""

    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def __post_init__(self) -> None:
        if not (self.lat_min < self.lat_max and self.lon_min < self.lon_max):
            raise DataError(f"region {self.describe()}: minimum must be below maximum", variable=self.name)
        if not (-90 <= self.lat_min and self.lat_max <= 90 and -180 <= self.lon_min and self.lon_max <= 180):
            raise DataError(f"region {self.describe()} lies outside lat -90..90 / lon -180..180", variable=self.name)

    def describe(self) -> str:
        return (f"'{self.name}' (lat {self.lat_min:g}..{self.lat_max:g}, "
                f"lon {self.lon_min:g}..{self.lon_max:g})")


def _grid_extent(ds: xr.Dataset) -> str:
    lat, lon = ds["lat"].values, ds["lon"].values
    return f"lat {lat.min():g}..{lat.max():g}, lon {lon.min():g}..{lon.max():g}"


def _spacing(coord: np.ndarray, name: str) -> float:
    if coord.size < 2:
        raise DataError(f"grid has a single {name} value; cannot size a region", variable=name)
    return float(np.median(np.diff(coord)))


def axes_outside(ds: xr.Dataset, region: Region) -> tuple[str, ...]:
    """The axes (``"lat"``, ``"lon"``) along which ``region`` reaches beyond the grid of ``ds``.

    A box edge may overhang the outermost cell centre by half a cell (degrees), since a box drawn on
    cell edges rather than centres is still inside the grid. Empty when the box fits.
    """
    out = []
    for name, lo, hi in (("lat", region.lat_min, region.lat_max), ("lon", region.lon_min, region.lon_max)):
        coord = ds[name].values
        half = abs(_spacing(coord, name)) / 2
        if lo < coord.min() - half or hi > coord.max() + half:
            out.append(name)
    return tuple(out)


def _inside(coord: np.ndarray, lo: float, hi: float) -> np.ndarray:
    # relative tolerance: a float32 coordinate one rounding step off the edge written in a config
    # (104.99999 for 105; float32 steps are ~8e-6 near 100 degrees) must still count as inside
    tol = 1e-6 * max(1.0, abs(lo), abs(hi))
    return np.nonzero((coord >= lo - tol) & (coord <= hi + tol))[0]


def region_indices(ds: xr.Dataset, region: Region) -> tuple[np.ndarray, np.ndarray]:
    """Row (lat) and column (lon) indices of the grid cells whose centres lie in ``region``.

    Raises DataError when the box leaves the grid (see :func:`axes_outside`): a box partly outside
    would silently give a smaller region than asked for, and the experiment 2 layout needs region 2
    exactly region 1's size.
    """
    if axes_outside(ds, region):
        raise DataError(f"region {region.describe()} falls outside the grid ({_grid_extent(ds)})",
                        variable=region.name)
    rows = _inside(ds["lat"].values, region.lat_min, region.lat_max)
    cols = _inside(ds["lon"].values, region.lon_min, region.lon_max)
    if rows.size == 0 or cols.size == 0:
        raise DataError(f"region {region.describe()} holds no grid cell centre ({_grid_extent(ds)})",
                        variable=region.name)
    return rows, cols


def subset_region(ds: xr.Dataset, region: Region) -> xr.Dataset:
    """The part of ``ds`` inside ``region`` (lazy for dask-backed data); attrs record the region."""
    rows, cols = region_indices(ds, region)
    out = ds.isel(lat=rows, lon=cols)
    out.attrs = {**ds.attrs, "region": region.name,
                 "region_box": [region.lat_min, region.lat_max, region.lon_min, region.lon_max]}
    return out


def upstream_cells(ds: xr.Dataset, region1: Region, side: str = "west", name: str = "region2",
                   size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row (lat) and column (lon) indices of region 2 beside ``region1`` on its ``side``.

    ``size`` is the depth of region 2 in cells across the join (columns for west/east, rows for
    south/north); default: region 1's. Region 2 shares region 1's rows (west/east) or columns
    (south/north) so the two can be joined along x (or y); it must fit the grid, otherwise
    DataError names both boxes and the grid extent.
    """
    if side not in SIDES:
        raise DataError(f"upstream side {side!r} is not one of {SIDES}", variable="upstream_side")
    rows, cols = region_indices(ds, region1)
    if size is not None and int(size) < 1:
        raise DataError(f"region 2 size must be at least 1 cell, got {size}", variable=name)
    n_rows = int(size) if size is not None and side in ("south", "north") else rows.size
    n_cols = int(size) if size is not None and side in ("west", "east") else cols.size
    lat, lon = ds["lat"].values, ds["lon"].values
    if side in ("west", "east"):
        r2_rows = rows
        start = cols[0] - n_cols if side == "west" else cols[-1] + 1
        r2_cols = np.arange(start, start + n_cols)
        fits = r2_cols[0] >= 0 and r2_cols[-1] < lon.size
    else:
        r2_cols = cols
        start = rows[0] - n_rows if side == "south" else rows[-1] + 1
        r2_rows = np.arange(start, start + n_rows)
        fits = r2_rows[0] >= 0 and r2_rows[-1] < lat.size
    if not fits:
        raise DataError(
            f"region 2 of {n_rows}x{n_cols} cells on the {side} side of {region1.describe()} "
            f"runs off the grid ({_grid_extent(ds)})", variable=name)
    return r2_rows, r2_cols


def upstream_region(ds: xr.Dataset, region1: Region, side: str = "west", name: str = "region2",
                    size: int | None = None) -> Region:
    """Box of region 2 beside ``region1`` on its ``side`` (see :func:`upstream_cells`), edges on cell centres."""
    rows, cols = upstream_cells(ds, region1, side=side, name=name, size=size)
    lat, lon = ds["lat"].values, ds["lon"].values
    return Region(name, float(lat[rows[0]]), float(lat[rows[-1]]), float(lon[cols[0]]), float(lon[cols[-1]]))


def mean_motion(rain: np.ndarray, lag: int = 1, max_pairs: int = 24) -> tuple[float, float]:
    """Mean displacement (rows, cols) per step of a rain field ``[time, lat, lon]`` (lat ascending).

    Phase correlation of frames ``lag`` steps apart (FFT, NaN -> 0, log1p to keep single heavy cells
    from dominating, frame mean removed), averaged over up to ``max_pairs`` evenly spaced pairs and
    divided by ``lag``; pairs with an empty frame are skipped. Positive rows = northward, positive
    cols = eastward. Use a ``lag`` that moves rain by a few cells: 1 for 12-hourly fields, about 6
    (30 min) for 5-minute radar frames on a 10 km grid, where one step moves rain under a cell.
    """
    rain = np.asarray(rain, dtype=np.float64)
    if rain.ndim != 3 or lag < 1 or rain.shape[0] <= lag:
        raise DataError(f"mean_motion needs rain [time>{lag}, lat, lon] (lag {lag} >= 1), got shape {rain.shape}",
                        variable="rain")
    n_pairs = rain.shape[0] - lag
    pairs = np.unique(np.linspace(0, n_pairs - 1, min(max_pairs, n_pairs)).astype(int))
    shifts = []
    for t in pairs:
        a, b = (np.log1p(np.nan_to_num(rain[k], nan=0.0)) for k in (t, t + lag))
        if not a.any() or not b.any():
            continue
        a, b = a - a.mean(), b - b.mean()
        cross = np.fft.fft2(b) * np.conj(np.fft.fft2(a))
        corr = np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)).real
        peak = np.array(np.unravel_index(np.argmax(corr), corr.shape), dtype=float)
        # wrap to signed shifts
        for axis, n in enumerate(corr.shape):
            if peak[axis] > n // 2:
                peak[axis] -= n
        shifts.append(peak)
    if not shifts:
        raise DataError("mean_motion: every frame pair has an empty rain field", variable="rain")
    mean = np.mean(shifts, axis=0) / lag
    return float(mean[0]), float(mean[1])


def upstream_side_from_motion(rain: np.ndarray, lag: int = 1) -> str:
    """Side of a region that rain arrives from: the opposite of the dominant motion component.

    Ties go to the west/east axis (the experiments' default join along x).
    """
    d_row, d_col = mean_motion(rain, lag=lag)
    if abs(d_col) >= abs(d_row):
        return "west" if d_col >= 0 else "east"
    return "south" if d_row >= 0 else "north"


def adjacent_box(region1: dict, side: str, size: float, step: float) -> dict:
    """Region 2 as a box ``{"lat": [s, n], "lon": [w, e]}`` beside ``region1`` (same box layout) on
    ``side``: ``size`` times region 1's width (west/east) or height (south/north), one grid ``step``
    (degrees) apart so the two share no cell. What the region map draws before a run picks cells."""
    if side not in SIDES:
        raise DataError(f"upstream side {side!r} is not one of {SIDES}", variable="upstream_side")
    (s, n), (w, e) = region1["lat"], region1["lon"]
    if side in ("west", "east"):
        width = size * (e - w)
        lon = [w - step - width, w - step] if side == "west" else [e + step, e + step + width]
        return {"lat": [s, n], "lon": lon}
    height = size * (n - s)
    lat = [s - step - height, s - step] if side == "south" else [n + step, n + step + height]
    return {"lat": lat, "lon": [w, e]}


def check_rain_regions(lat: np.ndarray, lon: np.ndarray, region1: dict, side: str | None = "west",
                       region2: dict | None = None) -> list[str]:
    """Problems of region 1 and region 2 on a grid with cell centres ``lat``/``lon`` (degrees), as
    sentences for the page; empty when both fit. ``side`` None (or "auto") skips region 2; with
    ``region2`` None it is region 1's size beside it on ``side`` (:func:`upstream_cells`), else
    that box. The same rules the run applies, checked before Start.
    """
    grid = xr.Dataset(coords={"lat": np.asarray(lat, dtype=float), "lon": np.asarray(lon, dtype=float)})

    def sentence(exc: DataError) -> str:
        return exc.reason[:1].upper() + exc.reason[1:] + "."

    try:
        r1 = Region("region 1", region1["lat"][0], region1["lat"][1], region1["lon"][0], region1["lon"][1])
        region_indices(grid, r1)
    except DataError as exc:
        return [sentence(exc)]
    if side is None or side not in SIDES:
        return []
    try:
        if region2 is None:
            upstream_cells(grid, r1, side=side, name="region 2")
        else:
            r2 = Region("region 2", region2["lat"][0], region2["lat"][1], region2["lon"][0], region2["lon"][1])
            region_indices(grid, r2)
    except DataError as exc:
        return [sentence(exc)]
    return []
