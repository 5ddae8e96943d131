"""Figures that put several runs on one chart: overlaid hydrographs of one basin, CSI against lead time
of several rain runs. A colour per run, a line style per model or system, so both read at a glance."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.palette import OBSERVED, RAINFALL

RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#bcbd22")
"""One colour per overlaid run, in the order the runs are given."""
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
"""One line style per model of a run (main model solid, baselines after)."""
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")


def run_color(index: int) -> str:
    return RUN_COLORS[index % len(RUN_COLORS)]


def overlay_hydrograph(time: Sequence, q_obs: np.ndarray, runs: Mapping[str, Mapping[str, np.ndarray]],
                       prcp: np.ndarray | None = None, title: str = "", units: str = "mm/day") -> go.Figure:
    """Observed streamflow once and every run's simulations on one time axis, rainfall inverted on top.

    ``q_obs`` and ``prcp`` ``[T]``; ``runs`` ``{run name: {model label: [T]}}`` on the same ``time``
    (NaN outside a run's period). Traces are named ``"<run> · <model>"``; a run's main model is solid.
    """
    time = pd.DatetimeIndex(time)
    rows = 2 if prcp is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.25, 0.75] if rows == 2 else [1.0])
    if prcp is not None:
        fig.add_trace(go.Scatter(x=time, y=np.asarray(prcp, dtype=float), name="rainfall", mode="lines",
                                 line={"color": RAINFALL, "width": 0.8, "shape": "hv"}, fill="tozeroy"), row=1, col=1)
        fig.update_yaxes(title_text=f"P ({units})", autorange="reversed", row=1, col=1)
    fig.add_trace(go.Scatter(x=time, y=np.asarray(q_obs, dtype=float), name="observed", mode="lines",
                             line={"color": OBSERVED, "width": 1.5}), row=rows, col=1)
    for r, (run, models) in enumerate(runs.items()):
        for m, (label, q) in enumerate(models.items()):
            fig.add_trace(go.Scatter(x=time, y=np.asarray(q, dtype=float), name=f"{run} · {label}", mode="lines",
                                     legendgroup=run, line={"color": run_color(r), "width": 1.6 if m == 0 else 1.0,
                                                            "dash": DASHES[m % len(DASHES)]}), row=rows, col=1)
    fig.update_yaxes(title_text=f"Q ({units})", row=rows, col=1)
    fig.update_layout(title=title, height=500 if rows == 2 else 400, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.12}, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def _lead_values(metrics: Mapping, system: str, threshold: str) -> tuple[list[float], list[float | None]]:
    leads = sorted((metrics.get("test_leads") or {}).keys(), key=float)
    csi = [(((metrics["test_leads"][k].get(system) or {}).get("csi")) or {}).get(threshold) for k in leads]
    return [float(k) for k in leads], csi


def has_lead_csi(metrics: Mapping, threshold: str) -> bool:
    """Whether a rain run's metrics.json holds CSI at ``threshold`` for some lead and system (False for
    older runs without ``test_leads`` and for an unexpected layout)."""
    try:
        return any(threshold in ((scores or {}).get("csi") or {})
                   for block in (metrics.get("test_leads") or {}).values() for scores in block.values())
    except (AttributeError, TypeError):
        return False


def lead_overlay_chart(runs: Mapping[str, Mapping], threshold: str, labels: Mapping[str, str] | None = None) -> go.Figure:
    """CSI at ``threshold`` against lead time (minutes) for several rain runs (``{run name: metrics.json}``).

    A colour per run and a marker and line style per system (``labels`` renames systems). When every
    run has the same single lead the chart becomes grouped bars per system (one bar per run), since a
    line through one point says nothing; otherwise the lead axis ticks sit on the leads the runs have.
    """
    labels = labels or {}
    leads = sorted({float(k) for m in runs.values() for k in (m.get("test_leads") or {})})
    fig = go.Figure()
    units = next((str(m.get("units")) for m in runs.values() if m.get("units")), "")
    if len(leads) == 1:
        for r, (run, metrics) in enumerate(runs.items()):
            block = next(iter((metrics.get("test_leads") or {}).values()), {})
            systems = list(block)
            fig.add_trace(go.Bar(x=[labels.get(s, s) for s in systems],
                                 y=[((block.get(s) or {}).get("csi") or {}).get(threshold) for s in systems],
                                 name=run, marker_color=run_color(r)))
        fig.update_xaxes(title_text=f"system (lead {leads[0]:g} min, the runs' only lead)", type="category")
        fig.update_layout(barmode="group")
    else:
        for r, (run, metrics) in enumerate(runs.items()):
            first = next(iter((metrics.get("test_leads") or {}).values()), {})
            for s, system in enumerate(first):
                x, y = _lead_values(metrics, system, threshold)
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=f"{run} · {labels.get(system, system)}",
                                         legendgroup=run,
                                         line={"color": run_color(r), "dash": DASHES[s % len(DASHES)]},
                                         marker={"symbol": SYMBOLS[s % len(SYMBOLS)], "size": 8}))
        fig.update_xaxes(title_text="lead (min)", tickmode="array", tickvals=leads, ticktext=[f"{v:g}" for v in leads])
    fig.update_yaxes(title_text=f"CSI at {threshold} {units}".strip(), range=[0, 1])
    fig.update_layout(title=f"CSI against lead time, {len(runs)} runs", height=380,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig
