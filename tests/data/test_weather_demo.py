"""The generated demo weather world: plausible physics, upstream-to-downstream rain, determinism, NetCDF round trip."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.errors import DataError
from core.data.weather_demo import (
    LEVELS_HPA,
    generate_weather_world,
    load_demo_weather,
    magnus_dewpoint,
    open_weather,
    write_weather_netcdf,
)


@pytest.fixture(scope="module")
def world():
    return generate_weather_world(seed=3, n_steps=120)


def test_layout_matches_design(world):
    assert set(world.data_vars) == {"temperature", "dewpoint", "u", "v", "height", "rain"}
    assert world["temperature"].dims == ("time", "level", "lat", "lon")
    assert world["rain"].dims == ("time", "lat", "lon")
    assert tuple(world["level"].values) == LEVELS_HPA
    assert np.all(np.diff(world["lat"].values) > 0)
    assert world["lon"].min() >= -180 and world["lon"].max() <= 180
    assert (np.diff(world["time"].values) == np.timedelta64(12, "h")).all()
    assert world["rain"].attrs["units"] == "mm" and world["height"].attrs["units"] == "m"
    assert world["temperature"].attrs["standard_name"] == "air_temperature"


def test_atmosphere_is_physically_plausible(world):
    t = world["temperature"].mean(("time", "lat", "lon")).values
    assert np.all(np.diff(t[:8]) < 0)  # cools with height up to 300 hPa
    lapse = (t[0] - t[3]) / (world["height"].isel(level=3) - world["height"].isel(level=0)).mean().item()
    assert 0.005 < lapse < 0.008  # K per m, around 6.5 K/km
    assert float((world["temperature"] - world["dewpoint"]).min()) >= 0.0
    z = world["height"].mean(("time", "lat", "lon")).values
    assert np.all(np.diff(z) > 0)
    assert 5000 < z[list(LEVELS_HPA).index(500)] < 6000  # the 500 hPa surface near 5.5 km
    u = world["u"].mean(("time", "lat", "lon")).values
    assert np.all(np.diff(u[:8]) > 0) and u[-1] > 2 * u[0]  # westerlies grow with height
    assert float(world["rain"].min()) >= 0
    for threshold in (0.1, 5, 15, 30):  # every default CSI threshold has events
        assert float((world["rain"] >= threshold).mean()) > 0


def test_rain_travels_from_west_to_east_in_one_step(world):
    rain = world["rain"].values
    half = rain.shape[2] // 2
    west, east = rain[:, :, :half].mean(axis=(1, 2)), rain[:, :, half:].mean(axis=(1, 2))
    lag1 = np.corrcoef(west[:-1], east[1:])[0, 1]
    lag0 = np.corrcoef(west, east)[0, 1]
    reverse = np.corrcoef(east[:-1], west[1:])[0, 1]
    assert lag1 > 0.25 and lag1 > lag0 + 0.1 and lag1 > reverse + 0.1


def test_humidity_is_higher_where_it_rains(world):
    rain = world["rain"].values
    depression = (world["temperature"] - world["dewpoint"]).sel(level=850).values
    assert depression[rain >= 5].mean() < depression[rain == 0].mean() - 1.0


def test_same_seed_same_world_other_seed_other_world():
    a = generate_weather_world(seed=1, n_steps=10)
    b = generate_weather_world(seed=1, n_steps=10)
    c = generate_weather_world(seed=2, n_steps=10)
    assert a.identical(b)
    assert not np.array_equal(a["rain"].values, c["rain"].values)


def test_netcdf_round_trip_keeps_values_and_cf_attrs(tmp_path):
    ds = generate_weather_world(seed=0, n_steps=6)
    path = write_weather_netcdf(ds, tmp_path / "w.nc")
    back = open_weather(path)
    np.testing.assert_array_equal(back["rain"].values, ds["rain"].values)
    assert back["level"].attrs["units"] == "hPa" and back.attrs["Conventions"] == "CF-1.8"
    cached = load_demo_weather(cache_dir=tmp_path, seed=0, n_steps=6)
    again = load_demo_weather(cache_dir=tmp_path, seed=0, n_steps=6)
    np.testing.assert_array_equal(cached["temperature"].values, again["temperature"].values)
    assert len(list(tmp_path.glob("demo_weather_*.nc"))) == 1


def test_magnus_dewpoint_hand_values():
    # saturated air: dew point equals temperature; 20 degC at 50 % RH -> 9.3 degC (tables: 9.3)
    assert magnus_dewpoint(293.15, 1.0) == pytest.approx(293.15)
    assert magnus_dewpoint(293.15, 0.5) - 273.15 == pytest.approx(9.26, abs=0.05)


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(DataError, match="n_steps >= 1"):
        generate_weather_world(n_steps=0)
    with pytest.raises(DataError, match="is empty"):
        generate_weather_world(lat_range=(10, 5))
    with pytest.raises(DataError, match="does not exist"):
        open_weather(tmp_path / "nope.nc")
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"this is not netcdf")
    with pytest.raises(DataError, match="bad.nc"):
        open_weather(bad)
