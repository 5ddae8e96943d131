"""Training curves."""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go


def loss_curves(history: Sequence[Mapping], title: str = "Loss") -> go.Figure:
    """Train and validation loss per epoch from ``history.json`` records (``epoch``, ``train_loss``,
    ``val_loss``; an optional ``experiment`` key splits the curves, as in rain runs)."""
    fig = go.Figure()
    groups: dict[str, list[Mapping]] = {}
    for record in history:
        groups.setdefault(str(record.get("experiment", "")), []).append(record)
    for group, records in groups.items():
        prefix = f"{group} " if group else ""
        epochs = [r.get("epoch") for r in records]
        for key, dash in (("train_loss", "solid"), ("val_loss", "dash")):
            values = [r.get(key) for r in records]
            if any(v is not None for v in values):
                fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=prefix + key.replace("_", " "),
                                         line={"dash": dash}))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss")
    fig.update_layout(title=title, height=320, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    if not history:
        fig.add_annotation(text="no epoch finished yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig
