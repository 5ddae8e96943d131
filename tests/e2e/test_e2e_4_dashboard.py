"""Real browser: choices kept across pages, problems refused before Start, live sidebar status, the
one-click demo with its results (Home's demo lines and runs table agreeing at every poll, the results
still on Home after the other pages and in a new tab), screenshots of every page after it, the demo's
run reports opened with the network cut, the sandbox's redraw time."""

from __future__ import annotations

import json
import math
import re
import time

import pytest

from tests.e2e.conftest import (ARTIFACTS, assert_no_exception, fill_number, nav, record_timing, rerun_after,
                                select_option, shot, wait_rendered, wait_text, widget)

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


# One reading of Home's main area in one go (no await between): the demo's lines and the "Latest runs"
# table as the browser shows them, or null while a script or fragment run is redrawing them.
_HOME_SNAPSHOT = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  const main = document.querySelector('[data-testid=stMain]');
  if (!app || !main || app.getAttribute('data-test-script-state') !== 'notRunning') return null;
  if (main.querySelector('[data-stale=true]')) return null;
  const lines = [...main.querySelectorAll('[data-testid=stProgress]')].map(e => e.innerText.trim());
  const table = main.querySelector('[data-testid=stTable] table');
  if (!table) return {lines, header: [], rows: []};
  const header = [...table.querySelectorAll('thead tr:last-child th')].map(t => t.innerText.trim());
  const rows = [...table.querySelectorAll('tbody tr')].map(tr => [...tr.querySelectorAll('th, td')].map(c => c.innerText.trim()));
  return {lines, header, rows};
}"""
_LINE = re.compile(r"run (\S+): (\w+) - (.*)$", re.S)


def _plain(text: str) -> str:
    """Text without Markdown marks (the progress line is Markdown, the table cell plain text)."""
    return re.sub(r"[*_`]", "", text).strip()


def _agreeing_states(snapshot: dict) -> dict[str, str]:
    """``{run: state}`` of the demo's lines, after checking each against its table row."""
    header = snapshot["header"]
    seen = {}
    for line in snapshot["lines"]:
        match = _LINE.search(line)
        assert match, f"demo line without a run state: {line!r}"
        name, state, message = match.groups()
        row = next((r for r in snapshot["rows"] if r and r[0] == name), None)
        assert row is not None, f"{name} is on a demo line but not in Latest runs: {snapshot}"
        assert len(row) == len(header), (header, row)
        cells = dict(zip(header, row))
        assert cells["state"] == state, f"line says {state}, table says {cells['state']}: {snapshot}"
        assert _plain(cells["message"]) == _plain(message), f"line {message!r}, table {cells['message']!r}"
        seen[name] = state
    return seen


def _demo_charts_on_home(page) -> None:
    charts = page.locator("[data-testid=stMain] [data-testid=stPlotlyChart]")
    charts.nth(1).locator(".main-svg").first.wait_for(timeout=60_000)
    hydro_text, rain_text = charts.nth(0).inner_text(), charts.nth(1).inner_text()
    for name in ("observed", "dXAJ (dPL)", "XAJ, static parameters", "LSTM"):
        assert name in hydro_text
    for name in ("truth", "exp1", "exp2", "persistence"):
        assert name in rain_text


def test_demo_ends_with_a_hydrograph_and_rain_maps(page, app_server, playwright_browser):
    _open_home(page, app_server)
    page.get_by_role("button", name="▶ Run the demo").click()
    started = time.perf_counter()
    # Home's demo lines and its "Latest runs" table agree at every poll while the runs go from pending to completed
    states: dict[str, list[str]] = {}
    polls = 0
    done = page.get_by_text("Open Rain maps")
    while not done.count():
        assert time.perf_counter() - started < 1500, "the demo did not finish in 25 min"
        snapshot = page.evaluate(_HOME_SNAPSHOT)
        if snapshot and snapshot["lines"]:
            for name, state in _agreeing_states(snapshot).items():
                if not states.get(name) or states[name][-1] != state:
                    states.setdefault(name, []).append(state)
            polls += 1
        page.wait_for_timeout(700)
    record_timing("ui_demo_hydro_then_rain_s", time.perf_counter() - started)
    wait_rendered(page)
    final = None
    while final is None:
        final = page.evaluate(_HOME_SNAPSHOT)
        page.wait_for_timeout(200)
    for name, state in _agreeing_states(final).items():
        if not states.get(name) or states[name][-1] != state:
            states.setdefault(name, []).append(state)
    hydro_name = next(n for n in states if n.startswith("hydro-"))
    print(f"\nstates seen over {polls} polls: {states}")
    assert polls >= 5
    assert states[hydro_name][-1] == "completed" and any(s in ("pending", "running") for s in states[hydro_name])
    assert all(seq[-1] == "completed" for seq in states.values()), states
    _demo_charts_on_home(page)
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

    # screenshots of every page after the demo
    for i, name in enumerate(PAGES[1:], start=1):
        nav(page, name)
        page.wait_for_timeout(500)
        wait_rendered(page)
        assert_no_exception(page)
        shot(page, f"demo_{i:02d}_{name.replace(' ', '_')}")

    # back on Home after visiting the pages: the demo's results are still there
    nav(page, "Home")
    _demo_charts_on_home(page)
    assert_no_exception(page)
    # and in a new tab (a new session, nothing in its state): read from the demo's run folders
    context = playwright_browser.new_context(viewport={"width": 1100, "height": 1050})
    try:
        fresh = context.new_page()
        fresh.set_default_timeout(60_000)
        fresh.goto(app_server["url"])
        wait_rendered(fresh)
        _demo_charts_on_home(fresh)
        assert_no_exception(fresh)
        fresh.wait_for_timeout(1000)  # plotly's resize after the first draw
        fresh.screenshot(path=str(ARTIFACTS / "readme_home.png"))
    finally:
        context.close()


def test_demo_report_opens_offline_with_its_figures(page, app_server, playwright_browser, tmp_path):
    """The Runs page's report of the demo's runs, downloaded, opened in a browser with the network cut."""
    demo_runs = sorted(p.name for p in app_server["runs"].iterdir() if p.name.endswith("demo"))
    names = {kind: next((n for n in reversed(demo_runs) if n.startswith(f"{kind}-")), None) for kind in ("hydro", "rain")}
    if None in names.values():  # run alone: small hand-made runs stand in for the demo's
        from tests.app.test_app_damaged_runs import (HYDRO_METRICS, completed_run, hydro_predictions,
                                                     rain_predictions)

        names = {"hydro": "hydro-20250101-000000-report", "rain": "rain-20250101-000000-report"}
        completed_run(app_server["runs"], names["hydro"], "hydro", hydro_predictions(), HYDRO_METRICS)
        completed_run(app_server["runs"], names["rain"], "rain", rain_predictions(),
                      {"units": "mm", "test": {"exp1": {"rmse": 1.0, "csi": {"1": 0.4}}}})
    reports = []
    _open_home(page, app_server)
    nav(page, "Runs")
    for kind, name in names.items():
        select_option(page, "Run", name)
        make = page.get_by_role("button", name="Make the run report (HTML)")
        rerun_after(page, make.click, timeout_ms=120_000)
        with page.expect_download() as download:
            page.get_by_role("button", name="Download the run report (HTML)").click()
        path = tmp_path / f"{name}.html"
        download.value.save_as(str(path))
        reports.append((kind, path))
    assert_no_exception(page)

    context = playwright_browser.new_context(offline=True, viewport={"width": 1300, "height": 1000})
    asked = []

    def cut(route):
        asked.append(route.request.url)
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", cut)
    try:
        offline = context.new_page()
        for kind, path in reports:
            offline.goto(path.as_uri())
            plots = offline.locator(".js-plotly-plot")
            plots.first.wait_for(timeout=60_000)
            count = plots.count()
            assert count >= 2  # hydrograph(s) or rain maps, and the loss curves (and the CSI chart)
            for i in range(count):  # every figure drawn: plotly put its SVG layers in
                plots.nth(i).locator(".main-svg").first.wait_for(state="attached", timeout=30_000)
            text = offline.locator("body").inner_text()
            assert "Configuration" in text and "Machine writing this report" in text
            offline.screenshot(path=str(ARTIFACTS / f"report_{kind}_offline.png"))
        assert [url for url in asked if not url.startswith("file:")] == []
    finally:
        context.close()


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


def test_navigation_icons_are_drawn_from_the_bundled_icon_font(page, app_server):
    """Debian's Chromium has no emoji font: icons must come from Streamlit's Material Symbols font,
    which ships with the app. Each navigation entry shows a Material icon element whose font has loaded
    and which is drawn with a width (an emoji without a font is an empty box of text)."""
    _open_home(page, app_server)
    links = page.locator("[data-testid=stSidebarNav] a")
    assert links.count() >= 9  # the 8 pages of the dashboard and Predict
    for i in range(links.count()):
        icon = links.nth(i).locator("[data-testid=stIconMaterial]")
        assert icon.count() == 1, links.nth(i).inner_text()
        family = icon.evaluate("e => getComputedStyle(e).fontFamily")
        assert "Material Symbols" in family, family
        assert icon.bounding_box()["width"] > 8
    loaded = page.evaluate("""async () => { await document.fonts.ready;
        return [...document.fonts].filter(f => f.family.includes('Material Symbols') && f.status === 'loaded').length; }""")
    assert loaded >= 1
    emoji = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
    assert not emoji.search(page.locator("[data-testid=stSidebarNav]").inner_text())
