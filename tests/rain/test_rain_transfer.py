"""``rain evaluate --data FOLDER --test-period S E --out DIR``: a trained run scored on data it never saw.

A tiny run trains on a rain-only 5-minute world (radar layout); it is then scored on another "radar"
with a different grid and period, on a synthetic KNMI folder (the projection in km), and on its own
data (where it must reproduce its own metrics.json: the checkpoints' normalisation is kept).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from core.rain import cli
from core.runs.folder import RunDir

pytestmark = pytest.mark.slow  # trains a tiny run once for the module (about 20 s on 2 cores)


def radar_world(lat0: float, lon0: float, ny: int, nx: int, start: str, nt: int = 36, seed: int = 0) -> xr.Dataset:
    """Rain rate (mm/h) of blobs drifting one cell east per 5-minute step on a 0.1 degree grid."""
    rng = np.random.default_rng(seed)
    wide = nx + nt
    field = (rng.random((ny, wide)) > 0.7) * rng.gamma(2.0, 2.0, (ny, wide))
    rain = np.stack([np.roll(field, t, axis=1)[:, :nx] for t in range(nt)]).astype(np.float32)
    return xr.Dataset({"rain": (("time", "lat", "lon"), rain, {"units": "mm/h"})},
                      coords={"time": pd.date_range(start, periods=nt, freq="5min"),
                              "lat": lat0 + 0.1 * np.arange(ny), "lon": lon0 + 0.1 * np.arange(nx)})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    radar_world(50.0, 4.0, 8, 20, "2020-06-01 12:00").to_netcdf(tmp / "home.nc")
    cfg = {
        "seed": 1,
        "data": {"source": str(tmp / "home.nc"), "steps": 4},
        "regions": {"region1": {"lat": [50.0, 50.7], "lon": [5.0, 5.7]}, "upstream_side": "west"},
        "split": {"train": ["2020-06-01T12:20", "2020-06-01T13:50"], "test": ["2020-06-01T14:05", "2020-06-01T14:50"],
                  "val_fraction": 0},
        "experiments": ["exp1", "exp2"],
        "model": {"hidden_channels": [4, 4]},
        "train": {"epochs": 1, "batch_size": 4, "patience": 0, "amp": "false", "channels_last": "false"},
        "evaluate": {"thresholds": [0.5, 2.0], "fss_scales": [1], "n_boot": 50},
        "nowcast": {"leads": [1, 2], "baselines": ["persistence", "extrapolation"]},
    }
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    run_dir = tmp / "run"
    assert cli.main(["train", "--config", str(tmp / "cfg.yaml"), "--run-dir", str(run_dir), "--no-progress"]) == 0
    other = tmp / "other"
    other.mkdir()
    radar_world(40.0, -3.0, 10, 24, "2021-01-05 08:00", seed=5).to_netcdf(other / "event.nc")
    return {"tmp": tmp, "run": RunDir(run_dir), "other": other / "event.nc", "cfg": cfg}


def test_scores_another_radar_on_its_own_grid_in_the_usual_layout(trained, tmp_path):
    run = trained["run"]
    own = json.loads(run.metrics_path.read_text())
    before = {p.name: p.stat().st_mtime_ns for p in run.path.iterdir() if p.is_file()}
    out = tmp_path / "scores"
    argv = ["evaluate", "--run-dir", str(run.path), "--data", str(trained["other"]),
            "--test-period", "2021-01-05T08:30", "2021-01-05T10:00", "--out", str(out),
            "--region1", "40.2", "40.8", "-1.5", "-0.9"]
    assert cli.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(own) <= set(metrics) and "transfer" in metrics  # the usual layout, plus what was scored on what
    assert metrics["systems"] == own["systems"] and metrics["leads_minutes"] == ["5", "10"]
    assert set(metrics["test"]["exp2"]["csi"]) == {"0.5", "2.0"}
    assert metrics["transfer"]["upstream_side"] == "west" and metrics["transfer"]["region1_cells"] == [7, 7]
    assert metrics["transfer"]["trained_step_minutes"] == 5.0
    assert (out / "predictions.nc").is_file()
    # every issue frame whose first predicted frame lies in the period (whole windows of 4 inputs + 2 leads)
    times = pd.date_range("2021-01-05 08:00", periods=36, freq="5min")
    first = times[4:34]  # issue frames 3 .. 32 predict frames 4 .. 33 first
    expected = int(((first >= "2021-01-05T08:30") & (first <= "2021-01-05T10:00")).sum())
    assert metrics["n_test"] == expected
    # persistence at 5 min against the file itself: region 1 (7 x 7 cells from 40.2 N, -1.5 E), one frame back
    with xr.open_dataset(trained["other"]) as ds:
        r1 = ds["rain"].sel(lat=slice(40.15, 40.85), lon=slice(-1.55, -0.85)).values
    issue = np.arange(3, 33)[(first >= "2021-01-05T08:30") & (first <= "2021-01-05T10:00")]
    rmse = float(np.sqrt(np.mean((r1[issue] - r1[issue + 1]) ** 2)))
    assert metrics["test_leads"]["5"]["persistence"]["rmse"] == pytest.approx(rmse, rel=1e-5)
    # the run folder was only read
    assert {p.name: p.stat().st_mtime_ns for p in run.path.iterdir() if p.is_file()} == before


def test_its_own_data_reproduce_its_own_scores(trained, tmp_path):
    """Same file, same period: the networks keep the checkpoints' normalisation, so the scores match."""
    run = trained["run"]
    own = json.loads(run.metrics_path.read_text())
    region = trained["cfg"]["regions"]["region1"]
    argv = ["evaluate", "--run-dir", str(run.path), "--data", trained["cfg"]["data"]["source"],
            "--test-period", *trained["cfg"]["split"]["test"], "--out", str(tmp_path / "same"),
            "--region1", *map(str, region["lat"] + region["lon"])]
    assert cli.main(argv) == 0
    again = json.loads((tmp_path / "same" / "metrics.json").read_text())
    assert again["n_test"] == own["n_test"]
    for system in ("exp1", "exp2", "persistence", "extrapolation"):
        assert again["test"][system]["rmse"] == pytest.approx(own["test"][system]["rmse"], rel=1e-5), system


def test_bad_input_names_folder_date_or_region(trained, tmp_path, capsys):
    run = trained["run"]
    base = ["evaluate", "--run-dir", str(run.path), "--out", str(tmp_path / "x")]
    empty = tmp_path / "no_radar_here"
    empty.mkdir()
    cases = [
        ([*base, "--data", str(empty), "--test-period", "2021-01-05T08:30", "2021-01-05T10:00"], "no_radar_here"),
        ([*base, "--data", str(trained["other"]), "--test-period", "2019-01-01", "2019-01-02"], "2019-01-01"),
        ([*base, "--data", str(trained["other"]), "--test-period", "2021-01-05T08:30", "2021-01-05T10:00",
          "--region1", "60", "61", "10", "11"], "region1"),
        ([*base, "--data", str(trained["other"]), "--test-period", "2021-01-05T08:30", "2021-01-05T10:00"],
         "region1"),  # the run's own region 1 is not on this radar's grid
        (["evaluate", "--run-dir", str(run.path), "--data", str(trained["other"])], "--test-period"),
    ]
    for argv, named in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert named in err and "Traceback" not in err, err
    assert not (tmp_path / "x" / "metrics.json").exists()


def test_a_knmi_folder_with_its_kilometre_projection(trained, tmp_path):
    """The synthetic KNMI composites of tests/data (ellipsoid in km) read and scored end to end."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "knmi_files", Path(__file__).parents[1] / "data" / "test_radar_knmi.py")
    knmi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(knmi)
    folder = tmp_path / "knmi"
    folder.mkdir()
    rng = np.random.default_rng(3)
    field = (rng.random((60, 160)) > 0.6) * rng.gamma(2.0, 0.3, (60, 160))  # mm per 5 min, moving 4 px a step
    start = pd.Timestamp("2010-08-26 00:00")
    for t in range(14):
        when = start + pd.Timedelta(minutes=5 * t)
        knmi.write_knmi(folder / f"RAD_NL25_RAP_5min_{when:%Y%m%d%H%M}.h5",
                        np.roll(field, 4 * t, axis=1)[:, :80].repeat(2, axis=0), cols_from_left=250)
    out = tmp_path / "knmi_scores"
    # the run reads radar folders with its data.radar (none here: the reader's default 0.1 x 0.2 degree cells)
    argv = ["evaluate", "--run-dir", str(trained["run"].path), "--data", str(folder),
            "--test-period", "2010-08-26T00:25", "2010-08-26T00:55", "--out", str(out),
            "--region1", "52.45", "52.95", "4.25", "4.75"]
    code = cli.main(argv)
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["source"] == "radar" and metrics["n_test"] > 0
