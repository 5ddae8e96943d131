"""Flat tables of runs and their metrics (for the Runs page and its CSV export)."""

from __future__ import annotations

import pandas as pd

from core.hydro.model_scores import model_test_blocks
from core.runs.folder import RunDir, run_kind
from core.runs.state import run_state


def _mapping(value: object) -> dict:
    """``value`` when it is a mapping, else {} (metrics.json written by hand or by an older version)."""
    return value if isinstance(value, dict) else {}


COLUMNS = ["run", "kind", "state", "progress", "duration (s)", "started", "message"]


def runs_frame(runs: list[RunDir]) -> pd.DataFrame:
    """One row per run, read by :func:`core.runs.state.run_state` (the reader Home uses too)."""
    return pd.DataFrame([run_state(run).row() for run in runs], columns=COLUMNS)


def metrics_frame(run: RunDir) -> pd.DataFrame:
    """One row per (model or system, basin or threshold, score): the run's test metrics, long format."""
    metrics = run.read_metrics()
    rows = []
    if run_kind(run) == "hydro":
        for model, test in model_test_blocks(metrics).items():
            for score, value in _mapping(test.get("median")).items():
                rows.append({"model": model, "where": "median", "score": score, "value": value})
            for basin, scores in _mapping(test.get("per_basin")).items():
                for score, value in _mapping(scores).items():
                    rows.append({"model": model, "where": basin, "score": score, "value": value})
    else:
        for system, scores in _mapping(metrics.get("test")).items():
            for score, value in _mapping(scores).items():
                if isinstance(value, dict):
                    for threshold, v in value.items():
                        if not isinstance(v, dict):
                            rows.append({"model": system, "where": f"threshold {threshold}", "score": score, "value": v})
                else:
                    rows.append({"model": system, "where": "all", "score": score, "value": value})
    return pd.DataFrame(rows, columns=["model", "where", "score", "value"])


def compare_frame(a: RunDir, b: RunDir) -> pd.DataFrame:
    """The metrics of two runs side by side (rows where either has a value)."""
    fa = metrics_frame(a).rename(columns={"value": a.name})
    fb = metrics_frame(b).rename(columns={"value": b.name})
    merged = fa.merge(fb, on=["model", "where", "score"], how="outer")
    if a.name in merged and b.name in merged and a.name != b.name:
        merged["difference (b - a)"] = pd.to_numeric(merged[b.name], errors="coerce") - pd.to_numeric(merged[a.name], errors="coerce")
    return merged
