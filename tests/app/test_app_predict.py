"""AppTest: the Predict page applies a trained run to a basin it never saw (issue 31 item 3, issue 32 item 6)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.app_helpers import assert_clean, button, errors_of, open_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from basin_folders import train_tiny_run, write_basin_folder  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A runs folder with one tiny trained run, and two data folders of basins it never saw."""
    tmp = tmp_path_factory.mktemp("predict_app")
    train = write_basin_folder(tmp / "train", ["A001", "A002", "A003"])
    runs = tmp / "runs"
    runs.mkdir()
    train_tiny_run(runs, train)  # runs/run
    new = write_basin_folder(tmp / "ungauged", ["U001", "U002"], seed=9)
    lacking = write_basin_folder(tmp / "lacking", ["L001"], seed=2)
    table = pd.read_csv(lacking / "basins.csv", dtype={"gauge_id": str})
    table["aridity"] = np.nan
    table.to_csv(lacking / "basins.csv", index=False)
    return {"runs": runs, "new": new, "lacking": lacking}


@pytest.fixture(autouse=True)
def env(world, monkeypatch):
    monkeypatch.setenv("HYDROCAST_RUNS", str(world["runs"]))
    monkeypatch.setenv("HYDROCAST_DATA", os.pathsep.join([str(world["new"]), str(world["lacking"])]))


def _choose(at, source: str, basin: str | None = None):
    at.selectbox(key="predict_source_pick").set_value(source).run()
    if basin:
        at.selectbox(key="predict_basin_pick").set_value(basin).run()
    at.date_input(key="predict_start").set_value(pd.Timestamp("2001-07-01").date())
    at.date_input(key="predict_end").set_value(pd.Timestamp("2002-12-31").date())
    button(at, "Predict").click().run()
    assert_clean(at)
    return at


def test_predict_page_shows_the_hydrograph_parameters_and_scores(world):
    at = open_page("8_Predict.py")
    assert_clean(at)
    assert at.selectbox(key="predict_run_pick").value == "run"
    _choose(at, str(world["new"]), "U002")
    assert not errors_of(at), errors_of(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # hydrograph + generated parameters
    scores = at.dataframe[0].value
    assert list(scores["model"]) == ["dXAJ (dPL)", "LSTM"]
    assert np.isfinite(scores["NSE (-)"].astype(float)).all()


def test_predict_page_names_the_missing_attribute(world):
    at = open_page("8_Predict.py")
    _choose(at, str(world["lacking"]))
    errors = errors_of(at)
    assert len(errors) == 1 and "L001" in errors[0] and "aridity" in errors[0]
    assert not at.get("plotly_chart")


def test_predict_page_without_runs_points_to_training(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDROCAST_RUNS", str(tmp_path / "none"))
    at = open_page("8_Predict.py")
    assert_clean(at)
    assert any("Train dXAJ" in i.value for i in at.info)
