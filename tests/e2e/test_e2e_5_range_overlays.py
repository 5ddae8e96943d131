"""Real browser (issue 32, items 1 and 2): a range flag on a run whose C sits at its upper bound and the
widen button opening Train dXAJ filled; two dXAJ runs overlaid on one hydrograph; two rain runs' CSI
against lead on one chart. The runs are written into the app's runs folder (tests/run_builders.py)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_no_exception, nav, rerun_after, select_option, shot, wait_rendered, wait_text
from tests.run_builders import BASIN, HYDRO_AT_BOUND, HYDRO_MIDDLE, RAIN_A, RAIN_B, write_overlay_runs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def overlay_runs(app_server):
    return write_overlay_runs(app_server["runs"])


def _open(page, app_server) -> None:
    page.goto(app_server["url"])
    wait_rendered(page)


def test_range_flag_and_widen_opens_train_filled(page, app_server, overlay_runs):
    _open(page, app_server)
    nav(page, "Parameters")
    select_option(page, "Run", HYDRO_AT_BOUND)
    wait_text(page, "Range diagnostics of", 30_000)
    flag = page.locator("[data-testid=stAlert]").filter(has_text="lies within 2% of its upper bound")
    assert flag.count() == 1 and "C lies within" in flag.first.inner_text()
    assert "100% of the test steps" in flag.first.inner_text()
    assert_no_exception(page)
    flag.first.scroll_into_view_if_needed()
    shot(page, "range_1_parameters_flag")
    button = page.get_by_role("button", name="Start a run with C widened to 0 – 0.4")
    rerun_after(page, button.click)
    wait_text(page, f"Filled from run {HYDRO_AT_BOUND}", 30_000)
    assert page.get_by_text("Changed from the defaults: C").count() == 1
    assert page.get_by_role("button", name="Start training").is_enabled()  # filled, not started
    assert page.locator("[data-testid=stSidebar]").get_by_text("No training job running.").count() == 1
    assert_no_exception(page)
    shot(page, "range_2_train_filled")


def test_two_runs_overlaid_on_one_hydrograph(page, app_server, overlay_runs):
    _open(page, app_server)
    nav(page, "Hydrographs")
    select_option(page, "Run", HYDRO_AT_BOUND)
    select_option(page, "Basin", BASIN)
    select_option(page, "Overlay other runs of this basin", HYDRO_MIDDLE, testid="stMultiSelect")
    chart = page.locator("[data-testid=stPlotlyChart]").first
    chart.get_by_text("2 runs overlaid").wait_for(timeout=30_000)
    text = chart.inner_text()
    assert f"{HYDRO_AT_BOUND} · dXAJ (dPL)" in text and f"{HYDRO_MIDDLE} · dXAJ (dPL)" in text
    assert text.count("observed") == 1
    wait_text(page, f"Scores of each run on {BASIN}", 10_000)
    wait_text(page, "Settings that differ", 10_000)
    assert_no_exception(page)
    shot(page, "overlay_1_hydrographs")


def test_two_rain_runs_on_one_lead_chart(page, app_server, overlay_runs):
    _open(page, app_server)
    nav(page, "Rain maps")
    select_option(page, "Run", RAIN_A)
    select_option(page, "Put other rain runs' CSI against lead on one chart", RAIN_B, testid="stMultiSelect")
    chart = page.locator("[data-testid=stPlotlyChart]").filter(has_text="CSI against lead time, 2 runs").first
    chart.locator(".main-svg").first.wait_for(timeout=30_000)
    text = chart.inner_text()
    assert RAIN_A in text and RAIN_B in text and "720 min" in text
    assert_no_exception(page)
    chart.scroll_into_view_if_needed()
    shot(page, "overlay_2_rain_lead_chart")
