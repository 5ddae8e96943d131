"""Helpers for the AppTest suites: open a page of the real app, wait for background jobs."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.runs import jobs
from core.runs.folder import FINAL_STATES, RunDir

REPO = Path(__file__).resolve().parents[1]
# torch imports and first data loads take seconds on a busy 2-core machine
TIMEOUT = 120


def open_page(page: str | None = None) -> AppTest:
    """A fresh AppTest of app.py switched to ``pages/<page>`` (None = home), after its first run."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    if page:
        at.switch_page(f"pages/{page}")
    at.run()
    return at


def errors_of(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def poll_until_final(run_path: str | Path, timeout: float = 300.0) -> dict:
    """What the page's polling fragment does (run_every never fires inside AppTest)."""
    run = RunDir(run_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.poll_job(run)
        if status.get("state") in FINAL_STATES:
            return status
        time.sleep(0.5)
    raise AssertionError(f"{run.name} did not finish in {timeout} s:\n{run.tail_log(30)}")


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; have {[b.label for b in at.button]}"
    return matches[0]


def write_small_world(path: Path, nt: int = 48, ny: int = 6, nx: int = 16, seed: int = 0) -> Path:
    """A small gridded weather file (layout of docs/design.md, 3. Data model) where rain blobs drift 2 cells east per
    12 h step, so the upstream (west) region carries information about region 1's next field."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(seed)
    time = pd.date_range("2020-01-01", periods=nt, freq="12h")
    width = nx + 2 * nt
    blobs = rng.random((ny, width)) > 0.75
    field = blobs * rng.gamma(2.0, 6.0, blobs.shape)
    rain = np.stack([np.roll(field, 2 * t, axis=1)[:, :nx] for t in range(nt)])
    temp = 285 - 6.5 * np.arange(2)[None, :, None, None] + rng.normal(0, 1, (nt, 2, ny, nx))
    ds = xr.Dataset(
        {
            "temperature": (("time", "level", "lat", "lon"), temp, {"units": "K"}),
            "u": (("time", "level", "lat", "lon"), 10 + rng.normal(0, 1, (nt, 2, ny, nx)), {"units": "m s-1"}),
            "rain": (("time", "lat", "lon"), rain, {"units": "mm"}),
        },
        coords={"time": time, "level": [850.0, 500.0], "lat": 50 + 0.5 * np.arange(ny), "lon": 0.5 * np.arange(nx)},
    )
    ds.to_netcdf(path)
    return path
