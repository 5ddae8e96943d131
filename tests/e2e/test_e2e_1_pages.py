"""Every page opens in a real browser without an exception; first render time of the home page."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import assert_no_exception, record_timing, shot, wait_rendered

pytestmark = pytest.mark.e2e

PAGES = ["Basins", "Train_dXAJ", "Hydrographs", "Parameters", "Rain_experiments", "Rain_maps", "Runs"]


def test_home_first_render(page, app_server):
    start = time.perf_counter()
    page.goto(app_server["url"])
    wait_rendered(page)
    page.get_by_text("Hydrocast Studio").first.wait_for()
    seconds = time.perf_counter() - start
    record_timing("home_first_render_s (first visit of a fresh server, new browser context)", seconds)
    shot(page, "00_home")
    assert_no_exception(page)
    assert page.get_by_text("Training device").count() >= 1


@pytest.mark.parametrize("name", PAGES)
def test_page_opens(page, app_server, name):
    page.goto(f"{app_server['url']}/{name}")
    wait_rendered(page)
    assert_no_exception(page)
    shot(page, f"page_{PAGES.index(name) + 1}_{name}")
    # the sidebar is shared: every page lists the device and the data source
    assert page.locator("[data-testid=stSidebar]").get_by_text("Device").count() >= 1
