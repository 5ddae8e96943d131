"""Training curves."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.viz.palette import system_color


def loss_curves(history: Sequence[Mapping], title: str = "Loss") -> go.Figure:
    """Train and validation loss per epoch from ``history.json`` records (``epoch``, ``train_loss``,
    ``val_loss``; an ``experiment`` or ``model`` key, as the records of a run's model folders carry,
    splits the curves)."""
    fig = go.Figure()
    groups: dict[str, list[Mapping]] = {}
    for record in history:
        groups.setdefault(str(record.get("experiment") or record.get("model") or ""), []).append(record)
    finite = []
    for i, (group, records) in enumerate(groups.items()):
        prefix = f"{group} " if group else ""
        epochs = [r.get("epoch") for r in records]
        for j, (key, dash) in enumerate((("train_loss", "solid"), ("val_loss", "dash"))):
            values = [r.get(key) for r in records]
            if any(v is not None for v in values):
                finite += [float(v) for v in values if v is not None and np.isfinite(v)]
                color = system_color(group, 2 * i + j) if group else ("#1f77b4", "#ff7f0e")[j]
                fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=prefix + key.replace("_", " "),
                                         line={"dash": dash, "color": color}, marker={"size": 8}))
    n_epochs = max((len(r) for r in groups.values()), default=0)
    # short runs: whole epochs on the x axis and a y axis fitted to the values, not dots on a 0-2 axis
    fig.update_xaxes(title_text="epoch", dtick=1 if n_epochs <= 12 else None)
    if finite:
        lo, hi = min(finite), max(finite)
        pad = max(0.1 * (hi - lo), 0.05 * max(abs(hi), 1e-6))
        fig.update_yaxes(range=[lo - pad, hi + pad])
    fig.update_yaxes(title_text="loss")
    fig.update_layout(title=title, height=320, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    if not history:
        fig.add_annotation(text="no epoch finished yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig
