"""XAJ parameter figures: LSTM-generated trajectories and their spread across basins."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.hydrographs import SIM_COLORS

N_COLS = 5


def parameter_trajectories(time: Sequence, params: np.ndarray, names: Sequence[str], lower: Sequence[float],
                           upper: Sequence[float], basins: Sequence[str], title: str = "") -> go.Figure:
    """15 small multiples (one per parameter) of the parameters over time for each basin.

    ``params`` ``[basin, time, param]`` in physical units; ``lower``/``upper`` ``[param]`` the range
    the network was bounded to, drawn as grey dotted lines so a parameter pinned to a bound shows.
    """
    params = np.asarray(params, dtype=float)
    n = len(names)
    rows = int(np.ceil(n / N_COLS))
    fig = make_subplots(rows=rows, cols=N_COLS, subplot_titles=list(names), shared_xaxes=True,
                        vertical_spacing=0.08, horizontal_spacing=0.05)
    time = pd.DatetimeIndex(time)
    for j, name in enumerate(names):
        r, c = j // N_COLS + 1, j % N_COLS + 1
        for bound in (lower[j], upper[j]):
            fig.add_trace(go.Scatter(x=[time[0], time[-1]], y=[bound, bound], mode="lines", hoverinfo="skip",
                                     line={"color": "#999", "dash": "dot", "width": 1}, showlegend=False),
                          row=r, col=c)
        for b, basin in enumerate(basins):
            fig.add_trace(go.Scatter(x=time, y=params[b, :, j], mode="lines", name=str(basin),
                                     legendgroup=str(basin), showlegend=j == 0,
                                     line={"color": SIM_COLORS[b % len(SIM_COLORS)], "width": 1},
                                     hovertemplate=f"{basin} {name}" + " %{y:.4g}<extra></extra>"),
                          row=r, col=c)
        pad = 0.05 * (upper[j] - lower[j])
        fig.update_yaxes(range=[lower[j] - pad, upper[j] + pad], row=r, col=c)
    fig.update_annotations(font_size=12)
    fig.update_layout(title=title or "LSTM-generated XAJ parameters over the test period", height=190 * rows + 90,
                      margin={"l": 40, "r": 20, "t": 70, "b": 30}, legend={"orientation": "h", "y": -0.06})
    return fig


def parameter_distributions(params: np.ndarray, names: Sequence[str], lower: Sequence[float],
                            upper: Sequence[float], basins: Sequence[str]) -> go.Figure:
    """Spread of each parameter across basins and time, as a position within its range (0 = lower
    bound, 1 = upper bound) so the 15 parameters share one axis; hover shows physical values.

    ``params`` ``[basin, time, param]``; each box holds the per-basin time means, the points the basins.
    """
    params = np.asarray(params, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    means = np.nanmean(params, axis=1)  # [basin, param]
    scaled = (means - lower) / np.where(upper > lower, upper - lower, 1.0)
    fig = go.Figure()
    for j, name in enumerate(names):
        fig.add_trace(go.Box(y=scaled[:, j], name=name, boxpoints="all", jitter=0.3, pointpos=0,
                             customdata=np.stack([means[:, j], np.asarray(basins, dtype=object)], axis=1),
                             hovertemplate="%{customdata[1]}: " + name + " = %{customdata[0]:.4g}<extra></extra>",
                             marker={"size": 5}, line={"width": 1}, showlegend=False))
    fig.update_yaxes(title_text="position in range (0 = lower, 1 = upper)", range=[-0.05, 1.05])
    fig.update_layout(title="Parameter distribution across basins (time mean per basin)", height=360,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig
