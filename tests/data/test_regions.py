"""Region boxes: subsetting, upstream region 2 on each side, out-of-grid errors, motion estimate."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from core.data.errors import DataError
from core.data.regions import (
    Region,
    axes_outside,
    mean_motion,
    region_indices,
    subset_region,
    upstream_cells,
    upstream_region,
    upstream_side_from_motion,
)


@pytest.fixture()
def grid() -> xr.Dataset:
    lat = np.arange(20.5, 40.0, 1.0)  # 20 rows
    lon = np.arange(-9.5, 30.0, 1.0)  # 40 cols
    rain = np.arange(lat.size * lon.size, dtype=np.float32).reshape(1, lat.size, lon.size)
    return xr.Dataset({"rain": (("time", "lat", "lon"), rain)},
                      coords={"time": [np.datetime64("2001-01-01")], "lat": lat, "lon": lon})


def test_subset_takes_the_cells_inside_the_box(grid):
    r1 = Region("region1", 25.0, 30.0, 10.0, 15.0)
    sub = subset_region(grid, r1)
    np.testing.assert_allclose(sub["lat"].values, [25.5, 26.5, 27.5, 28.5, 29.5])
    np.testing.assert_allclose(sub["lon"].values, [10.5, 11.5, 12.5, 13.5, 14.5])
    # value check against the generating formula row * 40 + col
    assert float(sub["rain"][0, 0, 0]) == 5 * 40 + 20
    assert sub.attrs["region"] == "region1"


@pytest.mark.parametrize("side, lat, lon", [
    ("west", (25.5, 29.5), (5.5, 9.5)),
    ("east", (25.5, 29.5), (15.5, 19.5)),
    ("south", (20.5, 24.5), (10.5, 14.5)),
    ("north", (30.5, 34.5), (10.5, 14.5)),
])
def test_upstream_region_is_adjacent_and_same_size(grid, side, lat, lon):
    r1 = Region("region1", 25.0, 30.0, 10.0, 15.0)
    r2 = upstream_region(grid, r1, side=side)
    assert (r2.lat_min, r2.lat_max, r2.lon_min, r2.lon_max) == (*lat, *lon)
    assert subset_region(grid, r2)["rain"].shape == subset_region(grid, r1)["rain"].shape


def test_upstream_region_of_a_given_size(grid):
    r1 = Region("region1", 25.0, 30.0, 10.0, 15.0)
    r2 = upstream_region(grid, r1, side="west", size=8)
    assert subset_region(grid, r2).sizes == {"time": 1, "lat": 5, "lon": 8}
    assert r2.lon_max == 9.5


def test_upstream_cells_are_the_upstream_region(grid):
    r1 = Region("region1", 25.0, 30.0, 10.0, 15.0)
    for side in ("west", "east", "south", "north"):
        rows, cols = upstream_cells(grid, r1, side=side)
        assert tuple(map(list, region_indices(grid, upstream_region(grid, r1, side=side)))) == (list(rows), list(cols))
    # a one-row region 1 has a one-row region 2: fine as cells, though no Region box of zero height exists
    rows, cols = upstream_cells(grid, Region("region1", 25.2, 25.8, 10.0, 15.0), side="west")
    assert list(rows) == [5] and list(cols) == list(range(15, 20))


def test_float32_coordinates_one_rounding_step_off_the_edge():
    lat = np.float32([30.0, 31.0, 32.0])
    lon = np.float32(np.arange(100.0, 111.0))  # whole degrees, float32 steps ~8e-6 here
    lon[5] = np.nextafter(np.float32(105.0), np.float32(0))  # 104.99999 instead of 105
    ds = xr.Dataset(coords={"lat": lat, "lon": lon})
    _, cols = region_indices(ds, Region("region1", 30.0, 32.0, 105.0, 108.0))
    assert list(cols) == [5, 6, 7, 8]


def test_axes_outside_allows_half_a_cell(grid):
    assert axes_outside(grid, Region("r", 20.0, 40.0, -10.0, 30.0)) == ()  # the cell edges of the whole grid
    assert axes_outside(grid, Region("r", 25.0, 30.0, 28.0, 40.0)) == ("lon",)
    assert axes_outside(grid, Region("r", 10.0, 30.0, -20.0, 0.0)) == ("lat", "lon")


def test_box_outside_grid_names_box_and_extent(grid):
    with pytest.raises(DataError) as err:
        subset_region(grid, Region("region1", 25.0, 30.0, 28.0, 40.0))
    msg = str(err.value)
    assert "'region1'" in msg and "lon 28..40" in msg and "lon -9.5..29.5" in msg and "lat 20.5..39.5" in msg


def test_upstream_region_off_grid_is_an_error(grid):
    r1 = Region("region1", 25.0, 30.0, -9.0, 0.0)
    with pytest.raises(DataError, match=r"west side of 'region1'.*runs off the grid \(lat 20.5..39.5"):
        upstream_region(grid, r1, side="west")
    with pytest.raises(DataError, match="upstream side 'up'"):
        upstream_region(grid, r1, side="up")


def test_bad_boxes_are_rejected():
    with pytest.raises(DataError, match="minimum must be below maximum"):
        Region("r", 30.0, 25.0, 0.0, 1.0)
    with pytest.raises(DataError, match="outside lat -90..90 / lon -180..180"):
        Region("r", 10.0, 20.0, 190.0, 200.0)


def _moving_blob(d_row: int, d_col: int, n: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:48, 0:64]
    frames = [np.exp(-((yy - 20 - d_row * t) ** 2 + (xx - 20 - d_col * t) ** 2) / 18.0) * 10 for t in range(n)]
    return np.stack(frames)


@pytest.mark.parametrize("d_row, d_col, side", [(0, 3, "west"), (0, -2, "east"), (2, 0, "south"), (-3, 1, "north")])
def test_motion_gives_the_upstream_side(d_row, d_col, side):
    rain = _moving_blob(d_row, d_col)
    rain[2, :5, :5] = np.nan  # no-data corners must not break the estimate
    assert mean_motion(rain) == pytest.approx((d_row, d_col), abs=1e-9)
    assert upstream_side_from_motion(rain) == side


def test_demo_world_rain_moves_east():
    from core.data.weather_demo import generate_weather_world

    ds = generate_weather_world(seed=3, n_steps=40)
    d_row, d_col = mean_motion(ds["rain"].values)
    assert d_col > 0.5 and abs(d_col) > abs(d_row)
    assert upstream_side_from_motion(ds["rain"].values) == "west"


def test_motion_needs_rain():
    with pytest.raises(DataError, match="empty rain field"):
        mean_motion(np.zeros((3, 8, 8)))


@pytest.mark.slow
def test_real_radar_event_moves_north(shared_data):
    """2016-09-28 FMI event: the band drifts north, ~2-4 km per 5 min, so region 2 goes south."""
    from core.data.radar import load_radar

    ds = load_radar(shared_data / "radar_fmi_20160928", start="2016-09-28 14:45", end="2016-09-28 18:00")
    d_row, d_col = mean_motion(ds["rain"].values, lag=6)
    km_per_step = d_row * 0.1 * 111.0
    assert 1.0 < km_per_step < 6.0 and abs(d_col) < abs(d_row)
    assert upstream_side_from_motion(ds["rain"].values, lag=6) == "south"


def test_lag_must_fit_the_record():
    with pytest.raises(DataError, match=r"shape \(3, 48, 64\)"):
        mean_motion(_moving_blob(0, 1, n=3), lag=3)


def test_lagged_motion_is_per_step():
    assert mean_motion(_moving_blob(1, 2, n=8), lag=3) == pytest.approx((1.0, 2.0))
