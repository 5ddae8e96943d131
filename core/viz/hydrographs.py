"""Hydrographs and flow-duration curves (streamflow in mm per step)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.palette import FALLBACK_COLORS, OBSERVED as OBS_COLOR, RAINFALL, system_color

SIM_COLORS = FALLBACK_COLORS


def hydrograph(time: Sequence, q_obs: np.ndarray, simulations: Mapping[str, np.ndarray],
               prcp: np.ndarray | None = None, title: str = "", units: str = "mm/day") -> go.Figure:
    """Observed vs simulated streamflow over ``time``, with rainfall as inverted bars on top.

    ``q_obs`` ``[T]`` (NaN where missing); ``simulations`` ``{label: [T]}`` in the same units, the
    main model first, baselines after (drawn thinner, dashed). Zoom and pan are plotly's own.
    """
    time = pd.DatetimeIndex(time)
    rows = 2 if prcp is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.25, 0.75] if rows == 2 else [1.0])
    flow_row = rows
    if prcp is not None:
        # a filled step line, not bars: one SVG path instead of one element per day keeps redraws fast
        fig.add_trace(go.Scatter(x=time, y=np.asarray(prcp, dtype=float), name="rainfall", mode="lines",
                                 line={"color": RAINFALL, "width": 0.8, "shape": "hv"}, fill="tozeroy",
                                 hovertemplate="%{x|%Y-%m-%d}: %{y:.1f} " + units + "<extra>rainfall</extra>"),
                      row=1, col=1)
        fig.update_yaxes(title_text=f"P ({units})", autorange="reversed", row=1, col=1)
    fig.add_trace(go.Scatter(x=time, y=np.asarray(q_obs, dtype=float), name="observed", mode="lines",
                             line={"color": OBS_COLOR, "width": 1.5}), row=flow_row, col=1)
    for i, (label, q) in enumerate(simulations.items()):
        main = i == 0
        fig.add_trace(go.Scatter(x=time, y=np.asarray(q, dtype=float), name=label, mode="lines",
                                 line={"color": system_color(label, i), "width": 1.6 if main else 1.0,
                                       "dash": "solid" if main else "dash"}), row=flow_row, col=1)
    fig.update_yaxes(title_text=f"Q ({units})", row=flow_row, col=1)
    fig.update_layout(title=title, height=480 if rows == 2 else 380, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.12}, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      bargap=0)
    return fig


def exceedance(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flows sorted high to low and their exceedance probability in percent (Weibull plotting position)."""
    v = np.asarray(values, dtype=float)
    v = np.sort(v[np.isfinite(v)])[::-1]
    p = 100.0 * np.arange(1, v.size + 1) / (v.size + 1)
    return p, v


def flow_duration_curve(q_obs: np.ndarray, simulations: Mapping[str, np.ndarray], title: str = "",
                        units: str = "mm/day") -> go.Figure:
    """Flow-duration curves (log flow axis) of the observations and each simulation, on the
    time steps where the observation exists so all curves describe the same days."""
    obs = np.asarray(q_obs, dtype=float)
    valid = np.isfinite(obs)
    fig = go.Figure()
    p, v = exceedance(obs[valid])
    fig.add_trace(go.Scatter(x=p, y=v, name="observed", mode="lines", line={"color": OBS_COLOR, "width": 2}))
    for i, (label, q) in enumerate(simulations.items()):
        p, v = exceedance(np.asarray(q, dtype=float)[valid])
        fig.add_trace(go.Scatter(x=p, y=v, name=label, mode="lines",
                                 line={"color": system_color(label, i), "dash": "solid" if i == 0 else "dash"}))
    fig.update_xaxes(title_text="exceedance probability (%)", range=[0, 100])
    fig.update_yaxes(title_text=f"Q ({units})", type="log", dtick=1)  # one label per decade
    fig.update_layout(title=title or "Flow-duration curve", height=360, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def forcing_plot(time: Sequence, series: Mapping[str, np.ndarray], units: Mapping[str, str] | None = None,
                 title: str = "") -> go.Figure:
    """Stacked panels of basin forcing and observed flow (one panel per series, shared time axis)."""
    names = list(series)
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.04)
    for i, name in enumerate(names, start=1):
        unit = (units or {}).get(name, "")
        style = ({"line": {"width": 0.8, "shape": "hv", "color": RAINFALL}, "fill": "tozeroy"} if name == "prcp"
                 else {"line": {"width": 1}})
        fig.add_trace(go.Scatter(x=pd.DatetimeIndex(time), y=np.asarray(series[name], dtype=float), name=name,
                                 mode="lines", **style), row=i, col=1)
        fig.update_yaxes(title_text=f"{name} ({unit})" if unit else name, row=i, col=1)
    fig.update_layout(title=title, height=150 + 140 * len(names), showlegend=False, bargap=0,
                      margin={"l": 60, "r": 20, "t": 50, "b": 30})
    return fig
