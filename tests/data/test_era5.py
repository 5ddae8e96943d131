"""ERA5 reader: both naming conventions, dew point, height, 12-hour rain, and the missing-variable error on a real file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.data.era5 import dewpoint_from_specific_humidity, open_era5
from core.data.errors import DataError


def _era5_files(tmp_path, new_names: bool, humidity: str = "r"):
    """Small ERA5-like files: hourly, 3 levels, latitude north to south, longitude 0..360."""
    times = pd.date_range("2020-01-01T01:00", periods=48, freq="h")
    levels = [850, 500, 200]
    lat = np.array([40.0, 39.0, 38.0])
    lon = np.array([350.0, 355.0, 0.0, 5.0])
    tname, lname = ("valid_time", "pressure_level") if new_names else ("time", "level")
    shape = (len(times), len(levels), lat.size, lon.size)
    t = np.broadcast_to(np.array([280.0, 255.0, 220.0])[None, :, None, None], shape).copy()
    pl = xr.Dataset(
        {
            "t": ((tname, lname, "latitude", "longitude"), t),
            "u": ((tname, lname, "latitude", "longitude"), np.full(shape, 10.0)),
            "v": ((tname, lname, "latitude", "longitude"), np.full(shape, -2.0)),
            "z": ((tname, lname, "latitude", "longitude"), np.full(shape, 9.80665 * 1500.0)),
            humidity: ((tname, lname, "latitude", "longitude"), np.full(shape, 50.0 if humidity == "r" else 0.005)),
        },
        coords={tname: times, lname: levels, "latitude": lat, "longitude": lon},
    )
    tp = np.zeros((len(times), lat.size, lon.size))
    tp[:12] = 0.001  # 1 mm per hour for the first 12 hours
    sl = xr.Dataset({"tp": ((tname, "latitude", "longitude"), tp)},
                    coords={tname: times, "latitude": lat, "longitude": lon})
    pl.to_netcdf(tmp_path / "pl.nc")
    sl.to_netcdf(tmp_path / "sl.nc")
    return tmp_path / "pl.nc", tmp_path / "sl.nc"


@pytest.mark.parametrize("new_names", [True, False])
def test_reads_both_naming_conventions(tmp_path, new_names):
    pl, sl = _era5_files(tmp_path, new_names)
    ds = open_era5(pl, sl).load()
    assert ds["temperature"].dims == ("time", "level", "lat", "lon")
    assert list(ds["lat"].values) == [38.0, 39.0, 40.0]
    assert list(ds["lon"].values) == [-10.0, -5.0, 0.0, 5.0]
    assert float(ds["height"].max()) == pytest.approx(1500.0)
    # first window ends at 12:00 and holds 12 complete hours of 1 mm; the second has none
    assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2020-01-01T12:00")
    assert float(ds["rain"].isel(time=0).mean()) == pytest.approx(12.0)
    assert float(ds["rain"].isel(time=1).mean()) == pytest.approx(0.0)
    # 280 K at 50 % RH: Magnus dew point 269.7 K (hand: T=6.85 C, gamma=ln .5 + 17.625*6.85/249.89 = -0.2099)
    gamma = np.log(0.5) + 17.625 * 6.85 / (243.04 + 6.85)
    expected = 243.04 * gamma / (17.625 - gamma) + 273.15
    assert float(ds["dewpoint"].sel(level=850).mean()) == pytest.approx(expected, abs=1e-3)
    assert (ds["dewpoint"] <= ds["temperature"]).all()


def test_dewpoint_from_specific_humidity(tmp_path):
    pl, sl = _era5_files(tmp_path, True, humidity="q")
    ds = open_era5(pl, sl).load()
    # q = 5 g/kg at 850 hPa: e = 0.005*850/(0.622+0.00189) = 6.813 hPa -> Td = 1.5 C
    e = 0.005 * 850 / (0.622 + 0.378 * 0.005)
    ln = np.log(e / 6.112)
    assert float(ds["dewpoint"].sel(level=850).mean()) == pytest.approx(243.04 * ln / (17.625 - ln) + 273.15, abs=1e-3)
    assert dewpoint_from_specific_humidity(0.005, 850.0) == pytest.approx(274.65, abs=0.05)


def test_real_file_lacking_variables_lists_exactly_what_is_missing(shared_data):
    path = shared_data / "reanalysis" / "eraint_uvz.nc"
    with pytest.raises(DataError) as err:
        open_era5(path)
    message = str(err.value)
    assert "eraint_uvz.nc" in message
    assert "lacks t, humidity (r or q), tp (total precipitation);" in message
    assert "found variables ['u', 'v', 'z']" in message


def test_missing_files_and_time_dimension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_era5(tmp_path / "none.nc")
    pl, sl = _era5_files(tmp_path, True)
    with pytest.raises(DataError, match=r"lacks tp \(total precipitation\)"):
        open_era5(pl)
    broken = tmp_path / "broken.nc"
    broken.write_text("garbage")
    with pytest.raises(DataError, match="cannot open ERA5 file"):
        open_era5(broken)
