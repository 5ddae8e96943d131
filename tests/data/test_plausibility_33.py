"""Issue 33, items 7 to 9: impossible data, misleading messages and data roots, each a named DataError.

Every case here passed silently, ended in a traceback or named the wrong thing before the change
(docs/data_checks.md lists each decision and why).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.data import DataError, load_basins
from core.data.gridded import open_gridded_files
from core.data.radar import radar_files
from core.data.roots import check_under_roots
from core.rain import pipeline

H, W, N = 8, 16, 24


def rain_world(rain: np.ndarray | None = None, times: pd.DatetimeIndex | None = None) -> xr.Dataset:
    times = pd.date_range("2020-06-01 12:00", periods=N, freq="5min") if times is None else times
    if rain is None:
        rng = np.random.default_rng(0)
        rain = (rng.random((len(times), H, W)) > 0.6) * rng.gamma(2.0, 2.0, (len(times), H, W))
    return xr.Dataset({"rain": (("time", "lat", "lon"), rain.astype(np.float32), {"units": "mm/h"})},
                      coords={"time": times, "lat": 60 + 0.1 * np.arange(H), "lon": 20 + 0.1 * np.arange(W)})


def rain_config() -> dict:
    return pipeline.complete_config({
        "data": {"steps": 3},
        "regions": {"region1": {"lat": [60.0, 60.7], "lon": [20.0, 20.7]}},
        "split": {"train_fraction": 0.5, "val_fraction": 0.2},
        "experiments": ["exp1"],
        "model": {"hidden_channels": [4, 4]},
        "nowcast": {"leads": [1], "baselines": ["persistence"]},
    })


def test_the_synthetic_rain_world_prepares():
    """The cases below differ from this one by the one flaw they test."""
    assert pipeline.prepare(rain_config(), ds=rain_world()).split.test.size


def test_an_infinite_rain_value_is_named_with_its_time():
    rain = rain_world()["rain"].values.copy()
    rain[7, 2, 3] = np.inf
    with pytest.raises(DataError, match="infinite rain") as err:
        pipeline.prepare(rain_config(), ds=rain_world(rain))
    assert err.value.variable == "rain" and err.value.date.startswith("2020-06-01T12:35")


def test_a_duplicated_rain_time_stamp_is_named(tmp_path):
    times = pd.date_range("2020-06-01 12:00", periods=N, freq="5min").delete(5).insert(5, pd.Timestamp("2020-06-01 12:20"))
    path = tmp_path / "dup.nc"
    rain_world(times=times).to_netcdf(path)
    with pytest.raises(DataError, match="duplicated") as err:
        open_gridded_files(path)
    assert err.value.date.startswith("2020-06-01T12:20") and str(path) in str(err.value)
    with pytest.raises(DataError, match="duplicated"):
        pipeline.prepare(rain_config(), ds=rain_world(times=times))


def test_an_all_dry_rain_record_is_refused_before_training_naming_its_period():
    with pytest.raises(DataError, match="no rain anywhere") as err:
        pipeline.prepare(rain_config(), ds=rain_world(np.zeros((N, H, W))))
    assert "2020-06-01T12:00:00 .. 2020-06-01T13:55:00" in str(err.value)


def test_a_test_period_without_rain_in_region_1_is_refused():
    rain = rain_world()["rain"].values.copy()
    rain[N // 2:] = 0.0  # the test part lies in the second half
    with pytest.raises(DataError, match="no rain in the test period"):
        pipeline.prepare(rain_config(), ds=rain_world(rain))


def test_a_numeric_time_axis_is_not_called_a_duplicated_1970_date(tmp_path):
    path = tmp_path / "grid.nc"
    rain_world().assign_coords(time=np.arange(N)).to_netcdf(path)
    with pytest.raises(DataError, match="not dates") as err:
        open_gridded_files(path)
    assert "1970" not in str(err.value)
    basin = tmp_path / "a.nc"
    series = basin_series()
    xr.Dataset({k: ("time", series[k].to_numpy(float)) for k in ("prcp", "tmin", "tmax", "q_obs")},
               coords={"time": np.arange(len(series))}).to_netcdf(basin)
    with pytest.raises(DataError, match="not dates") as err:
        load_basins(basin)
    assert "1970" not in str(err.value) and "duplicated" not in str(err.value)


def test_a_radar_folder_mixing_formats_names_both(tmp_path):
    for i in range(4):
        (tmp_path / f"AQC1513012{5 * i:02d}V_00005.801.gif").touch()
    (tmp_path / "201609281200_fmi.radar.composite.lowest_FIN_SUOMI1.pgm.gz").touch()
    with pytest.raises(DataError, match="mixes formats") as err:
        radar_files(tmp_path)
    assert "4 mch_gif" in str(err.value) and "1 fmi_pgm" in str(err.value)
    # naming the format reads that one on purpose
    assert radar_files(tmp_path, "fmi_pgm")[0].name == "fmi_pgm"


# --- basin tables ------------------------------------------------------------------------------


def basin_series(q: np.ndarray | None = None, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"date": pd.date_range("2000-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                         "prcp": rng.gamma(0.5, 4.0, n).round(2), "pet": 1.0, "tmin": 2.0, "tmax": 10.0,
                         "q_obs": rng.random(n) if q is None else q})


@pytest.mark.parametrize("area", ["0", "-5", "1e12"])
def test_an_impossible_basin_area_is_named_in_basins_csv(tmp_path, area):
    basin_series().to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "basins.csv").write_text(f"gauge_id,lat,lon,area_km2\na,51.2,9.5,{area}\n")
    with pytest.raises(DataError, match="impossible basin area_km2") as err:
        load_basins(tmp_path)
    assert err.value.file.endswith("basins.csv") and err.value.basin == "a" and err.value.variable == "area_km2"


def test_all_zero_flow_is_a_named_error(tmp_path):
    basin_series(q=np.zeros(60)).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DataError, match="observed streamflow is 0 on all 60") as err:
        load_basins(tmp_path / "a.csv")
    assert err.value.variable == "q_obs"


def test_an_empty_basin_id_is_named_not_a_prcp_gap(tmp_path):
    table = pd.concat([basin_series().assign(basin="a"), basin_series().assign(basin="b")], ignore_index=True)
    table.loc[5, "basin"] = ""
    table.to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(DataError, match="data row 6 has an empty basin id") as err:
        load_basins(tmp_path / "long.csv")
    assert err.value.variable == "basin" and "prcp" not in str(err.value)


@pytest.mark.parametrize("where", ["basins.csv", "series"])
def test_a_decimal_comma_latitude_names_file_column_and_value(tmp_path, where):
    series = basin_series()
    if where == "series":
        series["lat"] = "51,2"
    else:
        (tmp_path / "basins.csv").write_text('gauge_id,lat,lon,area_km2\na,"51,2",9.5,100\n')
    series.to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DataError, match="lat '51,2' is not a number") as err:
        load_basins(tmp_path)
    assert err.value.file.endswith("basins.csv" if where == "basins.csv" else "a.csv")
    assert err.value.variable == "lat"


def test_a_folder_named_like_a_basin_file_is_a_named_error(tmp_path):
    basin_series().to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "z.csv").mkdir()
    with pytest.raises(DataError, match="z.csv in the basin folder is a folder"):
        load_basins(tmp_path)


# --- data roots ----------------------------------------------------------------------------------


def test_paths_outside_the_roots_are_refused_alike_whether_they_exist(tmp_path):
    root, elsewhere = tmp_path / "data", tmp_path / "private"
    (root / "radar").mkdir(parents=True)
    (elsewhere / ".ssh").mkdir(parents=True)
    (root / "escape").symlink_to(elsewhere)
    assert check_under_roots(root / "radar", [root]) == (root / "radar").resolve()
    assert check_under_roots(root / "not_yet.nc", [root]) == (root / "not_yet.nc").resolve()
    messages = []
    for path in (elsewhere / ".ssh", elsewhere / "nothing", root / ".." / "private", root / "escape" / ".ssh"):
        with pytest.raises(DataError, match="only under its data roots") as err:
            check_under_roots(path, [root])
        assert str(root) in str(err.value)
        messages.append(err.value.reason)
    assert len(set(messages)) == 1


def test_flow_of_zero_over_the_whole_test_period_is_refused_before_training(tmp_path):
    from core.hydro.config import load_config
    from core.hydro.prepare import prepare

    q = np.random.default_rng(2).random(120)
    q[90:] = 0.0  # a dry spell covering the test period, rain all along
    series = basin_series(q=q, n=120)
    series["lat"] = 51.2
    series.to_csv(tmp_path / "a.csv", index=False)
    config = load_config(None, {
        "name": "dry_test", "model": "dpl",
        "data": {"source": str(tmp_path / "a.csv"), "train_period": ["2000-01-01", "2000-03-20"],
                 "valid_fraction": 0.25, "test_period": ["2000-04-01", "2000-04-29"],
                 "dynamic_inputs": ["prcp", "pet"]},
        "window": {"warmup": 5, "rho": 5, "horizon": 1},
    })
    with pytest.raises(DataError, match="0 on all 29 observed steps of the test period") as err:
        prepare(config)
    assert err.value.basin == "a" and err.value.variable == "q_obs"
