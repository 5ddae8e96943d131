"""One step and one cell size across radars (issue 30): time resampling keeps mm/h and rain depths,
km cells, and BOM products other than prcp-c10 (the 6-minute prcp-cscn files) are found and read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.data.errors import DataError
from core.data.radar import radar_files, read_frame
from core.data.radar_steps import km_resolution, resample_steps


def _rates(times, values) -> xr.Dataset:
    """Frames of uniform rate ``values`` (mm/h) on a 2 x 3 grid, one cell NaN in the second frame."""
    rain = np.asarray(values, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), dtype=np.float32)
    return xr.Dataset({"rain": (("time", "lat", "lon"), rain, {"units": "mm h-1"})},
                      coords={"time": pd.DatetimeIndex(times), "lat": [10.0, 10.1], "lon": [5.0, 5.1, 5.2]},
                      attrs={"time_step_seconds": 0})


def test_six_minute_frames_to_ten_minutes_keep_the_rain_depth():
    times = pd.date_range("2018-06-16T10:00", periods=11, freq="6min")  # 10:00 .. 11:00
    rates = [3.0, 6.0, 0.0, 12.0, 1.0, 2.0, 4.0, 8.0, 5.0, 7.0, 9.0]
    out = resample_steps(_rates(times, rates), 10)
    # frame 10:00 covers 09:54-10:00; the 10-minute steps ending 10:10 .. 11:00 are fully covered
    assert list(out["time"].dt.strftime("%H:%M").values) == ["10:10", "10:20", "10:30", "10:40", "10:50", "11:00"]
    r = out["rain"].values[:, 0, 0]
    # (10:00, 10:10] = 6 min of the frame ending 10:06 + 4 min of the one ending 10:12
    assert r[0] == pytest.approx(0.6 * 6.0 + 0.4 * 0.0)
    assert r[1] == pytest.approx(0.2 * 0.0 + 0.6 * 12.0 + 0.2 * 1.0)
    assert out["rain"].attrs["units"] == "mm h-1" and out.attrs["time_step_seconds"] == 600
    # depth in mm over 10:00-11:00: the same from 6-minute and from 10-minute frames
    assert (r * 10 / 60).sum() == pytest.approx((np.asarray(rates[1:]) * 6 / 60).sum())


def test_five_minute_pairs_gaps_and_missing_values():
    times = pd.DatetimeIndex(list(pd.date_range("2015-05-15T15:05", periods=4, freq="5min"))
                             + list(pd.date_range("2016-07-11T21:05", periods=4, freq="5min")))
    ds = _rates(times, [2.0, 4.0, 1.0, 1.0, 8.0, 0.0, 3.0, 5.0])
    ds["rain"].values[1, 0, 0] = np.nan  # one unobserved cell
    out = resample_steps(ds, 10)
    assert list(out["time"].dt.strftime("%Y-%m-%d %H:%M").values) == [
        "2015-05-15 15:10", "2015-05-15 15:20", "2016-07-11 21:10", "2016-07-11 21:20"]  # no step across the gap
    np.testing.assert_allclose(out["rain"].values[:, 1, 1], [3.0, 1.0, 4.0, 4.0])  # pair means
    assert np.isnan(out["rain"].values[0, 0, 0]) and np.isfinite(out["rain"].values[1, 0, 0])  # masked, not filled


def test_same_step_unchanged_and_shorter_step_refused():
    ds = _rates(pd.date_range("2020-10-31", periods=4, freq="10min"), [1, 2, 3, 4])
    assert resample_steps(ds, 10) is ds
    with pytest.raises(DataError, match="invent the motion"):
        resample_steps(ds, 5)


def test_km_cells_shrink_in_longitude_towards_the_pole():
    lat, lon = km_resolution(4.0, 60.0)
    assert lat == pytest.approx(4.0 / 111.2)
    assert lon == pytest.approx(2 * 4.0 / 111.32, rel=1e-6)  # cos 60 = 1/2
    assert km_resolution(4.0, -37.8) == km_resolution(4.0, 37.8)
    with pytest.raises(DataError, match="cell_km"):
        km_resolution(0.0, 45.0)


@pytest.mark.slow
def test_bom_cscn_six_minute_files_are_found_and_read(shared_data):
    folder = shared_data / "radar_bom_cscn_20180616"
    fmt, files = radar_files(folder)
    assert fmt.name == "bom_rf3" and len(files) == 61
    assert files[0][0] == pd.Timestamp("2018-06-16T10:00") and files[-1][0] == pd.Timestamp("2018-06-16T16:00")
    assert (np.diff([t.value for t, _ in files]) == 6 * 60 * 10**9).all()
    rate, meta = read_frame(files[30][1], fmt)
    assert meta["unit"] == "mm/h" and rate.shape == (512, 512) and np.nanmax(rate) > 0
    # the 10-minute product still matches the same pattern
    assert len(radar_files(shared_data / "radar_bom_20201031")[1]) == 144
