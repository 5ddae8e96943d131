"""``python -m core hydro predict``: a trained run on basins it never saw, from forcing and attributes only."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.data import DataError
from core.hydro import cli
from core.hydro.groups import group_labels, group_summary
from core.hydro.predict import predict_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from basin_folders import train_tiny_run, write_basin_folder  # noqa: E402

PERIOD = ("2001-01-01", "2002-12-31")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """One tiny run (dXAJ, static XAJ, LSTM) on 4 synthetic basins, and 2 other basins to predict."""
    tmp = tmp_path_factory.mktemp("predict")
    train = write_basin_folder(tmp / "train", ["A001", "A002", "A003", "A004"], snowy={"A004"})
    run = train_tiny_run(tmp, train, evaluate={"batch_size": 256, "stride": 10, "group_by": "frac_snow",
                                               "group_edges": [0.12]})
    new = write_basin_folder(tmp / "new", ["B001", "B002"], seed=5, snowy={"B002"})
    return {"tmp": tmp, "run": run, "new": new}


slow = pytest.mark.slow  # each test below needs the module's trained run (about 20 s once)


def _predict(trained, data, out, *extra) -> int:
    return cli.main(["predict", "--run-dir", str(trained["run"]), "--data", str(data), "--period", *PERIOD,
                     "--out", str(out), *extra])


@slow
def test_predict_writes_predictions_and_scores_in_the_run_layout(trained):
    out = trained["tmp"] / "out"
    assert _predict(trained, trained["new"], out) == 0
    with xr.open_dataset(out / "predictions.nc") as ds:
        assert list(ds["model"].values) == ["dpl", "lstm"]  # static XAJ has no parameters for a new basin
        assert ds["q_sim"].dims == ("model", "basin", "time") and ds["q_sim"].attrs["units"] == "mm/step"
        assert list(ds["basin"].values) == ["B001", "B002"]
        assert str(ds["time"].values[0])[:10] == PERIOD[0] and str(ds["time"].values[-1])[:10] == PERIOD[1]
        assert np.isfinite(ds["q_sim"].values).all()  # the history before the period was there
        assert ds["params"].dims == ("basin", "time", "param")
        lower, upper = ds["param_lower"].values, ds["param_upper"].values
        assert ((ds["params"].values >= lower - 1e-6) & (ds["params"].values <= upper + 1e-6)).all()
        assert "static_xaj" in json.loads(ds.attrs["skipped_models"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "dpl" and set(metrics["test"]["per_basin"]) == {"B001", "B002"}
    for block in (metrics["test"], metrics["lstm"]["test"]):
        assert {"nse", "kge", "pbias"} <= set(block["median"]) and math.isfinite(block["median"]["nse"])
    groups = metrics["test"]["groups"]["groups"]
    assert groups["frac_snow < 0.12"]["basins"] == ["B001"] and groups["frac_snow >= 0.12"]["basins"] == ["B002"]
    # the scores are those of the written prediction against the observed flow
    from core import metrics as m

    with xr.open_dataset(out / "predictions.nc") as ds:
        nse = m.nse(ds["q_sim"].sel(model="dpl", basin="B001").values, ds["q_obs"].sel(basin="B001").values)
    assert metrics["test"]["per_basin"]["B001"]["nse"] == pytest.approx(nse, rel=1e-5)


@slow
def test_the_models_never_read_observed_flow(trained, tmp_path):
    """q_obs replaced by noise (and dropped entirely) gives the same prediction."""
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    rng = np.random.default_rng(1)
    for f in trained["new"].iterdir():
        frame = pd.read_csv(f, dtype=str)
        if f.name != "basins.csv":
            frame["q_obs_mm"] = rng.gamma(1.0, 3.0, len(frame)).round(3)
        frame.to_csv(noisy / f.name, index=False)
    dry = write_basin_folder(tmp_path / "dry", ["B001", "B002"], seed=5, snowy={"B002"}, flow=False)
    base = predict_run(trained["run"], str(trained["new"]), PERIOD)
    noise = predict_run(trained["run"], str(noisy), PERIOD)
    none = predict_run(trained["run"], str(dry), PERIOD)
    assert not np.allclose(base.dataset["q_obs"].values, noise.dataset["q_obs"].values)
    np.testing.assert_array_equal(base.dataset["q_sim"].values, noise.dataset["q_sim"].values)
    np.testing.assert_array_equal(base.dataset["params"].values, noise.dataset["params"].values)
    np.testing.assert_array_equal(base.dataset["q_sim"].values, none.dataset["q_sim"].values)
    assert none.metrics is None and "q_obs" not in none.dataset


@slow
def test_without_flow_only_predictions_are_written(trained, tmp_path):
    dry = write_basin_folder(tmp_path / "dry", ["C001"], seed=7, flow=False)
    assert _predict(trained, dry, tmp_path / "out") == 0
    assert (tmp_path / "out" / "predictions.nc").is_file() and not (tmp_path / "out" / "metrics.json").exists()


@slow
def test_missing_static_attribute_names_basin_and_attribute(trained, tmp_path, capsys):
    folder = write_basin_folder(tmp_path / "lacking", ["D001", "D002"], seed=3)
    table = pd.read_csv(folder / "basins.csv", dtype={"gauge_id": str})
    table.loc[table["gauge_id"] == "D002", "aridity"] = np.nan
    table.to_csv(folder / "basins.csv", index=False)
    assert _predict(trained, folder, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "D002" in err and "aridity" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "predictions.nc").exists()
    table.drop(columns=["aridity"]).to_csv(folder / "basins.csv", index=False)
    assert _predict(trained, folder, tmp_path / "out") == 2
    assert "'aridity'" in capsys.readouterr().err


@slow
def test_bad_forcing_names_file_basin_and_date(trained, tmp_path, capsys):
    folder = write_basin_folder(tmp_path / "gap", ["E001"], seed=3)
    frame = pd.read_csv(folder / "E001.csv", dtype={"date": str})
    frame.loc[frame["date"] == "2001-05-04", "prcp_mm"] = np.nan
    frame.to_csv(folder / "E001.csv", index=False)
    assert _predict(trained, folder, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "E001" in err and "2001-05-04" in err and "prcp" in err and "Traceback" not in err


@slow
def test_a_record_starting_late_leaves_the_first_days_unpredicted(trained, tmp_path, capsys):
    """Without the warmup history before the period, the days lacking a full window are NaN, said so."""
    late = write_basin_folder(tmp_path / "late", ["F001"], start="2001-01-01", seed=4)
    assert _predict(trained, late, tmp_path / "out") == 0
    assert "predicted from" in capsys.readouterr().err
    with xr.open_dataset(tmp_path / "out" / "predictions.nc") as ds:
        q = ds["q_sim"].sel(model="dpl", basin="F001").values
    warmup, history = 30, 30 + 31 - 1  # warmup and warmup + rho + horizon - 1 of the tiny run
    # default stride rho + horizon: a window's first target day needs only the warmup before it
    assert np.isnan(q[:warmup]).all() and np.isfinite(q[history:]).all()
    assert _predict(trained, late, tmp_path / "daily", "--stride", "1") == 0  # a window ending on every day
    with xr.open_dataset(tmp_path / "daily" / "predictions.nc") as ds:
        q = ds["q_sim"].sel(model="dpl", basin="F001").values
    assert np.isnan(q[:history]).all() and np.isfinite(q[history:]).all()
    short = write_basin_folder(tmp_path / "short", ["F002"], start="2002-12-01", seed=4)
    assert _predict(trained, short, tmp_path / "out2") == 2
    assert "no day of the period can be predicted" in capsys.readouterr().err


@slow
def test_not_a_run_and_wrong_time_step_are_refused(trained, tmp_path, capsys):
    assert cli.main(["predict", "--run-dir", str(tmp_path), "--data", str(trained["new"]), "--period", *PERIOD,
                     "--out", str(tmp_path / "o")]) == 2
    assert "config.yaml" in capsys.readouterr().err
    with pytest.raises(DataError, match="time step"):
        hourly = trained["tmp"] / "hourly"
        hourly.mkdir(exist_ok=True)
        frame = pd.read_csv(trained["new"] / "B001.csv").iloc[:2000]
        frame["date"] = pd.date_range("2001-01-01", periods=len(frame), freq="h").strftime("%Y-%m-%d %H:%M")
        frame.to_csv(hourly / "B001.csv", index=False)
        (hourly / "basins.csv").write_text((trained["new"] / "basins.csv").read_text())
        predict_run(trained["run"], str(hourly), ("2001-01-05", "2001-02-01"))


@slow
def test_a_snow_run_predicts_with_its_trained_snow_routine_even_in_a_warm_basin(tmp_path):
    """The snow state is what ``snow: auto`` resolved to on the training data (stored in the
    checkpoint), never re-resolved on the new basins: a warm basin still runs dXAJ's snow routine."""
    train = write_basin_folder(tmp_path / "cold", ["S001", "S002"], seed=2)
    config_changes = {"model_args": {"hidden": 8, "snow": "auto"}, "baselines": []}
    run = train_tiny_run(tmp_path, train, **config_changes)
    warm = write_basin_folder(tmp_path / "warm", ["W001"], seed=6, warming=20.0)
    out = predict_run(run, str(warm), PERIOD)
    ds = out.dataset
    assert {"snow_pack", "snow_melt"} <= set(ds) and ds["snow_pack"].attrs["units"] == "mm"
    assert np.isfinite(ds["q_sim"].values).all()
    assert float(np.nanmax(ds["snow_pack"].values)) == pytest.approx(0.0, abs=1e-3)  # never below freezing


@slow
def test_on_the_runs_own_basins_predict_reproduces_evaluate(trained):
    """Same basins, same test period: the ungauged path (inputs without q_obs, the checkpoint's
    statistics, history trimmed to the warmup) gives what ``hydro evaluate`` wrote."""
    out = predict_run(trained["run"], str(trained["tmp"] / "train"), ("2001-07-01", "2002-12-31"), stride=10)
    for name, path in (("dpl", trained["run"] / "predictions.nc"),
                       ("lstm", trained["run"] / "models" / "lstm" / "predictions.nc")):
        with xr.open_dataset(path) as ds:
            np.testing.assert_allclose(out.dataset["q_sim"].sel(model=name).values, ds["q_sim"].values,
                                       rtol=1e-4, atol=1e-5)
    with xr.open_dataset(trained["run"] / "predictions.nc") as ds:
        np.testing.assert_allclose(out.dataset["params"].values, ds["params"].values, rtol=1e-4, atol=1e-5)


@slow
def test_stride_up_to_the_target_part(trained, tmp_path, capsys):
    """--stride k: a window every k days; the default is rho + horizon (31 here), the run's stride on request."""
    assert _predict(trained, trained["new"], tmp_path / "wide", "--stride", "31") == 0
    with xr.open_dataset(tmp_path / "wide" / "predictions.nc") as ds:
        assert json.loads(ds.attrs["window_stride"]) == {"dpl": 31, "lstm": 31}
        assert np.isfinite(ds["q_sim"].values).all()
    default = predict_run(trained["run"], str(trained["new"]), PERIOD)
    assert json.loads(default.dataset.attrs["window_stride"]) == {"dpl": 31, "lstm": 31}
    assert _predict(trained, trained["new"], tmp_path / "run_stride", "--stride", "10") == 0
    with xr.open_dataset(tmp_path / "run_stride" / "predictions.nc") as ds:
        assert json.loads(ds.attrs["window_stride"]) == {"dpl": 10, "lstm": 10}
    assert _predict(trained, trained["new"], tmp_path / "bad", "--stride", "32") == 2
    assert "rho + horizon = 31" in capsys.readouterr().err


@slow
def test_run_metrics_carry_per_group_scores(trained):
    metrics = json.loads((trained["run"] / "metrics.json").read_text())
    for block in (metrics["test"], metrics["lstm"]["test"], metrics["static_xaj"]["test"]):
        groups = block["groups"]
        assert groups["attribute"] == "frac_snow"
        assert groups["groups"]["frac_snow >= 0.12"]["basins"] == ["A004"]
        assert groups["groups"]["frac_snow < 0.12"]["n_basins"] == 3


def test_group_labels_and_medians():
    values = {"a": 0.0, "b": 0.12, "c": 0.5, "d": float("nan")}
    labels = group_labels(values, "frac_snow", [0.12, 0.4])
    assert labels == {"a": "frac_snow < 0.12", "b": "0.12 <= frac_snow < 0.4", "c": "frac_snow >= 0.4",
                      "d": "frac_snow unknown"}
    per_basin = {"a": {"nse": 0.5}, "b": {"nse": 0.7}, "c": {"nse": 0.1}, "d": {"nse": 0.9}, "e": {"nse": 0.2}}
    out = group_summary(per_basin, values, "frac_snow", [0.12])
    assert list(out["groups"]) == ["frac_snow < 0.12", "frac_snow >= 0.12", "frac_snow unknown"]
    assert out["groups"]["frac_snow >= 0.12"]["median"]["nse"] == pytest.approx(0.4)
    assert out["groups"]["frac_snow unknown"]["basins"] == ["d", "e"]
