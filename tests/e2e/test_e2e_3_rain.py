"""Real browser: train a tiny ST-RainNet run (experiments 1 and 2, generated demo world) from the UI, then
find the rain maps, the difference maps and the CSI table."""

from __future__ import annotations

import math
import time

import pytest

from tests.e2e.conftest import (as_number, assert_no_exception, nav, record_timing, shot, table_rows, wait_rendered,
                                wait_text)

pytestmark = pytest.mark.e2e


def test_train_rain_from_the_ui_and_read_the_maps(page, app_server):
    page.goto(app_server["url"])
    wait_rendered(page)
    nav(page, "Rain experiments")
    region_map = page.locator("[data-testid=stPlotlyChart]").first
    region_map.locator(".main-svg").first.wait_for()
    assert "region 1 (target)" in region_map.inner_text() and "region 2 (upstream)" in region_map.inner_text()
    assert_no_exception(page)
    shot(page, "rain_1_experiments")
    page.get_by_role("button", name="Start training").click()
    wait_text(page, "Training started in the background", 60_000)
    started = time.perf_counter()
    wait_text(page, ": completed", 420_000)
    record_timing("ui_rain_quick_demo_training_s (exp1 + exp2)", time.perf_counter() - started)
    wait_rendered(page)
    assert page.get_by_text("exp2 RMSE").count() >= 1
    shot(page, "rain_2_training_completed")

    nav(page, "Rain maps")
    charts = page.locator("[data-testid=stPlotlyChart]")
    charts.nth(1).locator(".main-svg").first.wait_for()
    maps_text = charts.nth(0).inner_text()
    for name in ("truth", "exp1", "exp2", "persistence"):
        assert name in maps_text
    assert "Prediction minus truth" in charts.nth(1).inner_text()
    tables = page.locator("[data-testid=stTable]")
    assert tables.count() >= 1
    header = tables.first.inner_text()
    for score in ("CSI", "POD", "FAR", "ETS"):
        assert score in header
    rows = table_rows(tables.first)
    assert len(rows) >= 3, header  # every system at every threshold, read off the page
    systems = {index[-1].split(" ")[0] for index, _ in rows}
    assert {"exp1", "exp2", "persistence"} <= systems, systems
    for index, cells in rows:
        for score in ("CSI", "POD", "FAR"):
            value = as_number(cells[score])
            assert math.isnan(value) or 0.0 <= value <= 1.0, (index, score, value)
        ets = as_number(cells["ETS"])
        assert math.isnan(ets) or -1 / 3 - 1e-3 <= ets <= 1.0, (index, ets)
    # at the lowest threshold it rains somewhere in the test period: every system's CSI is a number
    lowest = min(float(index[0]) for index, _ in rows)
    csi_low = [as_number(cells["CSI"]) for index, cells in rows if float(index[0]) == lowest]
    assert csi_low and all(math.isfinite(v) for v in csi_low), csi_low
    assert_no_exception(page)
    shot(page, "rain_3_maps")
    page.get_by_role("button", name="Render PNG with cartopy").click()
    page.locator("[data-testid=stImage] img").first.wait_for(timeout=60_000)
    wait_rendered(page)
    assert_no_exception(page)
    shot(page, "rain_4_cartopy_export")
