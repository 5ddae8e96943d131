"""ui.run_tables: the Runs page's metric table, its CSV export and the two-run comparison, on hand-made runs."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from core.runs.folder import RunDir
from ui.run_tables import compare_frame, metrics_frame


def _hydro_run(root, name, nse, kge, basin_nse, baseline_nse=None) -> RunDir:
    run = RunDir(root / name).create()
    run.write_config({"kind": "hydro", "name": name})
    metrics = {"model": "dpl", "test": {"median": {"nse": nse, "kge": kge},
                                        "per_basin": {"b1": {"nse": basin_nse, "kge": kge}}}}
    if baseline_nse is not None:
        metrics["static_xaj"] = {"test": {"median": {"nse": baseline_nse}, "per_basin": {}}}
    run.write_metrics(metrics)
    return run


def _value(frame: pd.DataFrame, column: str, model: str, where: str, score: str):
    row = frame[(frame["model"] == model) & (frame["where"] == where) & (frame["score"] == score)]
    assert len(row) == 1, (model, where, score, frame)
    return row[column].iloc[0]


def test_metrics_frame_holds_every_score_of_a_hydro_run(tmp_path):
    run = _hydro_run(tmp_path, "hydro-a", 0.61, 0.55, 0.70, baseline_nse=0.42)
    frame = metrics_frame(run)
    assert _value(frame, "value", "dpl", "median", "nse") == 0.61
    assert _value(frame, "value", "dpl", "b1", "nse") == 0.70
    assert _value(frame, "value", "static_xaj", "median", "nse") == 0.42
    assert len(frame) == 2 + 2 + 1
    # what the page exports is this table: the CSV reads back to the same numbers
    back = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    assert back.equals(frame) or (back.values == frame.values).all()


def test_metrics_frame_of_a_rain_run_keys_scores_by_threshold(tmp_path):
    run = RunDir(tmp_path / "rain-a").create()
    run.write_config({"kind": "rain"})
    run.write_metrics({"test": {"exp1": {"rmse": 1.5, "csi": {"5.0": 0.3}, "contingency": {"5.0": {"hits": 3}}},
                                "persistence": {"rmse": 2.0, "csi": {"5.0": 0.2}}}})
    frame = metrics_frame(run)
    assert _value(frame, "value", "exp1", "threshold 5.0", "csi") == 0.3
    assert _value(frame, "value", "persistence", "all", "rmse") == 2.0
    assert not (frame["score"] == "contingency").any()  # nested counts are not flattened into scores


def test_compare_frame_puts_two_runs_side_by_side_with_b_minus_a(tmp_path):
    a = _hydro_run(tmp_path, "hydro-a", 0.61, 0.55, 0.70, baseline_nse=0.42)
    b = _hydro_run(tmp_path, "hydro-b", 0.71, 0.50, 0.65)
    frame = compare_frame(a, b)
    assert {"model", "where", "score", "hydro-a", "hydro-b", "difference (b - a)"} <= set(frame.columns)
    assert _value(frame, "hydro-a", "dpl", "median", "nse") == 0.61
    assert _value(frame, "hydro-b", "dpl", "median", "nse") == 0.71
    assert _value(frame, "difference (b - a)", "dpl", "median", "nse") == pytest.approx(0.10)
    assert _value(frame, "difference (b - a)", "dpl", "median", "kge") == pytest.approx(-0.05)
    assert _value(frame, "difference (b - a)", "dpl", "b1", "nse") == pytest.approx(-0.05)
    # a score only run A has stays, with no difference
    assert _value(frame, "hydro-a", "static_xaj", "median", "nse") == 0.42
    assert math.isnan(_value(frame, "difference (b - a)", "static_xaj", "median", "nse"))
    # swapping the runs flips the sign
    back = compare_frame(b, a)
    assert _value(back, "difference (b - a)", "dpl", "median", "nse") == pytest.approx(-0.10)


def test_comparing_a_run_with_itself_has_no_difference_column(tmp_path):
    a = _hydro_run(tmp_path, "hydro-a", 0.61, 0.55, 0.70)
    frame = compare_frame(a, a)
    assert "difference (b - a)" not in frame.columns and len(frame) == 4
