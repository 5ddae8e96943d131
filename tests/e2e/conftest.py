"""End-to-end fixtures: the real app under ``streamlit run`` on 127.0.0.1 and Debian's Chromium via Playwright.

Skips (with the reason) when Chromium or Playwright is missing. Screenshots go to ``test-artifacts/``.
The app gets its own empty runs folder; ``HYDROCAST_DATA`` points at ``../shared/data/camels_us_daily``
when that folder exists, so multi-basin runs can be trained from the UI.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path(os.environ.get("HYDROCAST_CHROMIUM", "/usr/bin/chromium"))
CAMELS_DAILY = (REPO / ".." / "shared" / "data" / "camels_us_daily").resolve()
RENDERED = "[data-testid=stApp][data-test-script-state=notRunning]"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def playwright_browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Base URL of a fresh ``streamlit run app.py`` with its own runs folder; stopped at the end."""
    if shutil.which("streamlit", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("streamlit executable not found next to the Python interpreter")
    runs = tmp_path_factory.mktemp("e2e_runs")
    port = _free_port()
    env = dict(os.environ, HYDROCAST_RUNS=str(runs), PYTHONUNBUFFERED="1")
    if CAMELS_DAILY.is_dir():
        env["HYDROCAST_DATA"] = str(CAMELS_DAILY)
    else:
        env.pop("HYDROCAST_DATA", None)
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "e2e_server.log", "wb")
    cmd = [str(Path(sys.executable).parent / "streamlit"), "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited early; see {ARTIFACTS / 'e2e_server.log'}")
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("streamlit did not become healthy within 60 s")
    yield {"url": url, "runs": runs, "camels": CAMELS_DAILY if CAMELS_DAILY.is_dir() else None}
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture()
def page(playwright_browser, app_server):
    context = playwright_browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def wait_rendered(pg, timeout_ms: int = 60_000) -> None:
    """Until the script run finished and no skeleton placeholder is left."""
    pg.wait_for_selector(RENDERED, state="attached", timeout=timeout_ms)
    pg.wait_for_function("() => document.querySelectorAll('[data-testid=stSkeleton]').length === 0",
                         timeout=timeout_ms)


# Counts the script runs the page starts: the app's script-state attribute turning to "running". Watching
# the whole document survives Streamlit replacing the app element on a page switch.
_WATCH_RUNS = """() => {
  if (window.__hcWatch) { window.__hcRuns = 0; return; }
  window.__hcRuns = 0;
  window.__hcWatch = new MutationObserver(records => {
    for (const r of records) {
      if (r.target.getAttribute && r.target.getAttribute('data-test-script-state') === 'running') window.__hcRuns++;
    }
  });
  window.__hcWatch.observe(document, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
}"""


def rerun_after(pg, action, timeout_ms: int = 60_000) -> None:
    """Do ``action`` and wait until the script run it triggers has started and finished rendering.

    Waiting only for "not running" right after an action could read the previous run's page: the new
    run may not have started yet. This waits for the state change itself.
    """
    pg.evaluate(_WATCH_RUNS)
    action()
    pg.wait_for_function("() => window.__hcRuns > 0", timeout=timeout_ms)
    wait_rendered(pg, timeout_ms)


def shot(pg, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def assert_no_exception(pg) -> None:
    boxes = pg.locator("[data-testid=stException]")
    assert boxes.count() == 0, boxes.first.inner_text()[:2000]


def nav(pg, label: str) -> None:
    """Go to a page through the sidebar navigation (keeps the session, unlike a new URL)."""
    link = pg.locator("[data-testid=stSidebarNav] a").filter(has_text=label).first
    rerun_after(pg, link.click)


def in_form(locator) -> bool:
    """Whether a widget sits inside an ``st.form`` (its changes start no script run)."""
    return locator.locator("xpath=ancestor::*[@data-testid='stForm']").count() > 0


def widget(pg, testid: str, label: str):
    return pg.locator(f"[data-testid={testid}]").filter(has=pg.get_by_text(label, exact=True)).first


def selected_option(pg, label: str) -> str:
    """The option a selectbox labelled ``label`` shows: it is the value of its combobox ``<input>``,
    not part of the widget's text."""
    return widget(pg, "stSelectbox", label).locator("input").first.input_value()


def select_option(pg, label: str, option: str, testid: str = "stSelectbox") -> None:
    """Open the selectbox (or multiselect) labelled ``label`` and click ``option``.

    Picking the option a selectbox already shows changes nothing and starts no script run, so that
    case returns at once instead of waiting for a run that never comes.
    """
    holder = widget(pg, testid, label)
    if testid == "stSelectbox" and selected_option(pg, label) == option:
        return
    box = holder.locator("input").first
    box.click()
    box.press_sequentially(option, delay=20)  # filters the virtualised list so the option is rendered

    def pick():
        pg.get_by_role("option", name=option, exact=True).first.click()
        if testid == "stMultiSelect":
            pg.keyboard.press("Escape")

    if in_form(holder):  # a widget inside st.form reruns nothing until the form is submitted
        pick()
        return
    rerun_after(pg, pick)


def fill_number(pg, label: str, value) -> None:
    holder = widget(pg, "stNumberInput", label)
    box = holder.locator("input")
    box.fill(str(value))
    if in_form(holder):
        box.press("Enter")
        return
    rerun_after(pg, lambda: box.press("Enter"))


def metric_value(pg, label: str) -> float:
    """The number an ``st.metric`` labelled ``label`` shows (NaN when it shows "nan")."""
    box = pg.locator("[data-testid=stMetric]").filter(has=pg.get_by_text(label, exact=True)).first
    text = box.locator("[data-testid=stMetricValue]").inner_text().strip().replace("\u2212", "-")
    if text.lower() == "nan":
        return float("nan")
    match = re.search(r"-?\d+(\.\d+)?(e-?\d+)?", text)
    assert match, f"{label}: no number in {text!r}"
    return float(match.group(0))


def table_rows(table) -> list[tuple[list[str], dict[str, str]]]:
    """Rows of an ``st.table`` (HTML table) locator: (index cells, {column header: cell text})."""
    header = [t.strip() for t in table.locator("thead tr").first.locator("th").all_inner_texts()]
    rows, previous = [], []
    for tr in table.locator("tbody tr").all():
        index = [t.strip() for t in tr.locator("th").all_inner_texts()]
        cells = [t.strip() for t in tr.locator("td").all_inner_texts()]
        # a MultiIndex row shows only the levels that change (the outer cell spans rows): fill from above
        index = previous[: max(len(previous) - len(index), 0)] + index
        previous = index
        rows.append((index, dict(zip(header[len(header) - len(cells):], cells))))
    return rows


def as_number(text: str) -> float:
    """A table cell as a float; NaN for the "–" / "nan" of a missing value."""
    text = text.strip().replace("\u2212", "-")
    return float("nan") if text in ("", "\u2013", "-", "nan", "None") else float(text)


def wait_text(pg, text: str, timeout_ms: int) -> None:
    pg.get_by_text(text).first.wait_for(state="visible", timeout=timeout_ms)


def record_timing(name: str, seconds: float) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "timings.txt").open("a") as fh:
        fh.write(f"{name} {seconds:.3f}\n")
    print(f"\n{name}: {seconds:.3f} s")
