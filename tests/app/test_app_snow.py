"""AppTest: the Parameters page shows snow pack and melt beside the hydrograph for a run that used the
snow routine, and nothing of the kind for a run without it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.hydro.params import DEFAULT_RANGES, XAJ_PARAMS
from core.runs.folder import RunDir
from core.viz.snow import snow_hydrograph
from tests.app_helpers import assert_clean, open_page

pytestmark = pytest.mark.slow


def _predictions(snow: bool, n_time: int = 90) -> xr.Dataset:
    rng = np.random.default_rng(0)
    obs = rng.gamma(2.0, 1.0, (2, n_time))
    params = np.broadcast_to([[(lo + hi) / 2 for lo, hi in DEFAULT_RANGES.values()]], (2, n_time, 15)).copy()
    ds = xr.Dataset(
        {"q_obs": (("basin", "time"), obs), "q_sim": (("basin", "time"), obs * 0.8),
         "prcp": (("basin", "time"), obs * 2), "pet": (("basin", "time"), obs * 0 + 1),
         "params": (("basin", "time", "param"), params),
         "param_lower": ("param", [lo for lo, _ in DEFAULT_RANGES.values()]),
         "param_upper": ("param", [hi for _, hi in DEFAULT_RANGES.values()])},
        coords={"basin": ["b1", "b2"], "time": pd.date_range("2000-01-01", periods=n_time), "param": list(XAJ_PARAMS)},
        attrs={"model": "dpl"})
    if snow:
        pack = np.maximum(0.0, 80.0 - np.abs(np.arange(n_time) - 30.0) * 2.0)
        ds["snow_pack"] = (("basin", "time"), np.stack([pack, pack / 2]))
        ds["snow_melt"] = (("basin", "time"), np.stack([np.gradient(-pack).clip(0)] * 2))
        ds.attrs["snow"] = 1
    return ds


def _run(root, name: str, snow: bool) -> None:
    run = RunDir(root / name).create()
    run.write_config({"kind": "hydro", "name": name})
    run.update_status(state="completed", progress=1.0, message="done")
    run.write_metrics({"model": "dpl", "test": {"median": {"nse": 0.6, "kge": 0.5}, "per_basin": {}}})
    _predictions(snow).to_netcdf(run.predictions_path)


def test_snow_figure_draws_pack_and_melt_beside_the_flow():
    ds = _predictions(True).sel(basin="b1")
    fig = snow_hydrograph(ds["time"].values, ds["q_obs"].values, ds["q_sim"].values, ds["snow_pack"].values,
                          ds["snow_melt"].values)
    names = [t.name for t in fig.data]
    assert names == ["observed", "dpl", "snow pack (mm)", "melt (mm/day)"]
    assert float(np.nanmax(fig.data[2].y)) == pytest.approx(80.0)


def test_parameters_page_shows_snow_only_for_a_run_with_snow(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDROCAST_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)
    _run(tmp_path / "runs", "hydro-20250101-000000-plain", snow=False)
    _run(tmp_path / "runs", "hydro-20250102-000000-snow", snow=True)
    at = open_page("4_Parameters.py")
    assert_clean(at)
    run_pick = at.selectbox(key="param_run_pick")
    assert "snow" in run_pick.value  # newest first
    assert any(s.value == "Snow pack and melt" for s in at.subheader)
    snow_chart = [c for c in at.get("plotly_chart") if "snow_hydrograph" in str(c.proto.id)]
    assert snow_chart, "no snow chart on the page"
    at.selectbox(key="snow_basin_pick").set_value("b2").run()
    assert_clean(at)
    run_pick.set_value("hydro-20250101-000000-plain").run()
    assert_clean(at)
    assert not any(s.value == "Snow pack and melt" for s in at.subheader)
