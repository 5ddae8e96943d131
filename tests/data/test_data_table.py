"""Basin-table reader (CSV/NetCDF per basin + basins.csv) on the real 25-basin CAMELS-US table."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.data import DataError, load_basins, validate_upload
from core.data.basin_table import write_basin_netcdf


@pytest.fixture(scope="module")
def table_dir(shared_data):
    return shared_data / "camels_us_daily"


@pytest.fixture(scope="module")
def table(table_dir):
    return load_basins(table_dir)


def test_all_25_basins(table):
    assert table.sizes == {"basin": 25, "time": 10957}
    assert table["basin"].values[0] == "01484100"  # leading zero kept: ids are strings
    assert str(table.time.values[0])[:10] == "1980-10-01" and str(table.time.values[-1])[:10] == "2010-09-30"
    assert table.attrs["units"]["prcp"] == "mm/day" and table.attrs["units"]["tmin"] == "degC"
    assert table.attrs["source_kind"] == "basin_table"
    for name in ("prcp", "pet", "tmin", "tmax", "srad", "vp", "dayl"):
        assert not np.isnan(table[name].values).any(), name


def test_values_read_by_hand(table):
    # 01484100.csv: "1980-10-03,11.0,13.0,23.0,18.0,217.6,1480.0,11.424,0.34421697"
    day = table.sel(basin="01484100", time="1980-10-03")
    assert day["prcp"].item() == pytest.approx(11.0)
    assert day["q_obs"].item() == pytest.approx(0.34421697)
    assert day["vp"].item() == pytest.approx(1480.0)
    # 12040500.csv: "2005-06-14,7.36,4.6,13.11,8.855,300.21,852.65,15.743998,3.6951816"
    day = table.sel(basin="12040500", time="2005-06-14")
    assert day["prcp"].item() == pytest.approx(7.36)
    assert day["q_obs"].item() == pytest.approx(3.6951816)
    # basins.csv: 12040500,"QUEETS RIVER NEAR CLEARWATER, WA",17,47.53786,-124.31575,437.01,1153.44,...
    one = table.sel(basin="12040500")
    assert one["name"].item() == "QUEETS RIVER NEAR CLEARWATER, WA"
    assert one["area_km2"].item() == pytest.approx(1153.44)
    assert one["lat"].item() == pytest.approx(47.53786)
    assert one["elevation"].item() == pytest.approx(437.01)
    assert one["huc_02"].item() == "17"
    assert one["aridity"].item() == pytest.approx(0.232886187951406)


def _small_table(table_dir, tmp_path, basin="01484100", rows=400):
    """A real two-year slice of one basin, copied so tests can corrupt it."""
    folder = tmp_path / "table"
    folder.mkdir()
    lines = (table_dir / f"{basin}.csv").read_text().splitlines()[: rows + 1]
    (folder / f"{basin}.csv").write_text("\n".join(lines) + "\n")
    shutil.copy(table_dir / "basins.csv", folder / "basins.csv")
    return folder, lines


def test_netcdf_basin_file_and_roundtrip(table, tmp_path):
    sub = table.sel(basin=["01484100", "02038850"], time=slice("1990-01-01", "1990-12-31"))
    folder = tmp_path / "nc"
    folder.mkdir()
    for basin in sub.basin.values:
        one = sub.sel(basin=basin)
        out = xr.Dataset(
            {k: ("time", one[k].values, {"units": sub.attrs["units"][k]}) for k in ("prcp", "tmin", "tmax", "q_obs")},
            coords={"time": one.time.values},
            attrs={"lat": float(one.lat), "area_km2": float(one.area_km2), "name": str(one["name"].item())},
        )
        out.to_netcdf(folder / f"{basin}.nc")
    ds = load_basins(folder)
    assert list(ds.basin.values) == ["01484100", "02038850"]
    assert ds.attrs["pet_method"] == "hargreaves"
    np.testing.assert_allclose(ds["prcp"].values, sub["prcp"].values)
    assert ds["lat"].sel(basin="02038850").item() == pytest.approx(37.41542)
    # the whole dataset written as one NetCDF file is itself a source
    write_basin_netcdf(sub, tmp_path / "two.nc")
    back = load_basins(tmp_path / "two.nc")
    np.testing.assert_allclose(back["q_obs"].values, sub["q_obs"].values)
    np.testing.assert_allclose(back["pet"].values, sub["pet"].values)  # provided PET is kept
    assert back.attrs["pet_method"] == "provided"
    np.testing.assert_allclose(back["aridity"].values, sub["aridity"].values)  # statics survive
    assert list(back["huc_02"].values) == ["02", "02"] and back["name"].values[1] == "HOLIDAY CREEK NEAR ANDERSONVILLE, VA"


def test_discharge_column_converted_with_area(table_dir, tmp_path):
    folder, lines = _small_table(table_dir, tmp_path)
    frame = pd.read_csv(folder / "01484100.csv", dtype={"date": str})
    area = 9.0  # basins.csv
    frame["q_obs_m3s"] = frame.pop("q_obs_mm") * area * 1e6 / 1000 / 86400
    frame.to_csv(folder / "01484100.csv", index=False)
    ds = load_basins(folder)
    assert ds["q_obs"].sel(time="1980-10-03").item() == pytest.approx(0.34421697)


def test_long_format_single_file(table, tmp_path):
    sub = table.sel(basin=["01484100", "02038850"], time=slice("2000-01-01", "2000-03-31"))
    frame = sub[["prcp", "pet", "q_obs"]].to_dataframe().reset_index()[["basin", "time", "prcp", "pet", "q_obs"]]
    frame = frame.rename(columns={"time": "date", "prcp": "prcp_mm", "pet": "pet_mm", "q_obs": "q_obs_mm"})
    frame.to_csv(tmp_path / "long.csv", index=False)
    ds = load_basins(tmp_path / "long.csv", basins=["02038850"])
    assert list(ds.basin.values) == ["02038850"]
    np.testing.assert_allclose(ds["prcp"].values[0], sub["prcp"].sel(basin="02038850").values)


def test_hourly_table_fluxes_per_step(table, tmp_path):
    """A real daily series spread over hours: step inferred, mm/h, hourly PET sums to daily PET."""
    day = table.sel(basin="01484100", time=slice("2001-06-01", "2001-06-10"))
    hours = pd.date_range("2001-06-01", periods=24 * 10, freq="h")
    phase = np.sin(2 * np.pi * (hours.hour.to_numpy() - 9) / 24)  # warmest at 15 h
    tmin = np.repeat(day["tmin"].values, 24)
    tmax = np.repeat(day["tmax"].values, 24)
    frame = pd.DataFrame(
        {
            "date": hours.strftime("%Y-%m-%d %H:%M"),
            "prcp_mm": np.repeat(day["prcp"].values / 24, 24),
            "tmean_c": (tmin + tmax) / 2 + (tmax - tmin) / 2 * phase,
            "q_obs_mm": np.repeat(day["q_obs"].values / 24, 24),
            "lat": 38.90578,
        }
    )
    frame.to_csv(tmp_path / "hourly.csv", index=False)
    ds = load_basins(tmp_path / "hourly.csv", end="2001-06-10")
    assert ds.attrs["time_step"] == "h" and ds.attrs["time_step_seconds"] == 3600
    assert ds.attrs["units"]["prcp"] == "mm/h" and ds.attrs["units"]["pet"] == "mm/h"
    assert ds.sizes["time"] == 240
    daily_prcp = ds["prcp"].isel(basin=0).resample(time="1D").sum().values
    np.testing.assert_allclose(daily_prcp, day["prcp"].values, rtol=1e-9)
    daily_pet = ds["pet"].isel(basin=0).resample(time="1D").sum().values
    reference = load_basins(table.attrs["source"], basins=["01484100"], start="2001-06-01", end="2001-06-10", pet_method="hargreaves")
    # same Hargreaves inputs except tmean (mean of the hourly sine vs (tmin + tmax) / 2): within 2 %
    np.testing.assert_allclose(daily_pet, reference["pet"].values[0], rtol=0.02)


def test_upload_bytes(table_dir):
    data = (table_dir / "01484100.csv").read_bytes()
    ds = validate_upload(data, "01484100.csv", lat=38.90578)
    assert list(ds.basin.values) == ["01484100"] and ds.sizes["time"] == 10957
    assert ds["prcp"].sel(time="1980-10-03").item() == pytest.approx(11.0)
    with pytest.raises(DataError, match=r"needs the basin latitude.*file=01484100.csv.*variable=lat"):
        validate_upload(data, "01484100.csv")
    with pytest.raises(DataError, match=r"larger than the 0.1 MB upload limit.*file=01484100.csv"):
        validate_upload(data, "01484100.csv", max_bytes=100_000)
    with pytest.raises(DataError, match=r"file is empty.*file=empty.csv"):
        validate_upload(b"  \n", "empty.csv")
    with pytest.raises(DataError, match=r"unsupported file type '.xlsx'.*file=basin.xlsx"):
        validate_upload(data, "basin.xlsx")
    with pytest.raises(DataError, match=r"not a UTF-8 text CSV.*file=latin.csv"):
        validate_upload("date,prcp_mm\n2000-01-01,1\nécrit,2\n".encode("latin-1"), "latin.csv")
    with pytest.raises(DataError, match=r"cannot open as NetCDF.*file=broken.nc"):
        validate_upload(b"CDF\x01 truncated", "broken.nc")


def test_tmean_derived_from_tmin_tmax(table_dir):
    """A table with tmin_c/tmax_c and no tmean_c gets tmean = (tmin + tmax) / 2, marked as derived; a
    tmean_c column of its own is kept as given."""
    lines = (table_dir / "01484100.csv").read_text().splitlines()[:401]
    header = lines[0].split(",")
    drop = header.index("tmean_c")
    without = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in lines)
    ds = validate_upload(without.encode(), "01484100.csv", lat=38.90578)
    # 1980-10-01,2.75,16.5,22.82,19.66,...: (16.5 + 22.82) / 2 = 19.66
    assert ds["tmean"].sel(time="1980-10-01").item() == pytest.approx(19.66)
    np.testing.assert_allclose(ds["tmean"].values, (ds["tmin"].values + ds["tmax"].values) / 2)
    assert ds["tmean"].attrs["derived"] == "(tmin + tmax) / 2" and ds.attrs["units"]["tmean"] == "degC"
    given = validate_upload("\n".join(lines).encode(), "01484100.csv", lat=38.90578)
    assert "derived" not in given["tmean"].attrs
    np.testing.assert_allclose(given["tmean"].values[0], [float(line.split(",")[drop]) for line in lines[1:]])


def test_camels_attributes_join_the_table_basins(table_dir, shared_data, tmp_path):
    from core.hydro.inputs import static_names

    folder = shared_data / "camels_us_sample" / "camels_attributes_v2.0"
    ds = load_basins(table_dir, basins=["01484100", "09480000"], attributes=folder)
    # values read by hand from camels_soil.txt and camels_topo.txt
    assert ds["soil_depth_pelletier"].sel(basin="01484100").item() == pytest.approx(49.5555555555556)
    assert ds["slope_mean"].sel(basin="09480000").item() == pytest.approx(40.83588)
    assert ds["aridity"].sel(basin="01484100").item() == pytest.approx(  # the table's own value is kept
        pd.read_csv(table_dir / "basins.csv", dtype={"gauge_id": str}).set_index("gauge_id").loc["01484100", "aridity"])
    names = static_names(ds, "all")
    assert "soil_porosity" in names and "elevation" in names
    assert "q_mean" in ds and "runoff_ratio" in ds  # read, but never fed to a model by "all"
    assert not {"q_mean", "runoff_ratio", "baseflow_index"} & set(names)

    lacking = tmp_path / "attrs"
    lacking.mkdir()
    text = (folder / "camels_soil.txt").read_text().splitlines()
    (lacking / "camels_soil.txt").write_text("\n".join(line for line in text if not line.startswith("09480000")))
    with pytest.warns(UserWarning, match="09480000"):
        partial = load_basins(table_dir, basins=["01484100", "09480000"], attributes=lacking)
    assert np.isnan(partial["soil_porosity"].sel(basin="09480000").item())
    assert static_names(partial, "all") == static_names(load_basins(table_dir, basins=["01484100", "09480000"]), "all")
    with pytest.raises(DataError, match="attribute files"):
        load_basins(table_dir, basins=["01484100"], attributes=tmp_path / "missing")
