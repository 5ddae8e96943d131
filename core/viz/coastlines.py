"""Embedded Natural Earth 110m coastlines and land borders as plotly line traces (no network).

The assets under ``data/`` are built once by ``scripts/build_coastlines.py`` from the npm package
``world-atlas`` (Natural Earth, public domain). Plotly's own geo/map traces fetch topojson or tiles
at run time and render blank offline, so maps here are ordinary x/y plots in lon/lat degrees with
these lines drawn on top.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
LINES_PATH = DATA_DIR / "coastlines_110m.npz"
NATURAL_EARTH_DIR = DATA_DIR / "natural_earth"
"""Folder for ``cartopy.config["pre_existing_data_dir"]`` (holds ``shapefiles/natural_earth/...``)."""


@lru_cache(maxsize=1)
def load_lines() -> dict[str, np.ndarray]:
    """``coast_lon``, ``coast_lat``, ``border_lon``, ``border_lat``: degrees, lines separated by NaN."""
    if not LINES_PATH.exists():
        raise FileNotFoundError(f"coastline asset {LINES_PATH} is missing; rebuild it with scripts/build_coastlines.py")
    with np.load(LINES_PATH) as data:
        return {key: data[key].astype(np.float64) for key in data.files}


def _clip(lon: np.ndarray, lat: np.ndarray, lon_range, lat_range, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep points inside the (padded) box; points outside become NaN gaps so lines do not streak."""
    if lon_range is None or lat_range is None:
        return lon, lat
    inside = ((lon >= lon_range[0] - margin) & (lon <= lon_range[1] + margin)
              & (lat >= lat_range[0] - margin) & (lat <= lat_range[1] + margin))
    lon = np.where(inside, lon, np.nan)
    lat = np.where(inside, lat, np.nan)
    # drop runs of NaN to keep the traces small
    keep = ~(np.isnan(lon) & np.concatenate([[True], np.isnan(lon[:-1])]))
    return lon[keep], lat[keep]


def coastline_traces(lon_range: tuple[float, float] | None = None, lat_range: tuple[float, float] | None = None,
                     borders: bool = True, color: str = "#444", margin: float = 2.0) -> list[go.Scatter]:
    """Line traces of coastlines (and land borders) inside the box, degrees lon/lat, no hover."""
    lines = load_lines()
    out = []
    parts = [("coast", 1.0, "solid")] + ([("border", 0.6, "dot")] if borders else [])
    for key, width, dash in parts:
        lon, lat = _clip(lines[f"{key}_lon"], lines[f"{key}_lat"], lon_range, lat_range, margin)
        out.append(go.Scatter(x=lon, y=lat, mode="lines", line={"color": color, "width": width, "dash": dash},
                              hoverinfo="skip", showlegend=False, name="coastline" if key == "coast" else "border"))
    return out
