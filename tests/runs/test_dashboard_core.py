"""Core functions behind the dashboard: checks before Start, region boxes, config differences, sandbox."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.regions import adjacent_box, check_rain_regions
from core.hydro.checks import check_basin_period, check_dynamic_inputs, check_hydro_periods, common_period
from core.runs.config_diff import config_differences, public_config

DAY = pd.Timestamp


def test_common_period_and_basins_without_one():
    spans = {"a": (DAY("1979-01-01"), DAY("1988-12-31")), "b": (DAY("1985-01-01"), DAY("1990-12-31"))}
    assert common_period(spans) == (DAY("1985-01-01"), DAY("1988-12-31"))
    assert check_basin_period(spans) == []
    apart = {"fulda": (DAY("1979-01-01"), DAY("1988-12-31")), "hymod": (DAY("2012-01-01"), DAY("2016-12-31"))}
    assert common_period(apart) is None
    [problem] = check_basin_period(apart)
    assert "share no common period" in problem and "fulda" in problem and "hymod" in problem
    [problem] = check_basin_period(spans, ("1984-01-01", "1986-01-01"))
    assert "outside the records" in problem


def test_hydro_periods_inside_the_data_apart_and_long_enough():
    data = (DAY("1979-01-01"), DAY("1988-12-31"))
    ok = check_hydro_periods(data, ("1979-01-01", "1986-12-31"), ("1987-01-01", "1988-12-31"), 90, 90)
    assert ok == []
    [overlap] = check_hydro_periods(data, ("1979-01-01", "1987-06-30"), ("1987-01-01", "1988-12-31"), 90, 90)
    assert "overlap" in overlap
    # one day of overlap is an overlap too
    assert check_hydro_periods(data, ("1979-01-01", "1987-01-01"), ("1987-01-01", "1988-12-31"), 90, 90)
    [outside] = check_hydro_periods(data, ("1978-01-01", "1986-12-31"), ("1987-01-01", "1988-12-31"), 90, 90)
    assert "outside the data" in outside and "1978-01-01" in outside
    [short] = check_hydro_periods(data, ("1979-01-01", "1979-06-30"), ("1987-01-01", "1988-12-31"), 180, 120)
    assert "fewer than one window" in short


def test_dynamic_inputs_the_data_lacks_named_per_basin():
    inputs = ["prcp", "pet", "tmean"]
    assert check_dynamic_inputs({"a": ["prcp", "pet", "tmean", "q_obs"]}, inputs) == []
    problems = check_dynamic_inputs({"a": ["prcp", "pet", "tmean"], "b": ["prcp", "q_obs"], "c": ["prcp", "pet"]},
                                    inputs)
    assert len(problems) == 2
    assert problems[0].startswith("Basin b has no 'pet', 'tmean' series") and "tmin_c and tmax_c" in problems[0]
    assert problems[1].startswith("Basin c has no 'tmean' series")


def test_region_checks_match_the_grid():
    lat, lon = np.arange(20.0, 52.0, 2.0), np.arange(70.0, 134.0, 2.0)
    region1 = {"lat": [28.0, 44.0], "lon": [104.0, 120.0]}
    assert check_rain_regions(lat, lon, region1, "west") == []
    [outside] = check_rain_regions(lat, lon, {"lat": [28.0, 44.0], "lon": [104.0, 179.0]}, "west")
    assert "falls outside the grid" in outside
    # region 1 fits, region 2 to its west does not
    [r2] = check_rain_regions(lat, lon, {"lat": [28.0, 44.0], "lon": [72.0, 90.0]}, "west")
    assert "region 2" in r2.lower() and "off the grid" in r2
    assert check_rain_regions(lat, lon, {"lat": [28.0, 44.0], "lon": [72.0, 90.0]}, None) == []
    # a region 2 twice as wide as region 1, one grid step west of it
    box = adjacent_box(region1, "west", 2.0, 2.0)
    assert box == {"lat": [28.0, 44.0], "lon": [104.0 - 2.0 - 32.0, 102.0]}
    assert adjacent_box(region1, "north", 1.0, 2.0) == {"lat": [46.0, 62.0], "lon": [104.0, 120.0]}
    assert check_rain_regions(lat, lon, region1, "north", adjacent_box(region1, "north", 1.0, 2.0))


def test_config_differences_dotted_and_internal_keys_hidden():
    a = {"name": "one", "_config_dir": "/x", "regions": {"region1": {"lat": [28, 44], "lon": [104, 120]}},
         "train": {"epochs": 3, "lr": 0.001}}
    b = {"name": "two", "_config_dir": "/y", "regions": {"region1": {"lat": [28, 44], "lon": [100, 120]}},
         "train": {"epochs": 3}}
    assert config_differences(a, b) == [("regions.region1.lon", [104, 120], [100, 120]), ("train.lr", 0.001, None)]
    assert config_differences(a, a) == []
    assert "_config_dir" not in public_config(a) and public_config(a)["train"] == a["train"]


@pytest.fixture(scope="module")
def fulda():
    from core.data import load_basins

    return load_basins("demo", ["fulda_grebenau"])


def test_sandbox_scores_the_test_period_only(fulda):
    from core import metrics
    from core.hydro.params import DEFAULT_RANGES
    from core.hydro.sandbox import run_sandbox, sandbox_forcing
    from core.hydro.xaj import simulate_reference

    import torch

    forcing = sandbox_forcing(fulda, "fulda_grebenau", ("1988-01-01", "1988-12-31"))
    assert pd.Timestamp(forcing.time[0]) == DAY("1988-01-01") and pd.Timestamp(forcing.time[-1]) == DAY("1988-12-31")
    assert forcing.warmup == 365 and forcing.forcing.shape == (365 + 366, 1, 2)
    params = [(lo + hi) / 2 for lo, hi in DEFAULT_RANGES.values()]
    result = run_sandbox(forcing, params)
    # the same numbers as the reference XAJ over the same window, scored on 1988 only
    q_ref, _ = simulate_reference(torch.from_numpy(forcing.forcing), torch.tensor([params], dtype=torch.float64),
                                  warmup=forcing.warmup)
    np.testing.assert_allclose(result.q_sim, q_ref[:, 0].numpy(), rtol=1e-6, atol=1e-8)
    obs_1988 = fulda["q_obs"].sel(basin="fulda_grebenau", time=slice("1988-01-01", "1988-12-31")).values
    assert result.scores["nse"] == pytest.approx(metrics.nse(result.q_sim, obs_1988))
    with pytest.raises(ValueError, match="fulda_grebenau"):
        sandbox_forcing(fulda, "fulda_grebenau", ("2012-01-01", "2012-12-31"))
