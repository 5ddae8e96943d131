"""Real browser: the Predict page applies a trained run to a CAMELS basin it never saw (issue 32 item 6).

Runs last (file order): it adds a trained run to the session's runs folder, which earlier tests
expect empty."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import assert_no_exception, nav, rerun_after, shot, wait_rendered, wait_text, widget

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from basin_folders import tiny_config  # noqa: E402

pytestmark = pytest.mark.e2e


def test_predict_page_shows_an_ungauged_hydrograph_with_scores(page, app_server):
    camels = app_server["camels"]
    if camels is None:
        pytest.skip("../shared/data/camels_us_daily not present")
    from core.data import list_basins
    from core.hydro import cli

    ids = list_basins(str(camels))
    config = tiny_config(camels, train_period=("1990-10-01", "1992-09-30"), test_period=("1992-10-01", "1993-09-30"))
    config["data"]["basins"] = ids[:2]
    config["baselines"] = ["lstm"]
    path = app_server["runs"] / "predict_e2e.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["train", "--config", str(path), "--run-dir", str(app_server["runs"] / "hydro-e2e-predict"),
                     "--no-progress"]) == 0

    page.goto(app_server["url"])
    wait_rendered(page)
    nav(page, "Predict")
    source = widget(page, "stSelectbox", "Data source").locator("input").first
    source.click()
    source.press_sequentially("camels_us_daily", delay=20)
    rerun_after(page, lambda: page.get_by_role("option").filter(has_text="camels_us_daily").first.click())
    basin = widget(page, "stSelectbox", "Basin").locator("input").first
    basin.click()
    basin.press_sequentially(ids[5], delay=20)  # a basin the run never saw
    rerun_after(page, lambda: page.get_by_role("option", name=ids[5], exact=True).first.click())
    rerun_after(page, page.get_by_role("button", name="Predict").click, timeout_ms=180_000)
    wait_text(page, "Scores against the observed flow", 180_000)
    assert_no_exception(page)
    assert page.locator("[data-testid=stPlotlyChart]").count() >= 2  # hydrograph + generated parameters
    shot(page, "predict_ungauged")
