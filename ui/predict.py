"""Ungauged prediction on the dashboard: the runs that can predict a new basin, and the prediction
itself cached per (run, its checkpoints' modification times, source, basin, period)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.runs.catalog import list_runs
from core.runs.folder import RunDir
from ui.frame import runs_root


def predicting_runs() -> list[RunDir]:
    """Finished hydro runs holding a checkpoint of dXAJ or the LSTM (the models that apply to a new
    basin), newest first."""
    from core.hydro.predict import TRANSFERABLE

    out = []
    for run in list_runs(runs_root(), "hydro"):
        folders = [run] + [run.model_dir(n) for n in run.model_names() if n in TRANSFERABLE]
        if any((f.checkpoint_dir / "best.pt").is_file() or (f.checkpoint_dir / "last.pt").is_file() for f in folders):
            out.append(run)
    return out


def _checkpoint_stamp(run_path: str) -> float:
    stamps = [p.stat().st_mtime for p in Path(run_path).rglob("*.pt")]
    return max(stamps, default=0.0)


@st.cache_data(show_spinner="Predicting…", max_entries=16)
def _prediction(run_path: str, stamp: float, source: str, basin: str, start: str, end: str) -> dict:
    from core.hydro.predict import predict_run

    pred = predict_run(run_path, source, (start, end), basins=[basin])
    return {"dataset": pred.dataset.load(), "metrics": pred.metrics, "notes": pred.notes}


def prediction(run: RunDir, source: str, basin: str, start: str, end: str) -> dict:
    """``{"dataset", "metrics", "notes"}`` of :func:`core.hydro.predict.predict_run` for one basin,
    computed once per run version, source, basin and period. Raises DataError / ValueError on bad input."""
    return _prediction(str(run.path), _checkpoint_stamp(str(run.path)), source, basin, start, end)


def run_test_period(run: RunDir) -> tuple[str, str] | None:
    """The run's test period as ISO dates (the natural default period to predict), None if unreadable."""
    period = (run.safe_config().get("data") or {}).get("test_period")
    return (str(period[0]), str(period[1])) if period else None
