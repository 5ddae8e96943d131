"""AppTest: every page opens without an exception when one run's files are damaged, shows one clear
message for that run and keeps working for the healthy runs beside it."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.hydro.params import DEFAULT_RANGES, XAJ_PARAMS
from core.runs.folder import RunDir
from tests.app_helpers import assert_clean, open_page

pytestmark = pytest.mark.slow

PAGES = [None, "2_Train_dXAJ.py", "3_Hydrographs.py", "4_Parameters.py", "5_Rain_experiments.py", "6_Rain_maps.py",
         "7_Runs.py"]
HEALTHY_HYDRO, HEALTHY_RAIN, DAMAGED_NAME = "hydro-20250101-000000-ok", "rain-20250101-000000-ok", "hydro-20250102-000000-bad"


def hydro_predictions(n_time: int = 60) -> xr.Dataset:
    rng = np.random.default_rng(0)
    obs = rng.gamma(2.0, 1.0, (2, n_time))
    params = np.broadcast_to([[(lo + hi) / 2 for lo, hi in DEFAULT_RANGES.values()]], (2, n_time, 15)).copy()
    return xr.Dataset(
        {"q_obs": (("basin", "time"), obs), "q_sim": (("basin", "time"), obs * 0.8),
         "prcp": (("basin", "time"), obs * 2), "pet": (("basin", "time"), obs * 0 + 1),
         "params": (("basin", "time", "param"), params),
         "param_lower": ("param", [lo for lo, _ in DEFAULT_RANGES.values()]),
         "param_upper": ("param", [hi for _, hi in DEFAULT_RANGES.values()])},
        coords={"basin": ["b1", "b2"], "time": pd.date_range("2000-01-01", periods=n_time), "param": list(XAJ_PARAMS)},
        attrs={"model": "dpl"})


def rain_predictions() -> xr.Dataset:
    rng = np.random.default_rng(1)
    field = lambda: rng.gamma(1.0, 2.0, (3, 4, 5))  # noqa: E731
    return xr.Dataset({n: (("time", "lat", "lon"), field()) for n in ("truth", "exp1", "exp2", "persistence")},
                      coords={"time": pd.date_range("2001-05-21", periods=3, freq="12h"),
                              "lat": [30.0, 32.0, 34.0, 36.0], "lon": [104.0, 106.0, 108.0, 110.0, 112.0]})


def completed_run(root, name: str, kind: str, predictions: xr.Dataset, metrics: dict) -> RunDir:
    run = RunDir(root / name).create()
    run.write_config({"kind": kind, "name": name})
    run.update_status(state="running", progress=0.5, message="epoch 1")
    run.update_status(state="completed", progress=1.0, message="done")
    run.write_history([{"epoch": 1, "train_loss": 0.4, "val_loss": 0.5}])
    run.write_metrics(metrics)
    predictions.to_netcdf(run.predictions_path)
    return run


HYDRO_METRICS = {"model": "dpl", "test": {"median": {"nse": 0.61, "kge": 0.55},
                                          "per_basin": {"b1": {"nse": 0.6}, "b2": {"nse": None}}}}


def write(path, content) -> None:
    if path.is_dir():
        path.rmdir()
    elif path.exists():
        path.unlink()
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


DAMAGES = {
    "status is a number": ("status.json", "42"),
    "status is a list": ("status.json", '["running"]'),
    "status is a folder": ("status.json", None),
    "status progress not a number": ("status.json", '{"state": "completed", "progress": "most of it"}'),
    "metrics truncated": ("metrics.json", '{"model": "dpl", "test": {"median": {"nse": 0.5'),
    "metrics a list": ("metrics.json", "[0.5]"),
    "metrics odd shapes": ("metrics.json", '{"model": "dpl", "test": {"median": 3, "per_basin": [1]}, "lstm": {"test": 1}}'),
    "config invalid yaml": ("config.yaml", "kind: hydro\nmodel: [dpl\ntrain: {"),
    "config a list": ("config.yaml", "- hydro\n- rain\n"),
    "config binary": ("config.yaml", b"\x00\xff\xfe\x89PNG\x1a"),
    "predictions without basin": ("predictions.nc", "flat"),
    "predictions not netcdf": ("predictions.nc", b"CDF\x01 truncated"),
    "rain predictions without truth": ("predictions.nc", "no-truth"),
    "rain metrics odd shapes": ("metrics.json", '{"units": "mm", "test": {"exp1": {"csi": 3}, "exp2": 5}}'),
}


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    completed_run(root, HEALTHY_HYDRO, "hydro", hydro_predictions(), HYDRO_METRICS)
    completed_run(root, HEALTHY_RAIN, "rain", rain_predictions(), {"units": "mm", "test": {"exp1": {"rmse": 1.0}}})
    monkeypatch.setenv("HYDROCAST_RUNS", str(root))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)
    return root


def make_damaged(root, damage: str) -> RunDir:
    file, content = DAMAGES[damage]
    rain = damage.startswith("rain")
    name = DAMAGED_NAME.replace("hydro", "rain") if rain else DAMAGED_NAME
    run = completed_run(root, name, "rain" if rain else "hydro", rain_predictions() if rain else hydro_predictions(),
                        {"units": "mm"} if rain else HYDRO_METRICS)
    if content == "flat":
        hydro_predictions().isel(basin=0).to_netcdf(run.predictions_path)
    elif content == "no-truth":
        rain_predictions().drop_vars("truth").to_netcdf(run.predictions_path)
    else:
        write(run.path / file, content)
    later = time.time() + 5
    os.utime(run.path, (later, later))  # the newest run: what the pages pick by default
    return run


READABLE = ("metrics odd shapes", "rain metrics odd shapes")
"""Whole, parseable files with unexpected content: no file is reported damaged, the pages cope."""


def page_text(at) -> str:
    parts = [e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_every_page_opens_with_one_damaged_run(runs_root, damage):
    run = make_damaged(runs_root, damage)
    file = DAMAGES[damage][0]
    for page in PAGES:
        at = open_page(page)
        assert_clean(at)
        text = page_text(at)
        if page == "3_Hydrographs.py":
            # the healthy run still draws: hydrograph, FDC and the score table
            assert len(at.get("plotly_chart")) >= 2, text
            if file == "predictions.nc" and "rain" not in damage:
                assert f"Run {run.name} is skipped" in text and "predictions.nc is damaged" in text
                assert run.name not in at.selectbox(key="hydro_run_pick").options
        if page == "6_Rain_maps.py":
            assert len(at.get("plotly_chart")) >= 2, text
            if "rain predictions" in damage:
                assert f"Run {run.name} is skipped" in text
        if page is None and file != "predictions.nc" and damage not in READABLE:
            assert f"Run {run.name}: " in text and f"{file} is damaged" in text, text
    # the Runs page names the damaged file of the selected run and still offers delete
    at = open_page("7_Runs.py")
    at.selectbox(key="runs_pick").set_value(run.name).run()
    assert_clean(at)
    if file != "predictions.nc" and damage not in READABLE:
        assert any(f"{file} of {run.name} is damaged" in w.value for w in at.warning), page_text(at)
    at.button(key="delete_run").click().run()
    assert_clean(at)
    assert not run.path.exists()
    assert (runs_root / HEALTHY_HYDRO).is_dir() and (runs_root / HEALTHY_RAIN).is_dir()


@pytest.mark.parametrize("page, late_readers", [("3_Hydrographs.py", {"basin_series", "metrics_table"}),
                                                ("4_Parameters.py", {"<module>", "run_curves"})])
def test_predictions_replaced_while_the_page_reads_them_give_one_message(runs_root, monkeypatch, page, late_readers):
    """Issue 33.7: under file churn a page load showed a raw RunFileDamaged traceback. The page's first
    look at a run's predictions succeeds; the reads that follow (``late_readers``) find the file
    replaced (a run evaluated again meanwhile)."""
    import inspect

    import ui.data
    from core.runs.folder import RunFileDamaged

    real, raised = ui.data.hydro_predictions, []

    def churned(run):
        caller = inspect.stack()[1]
        if raised or (caller.function in late_readers and caller.filename.endswith(page)):
            raised.append(caller.function)
            raise RunFileDamaged(run.predictions_path, "replaced while it was read")
        return real(run)

    monkeypatch.setattr(ui.data, "hydro_predictions", churned)
    at = open_page(page)
    assert_clean(at)
    assert raised, "no late read happened: the churn was not exercised"
    shown = [e.value for e in at.error] + [w.value for w in at.warning]
    assert any("replaced while it was read" in m for m in shown), shown
