"""AppTest: Runs makes a run's HTML report to download; Home shows the demo's results from the run folders
on disk (a new session, no demo in it) and its demo lines agree with its "Latest runs" table."""

from __future__ import annotations

import pytest

from tests.app.test_app_damaged_runs import HYDRO_METRICS, completed_run, hydro_predictions, rain_predictions
from tests.app_helpers import assert_clean, button, open_page

pytestmark = pytest.mark.slow

HYDRO_DEMO, RAIN_DEMO = "hydro-20250101-000000-demo", "rain-20250101-000100-demo"


@pytest.fixture
def demo_runs(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    completed_run(root, HYDRO_DEMO, "hydro", hydro_predictions(), HYDRO_METRICS)
    completed_run(root, RAIN_DEMO, "rain", rain_predictions(), {"units": "mm", "test": {"exp1": {"rmse": 1.0}}})
    monkeypatch.setenv("HYDROCAST_RUNS", str(root))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)
    return root


def test_runs_page_makes_the_run_report_to_download(demo_runs):
    at = open_page("7_Runs.py")
    at.selectbox(key="runs_pick").set_value(HYDRO_DEMO).run()
    assert not at.get("download_button") or all("report" not in str(d.proto.label) for d in at.get("download_button"))
    button(at, "Make the run report (HTML)").click().run()
    assert_clean(at)
    name, page = at.session_state["_run_report"]
    assert name == HYDRO_DEMO
    text = page.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>") and f"Run report: {HYDRO_DEMO}" in text
    assert "Plotly.newPlot" in text
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Download the run report (HTML)" in labels


def test_home_shows_the_demo_results_from_disk_and_one_state_everywhere(demo_runs):
    at = open_page()  # a new session: nothing about the demo in it
    assert_clean(at)
    assert "demo" not in at.session_state
    charts = at.get("plotly_chart")
    assert len(charts) == 2, "the demo's hydrograph and rain maps"
    lines = [p.proto.text for p in at.get("progress")]
    table = at.table[0].value
    for name in (HYDRO_DEMO, RAIN_DEMO):
        row = table.loc[name]
        line = next(text for text in lines if name in text)
        assert f": {row['state']} - {row['message']}" in line
