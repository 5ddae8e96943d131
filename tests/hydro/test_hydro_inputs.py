"""core.hydro.inputs: every array lines up with the dataset at the same date, statistics from training only.

A coded basin dataset makes a shift visible: each value encodes its basin and day, so a forcing or
target moved by one step, a swapped basin or a statistic fitted on the test period shows as a number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.hydro.inputs import build_inputs, fit_normalizer, resolve_periods, static_names

TRAIN = ("2000-01-01", "2000-01-20")


def _coded(n_days: int = 40, missing_q: tuple[int, int] | None = (1, 7)) -> xr.Dataset:
    """Two basins; prcp = 100 b + day, pet = 0.5 + 0.01 day + b, q_obs = 10 b + 0.1 day (NaN at missing_q)."""
    time = pd.date_range("2000-01-01", periods=n_days, freq="D")
    day = np.arange(n_days, dtype=np.float64)
    b = np.arange(2, dtype=np.float64)[:, None]
    q = 10 * b + 0.1 * day
    if missing_q is not None:
        q[missing_q] = np.nan
    ds = xr.Dataset(
        {
            "prcp": (("basin", "time"), 100 * b + day),
            "pet": (("basin", "time"), 0.5 + 0.01 * day + b),
            "q_obs": (("basin", "time"), q),
            # test-period values far from the training ones: a statistic fitted on them would show
            "tmean": (("basin", "time"), np.where(day < 20, np.sin(day), 1000.0) + b),
            "area_km2": ("basin", [10.0, 30.0]),
            "name": ("basin", ["a", "b"]),
        },
        coords={"basin": ["b0", "b1"], "time": time},
    )
    return ds


def _inputs(ds, dynamic=("prcp", "pet", "tmean"), statics=("area_km2",)):
    norm = fit_normalizer(ds, TRAIN, dynamic, statics)
    return build_inputs(ds, norm, dynamic, statics, TRAIN), norm


def test_forcing_and_targets_sit_on_their_own_dates():
    ds = _coded()
    inp, _ = _inputs(ds)
    assert inp.basins == ["b0", "b1"] and inp.time.equals(pd.DatetimeIndex(ds["time"].values))
    assert inp.x.shape == (2, 40, 2) and inp.y.shape == (2, 40)
    for b in range(2):
        for t in (0, 1, 19, 20, 39):
            assert inp.x[b, t, 0] == pytest.approx(100 * b + t)  # P of basin b on day t
            assert inp.x[b, t, 1] == pytest.approx(0.5 + 0.01 * t + b, rel=1e-6)  # PET
            if (b, t) != (1, 7):
                assert inp.y[b, t] == pytest.approx(10 * b + 0.1 * t, rel=1e-6)
    assert np.isnan(inp.y[1, 7])  # a missing observation stays missing, never filled
    assert np.isfinite(inp.y).sum() == 2 * 40 - 1


def test_a_transposed_dataset_gives_the_same_arrays():
    ds = _coded()
    a, _ = _inputs(ds)
    b, _ = _inputs(ds.transpose("time", "basin"))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.z, b.z, equal_nan=True) and np.array_equal(a.y, b.y, equal_nan=True)


def test_normalised_inputs_use_training_statistics_on_every_date():
    ds = _coded()
    inp, norm = _inputs(ds)
    assert inp.input_names == ["prcp", "pet", "tmean", "area_km2"]
    train = ds.sel(time=slice(*TRAIN))
    for f, name in enumerate(["prcp", "pet", "tmean"]):
        values = train[name].values
        mean, std = values.mean(), values.std()
        assert norm.stats[name]["mean"] == pytest.approx(mean) and norm.stats[name]["std"] == pytest.approx(std)
        expected = (ds[name].values - mean) / std
        assert np.allclose(inp.z[..., f], expected, rtol=1e-5, atol=1e-5)
    # statics: one value per basin, repeated over every day
    area = ds["area_km2"].values
    assert np.allclose(inp.z[:, :, 3], ((area - area.mean()) / area.std())[:, None], atol=1e-6)
    # the training q_obs scale (baseline LSTM) ignores the test period and the missing day
    q_train = train["q_obs"].values
    assert norm.stats["q_obs"]["mean"] == pytest.approx(np.nanmean(q_train))


def test_q_std_is_per_basin_over_training_days_only():
    ds = _coded()
    ds["q_obs"][0, 25:] = 500.0  # a test-period flood must not change the training scale
    inp, _ = _inputs(ds)
    train_q = ds["q_obs"].sel(time=slice(*TRAIN)).values
    assert inp.q_std == pytest.approx(np.nanstd(train_q, axis=1), rel=1e-5)
    assert inp.q_std[0] == pytest.approx(np.std(0.1 * np.arange(20)), rel=1e-5)
    # a basin with a constant (or unobserved) training series gets scale 1, not 0 or NaN
    flat = _coded(missing_q=None)
    flat["q_obs"][1, :] = 3.0
    flat_inp, _ = _inputs(flat)
    assert flat_inp.q_std[1] == 1.0
    dark = _coded(missing_q=None)
    dark["q_obs"][0, :20] = np.nan
    assert _inputs(dark)[0].q_std[0] == 1.0


def test_missing_forcing_is_an_error_naming_variable_basin_and_date():
    ds = _coded()
    ds["pet"][1, 12] = np.nan
    with pytest.raises(ValueError, match=r"'pet' of basin b1 is missing \(NaN\) on 2000-01-13"):
        _inputs(ds)
    ds = _coded()
    ds["tmean"][0, 33] = np.nan
    ds["tmean"][0, 30] = np.nan  # two gaps: the first is named
    with pytest.raises(ValueError, match=r"'tmean' of basin b0 is missing \(NaN\) on 2000-01-31"):
        _inputs(ds)
    ds = _coded()
    norm = fit_normalizer(ds, TRAIN, ["prcp"], [])
    with pytest.raises(ValueError, match="no variable 'q_obs'"):
        build_inputs(ds.drop_vars("q_obs"), norm, ["prcp"], [], TRAIN)


def test_period_indices_are_inclusive_and_named():
    inp, _ = _inputs(_coded())
    assert inp.period_slice(("2000-01-05", "2000-01-10"), "test") == (4, 9)
    assert inp.period_slice(("1999-12-01", "2000-01-01"), "test") == (0, 0)
    assert inp.period_slice(("2000-02-09", "2000-03-10"), "test") == (39, 39)
    assert inp.index("2000-01-03", "start") == 2
    assert inp.index("2000-01-01", "start") == 0 and inp.index("2000-02-09", "end") == 39
    with pytest.raises(ValueError, match="start date 2001-01-01 is not in the data"):
        inp.index("2001-01-01", "start")
    with pytest.raises(ValueError, match="holds no time step"):
        inp.period_slice(("2001-01-01", "2001-02-01"), "test")


def test_validation_period_is_carved_off_the_end_of_training():
    time = pd.date_range("2000-01-01", periods=100, freq="D")
    cfg = {"data": {"train_period": ["2000-01-01", "2000-01-20"], "test_period": ["2000-02-01", "2000-02-10"],
                    "valid_fraction": 0.25}}
    p = resolve_periods(cfg, time)
    assert p == {"train": ("2000-01-01", "2000-01-15"), "valid": ("2000-01-16", "2000-01-20"),
                 "test": ("2000-02-01", "2000-02-10")}
    cfg["data"]["valid_fraction"] = 0
    assert resolve_periods(cfg, time)["valid"] is None
    assert resolve_periods(cfg, time)["train"] == ("2000-01-01", "2000-01-20")
    cfg["data"]["valid_period"] = ["2000-01-21", "2000-01-25"]
    assert resolve_periods(cfg, time)["valid"] == ("2000-01-21", "2000-01-25")
    short = {"data": {"train_period": ["2000-01-01", "2000-01-05"], "test_period": ["2000-02-01", "2000-02-10"],
                      "valid_fraction": 0.2}}
    with pytest.raises(ValueError, match="holds only 5 steps"):
        resolve_periods(short, time)


def test_static_names():
    ds = _coded()
    assert static_names(ds, "all") == ["area_km2"]  # numeric (basin,) variables only
    assert static_names(ds, None) == [] and static_names(ds, "none") == []
    assert static_names(ds, ["area_km2"]) == ["area_km2"]
    ds.attrs["static_variables"] = ["name", "area_km2"]
    assert static_names(ds, "all") == ["area_km2"]
    with pytest.raises(ValueError, match="elevation"):
        static_names(ds, ["elevation"])
    # "all" leaves out the streamflow signatures and attributes some basin lacks
    ds = ds.assign(runoff_ratio=("basin", [0.3, 0.4]), soil_depth=("basin", [1.0, np.nan]))
    ds.attrs["static_variables"] = ["name", "area_km2", "runoff_ratio", "soil_depth"]
    assert static_names(ds, "all") == ["area_km2"]
    assert static_names(ds, ["runoff_ratio"]) == ["runoff_ratio"]  # named explicitly: the user's choice


def test_no_lstm_inputs_give_an_empty_feature_axis():
    ds = _coded()
    norm = fit_normalizer(ds, TRAIN, [], [])
    inp = build_inputs(ds, norm, [], [], TRAIN)
    assert inp.z.shape == (2, 40, 0) and inp.input_names == []
    assert inp.x.shape == (2, 40, 2)
