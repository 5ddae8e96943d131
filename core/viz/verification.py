"""Categorical verification tables of rain runs (CSI, POD, FAR, ETS per threshold) from metrics.json."""

from __future__ import annotations

from typing import Mapping

import pandas as pd
import plotly.graph_objects as go

from core.viz.palette import system_color

SCORES = ("csi", "pod", "far", "ets")
SYSTEM_LABELS = {"exp1": "exp1 (region 1)", "exp2": "exp2 (+ upstream)", "persistence": "persistence",
                 "extrapolation": "extrapolation (pySTEPS LK)", "sprog": "S-PROG (pySTEPS)",
                 "anvil": "ANVIL (pySTEPS)", "steps_mean": "STEPS ensemble mean (pySTEPS)"}


def lead_keys(metrics: Mapping) -> list[str]:
    """Leads of a run in minutes (``metrics["test_leads"]`` keys, numeric order); empty for older runs."""
    return sorted((metrics.get("test_leads") or {}).keys(), key=float)


def _test(metrics: Mapping, lead: str | None) -> Mapping:
    if lead is not None and lead in (metrics.get("test_leads") or {}):
        return metrics["test_leads"][lead]
    return metrics.get("test") or {}


def _threshold_keys(metrics: Mapping) -> list[str]:
    test = metrics.get("test") or {}
    first = next(iter(test.values()), {})
    return list((first.get("csi") or {}).keys())


def verification_table(metrics: Mapping, lead: str | None = None) -> pd.DataFrame:
    """One row per (threshold, system): CSI, POD, FAR, ETS and RMSE; thresholds in the run's rain units.

    ``lead``: a key of ``test_leads`` (minutes); None = the main lead (``test``). Systems keep the
    order of the metrics (exp1, exp2, persistence, extrapolation, sprog).
    """
    test = _test(metrics, lead)
    rows = []
    for key in _threshold_keys(metrics):
        for system, scores in test.items():
            row = {"threshold": key, "system": SYSTEM_LABELS.get(system, system)}
            for score in SCORES:
                row[score.upper()] = (scores.get(score) or {}).get(key)
            row["RMSE"] = scores.get("rmse")
            rows.append(row)
    return pd.DataFrame(rows, columns=["threshold", "system", *(s.upper() for s in SCORES), "RMSE"])


def _comparison(metrics: Mapping, lead: str | None) -> Mapping | None:
    by_lead = metrics.get("comparison_leads") or {}
    block = by_lead.get(lead) if lead is not None and lead in by_lead else metrics.get("comparison")
    return (block or {}).get("exp2_minus_exp1")


def gain_table(metrics: Mapping, lead: str | None = None) -> pd.DataFrame:
    """Experiment 2 minus experiment 1 with its paired-bootstrap interval, per threshold (CSI) and RMSE.

    Empty when the run did not train both experiments. A CSI gain whose interval excludes 0 is a
    significant benefit of the upstream region; for RMSE, negative favours experiment 2.
    """
    comparison = _comparison(metrics, lead)
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


def baseline_gain_table(metrics: Mapping, lead: str | None = None) -> pd.DataFrame:
    """The better experiment minus the strongest baseline in CSI, per threshold, with its paired-bootstrap
    interval (``comparison_leads.<lead>.best_minus_baseline``); empty for runs without it.

    Which experiment and which baseline were compared is named on each row: both are the ones with the
    highest CSI at that threshold and lead. An interval above 0 means the network beats every reference.
    """
    columns = ["threshold", "experiment", "strongest baseline", "difference", "low", "high", "level"]
    by_lead = metrics.get("comparison_leads") or {}
    block = by_lead.get(lead) if lead is not None and lead in by_lead else metrics.get("comparison")
    rows = []
    for key, ci in (((block or {}).get("best_minus_baseline") or {}).get("csi") or {}).items():
        rows.append({"threshold": key, "experiment": SYSTEM_LABELS.get(ci.get("experiment"), ci.get("experiment")),
                     "strongest baseline": SYSTEM_LABELS.get(ci.get("baseline"), ci.get("baseline")),
                     "difference": ci.get("diff"), "low": ci.get("low"), "high": ci.get("high"), "level": ci.get("level")})
    return pd.DataFrame(rows, columns=columns)


def csi_chart(metrics: Mapping, lead: str | None = None) -> go.Figure:
    """CSI against threshold, one bar group per system."""
    test = _test(metrics, lead)
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


def lead_chart(metrics: Mapping, threshold: str) -> go.Figure:
    """CSI at ``threshold`` and RMSE against lead time (minutes), one line per system."""
    from plotly.subplots import make_subplots

    leads = lead_keys(metrics)
    if len(leads) == 1:  # a line through one point on a 2-minute-wide axis says nothing: bars per system
        return _single_lead_chart(metrics, threshold, leads[0])
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"CSI at {threshold} {metrics.get('units', '')}", "RMSE"))
    systems = list(metrics["test_leads"][leads[0]]) if leads else []
    for i, system in enumerate(systems):
        label = SYSTEM_LABELS.get(system, system)
        csi = [((metrics["test_leads"][k].get(system) or {}).get("csi") or {}).get(threshold) for k in leads]
        rmse = [(metrics["test_leads"][k].get(system) or {}).get("rmse") for k in leads]
        color = f"hsl({(i * 67) % 360}, 65%, 45%)"
        x = [float(k) for k in leads]
        fig.add_trace(go.Scatter(x=x, y=csi, mode="lines+markers", name=label, legendgroup=system,
                                 line={"color": color}), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=rmse, mode="lines+markers", name=label, legendgroup=system,
                                 showlegend=False, line={"color": color}), row=1, col=2)
    fig.update_xaxes(title_text="lead (min)", tickmode="array", tickvals=[float(k) for k in leads], ticktext=leads)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_layout(height=340, margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


def _single_lead_chart(metrics: Mapping, threshold: str, lead: str) -> go.Figure:
    """CSI at ``threshold`` and RMSE of each system at a run's only lead, as bars (x: the systems)."""
    from plotly.subplots import make_subplots

    block = metrics["test_leads"][lead]
    systems = list(block)
    labels = [SYSTEM_LABELS.get(s, s) for s in systems]
    colors = [system_color(s, i) for i, s in enumerate(systems)]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"CSI at {threshold} {metrics.get('units', '')}", "RMSE"))
    fig.add_trace(go.Bar(x=labels, y=[((block[s] or {}).get("csi") or {}).get(threshold) for s in systems],
                         marker_color=colors, name="CSI", showlegend=False), row=1, col=1)
    fig.add_trace(go.Bar(x=labels, y=[(block[s] or {}).get("rmse") for s in systems], marker_color=colors,
                         name="RMSE", showlegend=False), row=1, col=2)
    fig.update_xaxes(type="category", title_text=f"system (lead {lead} min, the run's only lead)")
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_layout(height=340, margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


def lead_verdict(metrics: Mapping, lead: str | None, threshold: str) -> str:
    """Plain words: which system has the best CSI at ``threshold`` (and which the lowest RMSE) at ``lead``,
    and whether experiment 2 minus experiment 1 is significant there (paired bootstrap interval)."""
    test = _test(metrics, lead)
    if not test:
        return "This run has no verification scores."
    where = f"at {lead} min" if lead is not None else "at the main lead"
    csi = {s: (m.get("csi") or {}).get(threshold) for s, m in test.items()}
    csi = {s: v for s, v in csi.items() if v is not None and v == v}
    rmse = {s: m.get("rmse") for s, m in test.items() if m.get("rmse") is not None}
    parts = []
    if csi:
        best = max(csi, key=csi.get)
        if max(csi.values()) == 0:
            parts.append(f"No system detects rain of {threshold} {metrics.get('units', '')} {where} (CSI 0 everywhere).")
        else:
            parts.append(f"{where.capitalize()}, **{SYSTEM_LABELS.get(best, best)}** has the best CSI at {threshold} "
                         f"{metrics.get('units', '')} ({csi[best]:.3f}).")
            flat = [s for s in ("exp1", "exp2") if s in csi and csi[s] == 0 and csi.get("persistence", 0) > 0]
            if flat:
                parts.append(f"{', '.join(flat)} never reach the threshold: its forecast is too flat to be useful here.")
    if rmse:
        low = min(rmse, key=rmse.get)
        parts.append(f"Lowest RMSE: {SYSTEM_LABELS.get(low, low)} ({rmse[low]:.3f}).")
    ci = ((_comparison(metrics, lead) or {}).get("csi") or {}).get(threshold)
    if ci:
        d, lo, hi = ci.get("diff"), ci.get("low"), ci.get("high")
        if None not in (d, lo, hi):
            if lo > 0:
                verdict = "significantly better: the upstream region helps"
            elif hi < 0:
                verdict = "significantly worse: the upstream region hurts"
            else:
                verdict = "not significant: the interval contains 0"
            parts.append(f"exp2 - exp1 CSI {d:+.3f} [{lo:+.3f}, {hi:+.3f}]: {verdict}.")
    return " ".join(parts)


def baseline_verdict(metrics: Mapping, lead: str | None, threshold: str) -> str:
    """Plain words on the better experiment minus the strongest baseline in CSI at ``threshold`` and
    ``lead`` (its paired-bootstrap interval); empty when the run has no such comparison."""
    table = baseline_gain_table(metrics, lead)
    row = table[table["threshold"] == threshold]
    if row.empty:
        return ""
    r = row.iloc[0]
    d, lo, hi = r["difference"], r["low"], r["high"]
    if any(v is None or v != v for v in (d, lo, hi)):
        return ""
    if lo > 0:
        verdict = "the network beats every reference here"
    elif hi < 0:
        verdict = "the reference is significantly better"
    else:
        verdict = "not significant: the interval contains 0"
    return (f"{r['experiment']} - {r['strongest baseline']} CSI at {threshold} {metrics.get('units', '')} "
            f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]: {verdict}.")
