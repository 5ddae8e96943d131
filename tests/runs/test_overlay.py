"""Several runs of one basin on one axis: observations once, each run's simulations in place, a score
row per run and model, the settings that differ."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.runs.config_diff import settings_table
from core.runs.overlay import overlay_basin, overlay_scores, periods_differ


def series(start: str, n: int, scale: float, obs_offset: float = 0.0) -> dict:
    time = pd.date_range(start, periods=n, freq="D")
    obs = 1.0 + np.arange(n, dtype=float) + obs_offset
    return {"time": time.values, "q_obs": obs, "prcp": obs * 2, "sims": {"dXAJ (dPL)": obs * scale, "LSTM": obs}}


def test_runs_are_placed_on_the_union_of_their_steps_with_observations_once():
    a = series("2000-01-01", 5, 0.9)
    b = series("2000-01-04", 4, 1.2, obs_offset=3.0)  # same record: day 4 is obs 4.0 in both
    b["q_obs"][0] = np.nan  # a gap in b is filled from a
    merged = overlay_basin({"a": a, "b": b})
    assert len(merged.time) == 7
    assert merged.q_obs.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert np.isnan(merged.sims["b"]["dXAJ (dPL)"][:3]).all()
    assert merged.sims["b"]["dXAJ (dPL)"][3:] == pytest.approx(1.2 * np.array([4, 5, 6, 7]))
    assert np.isnan(merged.sims["a"]["LSTM"][5:]).all()
    assert periods_differ({"a": a, "b": b}) and not periods_differ({"a": a, "a2": a})


def test_scores_per_run_over_its_own_period():
    table = overlay_scores({"a": series("2000-01-01", 30, 0.9), "b": series("2000-01-01", 30, 1.2)})
    assert list(zip(table["run"], table["model"])) == [("a", "dXAJ (dPL)"), ("a", "LSTM"), ("b", "dXAJ (dPL)"), ("b", "LSTM")]
    assert table["pbias"].tolist() == pytest.approx([-10.0, 0.0, 20.0, 0.0])
    assert table["nse"].iloc[1] == pytest.approx(1.0)
    assert table["first"].iloc[0] == "2000-01-01" and table["last"].iloc[0] == "2000-01-30"


def test_settings_table_lists_only_what_differs():
    a = {"name": "x", "model_args": {"hidden": 8, "strategy": "last"}, "data": {"basins": ["1", "2"]}}
    b = {"name": "y", "model_args": {"hidden": 16, "strategy": "last"}, "data": {"basins": ["1", "2"]}, "extra": 1}
    c = {"name": "z", "model_args": {"hidden": 8, "strategy": "last"}, "data": {"basins": ["1"]}}
    rows = settings_table({"a": a, "b": b, "c": c})
    assert [r["setting"] for r in rows] == ["data.basins", "extra", "model_args.hidden"]
    assert rows[2] == {"setting": "model_args.hidden", "a": "8", "b": "16", "c": "8"}
    assert rows[1]["a"] is None and rows[1]["b"] == "1"
    assert settings_table({"a": a, "a2": dict(a, name="other")}) == []
