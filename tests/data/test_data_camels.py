"""CAMELS-US reader on the real 4-basin sample (original layout); values read by hand from the files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.data import DataError, load_basins

CFS_TO_MM_DAY = 0.0283168 * 86400 * 1000 / 1e6  # times q_cfs / area_km2


@pytest.fixture(scope="module")
def sample(shared_data):
    return shared_data / "camels_us_sample"


@pytest.fixture(scope="module")
def camels(sample):
    return load_basins(sample)


def test_all_four_basins_and_dims(camels):
    assert camels["prcp"].dims == ("basin", "time")
    assert list(camels.basin.values) == ["01022500", "01547700", "02064000", "03015500"]
    # 01022500's forcing runs into 2003, the others end 2002-12-31: default = common span
    assert str(camels.time.values[0])[:10] == "2000-01-01"
    assert str(camels.time.values[-1])[:10] == "2002-12-31"
    assert camels.sizes["time"] == 1096
    assert camels.attrs["units"]["q_obs"] == "mm/day"
    assert camels.attrs["time_step"] == "D"
    assert camels.attrs["pet_method"] == "priestley_taylor"
    assert not np.isnan(camels["pet"].values).any()


def test_precipitation_of_a_day(camels):
    # 01022500_lump_cida_forcing_leap.txt: "2000 01 03 12  31370.88  5.50 ..."
    assert camels["prcp"].sel(basin="01022500", time="2000-01-03").item() == pytest.approx(5.50)
    # 03015500: "2001 07 14 12  53222.41  0.00  451.41  0.00  21.21  8.25  1100.17"
    day = camels.sel(basin="03015500", time="2001-07-14")
    assert day["srad"].item() == pytest.approx(451.41)
    assert day["tmax"].item() == pytest.approx(21.21)
    assert day["vp"].item() == pytest.approx(1100.17)
    assert day["dayl"].item() == pytest.approx(53222.41 / 3600)  # seconds -> hours


def test_area_from_header_and_streamflow_conversion(camels):
    # header line 3 of 01022500: 587675987 m2; 02064000: 427165365 m2; latitude 44.82 (centroid)
    assert camels["area_km2"].sel(basin="01022500").item() == pytest.approx(587.675987)
    assert camels["area_km2"].sel(basin="02064000").item() == pytest.approx(427.165365)
    # 01022500_streamflow_qc.txt: "01022500 2000 01 01   255.00 A:e"
    q = camels["q_obs"].sel(basin="01022500", time="2000-01-01").item()
    assert q == pytest.approx(255.0 * CFS_TO_MM_DAY / 587.675987, rel=1e-9)
    assert q == pytest.approx(1.0616, abs=1e-3)
    # 03015500: "03015500 2001 07 15    85.00 A", area 831030801 m2
    q = camels["q_obs"].sel(basin="03015500", time="2001-07-15").item()
    assert q == pytest.approx(85.0 * CFS_TO_MM_DAY / 831.030801, rel=1e-9)


def test_qc_flags_and_static_attributes(camels):
    flags = camels["q_flag"]
    meanings = flags.attrs["flag_meanings"].split()
    assert meanings[flags.sel(basin="01022500", time="2000-01-01").item()] == "A_e"
    assert meanings[flags.sel(basin="01022500", time="2000-01-03").item()] == "A"
    # camels_clim.txt: 02064000;3.09549623545517;2.926439137577;...
    assert camels["pet_mean"].sel(basin="02064000").item() == pytest.approx(2.926439137577)
    # camels_topo.txt: 01022500;44.60797;-67.93524;92.68;...
    assert camels["lon"].sel(basin="01022500").item() == pytest.approx(-67.93524)
    assert camels["name"].sel(basin="02064000").item() == "FALLING RIVER NEAR NARUNA, VA"
    assert camels["huc_02"].sel(basin="01022500").item() == "01"
    assert "pet_mean" in camels.attrs["static_variables"]


def test_subset_and_period(sample):
    ds = load_basins(sample, basins=["02064000"], start="2001-03-01", end="2001-03-31")
    assert list(ds.basin.values) == ["02064000"]
    assert ds.sizes["time"] == 31


def _copy_sample(sample, tmp_path, basin="01547700"):
    root = tmp_path / "camels"
    for sub in ("basin_mean_forcing/daymet", "usgs_streamflow"):
        (root / sub).mkdir(parents=True)
    shutil.copy(sample / f"basin_mean_forcing/daymet/{basin}_lump_cida_forcing_leap.txt", root / "basin_mean_forcing/daymet")
    shutil.copy(sample / f"usgs_streamflow/{basin}_streamflow_qc.txt", root / "usgs_streamflow")
    return root


def test_missing_value_code_and_missing_days_become_nan(sample, tmp_path):
    root = _copy_sample(sample, tmp_path)
    path = root / "usgs_streamflow/01547700_streamflow_qc.txt"
    lines = path.read_text().splitlines()
    assert lines[9].startswith("01547700 2000 01 10")
    lines[9] = "01547700 2000 01 10  -999.00 M"
    del lines[20]  # 2000-01-21 not reported at all
    path.write_text("\n".join(lines) + "\n")
    ds = load_basins(root)
    q = ds["q_obs"].sel(basin="01547700")
    assert np.isnan(q.sel(time="2000-01-10").item())
    assert np.isnan(q.sel(time="2000-01-21").item())
    assert ds["q_flag"].sel(basin="01547700", time="2000-01-21").item() == -1
    assert np.isfinite(q.sel(time="2000-01-11").item())
    assert int(np.isnan(q.values).sum()) == 2
    # no attribute folder: statics default to the header
    assert ds["lat"].item() == pytest.approx(40.98)
    assert ds["elevation"].item() == pytest.approx(383.0)


def test_missing_forcing_day_is_reported(sample, tmp_path):
    root = _copy_sample(sample, tmp_path)
    path = root / "basin_mean_forcing/daymet/01547700_lump_cida_forcing_leap.txt"
    lines = path.read_text().splitlines()
    assert lines[4 + 40].startswith("2000 02 10")
    del lines[4 + 40]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_basins(root)
    msg = str(err.value)
    assert "2000-02-10" in msg and "01547700" in msg and "prcp" in msg and "forcing_leap.txt" in msg
    # a period avoiding the gap loads
    assert load_basins(root, start="2000-03-01").sizes["time"] > 1000


def test_bad_header_is_reported(sample, tmp_path):
    root = _copy_sample(sample, tmp_path)
    path = root / "basin_mean_forcing/daymet/01547700_lump_cida_forcing_leap.txt"
    lines = path.read_text().splitlines()
    lines[2] = "unknown"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"header line 3 \(area_m2\).*01547700"):
        load_basins(root)
