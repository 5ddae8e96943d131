"""Experiments 1 and 2 layout, the time split, config errors, and the CLI end to end (train, evaluate, resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

from core.training import lifecycle
from core.training.checkpoint import load_checkpoint
from core.rain import cli, pipeline
from core.data.errors import DataError
from core.rain.experiments import motion_lag, plan_regions, split_samples
from core.runs.folder import RunDir
from tests.data.test_regions import _moving_blob


def _world(nt=48, ny=6, nx=16, seed=0) -> xr.Dataset:
    """Small advecting world on a 0.5 degree grid: rain moves 2 cells east per 12 h step."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2020-01-01", periods=nt, freq="12h")
    rain = np.zeros((nt, ny, nx + 2 * nt))
    blobs = rng.random((ny, nx + 2 * nt)) > 0.75
    field = blobs * rng.gamma(2.0, 6.0, blobs.shape)
    for t in range(nt):
        rain[t] = np.roll(field, 2 * t, axis=1)
    rain = rain[:, :, :nx]
    temp = 285 - 6.5 * np.arange(2)[None, :, None, None] + rng.normal(0, 1, (nt, 2, ny, nx))
    return xr.Dataset(
        {
            "temperature": (("time", "level", "lat", "lon"), temp, {"units": "K"}),
            "u": (("time", "level", "lat", "lon"), 10 + rng.normal(0, 1, (nt, 2, ny, nx)), {"units": "m s-1"}),
            "rain": (("time", "lat", "lon"), rain, {"units": "mm"}),
        },
        coords={"time": time, "level": [850.0, 500.0], "lat": 50 + 0.5 * np.arange(ny), "lon": 0.5 * np.arange(nx)},
    )


REGIONS = {"region1": {"lat": [50, 52.5], "lon": [4, 7.5]}, "upstream_side": "west"}


def _config(tmp_path, **over) -> dict:
    path = tmp_path / "world.nc"
    if not path.exists():
        _world().to_netcdf(path)
    cfg = {
        "seed": 3,
        "data": {"source": str(path), "steps": 3},
        "regions": REGIONS,
        "split": {"train": ["2020-01-02", "2020-01-16"], "test": ["2020-01-17T12", "2020-01-24"]},
        "experiments": ["exp1", "exp2"],
        "model": {"hidden_channels": [4, 4]},
        "train": {"epochs": 3, "batch_size": 4, "patience": 0, "amp": "false", "channels_last": "false"},
        "evaluate": {"thresholds": [0.1, 5, 15, 30], "fss_scales": [1, 3], "n_boot": 50},
    }
    for key, value in over.items():
        cfg[key] = value
    return cfg


def _write(tmp_path, cfg, name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_exp2_puts_region2_upstream_and_masks_region1(tmp_path):
    cfg = pipeline.complete_config(_config(tmp_path))
    prep = pipeline.prepare(cfg, ds=_world())
    e1, e2 = prep.experiments["exp1"], prep.experiments["exp2"]
    assert e1.inputs.shape[1:] == (5, 6, 8) and e2.inputs.shape[1:] == (5, 6, 16)  # 2 x 2 levels + rain
    assert e1.mask.all()
    # west side: region 2 first, region 1 (the mask) on the east part of the joined grid
    assert not e2.mask[:, :8].any() and e2.mask[:, 8:].all()
    assert np.allclose(e2.lon, 0.5 * np.arange(16))
    assert np.array_equal(e2.rain_mm[:, :, 8:], e1.rain_mm)
    east = plan_regions(_world(), {"region1": {"lat": [50, 52.5], "lon": [0, 3.5]}, "upstream_side": "east"}, True)
    assert list(east.r2_cols) == list(range(8, 16))


def test_only_the_regions_are_stacked_and_results_are_unchanged(tmp_path):
    from core.rain.experiments import build_experiment
    from core.rain.stacking import resolve_variables, stack_channels

    wide = xr.concat([_world(), _world(seed=1).assign_coords(lat=53 + 0.5 * np.arange(6))], dim="lat")  # 12 rows
    regions = {"region1": {"lat": [53, 55.5], "lon": [4, 5.5]}, "upstream_side": "west"}  # rows 6-11, cols 8-11
    cfg = pipeline.complete_config(_config(tmp_path, regions=regions))
    prep = pipeline.prepare(cfg, ds=wide)
    # the old path: the whole grid stacked, the experiments cut from it
    layout = plan_regions(wide, regions, need_region2=True)
    variables, levels = resolve_variables(wide, "auto", "auto")
    stack = stack_channels(wide, variables, levels)
    fit = prep.split.fit_frames(prep.steps)
    for name in ("exp1", "exp2"):
        whole = build_experiment(name, stack, wide, layout, fit, variables, levels)
        cut = prep.experiments[name]
        np.testing.assert_array_equal(cut.inputs, whole.inputs)
        np.testing.assert_array_equal(cut.mask, whole.mask)
        np.testing.assert_array_equal(cut.lon, whole.lon)
        np.testing.assert_array_equal(cut.lat, whole.lat)
    assert list(prep.layout.r1_rows) == list(range(6)) and list(prep.layout.r2_cols) == [0, 1, 2, 3]


def test_stacking_more_than_free_memory_is_a_clear_error(tmp_path, monkeypatch):
    class Tiny:
        available = 100_000  # bytes: less than the 0.6 MB this stack needs

    monkeypatch.setattr(pipeline.psutil, "virtual_memory", lambda: Tiny())
    cfg = pipeline.complete_config(_config(tmp_path))
    with pytest.raises(DataError, match=r"48 steps x 5 channels x 6 x 16 cells.*data.coarsen") as err:
        pipeline.prepare(cfg)
    assert "world.nc" in str(err.value)


def test_region_and_config_errors(tmp_path):
    ds = _world()
    with pytest.raises(ValueError, match=r"region1.lon = \[40.0, 45.0\] lies outside the data grid"):
        plan_regions(ds, {"region1": {"lat": [50, 52], "lon": [40, 45]}}, False)
    with pytest.raises(ValueError, match="runs off the data grid"):
        plan_regions(ds, {"region1": {"lat": [50, 52], "lon": [0, 3]}, "upstream_side": "west"}, True)
    with pytest.raises(ValueError, match="upstream_side"):
        plan_regions(ds, {"region1": {"lat": [50, 52], "lon": [4, 7]}, "upstream_side": "up"}, True)
    with pytest.raises(ValueError, match="same latitude rows"):
        plan_regions(ds, {"region1": {"lat": [50, 52], "lon": [4, 7]}, "region2": {"lat": [50, 51], "lon": [0, 3.5]}}, True)
    with pytest.raises(ValueError, match="first value must be below"):
        plan_regions(ds, {"region1": {"lat": [52, 50], "lon": [4, 7]}}, False)
    with pytest.raises(ValueError, match="experiments: .*'exp3'"):
        pipeline.complete_config(_config(tmp_path, experiments=["exp1", "exp3"]))
    for bad in ([5, 1], [0, 5], "5", ["a"]):
        with pytest.raises(ValueError, match="evaluate.thresholds"):
            pipeline.complete_config(_config(tmp_path, evaluate={"thresholds": bad}))
    with pytest.raises(ValueError, match="unknown key"):
        pipeline.complete_config(_config(tmp_path, train={"epoch": 3}))
    with pytest.raises(ValueError, match="unknown key 'trian'"):
        pipeline.complete_config({**_config(tmp_path), "trian": {}})


def _blob_world(rain: np.ndarray, freq: str) -> xr.Dataset:
    """Rain-only dataset of ``rain [time, 48, 64]`` on a 0.1 x 0.2 degree grid, frames ``freq`` apart."""
    return xr.Dataset(
        {"rain": (("time", "lat", "lon"), rain, {"units": "mm/h"})},
        coords={"time": pd.date_range("2016-09-28", periods=rain.shape[0], freq=freq),
                "lat": 60 + 0.1 * np.arange(48), "lon": 20 + 0.2 * np.arange(64)},
    )


BLOB_R1 = {"lat": [62, 62.7], "lon": [25, 26.4]}  # rows 20..27, columns 25..32 of the blob grid


def test_explicit_region2_must_join_region1(tmp_path):
    ds = _world()
    r1 = {"lat": [50, 52.5], "lon": [4, 7.5]}  # rows 0..5, columns 8..15
    # a narrower region 2 with region 1's rows joins along x: 4 + 8 columns, region 1 on the east part
    cfg = pipeline.complete_config(_config(tmp_path, regions={"region1": r1, "region2": {"lat": [50, 52.5], "lon": [2, 3.5]}}))
    e2 = pipeline.prepare(cfg, ds=ds).experiments["exp2"]
    assert e2.inputs.shape[-2:] == (6, 12) and e2.mask[:, 4:].all() and not e2.mask[:, :4].any()
    assert np.allclose(e2.lon, np.r_[0.5 * np.arange(4, 8), 0.5 * np.arange(8, 16)])
    with pytest.raises(ValueError, match=r"same latitude rows as region1 .*region1 has 6 rows, region2 4"):
        plan_regions(ds, {"region1": r1, "region2": {"lat": [50.5, 52], "lon": [0, 3.5]}}, True)
    with pytest.raises(ValueError, match=r"same longitude columns as region1 .*region1 has 8 columns, region2 4"):
        plan_regions(ds, {"region1": {"lat": [51.5, 52.5], "lon": [4, 7.5]}, "region2": {"lat": [50, 51], "lon": [4, 5.5]},
                          "upstream_side": "south"}, True)
    with pytest.raises(ValueError, match="overlaps region1 by 2 grid lines"):
        plan_regions(ds, {"region1": r1, "region2": {"lat": [50, 52.5], "lon": [0, 4.5]}}, True)
    # region 2 east of region 1 with upstream_side west would end up on the wrong side of the joined grid
    with pytest.raises(ValueError, match="does not lie on the west side"):
        plan_regions(ds, {"region1": {"lat": [50, 52.5], "lon": [0, 3.5]}, "region2": {"lat": [50, 52.5], "lon": [4, 7.5]}}, True)
    # a box reaching beyond the grid (more than half a cell) is refused rather than silently cut
    with pytest.raises(DataError, match=r"config regions.region2.lon = \[-3.0, 3.5\] lies outside the data grid \(lon 0 .. 7.5"):
        plan_regions(ds, {"region1": r1, "region2": {"lat": [50, 52.5], "lon": [-3, 3.5]}}, True)
    with pytest.raises(ValueError, match=r"regions.region2.lat = \['a', 52\]: both values must be numbers"):
        plan_regions(ds, {"region1": r1, "region2": {"lat": ["a", 52], "lon": [0, 3.5]}}, True)


def test_upstream_side_auto_on_the_demo_world():
    from core.data.weather_demo import generate_weather_world

    ds = generate_weather_world(seed=3, n_steps=40)  # rain carried east by the westerlies, 12-hourly
    r1 = {"lat": [30, 38], "lon": [100, 108]}
    auto = plan_regions(ds, {"region1": r1, "upstream_side": "auto"}, True)
    west = plan_regions(ds, {"region1": r1, "upstream_side": "west"}, True)
    assert auto.side == "west"
    assert np.array_equal(auto.r2_rows, west.r2_rows) and np.array_equal(auto.r2_cols, west.r2_cols)
    assert auto.r2_cols.max() + 1 == auto.r1_cols.min()
    # experiment 1 alone builds no region 2, so nothing is estimated and the layout says so
    assert plan_regions(ds, {"region1": r1, "upstream_side": "auto"}, False).side == "auto"


def test_upstream_side_auto_through_prepare(tmp_path):
    """The advecting test world (2 cells east per step): auto gives the explicit west layout."""
    cfg = pipeline.complete_config(_config(tmp_path, regions={**REGIONS, "upstream_side": "auto"}))
    prep = pipeline.prepare(cfg, ds=_world())
    assert prep.layout.side == "west"
    ref = pipeline.prepare(pipeline.complete_config(_config(tmp_path)), ds=_world())
    assert np.array_equal(prep.experiments["exp2"].inputs, ref.experiments["exp2"].inputs)


@pytest.mark.parametrize("freq, lag", [("12h", 1), ("1h", 1), ("30min", 1), ("10min", 3), ("5min", 6), ("2min", 15)])
def test_motion_lag_spans_about_30_minutes(freq, lag):
    times = pd.date_range("2016-09-28", periods=10, freq=freq)
    assert motion_lag(times.values) == lag
    # the gap between two radar events does not change the step
    assert motion_lag(times.append(times + pd.Timedelta("3D")).values) == lag


def test_upstream_side_auto_uses_the_time_step():
    """A band drifting north by 1/3 cell per frame: invisible frame to frame, 2 cells over 30 minutes."""
    rain = _moving_blob(1 / 3, 0, n=24)
    radar = plan_regions(_blob_world(rain, "5min"), {"region1": BLOB_R1, "upstream_side": "auto"}, True)
    assert radar.side == "south"
    assert list(radar.r2_rows) == list(range(12, 20)) and list(radar.r2_cols) == list(range(25, 33))
    # the same frames 12 hours apart are compared one step apart: no whole-cell shift, the west default of a tie
    assert plan_regions(_blob_world(rain, "12h"), {"region1": BLOB_R1, "upstream_side": "auto"}, True).side == "west"


def test_upstream_side_auto_looks_at_the_given_frames_only():
    """Rain moving east in the first half and west in the second: the side follows the frames asked for."""
    rain = np.concatenate([_moving_blob(0, 2, n=10), _moving_blob(0, -2, n=10)])
    ds = _blob_world(rain, "12h")
    cfg = {"region1": BLOB_R1, "upstream_side": "auto"}
    assert plan_regions(ds, cfg, True, motion_frames=np.arange(10)).side == "west"
    assert plan_regions(ds, cfg, True, motion_frames=np.arange(10, 20)).side == "east"
    # an explicit region2 west of region 1 while the rain comes from the east: the error says what auto chose
    west_box = {"lat": BLOB_R1["lat"], "lon": [23, 24.4]}
    with pytest.raises(ValueError, match="does not lie on the east side of region1 .upstream_side: auto chose east"):
        plan_regions(ds, {**cfg, "region2": west_box}, True, motion_frames=np.arange(10, 20))
    assert plan_regions(ds, {**cfg, "region2": west_box}, True, motion_frames=np.arange(10)).side == "west"
    with pytest.raises(DataError, match=r"regions.upstream_side = auto: cannot tell .*empty rain field.*set upstream_side"):
        plan_regions(_blob_world(np.zeros((6, 48, 64)), "12h"), cfg, True)


def test_split_is_chronological_and_disjoint():
    times = pd.date_range("2020-01-01", periods=40, freq="12h").values
    s = split_samples(times, 3, {"train_fraction": 0.6, "val_fraction": 0.2})
    assert s.train.max() < s.val.min() and s.val.max() < s.test.min()
    p = split_samples(times, 3, {"train": ["2020-01-01", "2020-01-12"], "test": ["2020-01-15", "2020-01-20"]})
    assert p.train.max() < p.val.min() and p.val.max() < p.test.min()
    assert pd.Timestamp(times[p.test.min() + 1]) >= pd.Timestamp("2020-01-15")
    assert p.fit_frames(3).max() == p.train.max() + 1  # normalisation never sees validation or test targets
    with pytest.raises(ValueError, match="overlaps"):
        split_samples(times, 3, {"train": ["2020-01-01", "2020-01-12"], "test": ["2020-01-10", "2020-01-20"]})
    with pytest.raises(ValueError, match="test period holds no samples"):
        split_samples(times, 3, {"train": ["2020-01-01", "2020-01-12"], "test": ["2021-01-10", "2021-01-20"]})


@pytest.mark.slow
def test_cli_train_and_evaluate_write_metrics_schema(tmp_path):
    cfg_path = _write(tmp_path, _config(tmp_path))
    run_dir = tmp_path / "run"
    assert cli.main(["train", "--config", str(cfg_path), "--run-dir", str(run_dir), "--no-progress"]) == 0
    run = RunDir(run_dir)
    status = run.read_status()
    assert status["state"] == "completed" and status["progress"] == 1.0
    metrics = json.loads(run.metrics_path.read_text())
    for name in ("exp1", "exp2", "persistence"):
        m = metrics["test"][name]
        assert m["rmse"] >= 0 and m["mae"] >= 0
        for score in ("csi", "pod", "far", "bias", "ets"):
            assert set(m[score]) == {"0.1", "5.0", "15.0", "30.0"}
        c = m["contingency"]["5.0"]
        assert sum(c.values()) == metrics["n_test"] * 6 * 8  # region 1 pixels only
    assert metrics["upstream_side"] == "west"
    ci = metrics["comparison"]["exp2_minus_exp1"]["csi"]["5.0"]
    assert set(ci) >= {"diff", "low", "high"}
    history = run.read_all_history()
    assert [r["experiment"] for r in history] == ["exp1"] * 3 + ["exp2"] * 3
    assert run.model_names() == ["exp1", "exp2"]  # each experiment a model folder of the run
    for exp in ("exp1", "exp2"):
        assert sorted(p.name for p in run.model_dir(exp).checkpoint_dir.iterdir()) == ["best.pt", "last.pt"]
    with xr.open_dataset(run.predictions_path) as pred:
        assert set(pred.data_vars) >= {"truth", "exp1", "exp2", "persistence", "input_rain_last"}
        assert pred["exp1"].dims == ("time", "lat", "lon") and pred.sizes["lat"] == 6 and pred.sizes["lon"] == 8
        assert pred.sizes["lon_input"] == 16 and pred.sizes["time"] == metrics["n_test"]
        assert (pred["exp2"].values >= 0).all()
        times, lat, lon = pred["time"].values, pred["lat"].values, pred["lon"].values
        truth, persistence = pred["truth"].values, pred["persistence"].values
    # truth and persistence against the source file, independently of the pipeline: truth is the
    # region-1 rain at the predicted time, persistence the frame one step (12 h) earlier
    with xr.open_dataset(tmp_path / "world.nc") as world:
        source = world["rain"].sel(lat=lat, lon=lon)
        assert np.allclose(truth, source.sel(time=times).values, atol=1e-4)
        earlier = times - np.timedelta64(12, "h")
        assert np.allclose(persistence, source.sel(time=earlier).values, atol=1e-4)
        assert not np.allclose(persistence, truth, atol=1e-2)  # the rain moves: the two differ
        expected_rmse = float(np.sqrt(np.mean((source.sel(time=earlier).values - source.sel(time=times).values) ** 2)))
    assert metrics["test"]["persistence"]["rmse"] == pytest.approx(expected_rmse, rel=1e-5)
    # evaluate alone reproduces the metrics from the checkpoints
    run.metrics_path.unlink()
    assert cli.main(["evaluate", "--run-dir", str(run_dir)]) == 0
    again = json.loads(run.metrics_path.read_text())
    assert again["test"]["exp2"]["rmse"] == pytest.approx(metrics["test"]["exp2"]["rmse"], rel=1e-6)


def _cancelled_after(train_all, experiment: str, epoch: int):
    """``pipeline.train_all`` that stops (as a SIGTERM would) once ``experiment``'s epoch ``epoch`` is saved."""
    def interrupted(cfg, prepared, run, device, resume=False, progress=None, progress_bar=False):
        def stop(fraction, message, epoch=epoch, force=False, _at=epoch):
            progress(fraction, message, epoch=epoch, force=force)
            if force and message.startswith(f"{experiment}: epoch {_at}/"):  # the report after that checkpoint
                raise lifecycle.Cancelled("test interruption")
        return train_all(cfg, prepared, run, device, resume=resume, progress=stop, progress_bar=progress_bar)
    return interrupted


@pytest.mark.slow
def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, monkeypatch):
    cfg_path = _write(tmp_path, _config(tmp_path))
    full = tmp_path / "full"
    assert cli.main(["train", "--config", str(cfg_path), "--run-dir", str(full), "--no-progress"]) == 0

    # interrupted: stop in the middle of experiment 2 (after its first epoch), as a SIGTERM would
    part = tmp_path / "part"
    original = pipeline.train_all

    monkeypatch.setattr(pipeline, "train_all", _cancelled_after(original, "exp2", 1))
    assert cli.main(["train", "--config", str(cfg_path), "--run-dir", str(part), "--no-progress"]) == 143
    assert RunDir(part).read_status()["state"] == "cancelled"
    monkeypatch.setattr(pipeline, "train_all", original)
    assert cli.main(["train", "--run-dir", str(part), "--resume", "--no-progress"]) == 0
    status = RunDir(part).read_status()
    assert status["state"] == "completed" and status["finished"] >= status["updated"][:19]

    for exp in ("exp1", "exp2"):
        a = load_checkpoint(RunDir(full).model_dir(exp).checkpoint_dir / "last.pt")
        b = load_checkpoint(RunDir(part).model_dir(exp).checkpoint_dir / "last.pt")
        for key in a["model"]:
            assert torch.equal(a["model"][key], b["model"][key]), (exp, key)
    ma, mb = RunDir(full).read_metrics(), RunDir(part).read_metrics()
    assert ma["test"] == mb["test"]
    assert [r["train_loss"] for r in RunDir(full).read_all_history()] == [r["train_loss"] for r in RunDir(part).read_all_history()]


def test_cli_reports_config_errors_in_status(tmp_path, capsys):
    cfg_path = _write(tmp_path, _config(tmp_path, regions={"region1": {"lat": [50, 52], "lon": [90, 95]}}))
    run_dir = tmp_path / "bad"
    assert cli.main(["train", "--config", str(cfg_path), "--run-dir", str(run_dir), "--no-progress"]) == 1
    status = RunDir(run_dir).read_status()
    assert status["state"] == "failed" and "region1.lon" in status["message"] and "outside the data grid" in status["message"]
    bad = _write(tmp_path, _config(tmp_path, experiments=["exp9"]), "bad.yaml")
    assert cli.main(["train", "--config", str(bad), "--run-dir", str(tmp_path / "bad2"), "--no-progress"]) == 2  # config error
    assert "exp9" in capsys.readouterr().err
    assert cli.main(["train", "--config", str(tmp_path / "missing.yaml"), "--run-dir", str(tmp_path / "r")]) == 2
    # command-line overrides of periods and epochs
    cfg = _config(tmp_path)
    ok = _write(tmp_path, cfg, "ok.yaml")
    run = tmp_path / "override"
    argv = ["train", "--config", str(ok), "--run-dir", str(run), "--epochs", "1", "--no-progress",
            "--train-period", "2020-01-02", "2020-01-14", "--test-period", "2020-01-20", "2020-01-24"]
    assert cli.main(argv) == 0
    saved = RunDir(run).read_config()
    assert saved["train"]["epochs"] == 1 and saved["split"]["test"] == ["2020-01-20", "2020-01-24"]
    assert RunDir(run).read_metrics()["test_times"][0] >= "2020-01-20"


def test_cli_on_a_small_demo_world(tmp_path):
    cfg = {
        "data": {"source": "demo", "demo": {"seed": 1, "n_steps": 40, "lat_range": [30, 38], "lon_range": [90, 106]}, "steps": 3},
        "regions": {"region1": {"lat": [30, 38], "lon": [98, 106]}, "upstream_side": "auto"},
        "split": {"train_fraction": 0.6, "val_fraction": 0.15},
        "model": {"hidden_channels": [4, 4]},
        "train": {"epochs": 1, "batch_size": 8},
        "evaluate": {"n_boot": 20},
    }
    run_dir = tmp_path / "demo"
    assert cli.main(["train", "--config", str(_write(tmp_path, cfg)), "--run-dir", str(run_dir), "--no-progress"]) == 0
    metrics = RunDir(run_dir).read_metrics()
    assert set(metrics["test"]) == {"exp1", "exp2", "persistence", "extrapolation", "sprog", "anvil", "steps_mean"}
    assert list(metrics["test_leads"]) == ["720"]  # the reanalysis lead: one 12-hour step
    assert metrics["test_leads"]["720"] == metrics["test"]
    assert metrics["grid"]["exp2"] == {"input_shape": [8, 16], "region1_shape": [8, 8], "channels": 56}
    assert set(metrics["test"]["exp2"]["csi"]) == {"0.1", "5.0", "15.0", "30.0"}  # 12-hour defaults
    # upstream_side: auto is recorded as the side it resolved to (the demo rain moves west to east)
    assert metrics["upstream_side"] == "west"
    with xr.open_dataset(RunDir(run_dir).predictions_path) as pred:
        assert pred.attrs["upstream_side"] == "west"
    assert RunDir(run_dir).read_config()["regions"]["upstream_side"] == "auto"  # the request, as given


@pytest.mark.slow
def test_sigterm_marks_the_run_cancelled(tmp_path):
    cfg = _config(tmp_path, train={"epochs": 500, "batch_size": 4, "patience": 0})
    run_dir = tmp_path / "term"
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "rain", "train", "--config", str(_write(tmp_path, cfg)),
         "--run-dir", str(run_dir), "--no-progress"],
        cwd=repo, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    run = RunDir(run_dir)
    try:
        deadline = time.monotonic() + 90
        while not run.read_all_history() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert run.read_all_history(), "training never finished an epoch"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
    status = run.read_status()
    assert status["state"] == "cancelled" and "signal" in status["message"]
    # the checkpoint left behind is whole: resuming from it works
    assert (run.model_dir("exp1").checkpoint_dir / "last.pt").exists()
    load_checkpoint(run.model_dir("exp1").checkpoint_dir / "last.pt")


def _small(tmp_path, epochs=2) -> Path:
    train = {"epochs": epochs, "batch_size": 4, "patience": 0, "amp": "false", "channels_last": "false"}
    return _write(tmp_path, _config(tmp_path, experiments=["exp1"], train=train), f"small{epochs}.yaml")


def test_evaluate_of_a_killed_run_leaves_it_unfinished_and_resume_trains_the_rest(tmp_path, monkeypatch):
    """Issue 33.3 for rain: evaluate after a kill marked the run completed."""
    run_dir, run = tmp_path / "part", RunDir(tmp_path / "part")
    original = pipeline.train_all

    monkeypatch.setattr(pipeline, "train_all", _cancelled_after(original, "exp1", 1))
    assert cli.main(["train", "--config", str(_small(tmp_path, 3)), "--run-dir", str(run_dir), "--no-progress"]) == 143
    monkeypatch.setattr(pipeline, "train_all", original)
    assert cli.main(["evaluate", "--run-dir", str(run_dir)]) == 0
    status = run.read_status()
    assert status["state"] == "cancelled" and "exp1 at epoch 1 of 3" in status["message"] and "--resume" in status["message"]
    assert "exp1" in run.read_metrics()["test"]
    assert cli.main(["train", "--run-dir", str(run_dir), "--resume", "--no-progress"]) == 0
    assert [r["epoch"] for r in run.read_all_history()] == [1, 2, 3]
    assert run.read_status()["state"] == "completed"


def test_train_into_a_folder_holding_a_run_is_refused_and_overwrite_starts_one_history(tmp_path, capsys):
    """Issue 33.4 for rain; a folder with only a user's metrics.json is refused too."""
    run_dir, run = tmp_path / "run", RunDir(tmp_path / "run")
    small = str(_small(tmp_path, 1))
    assert cli.main(["train", "--config", small, "--run-dir", str(run_dir), "--no-progress"]) == 0
    metrics = run.metrics_path.read_bytes()
    capsys.readouterr()
    assert cli.main(["train", "--config", small, "--run-dir", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(run.path) in err and "--resume" in err and "--overwrite" in err
    assert run.metrics_path.read_bytes() == metrics and run.read_status()["state"] == "completed"
    two = str(_small(tmp_path, 2))
    assert cli.main(["train", "--config", two, "--run-dir", str(run_dir), "--no-progress", "--overwrite"]) == 0
    assert [r["epoch"] for r in run.read_all_history()] == [1, 2]
    assert run.read_status()["state"] == "completed"

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("{}")
    assert cli.main(["train", "--config", small, "--run-dir", str(mine), "--no-progress"]) == 2
    assert "metrics.json" in capsys.readouterr().err and sorted(p.name for p in mine.iterdir()) == ["metrics.json"]


def test_run_dir_naming_a_file_is_a_named_error(tmp_path, capsys):
    import core.__main__ as entry

    afile = tmp_path / "run.nc"
    afile.write_text("x")
    for argv in (["train", "--config", str(_small(tmp_path)), "--run-dir", str(afile)],
                 ["evaluate", "--run-dir", str(afile)]):
        assert cli.main(argv) == 2
        assert entry.main(["rain", *argv]) == 2
        err = capsys.readouterr().err
        assert "run.nc is a file" in err and "Traceback" not in err
