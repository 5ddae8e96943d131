"""Overlay figures and the one-lead skill chart: sensible axes and one trace per run and system."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.viz.overlays import has_lead_csi, lead_overlay_chart, overlay_hydrograph
from core.viz.verification import lead_chart


def metrics(leads: dict[str, float]) -> dict:
    """metrics.json with CSI at "1.0" of exp2 = the given value per lead, persistence half of it."""
    block = lambda v: {"exp2": {"csi": {"1.0": v}, "rmse": 1 - v}, "persistence": {"csi": {"1.0": v / 2}, "rmse": 1.0}}  # noqa: E731
    return {"units": "mm", "test_leads": {k: block(v) for k, v in leads.items()}}


def test_one_lead_chart_is_bars_per_system_not_a_dot_on_a_two_minute_axis():
    fig = lead_chart(metrics({"720": 0.6}), "1.0")
    assert {t.type for t in fig.data} == {"bar"}
    assert list(fig.data[0].x) == ["exp2 (+ upstream)", "persistence"]
    assert list(fig.data[0].y) == [0.6, 0.3]
    assert fig.layout.xaxis.type == "category" and "720 min" in fig.layout.xaxis.title.text


def test_several_leads_tick_on_the_leads():
    fig = lead_chart(metrics({"360": 0.7, "720": 0.6}), "1.0")
    assert {t.type for t in fig.data} == {"scatter"}
    assert list(fig.layout.xaxis.tickvals) == [360.0, 720.0]


def test_lead_overlay_of_two_runs():
    same = lead_overlay_chart({"a": metrics({"720": 0.6}), "b": metrics({"720": 0.2})}, "1.0")
    assert [(t.type, t.name, list(t.y)) for t in same.data] == [("bar", "a", [0.6, 0.3]), ("bar", "b", [0.2, 0.1])]
    lines = lead_overlay_chart({"a": metrics({"360": 0.7, "720": 0.6}), "b": metrics({"720": 0.2})}, "1.0",
                               {"exp2": "exp2 (+ upstream)"})
    names = [t.name for t in lines.data]
    assert names == ["a · exp2 (+ upstream)", "a · persistence", "b · exp2 (+ upstream)", "b · persistence"]
    assert list(lines.data[0].x) == [360.0, 720.0] and list(lines.layout.xaxis.tickvals) == [360.0, 720.0]
    assert lines.data[0].line.color == lines.data[1].line.color != lines.data[2].line.color
    assert has_lead_csi(metrics({"720": 0.6}), "1.0") and not has_lead_csi(metrics({"720": 0.6}), "5.0")
    assert not has_lead_csi({"test_leads": {"720": [1, 2]}}, "1.0")


def test_overlay_hydrograph_draws_observed_once():
    time = pd.date_range("2000-01-01", periods=4)
    fig = overlay_hydrograph(time, np.ones(4), {"a": {"dXAJ": np.ones(4), "LSTM": np.ones(4)}, "b": {"dXAJ": np.ones(4)}},
                             prcp=np.zeros(4))
    assert [t.name for t in fig.data] == ["rainfall", "observed", "a · dXAJ", "a · LSTM", "b · dXAJ"]
    assert fig.data[2].line.dash == "solid" and fig.data[3].line.dash == "dash"
