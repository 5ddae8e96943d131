"""The snow routine beside the hydrograph: streamflow, then snow pack and melt on a shared time axis."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.palette import OBSERVED, system_color

SNOW_PACK_COLOR = "#4a6fa5"
MELT_COLOR = "#e6550d"


def snow_hydrograph(time: Sequence, q_obs: np.ndarray, q_sim: np.ndarray, snow_pack: np.ndarray,
                    snow_melt: np.ndarray, model_label: str = "dpl", title: str = "",
                    units: str = "mm/day") -> go.Figure:
    """Observed and simulated streamflow (top), the simulated snow pack (solid plus liquid water, mm,
    filled) and its melt (mm per step, line) below, all ``[T]`` over ``time`` ``[T]``.

    A spring flood arriving with the melt, or a winter flow the pack should have held, shows at once.
    """
    time = pd.DatetimeIndex(time)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.6, 0.4],
                        specs=[[{}], [{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=time, y=np.asarray(q_obs, dtype=float), name="observed", mode="lines",
                             line={"color": OBSERVED, "width": 1.4}), row=1, col=1)
    fig.add_trace(go.Scatter(x=time, y=np.asarray(q_sim, dtype=float), name=model_label, mode="lines",
                             line={"color": system_color(model_label), "width": 1.4}), row=1, col=1)
    fig.add_trace(go.Scatter(x=time, y=np.asarray(snow_pack, dtype=float), name="snow pack (mm)", mode="lines",
                             line={"color": SNOW_PACK_COLOR, "width": 1.0}, fill="tozeroy"), row=2, col=1)
    fig.add_trace(go.Scatter(x=time, y=np.asarray(snow_melt, dtype=float), name=f"melt ({units})", mode="lines",
                             line={"color": MELT_COLOR, "width": 1.0}), row=2, col=1, secondary_y=True)
    fig.update_yaxes(title_text=f"Q ({units})", row=1, col=1)
    fig.update_yaxes(title_text="snow pack (mm)", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title_text=f"melt ({units})", rangemode="tozero", row=2, col=1, secondary_y=True)
    fig.update_layout(title=title or "Streamflow, snow pack and melt", height=520, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.12}, margin={"l": 60, "r": 60, "t": 50, "b": 40})
    return fig
