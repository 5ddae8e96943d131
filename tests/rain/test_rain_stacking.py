"""Channel stacking order, samples, coarsening and train-only normalisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.rain.stacking import (
    Normalizer,
    channel_names,
    coarsen,
    resolve_variables,
    sample_end_indices,
    stack_channels,
)


def _coded_world(nt=5, levels=(1000.0, 850.0, 500.0), ny=2, nx=3) -> xr.Dataset:
    """Every value encodes where it belongs: variable*1000 + level index*10 + time*0.01."""
    time = pd.date_range("2021-06-01", periods=nt, freq="12h")
    t = np.arange(nt)[:, None, None, None] * 0.01
    lev = np.arange(len(levels))[None, :, None, None] * 10
    base = np.ones((nt, len(levels), ny, nx))
    return xr.Dataset(
        {
            "temperature": (("time", "level", "lat", "lon"), 1000 * base + lev + t),
            "dewpoint": (("time", "level", "lat", "lon"), 2000 * base + lev + t),
            "u": (("time", "level", "lat", "lon"), 3000 * base + lev + t),
            "rain": (("time", "lat", "lon"), np.arange(nt)[:, None, None] * np.ones((nt, ny, nx))),
        },
        coords={"time": time, "level": list(levels), "lat": [10.0, 11.0], "lon": [0.0, 1.0, 2.0]},
    )


def test_channel_order_is_variable_major_then_rain_last():
    ds = _coded_world()
    variables, levels = resolve_variables(ds, "auto", "auto")
    assert variables == ["temperature", "dewpoint", "u"]
    names = channel_names(variables, levels)
    assert names[:4] == ["temperature@1000", "temperature@850", "temperature@500", "dewpoint@1000"]
    assert names[-1] == "rain" and len(names) == 3 * 3 + 1
    stack = stack_channels(ds, variables, levels)
    assert stack.shape == (5, 10, 2, 3)
    for v in range(3):
        for lev in range(3):
            # channel v * L + l holds variable v on level l
            assert stack[2, v * 3 + lev, 0, 0] == pytest.approx(1000 * (v + 1) + 10 * lev + 0.02)
    assert stack[3, -1, 1, 2] == 3.0
    # the default 5 variables x 11 levels + rain = 56 channels
    assert len(channel_names(["t", "td", "u", "v", "z"], list(range(11)))) == 56


def test_explicit_selection_and_errors():
    ds = _coded_world()
    variables, levels = resolve_variables(ds, ["u", "temperature"], [500])
    stack = stack_channels(ds, variables, levels)
    assert stack.shape[1] == 3
    assert stack[0, 0, 0, 0] == pytest.approx(3020.0) and stack[0, 1, 0, 0] == pytest.approx(1020.0)
    with pytest.raises(ValueError, match="height"):
        resolve_variables(ds, ["height"], "auto")
    with pytest.raises(ValueError, match="700"):
        resolve_variables(ds, "auto", [700])
    with pytest.raises(ValueError, match="no 'rain'"):
        resolve_variables(ds.drop_vars("rain"), "auto", "auto")
    rain_only = ds[["rain"]]
    assert resolve_variables(rain_only, "auto", "auto") == ([], [])
    assert stack_channels(rain_only, [], []).shape == (5, 1, 2, 3)


def test_samples_skip_gaps_in_time():
    times = pd.date_range("2020-01-01", periods=12, freq="12h").delete(6)  # frame 6 missing
    ends = sample_end_indices(times.values, 3)
    # windows need 4 evenly spaced frames: i-2 .. i+1
    assert list(ends) == [2, 3, 4, 8, 9]
    assert len(sample_end_indices(times.values[:3], 3)) == 0


def test_normalisation_fits_train_frames_only_and_inverts():
    rng = np.random.default_rng(1)
    stack = rng.normal(5.0, 2.0, size=(20, 3, 4, 4)).astype(np.float32)
    rain = rng.gamma(0.5, 4.0, size=(20, 4, 4))
    rain[rng.random(rain.shape) < 0.4] = 0.0  # dry pixels in training and test frames alike
    stack[:, -1] = rain
    train = np.arange(10)
    norm = Normalizer.fit_stack(stack, train)
    changed = stack.copy()
    changed[10:] *= 50  # test-period values must not move the statistics
    assert Normalizer.fit_stack(changed, train) == norm
    out = norm.transform_stack(stack)
    assert np.allclose(out[train, :-1].mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert np.allclose(out[train, :-1].std(axis=(0, 2, 3)), 1, atol=1e-4)
    # rain: zero stays zero (ReLU head), positive, RMS 1 over training frames, exact inverse
    dry = stack[:, -1] == 0
    assert dry[train].sum() > 20 and dry[10:].sum() > 20
    assert np.all(out[:, -1][dry] == 0)
    assert np.all(out[:, -1][~dry] > 0)
    assert np.sqrt(np.mean(out[train, -1] ** 2)) == pytest.approx(1.0, rel=1e-4)
    assert np.allclose(norm.rain_inverse(out[:, -1]), stack[:, -1], rtol=1e-4, atol=1e-5)
    assert Normalizer.from_dict(norm.to_dict()) == norm
    with pytest.raises(ValueError, match="no frames"):
        Normalizer.fit_stack(stack, np.array([], dtype=int))


def test_constant_channel_and_nan_rain():
    stack = np.ones((6, 2, 3, 3), dtype=np.float32)
    stack[2, -1, 0, 0] = np.nan
    norm = Normalizer.fit_stack(stack, np.arange(6))
    out = norm.transform_stack(stack)
    assert np.all(out[:, 0] == 0) and np.isnan(out[2, -1, 0, 0])


def test_coarsen_block_means():
    ds = xr.Dataset(
        {"rain": (("time", "lat", "lon"), np.arange(2 * 4 * 5, dtype=float).reshape(2, 4, 5))},
        coords={"time": pd.date_range("2020", periods=2, freq="12h"), "lat": np.arange(4.0), "lon": np.arange(5.0)},
    )
    c = coarsen(ds, 2)
    assert c.sizes == {"time": 2, "lat": 2, "lon": 2}
    assert c["rain"].values[0, 0, 0] == pytest.approx(np.mean([0, 1, 5, 6]))
    assert coarsen(ds, 1) is ds
    with pytest.raises(ValueError, match="coarsen"):
        coarsen(ds, 0)
    with pytest.raises(ValueError, match="larger than the grid"):
        coarsen(ds, 6)
