"""Categorical verification tables of rain runs (CSI, POD, FAR, ETS per threshold) from metrics.json."""

from __future__ import annotations

from typing import Mapping

import pandas as pd
import plotly.graph_objects as go

from core.viz.palette import system_color

SCORES = ("csi", "pod", "far", "ets")
SYSTEM_LABELS = {"exp1": "exp1 (region 1)", "exp2": "exp2 (+ upstream)", "persistence": "persistence"}


def _threshold_keys(metrics: Mapping) -> list[str]:
    test = metrics.get("test") or {}
    first = next(iter(test.values()), {})
    return list((first.get("csi") or {}).keys())


def verification_table(metrics: Mapping) -> pd.DataFrame:
    """One row per (threshold, system): CSI, POD, FAR, ETS and RMSE; thresholds in the run's rain units.

    Systems keep the order of ``metrics["test"]`` (exp1, exp2, persistence).
    """
    test = metrics.get("test") or {}
    rows = []
    for key in _threshold_keys(metrics):
        for system, scores in test.items():
            row = {"threshold": key, "system": SYSTEM_LABELS.get(system, system)}
            for score in SCORES:
                row[score.upper()] = (scores.get(score) or {}).get(key)
            row["RMSE"] = scores.get("rmse")
            rows.append(row)
    return pd.DataFrame(rows, columns=["threshold", "system", *(s.upper() for s in SCORES), "RMSE"])


def gain_table(metrics: Mapping) -> pd.DataFrame:
    """Experiment 2 minus experiment 1 with its paired-bootstrap interval, per threshold (CSI) and RMSE.

    Empty when the run did not train both experiments. A CSI gain whose interval excludes 0 is a
    significant benefit of the upstream region; for RMSE, negative favours experiment 2.
    """
    comparison = (metrics.get("comparison") or {}).get("exp2_minus_exp1")
    if not comparison:
        return pd.DataFrame(columns=["score", "threshold", "exp2 - exp1", "low", "high", "level"])
    rows = []
    for key, ci in (comparison.get("csi") or {}).items():
        rows.append({"score": "CSI", "threshold": key, "exp2 - exp1": ci.get("diff"), "low": ci.get("low"),
                     "high": ci.get("high"), "level": ci.get("level")})
    if comparison.get("rmse"):
        ci = comparison["rmse"]
        rows.append({"score": "RMSE", "threshold": "", "exp2 - exp1": ci.get("diff"), "low": ci.get("low"),
                     "high": ci.get("high"), "level": ci.get("level")})
    return pd.DataFrame(rows)


def csi_chart(metrics: Mapping) -> go.Figure:
    """CSI against threshold, one bar group per system."""
    test = metrics.get("test") or {}
    keys = _threshold_keys(metrics)
    fig = go.Figure()
    for system, scores in test.items():
        fig.add_trace(go.Bar(x=keys, y=[(scores.get("csi") or {}).get(k) for k in keys],
                             name=SYSTEM_LABELS.get(system, system), marker_color=system_color(system)))
    units = metrics.get("units", "")
    fig.update_xaxes(title_text=f"threshold ({units})" if units else "threshold", type="category")
    fig.update_yaxes(title_text="CSI", range=[0, 1])
    fig.update_layout(title="Critical success index by threshold", barmode="group", height=320,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig
