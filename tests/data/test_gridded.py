"""Lazy multi-file gridded records, window-by-window samples, prepared Zarr stores."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from core.data.errors import DataError
from core.data.gridded import (
    channel_names,
    iter_windows,
    iter_zarr_windows,
    open_gridded_files,
    prepare_zarr,
    validate_gridded,
)
from core.data.weather_demo import generate_weather_world, write_weather_netcdf

VARS = ("temperature", "dewpoint", "u", "v", "height")


@pytest.fixture(scope="module")
def world():
    return generate_weather_world(seed=5, n_steps=30, lat_range=(30, 38), lon_range=(100, 116))


def _eager_stack(ds: xr.Dataset) -> np.ndarray:
    parts = [ds[v].values for v in VARS] + [ds["rain"].values[:, None]]
    return np.concatenate(parts, axis=1).astype(np.float32)


def test_channel_order_is_variables_by_levels_then_rain():
    assert channel_names(["temperature", "u"], [1000, 850.5]) == [
        "temperature@1000", "temperature@850.5", "u@1000", "u@850.5", "rain"]
    assert len(channel_names(VARS, list(range(11)))) == 56


def test_many_files_open_lazily_and_windows_match_eager_stack(world, tmp_path):
    paths = [write_weather_netcdf(world.isel(time=slice(i, i + 10)), tmp_path / f"part{i:02d}.nc")
             for i in range(0, 30, 10)]
    ds = open_gridded_files(paths)
    assert ds["temperature"].chunks is not None  # dask-backed: nothing read yet
    windows = list(iter_windows(ds, steps=6, block_steps=4))
    assert len(windows) == 30 - 6
    stack = _eager_stack(world)
    for k in (0, 7, 23):
        t, x, y = windows[k]
        assert t == world["time"].values[k + 6]
        np.testing.assert_array_equal(x, stack[k : k + 6])
        np.testing.assert_array_equal(y, world["rain"].values[k + 6])


def test_windows_never_span_a_gap(world):
    gappy = xr.concat([world.isel(time=slice(0, 10)), world.isel(time=slice(15, 30))], dim="time")
    times = [t for t, _, _ in iter_windows(gappy, steps=6)]
    # 10 frames -> 4 windows, 15 frames -> 9 windows, none across the gap
    assert len(times) == 4 + 9


def test_prepared_zarr_gives_the_same_windows(world, tmp_path):
    store = prepare_zarr(world, tmp_path / "prepared.zarr", time_chunk=8)
    z = xr.open_zarr(store)
    assert z["stack"].chunks[0][0] == 8 and list(z["channel"].values) == channel_names(VARS, world["level"].values)
    from_zarr = list(iter_zarr_windows(store, steps=6))
    from_ds = list(iter_windows(world, steps=6))
    assert len(from_zarr) == len(from_ds)
    np.testing.assert_array_equal(from_zarr[5][1], from_ds[5][1])
    with pytest.raises(DataError, match="already exists"):
        prepare_zarr(world, store)
    reopened = open_gridded_files(store)
    assert "stack" in reopened


def test_layout_errors_name_the_problem(world, tmp_path):
    with pytest.raises(DataError, match="has no 'rain'"):
        validate_gridded(world.drop_vars("rain"), "w.nc")
    with pytest.raises(DataError, match="ascending"):
        validate_gridded(world.isel(lat=slice(None, None, -1)), "w.nc")
    with pytest.raises(DataError, match="does not exist"):
        open_gridded_files([tmp_path / "missing.nc"])
    with pytest.raises(DataError, match=r"lacks variable\(s\) \['humidity'\]"):
        next(iter_windows(world, variables=("humidity",)))
    with pytest.raises(DataError, match="a window needs 7"):
        next(iter_windows(world.isel(time=slice(0, 3))))


def test_many_zarr_stores_open_as_one_lazy_record(world, tmp_path):
    stores = []
    for i in range(0, 30, 15):
        store = tmp_path / f"year{i:02d}.zarr"
        world.isel(time=slice(i, i + 15)).to_zarr(store, mode="w", zarr_format=2)
        stores.append(store)
    ds = open_gridded_files(stores, chunks={"time": 5})
    assert ds.sizes["time"] == 30 and ds["u"].chunks[0] == (5, 5, 5, 5, 5, 5)
    t, x, y = list(iter_windows(ds, steps=6, block_steps=5))[20]
    np.testing.assert_array_equal(x, _eager_stack(world)[20:26])
    assert t == world["time"].values[26]
