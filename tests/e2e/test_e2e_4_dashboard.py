"""Real browser: choices kept across pages, problems refused before Start, live sidebar status, the
one-click demo with its results, screenshots of every page after it, the sandbox's redraw time."""

from __future__ import annotations

import json
import math
import time

import pytest

from tests.e2e.conftest import (assert_no_exception, fill_number, nav, record_timing, select_option, shot,
                                wait_rendered, wait_text, widget)

pytestmark = pytest.mark.e2e

PAGES = ["Home", "Basins", "Train dXAJ", "Hydrographs", "Parameters", "Rain experiments", "Rain maps", "Runs"]


def _open_home(page, app_server) -> None:
    page.goto(app_server["url"])
    wait_rendered(page)


def _sidebar(page):
    return page.locator("[data-testid=stSidebar]")


def test_first_navigation_entry_is_home(page, app_server):
    _open_home(page, app_server)
    first = page.locator("[data-testid=stSidebarNav] a").first
    assert first.inner_text().strip().endswith("Home")


def test_region_kept_across_pages(page, app_server):
    _open_home(page, app_server)
    nav(page, "Rain experiments")
    fill_number(page, "Region 1 east (°E)", 118)
    nav(page, "Rain maps")
    nav(page, "Rain experiments")
    value = widget(page, "stNumberInput", "Region 1 east (°E)").locator("input").input_value()
    assert float(value) == 118.0
    assert_no_exception(page)


def test_region_outside_the_grid_refused_before_start_with_one_message(page, app_server):
    _open_home(page, app_server)
    nav(page, "Rain experiments")
    fill_number(page, "Region 1 east (°E)", 179)
    wait_text(page, "falls outside the grid", 30_000)
    assert page.get_by_text("falls outside the grid").count() == 1
    assert page.get_by_role("button", name="Start training").is_disabled()
    assert_no_exception(page)
    shot(page, "dash_region_outside_grid")


def test_two_demo_basins_lead_to_a_usable_train_page(page, app_server):
    _open_home(page, app_server)
    nav(page, "Basins")
    select_option(page, "Basins", "hymod_example", testid="stMultiSelect")
    wait_text(page, "share no common period", 60_000)
    assert page.get_by_text("Not on the map").count() == 1  # hymod_example has no outlet coordinates
    nav(page, "Train dXAJ")
    wait_text(page, "share no common period", 60_000)
    assert page.get_by_text("share no common period").count() == 1
    # the parameter table and the settings are still there, Start is disabled with the reason
    assert page.locator("[data-testid=stDataFrame]").count() >= 1
    assert page.get_by_text("Training settings").count() == 1
    assert page.get_by_role("button", name="Start training").is_disabled()
    assert_no_exception(page)
    shot(page, "dash_two_demo_basins_train")


def test_sidebar_shows_the_job_within_3_s_of_start_and_cancel_reads_well(page, app_server):
    _open_home(page, app_server)
    nav(page, "Train dXAJ")
    assert _sidebar(page).get_by_text("No training job running.").count() == 1
    page.get_by_role("button", name="Start training").click()
    started = time.perf_counter()
    _sidebar(page).get_by_text("Job running").or_(_sidebar(page).get_by_text("Job pending")).first.wait_for(
        timeout=10_000)
    seconds = time.perf_counter() - started
    record_timing("sidebar_job_status_after_start_s (same page)", seconds)
    assert seconds < 3.0
    _sidebar(page).get_by_text("Job running").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Cancel training").click()
    wait_text(page, "Cancelled by user", 60_000)
    assert page.get_by_text("received signal").count() == 0
    _sidebar(page).get_by_text("No training job running.").wait_for(timeout=30_000)
    assert_no_exception(page)


def test_demo_ends_with_a_hydrograph_and_rain_maps(page, app_server):
    _open_home(page, app_server)
    page.get_by_role("button", name="▶ Run the demo").click()
    started = time.perf_counter()
    wait_text(page, "Open Rain maps", 1_500_000)
    record_timing("ui_demo_hydro_then_rain_s", time.perf_counter() - started)
    wait_rendered(page)
    charts = page.locator("[data-testid=stPlotlyChart]")
    charts.nth(1).locator(".main-svg").first.wait_for()
    hydro_text, rain_text = charts.nth(0).inner_text(), charts.nth(1).inner_text()
    for name in ("observed", "dXAJ (dPL)", "XAJ, static parameters", "LSTM"):
        assert name in hydro_text
    for name in ("truth", "exp1", "exp2", "persistence"):
        assert name in rain_text
    assert_no_exception(page)
    shot(page, "demo_00_home_results")

    rain_run = next(p for p in app_server["runs"].iterdir() if p.name.startswith("rain-") and p.name.endswith("demo"))
    csi = json.loads((rain_run / "metrics.json").read_text())["test"]
    exp2, persistence = (next(v for k, v in csi[name]["csi"].items() if float(k) == 5.0)
                         for name in ("exp2", "persistence"))
    record_timing(f"demo_csi_at_5mm exp2 {exp2:.3f} persistence {persistence:.3f} (value: exp2 - persistence)",
                  exp2 - persistence)
    assert math.isfinite(exp2) and math.isfinite(persistence)
    # the quick rain preset learns from the upstream region (exp2 CSI@5 0.58 vs persistence 0.24 here)
    assert exp2 > persistence

    for i, name in enumerate(PAGES[1:], start=1):
        nav(page, name)
        page.wait_for_timeout(500)
        wait_rendered(page)
        assert_no_exception(page)
        shot(page, f"demo_{i:02d}_{name.replace(' ', '_')}")



def test_sandbox_redraw_time(page, app_server):
    """Parameters sandbox: time from a slider move to the new test-period scores on screen."""
    _open_home(page, app_server)
    nav(page, "Parameters")
    nse = page.locator("[data-testid=stMetric]").filter(has_text="NSE (test period)").first
    nse.wait_for()
    thumb = page.get_by_role("slider", name="K (-)").first
    times = []
    for _ in range(5):
        before = nse.inner_text()
        thumb.focus()
        start = time.perf_counter()
        thumb.press("ArrowRight")
        page.wait_for_function("([el, old]) => el.innerText !== old", arg=[nse.element_handle(), before],
                               timeout=10_000)
        times.append(time.perf_counter() - start)
    record_timing("sandbox_redraw_s (slider move to new test-period scores, median of 5)", sorted(times)[2])
    assert_no_exception(page)
    shot(page, "dash_parameters_sandbox_moved")
