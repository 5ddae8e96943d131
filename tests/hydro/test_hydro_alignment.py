"""A tiny real dXAJ run on the embedded demo basin: what ``predictions.nc`` saves lines up in time.

``q_obs``, ``prcp`` and ``pet`` of the run's ``predictions.nc`` are compared with the source dataset
(``core.data.load_basins``, read here independently of the training code) on every test date, and the
simulated streamflow of a few days is recomputed from the source forcing and the parameters saved for
that day. A target or a forcing moved by one day anywhere between the loader and the file fails here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

from core.data import load_basins
from core.hydro import cli, xaj
from core.runs.folder import RunDir

pytestmark = pytest.mark.slow

TINY = {
    "name": "alignment",
    "model": "dpl",
    "data": {
        "source": "demo",
        "train_period": ["1984-01-01", "1985-12-31"],
        "valid_fraction": 0.25,
        "test_period": ["1986-01-01", "1986-04-30"],
        "dynamic_inputs": ["prcp", "pet"],
    },
    "window": {"warmup": 20, "rho": 20, "horizon": 1},
    "model_args": {"hidden": 8},
    "xaj": {"backend": "reference", "uh_length": 15},
    "train": {"epochs": 1, "batch_size": 8, "iterations_per_epoch": 2, "lr": 0.01, "loss": "nse", "seed": 3,
              "device": "cpu"},
    "evaluate": {"batch_size": 64},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("alignment")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    run_dir = root / "run"
    assert cli.main(["train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress"]) == 0
    with xr.open_dataset(RunDir(run_dir).predictions_path) as ds:
        pred = ds.load()
    source = load_basins("demo")
    return {"pred": pred, "source": source, "run": RunDir(run_dir)}


def test_saved_series_equal_the_source_data_on_every_date(run):
    pred, source = run["pred"], run["source"]
    times = pd.DatetimeIndex(pred["time"].values)
    # the whole test period, day by day, and nothing else
    assert times[0] == pd.Timestamp("1986-01-01") and times[-1] == pd.Timestamp("1986-04-30")
    assert (np.diff(times.values) == np.timedelta64(1, "D")).all()
    assert list(pred["basin"].values) == [str(b) for b in source["basin"].values]
    for name in ("q_obs", "prcp", "pet"):
        saved = pred[name].transpose("basin", "time").values
        expected = source[name].sel(time=times).transpose("basin", "time").values.astype(np.float32)
        assert np.array_equal(np.isnan(saved), np.isnan(expected)), name
        assert np.allclose(saved, expected, rtol=1e-6, atol=1e-6, equal_nan=True), (
            f"{name} in predictions.nc differs from the source data: first bad date "
            f"{times[np.argmax(~np.isclose(saved, expected, equal_nan=True).all(axis=0))].date()}")
        # the series vary from day to day, so a one-day shift cannot pass by chance
        assert np.nanstd(np.diff(expected, axis=1)) > 1e-3, name


def test_simulated_flow_of_a_day_comes_from_the_forcing_up_to_that_day(run):
    pred, source = run["pred"], run["source"]
    spec = json.loads(json.dumps(TINY["window"]))
    length = spec["warmup"] + spec["rho"] + spec["horizon"]
    times = pd.DatetimeIndex(source["time"].values)
    basin = str(pred["basin"].values[0])
    forcing_all = np.stack([source["prcp"].sel(basin=basin).values, source["pet"].sel(basin=basin).values], -1)
    checked = 0
    for day in pd.DatetimeIndex(pred["time"].values)[[0, 17, 45, 90, -1]]:
        end = times.get_loc(day)
        window = forcing_all[end - length + 1 : end + 1]  # the window that ends on this day
        params = pred["params"].sel(basin=basin, time=day).values.astype(np.float64)
        q, _ = xaj.simulate(torch.tensor(window[:, None, :], dtype=torch.float64),
                            torch.tensor(params[None, :], dtype=torch.float64),
                            warmup=spec["warmup"], uh_length=TINY["xaj"]["uh_length"], backend="reference")
        saved = float(pred["q_sim"].sel(basin=basin, time=day))
        assert saved == pytest.approx(float(q[-1, 0]), rel=1e-4, abs=1e-5), day
        checked += 1
    assert checked == 5
    # and the flow is not trivially constant, so a wrong day would show
    assert float(pred["q_sim"].std()) > 1e-3
