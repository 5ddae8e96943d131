"""AppTest: Train dXAJ refuses, before Start, a basin whose data lacks an LSTM input of the presets."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.data import load_basins
from tests.app_helpers import REPO, TIMEOUT, assert_clean, button, errors_of

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def empty_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDROCAST_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)


def _upload(tmp_path, name: str, temperatures: tuple[str, ...]) -> str:
    """Five real Fulda years as an uploaded basin table with PET and only the given temperature columns."""
    ds = load_basins("demo").sel(basin="fulda_grebenau", time=slice("1984-01-01", "1988-12-31"))
    frame = pd.DataFrame({"date": pd.DatetimeIndex(ds.time.values).strftime("%Y-%m-%d"),
                          "prcp_mm": ds["prcp"].values, "pet_mm": ds["pet"].values, "q_obs_mm": ds["q_obs"].values,
                          **{f"{t}_c": ds[t].values for t in temperatures}, "lat": float(ds["lat"])})
    folder = tmp_path / "runs" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    frame.to_csv(path, index=False)
    return str(path)


def _train_page(source: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.session_state["data_source"] = source
    at.switch_page("pages/2_Train_dXAJ.py")
    at.run()
    assert_clean(at)
    return at


def test_upload_without_temperature_is_refused_before_start(tmp_path):
    at = _train_page(_upload(tmp_path, "no_temp.csv", ()))
    missing = [e for e in errors_of(at) if "tmean" in e]
    assert len(missing) == 1 and "Basin no_temp has no 'tmean' series" in missing[0], errors_of(at)
    assert button(at, "Start training").disabled


def test_upload_with_tmin_tmax_only_trains_on_derived_tmean(tmp_path):
    at = _train_page(_upload(tmp_path, "extremes.csv", ("tmin", "tmax")))
    assert not errors_of(at), errors_of(at)
    assert not button(at, "Start training").disabled
