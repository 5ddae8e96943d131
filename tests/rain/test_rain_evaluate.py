"""core.rain.evaluate: scores of one system by hand, the exp2 - exp1 comparison's sign, thresholds, the file."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.rain import evaluate as E


def _fields():
    """obs / pred ``[2, 2, 3]``: at 5 mm, 2 hits, 3 misses, 1 false alarm, 5 correct negatives, one NaN pair."""
    obs = np.array([[[10.0, 6.0, 7.0], [8.0, 0.0, 1.0]], [[9.0, 0.0, 2.0], [0.0, np.nan, 0.5]]])
    pred = np.array([[[12.0, 5.0, 1.0], [2.0, 6.0, 0.0]], [[0.0, 0.0, 3.0], [0.0, 4.0, 0.0]]])
    return pred, obs


def test_score_of_one_system_by_hand():
    pred, obs = _fields()
    s = E.score(pred, obs, [5.0, 20.0], [1])
    c = s["contingency"]["5.0"]
    assert c == {"hits": 2, "misses": 3, "false_alarms": 1, "correct_negatives": 5}
    assert s["csi"]["5.0"] == pytest.approx(2 / 6)
    assert s["pod"]["5.0"] == pytest.approx(2 / 5)
    assert s["far"]["5.0"] == pytest.approx(1 / 3)
    assert s["bias"]["5.0"] == pytest.approx(3 / 5)
    n, hr = 11, 5 * 3 / 11
    assert s["ets"]["5.0"] == pytest.approx((2 - hr) / (6 - hr))
    valid = np.isfinite(obs)
    assert s["rmse"] == pytest.approx(math.sqrt(np.mean((pred[valid] - obs[valid]) ** 2)))
    assert s["mae"] == pytest.approx(np.mean(np.abs(pred[valid] - obs[valid])))
    assert sum(c.values()) == n  # the NaN observation is left out
    # no event at 20 mm in either field: CSI undefined, not 0 or 1
    assert math.isnan(s["csi"]["20.0"]) and s["contingency"]["20.0"]["correct_negatives"] == 11
    assert set(s["fss"]["5.0"]) == {"1"}
    # swapping forecast and observation swaps misses and false alarms
    swapped = E.score(obs, np.where(np.isfinite(obs), pred, np.nan), [5.0], [1])["contingency"]["5.0"]
    assert swapped["misses"] == c["false_alarms"] and swapped["false_alarms"] == c["misses"]


def test_a_perfect_system_scores_perfectly():
    _, obs = _fields()
    s = E.score(obs, obs, [5.0], [1, 3])
    assert s["rmse"] == 0 and s["csi"]["5.0"] == 1 and s["far"]["5.0"] == 0 and s["pod"]["5.0"] == 1
    assert s["fss"]["5.0"] == {"1": 1.0, "3": 1.0}


def test_comparison_is_exp2_minus_exp1():
    rng = np.random.default_rng(0)
    obs = rng.gamma(1.0, 5.0, size=(40, 4, 4))
    good = obs + rng.normal(0, 0.5, obs.shape)
    bad = np.roll(obs, 1, axis=0)
    out = E.compare(bad, good, obs, [5.0], n_boot=200, seed=1)
    assert out["csi"]["5.0"]["diff"] > 0.3  # experiment 2 (good) beats experiment 1: positive CSI difference
    assert out["rmse"]["diff"] < -1.0  # and a negative RMSE difference
    assert out["csi"]["5.0"]["low"] <= out["csi"]["5.0"]["diff"] <= out["csi"]["5.0"]["high"]
    assert out["rmse"]["high"] < 0
    reverse = E.compare(good, bad, obs, [5.0], n_boot=200, seed=1)
    assert reverse["csi"]["5.0"]["diff"] == pytest.approx(-out["csi"]["5.0"]["diff"])


def test_thresholds_are_checked_and_keyed():
    assert E.check_thresholds([0.5, 1, 5.0]) == [0.5, 1.0, 5.0]
    assert E.threshold_key(5) == "5.0" and E.threshold_key(0.1) == "0.1"
    for bad in ([], [1.0, 1.0], [5.0, 1.0], [0.0, 1.0], [-1.0], [float("nan")], "5", ["x"]):
        with pytest.raises(ValueError, match="evaluate.thresholds"):
            E.check_thresholds(bad)


def test_predictions_file_round_trip(tmp_path):
    times = pd.date_range("2020-01-01", periods=3, freq="12h")
    truth = np.arange(3 * 2 * 4, dtype=float).reshape(3, 2, 4)
    path = tmp_path / "predictions.nc"
    last = np.ones((3, 2, 8))
    E.write_predictions(path, times, np.array([50.0, 50.5]), np.arange(4) * 0.5 + 2, {"truth": truth, "exp1": truth + 1},
                        "mm", {"upstream_side": "west"}, (np.array([50.0, 50.5]), np.arange(8) * 0.5, last))
    with xr.open_dataset(path) as ds:
        assert np.array_equal(ds["truth"].values, truth) and np.array_equal(ds["exp1"].values, truth + 1)
        assert list(pd.DatetimeIndex(ds["time"].values)) == list(times)
        assert ds["truth"].attrs["units"] == "mm" and ds.attrs["upstream_side"] == "west"
        assert ds["input_rain_last"].dims == ("time", "lat_input", "lon_input")
        assert np.allclose(ds["lon"].values, [2.0, 2.5, 3.0, 3.5])
