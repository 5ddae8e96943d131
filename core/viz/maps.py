"""Maps on a plain lon/lat plot with the embedded coastlines, rivers, lakes and state/province borders
(works offline; no tiles, no geo traces)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.coastlines import coastline_traces
from core.viz.map_layers import reference_traces

from core.viz.palette import RAIN_SCALE  # one scale for the screen and the PNG export
DIFF_SCALE = "RdBu_r"


def _extent(lon: np.ndarray, lat: np.ndarray, pad: float) -> tuple[tuple[float, float], tuple[float, float]]:
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    lo = (float(np.nanmin(lon)) - pad, float(np.nanmax(lon)) + pad)
    la = (float(np.nanmin(lat)) - pad, float(np.nanmax(lat)) + pad)
    return lo, la


def _equal_aspect(fig: go.Figure, row: int | None = None, col: int | None = None, mean_lat: float = 0.0) -> None:
    # one degree of longitude is cos(lat) degrees of latitude on the ground
    ratio = 1.0 / max(np.cos(np.deg2rad(mean_lat)), 0.2)
    kwargs = {} if row is None else {"row": row, "col": col}
    fig.update_yaxes(scaleanchor="x" if row is None else None, **kwargs)
    if row is None:
        fig.update_yaxes(scaleratio=ratio)


def zoom_pad(lon: np.ndarray, lat: np.ndarray, share: float = 0.15, least: float = 0.4, most: float = 3.0) -> float:
    """Degrees of margin around the basins shown: ``share`` of their spread, between ``least`` (one
    basin still shows its river and neighbours, about 40 km) and ``most``."""
    spread = max(float(np.nanmax(lon) - np.nanmin(lon)), float(np.nanmax(lat) - np.nanmin(lat)))
    return float(np.clip(share * spread, least, most))


def basin_map(lat: Sequence[float], lon: Sequence[float], ids: Sequence[str], names: Sequence[str] | None = None,
              selected: Sequence[str] | None = None, area_km2: Sequence[float] | None = None,
              pad_degrees: float | None = None) -> go.Figure:
    """Basin outlets (markers, selected ones highlighted) over lakes, rivers, state/province borders,
    coastlines and land borders, zoomed to the outlets (``pad_degrees`` around them; None: :func:`zoom_pad`)."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    ids = [str(i) for i in ids]
    names = [str(n) for n in (names if names is not None else ids)]
    chosen = set(selected or [])
    lon_range, lat_range = _extent(lon, lat, zoom_pad(lon, lat) if pad_degrees is None else pad_degrees)
    fig = go.Figure(reference_traces(lon_range, lat_range) + coastline_traces(lon_range, lat_range))
    is_sel = np.array([i in chosen for i in ids])
    area = np.asarray(area_km2, dtype=float) if area_km2 is not None else np.full(len(ids), np.nan)
    for mask, label, color, size in ((~is_sel, "basin", "#7f7f7f", 8), (is_sel, "selected", "#d62728", 12)):
        if not mask.any():
            continue
        fig.add_trace(go.Scatter(
            x=lon[mask], y=lat[mask], mode="markers", name=label,
            marker={"size": size, "color": color, "line": {"width": 1, "color": "white"}},
            customdata=np.stack([np.asarray(ids)[mask], np.asarray(names)[mask], area[mask]], axis=1),
            hovertemplate="%{customdata[0]}: %{customdata[1]}<br>%{y:.3f} N, %{x:.3f} E<br>"
                          "area %{customdata[2]:.0f} km²<extra></extra>"))
    fig.update_xaxes(range=list(lon_range), title_text="longitude (°E)", showgrid=False)
    fig.update_yaxes(range=list(lat_range), title_text="latitude (°N)", showgrid=False)
    _equal_aspect(fig, mean_lat=float(np.nanmean(lat)))
    fig.update_layout(title="Basin outlets", height=420, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.15})
    return fig


def _box_trace(box: Mapping[str, Sequence[float]], name: str, color: str) -> go.Scatter:
    (s, n), (w, e) = box["lat"], box["lon"]
    return go.Scatter(x=[w, e, e, w, w], y=[s, s, n, n, s], mode="lines", fill="toself", name=name,
                      line={"color": color, "width": 2}, opacity=0.5, hoverinfo="name")


def region_map(region1: Mapping[str, Sequence[float]], region2: Mapping[str, Sequence[float]] | None = None,
               grid_lat: Sequence[float] | None = None, grid_lon: Sequence[float] | None = None) -> go.Figure:
    """Region 1 (target) and region 2 (upstream) boxes ``{"lat": [s, n], "lon": [w, e]}`` over coastlines,
    with the data grid's extent as a dashed outline when given."""
    boxes = [region1] + ([region2] if region2 else [])
    lats = [v for b in boxes for v in b["lat"]] + list(grid_lat if grid_lat is not None else [])
    lons = [v for b in boxes for v in b["lon"]] + list(grid_lon if grid_lon is not None else [])
    lon_range, lat_range = _extent(np.array(lons), np.array(lats), 2.0)
    fig = go.Figure(coastline_traces(lon_range, lat_range))
    if grid_lat is not None and grid_lon is not None:
        g = {"lat": [float(np.min(grid_lat)), float(np.max(grid_lat))], "lon": [float(np.min(grid_lon)), float(np.max(grid_lon))]}
        (s, n), (w, e) = g["lat"], g["lon"]
        fig.add_trace(go.Scatter(x=[w, e, e, w, w], y=[s, s, n, n, s], mode="lines", name="data grid",
                                 line={"color": "#555", "dash": "dash", "width": 1}))
    fig.add_trace(_box_trace(region1, "region 1 (target)", "#d62728"))
    if region2:
        fig.add_trace(_box_trace(region2, "region 2 (upstream)", "#1f77b4"))
    fig.update_xaxes(range=list(lon_range), title_text="longitude (°E)", showgrid=False)
    fig.update_yaxes(range=list(lat_range), title_text="latitude (°N)", showgrid=False)
    _equal_aspect(fig, mean_lat=float(np.mean(lats)))
    fig.update_layout(title="Regions", height=380, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def _panel_grid(fields: Mapping[str, np.ndarray], lat: np.ndarray, lon: np.ndarray, zmin: float, zmax: float,
                colorscale, title: str, colorbar_title: str, zmid: float | None = None) -> go.Figure:
    names = list(fields)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True, horizontal_spacing=0.02)
    lon_range = (float(np.min(lon)) - 0.5 * _step(lon), float(np.max(lon)) + 0.5 * _step(lon))
    lat_range = (float(np.min(lat)) - 0.5 * _step(lat), float(np.max(lat)) + 0.5 * _step(lat))
    # thin dark lines, lake shores unfilled: water in blue would read as rain on the blue rain scale
    # (each panel is a few hundred pixels wide at most: no finer detail than that)
    coast = (reference_traces(lon_range, lat_range, overlay=True, pixels=200)
             + coastline_traces(lon_range, lat_range, margin=0.5))
    for i, name in enumerate(names, start=1):
        fig.add_trace(go.Heatmap(z=np.asarray(fields[name], dtype=float), x=lon, y=lat, coloraxis="coloraxis",
                                 hovertemplate=name + " %{z:.2f} at %{y:.2f} N, %{x:.2f} E<extra></extra>"),
                      row=1, col=i)
        for trace in coast:
            fig.add_trace(trace, row=1, col=i)
        fig.update_xaxes(range=list(lon_range), showgrid=False, row=1, col=i)
        fig.update_yaxes(range=list(lat_range), showgrid=False, row=1, col=i)
    coloraxis = {"colorscale": colorscale, "cmin": zmin, "cmax": zmax, "colorbar": {"title": {"text": colorbar_title}}}
    if zmid is not None:
        coloraxis["cmid"] = zmid
    aspect = (lat_range[1] - lat_range[0]) / max((lon_range[1] - lon_range[0]) * np.cos(np.deg2rad(np.mean(lat))), 1e-6)
    width_per = 260
    fig.update_layout(title=title, coloraxis=coloraxis, height=int(min(max(width_per * aspect, 220), 520)) + 90,
                      margin={"l": 50, "r": 20, "t": 70, "b": 30}, showlegend=False)
    return fig


def _step(coord: np.ndarray) -> float:
    coord = np.asarray(coord, dtype=float)
    return float(np.abs(np.diff(coord)).mean()) if coord.size > 1 else 1.0


def rain_maps(fields: Mapping[str, np.ndarray], lat: Sequence[float], lon: Sequence[float], units: str = "mm",
              title: str = "", vmax: float | None = None) -> go.Figure:
    """Side-by-side rain maps ``{name: [lat, lon]}`` (truth, exp1, exp2, persistence) on ONE colour scale
    from 0 to the largest value of all panels (or ``vmax``), with coastlines, rivers, lake shores and
    state/province borders."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    if vmax is None:
        finite = [np.nanmax(v) for v in fields.values() if np.isfinite(v).any()]
        vmax = max(finite) if finite else 1.0
    vmax = max(float(vmax), 1e-3)
    return _panel_grid(fields, lat, lon, 0.0, vmax, RAIN_SCALE, title or "Rain", f"rain ({units})")


def difference_maps(fields: Mapping[str, np.ndarray], truth: np.ndarray, lat: Sequence[float], lon: Sequence[float],
                    units: str = "mm", title: str = "") -> go.Figure:
    """Prediction minus truth for each field, on one diverging scale symmetric about 0 (blue = too dry,
    red = too wet)."""
    diffs = {f"{name} − truth": np.asarray(v, dtype=float) - np.asarray(truth, dtype=float) for name, v in fields.items()}
    finite = [np.nanmax(np.abs(d)) for d in diffs.values() if np.isfinite(d).any()]
    bound = max(max(finite) if finite else 1.0, 1e-3)
    return _panel_grid(diffs, np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), -bound, bound, DIFF_SCALE,
                       title or "Prediction minus truth", f"Δ rain ({units})", zmid=0.0)
