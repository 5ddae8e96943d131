"""The embedded demo source: real spotpy catchments, units converted by hand from the package files."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import DataError, load_basins
from core.data.embedded import demo_file


def test_default_demo_is_fulda():
    ds = load_basins("demo")
    assert list(ds.basin.values) == ["fulda_grebenau"]
    assert ds.sizes["time"] == 3653  # 1979-01-01 .. 1988-12-31
    assert ds["area_km2"].item() == pytest.approx(2976.41)
    assert ds.attrs["pet_method"] == "hargreaves" and ds.attrs["source"] == "demo"
    assert ds.attrs["units"]["q_obs"] == "mm/day"
    # fulda_climate.csv: "03.01.1979,-6.2,-19.1,-12.65,0.7,62.6" (tmax, tmin, tmean, Prec mm/day, Q m3/s)
    day = ds.sel(basin="fulda_grebenau", time="1979-01-03")
    assert day["prcp"].item() == pytest.approx(0.7)
    assert day["tmin"].item() == pytest.approx(-19.1)
    assert day["q_obs"].item() == pytest.approx(62.6 * 86400 / 2976.41e6 * 1000)
    # "15.06.1985,13.8,7.8,10.8,0.2,28.2"
    day = ds.sel(basin="fulda_grebenau", time="1985-06-15")
    assert day["q_obs"].item() == pytest.approx(28.2 * 86.4 / 2976.41)
    pet = ds["pet"].isel(basin=0).to_series()
    assert (pet >= 0).all() and pet.groupby(pet.index.month).mean().idxmax() in (6, 7)


def test_demo_is_deterministic():
    a, b = load_basins("demo"), load_basins("demo")
    assert a.identical(b)


def test_hymod_catchment():
    ds = load_basins("demo", basins=["hymod_example"])
    assert ds.sizes["time"] == 1827  # 2012-01-01 .. 2016-12-31
    assert ds.attrs["pet_method"] == "provided"
    assert ds["area_km2"].item() == pytest.approx(1.783)
    # hymod_input.csv: "01.01.2013;2.052861283;0.35;24.418331" (rain mm, TURC PET mm/day, Q l/s)
    day = ds.sel(basin="hymod_example", time="2013-01-01")
    assert day["prcp"].item() == pytest.approx(2.052861283)
    assert day["pet"].item() == pytest.approx(0.35)
    assert day["q_obs"].item() == pytest.approx(24.418331 / 1000 * 86400 / 1.783e6 * 1000)
    # "01.01.2012;2.052861283;0.35;nan": discharge not observed in 2012 stays NaN
    assert np.isnan(ds["q_obs"].sel(time="2012-01-01").item())
    assert np.isnan(ds["q_obs"].sel(time="2012").values).all()
    assert np.isfinite(ds["prcp"].values).all()


def test_both_demo_catchments_have_no_common_period():
    with pytest.raises(DataError, match=r"share no common period.*fulda_grebenau: 1979-01-01..1988-12-31.*hymod_example: 2012-01-01"):
        load_basins("demo", basins=["fulda_grebenau", "hymod_example"])


def test_demo_files_come_from_the_installed_package():
    path = demo_file("fulda_grebenau")
    assert path.parts[-4:] == ("spotpy", "examples", "cmf_data", "fulda_climate.csv")
    assert path.read_text(encoding="utf-8").startswith("date,tmax,tmin,tmean,Prec,Q")
