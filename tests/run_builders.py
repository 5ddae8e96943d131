"""Tiny finished runs written straight into a runs folder (no training), for the AppTests and e2e tests
of range diagnostics and run overlays: two dXAJ runs of the demo's Fulda basin (one holding C at its
upper bound), two rain runs with one lead each."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from core.hydro.params import DEFAULT_RANGES, XAJ_PARAMS
from core.runs.folder import RunDir

BASIN = "fulda_grebenau"
"""A basin of the embedded demo source, so the Parameters sandbox can load its forcing."""
TEST_PERIOD = ("1988-01-01", "1988-03-31")


def hydro_config(name: str, hidden: int) -> dict:
    return {"kind": "hydro", "name": name, "model": "dpl", "baselines": [], "range_preset": "classic",
            "data": {"source": "demo", "basins": [BASIN], "train_period": ["1985-01-01", "1987-12-31"],
                     "test_period": list(TEST_PERIOD)},
            "window": {"warmup": 30, "rho": 30}, "model_args": {"hidden": hidden, "strategy": "last",
                                                               "dynamic_params": [], "n_components": 1},
            "train": {"epochs": 2, "batch_size": 8, "iterations_per_epoch": 2, "loss": "nse", "device": "cpu"},
            "param_ranges": {n: list(r) for n, r in DEFAULT_RANGES.items()}}


def hydro_predictions(scale: float, at_bound: str | None, seed: int = 0) -> xr.Dataset:
    """One basin over :data:`TEST_PERIOD`: q_sim = ``scale`` x q_obs; every parameter in the middle of
    its range except ``at_bound`` (held at its upper bound)."""
    time_index = pd.date_range(*TEST_PERIOD, freq="D")
    rng = np.random.default_rng(seed)
    obs = rng.gamma(2.0, 1.0, (1, len(time_index)))
    lower = np.array([lo for lo, _ in DEFAULT_RANGES.values()])
    upper = np.array([hi for _, hi in DEFAULT_RANGES.values()])
    pos = 0.5 + 0.1 * (rng.random((1, len(time_index), 15)) - 0.5)
    params = lower + pos * (upper - lower)
    if at_bound is not None:
        params[:, :, XAJ_PARAMS.index(at_bound)] = upper[XAJ_PARAMS.index(at_bound)]
    return xr.Dataset(
        {"q_obs": (("basin", "time"), obs), "q_sim": (("basin", "time"), obs * scale),
         "prcp": (("basin", "time"), obs * 2), "pet": (("basin", "time"), obs * 0 + 1),
         "params": (("basin", "time", "param"), params), "param_lower": ("param", lower),
         "param_upper": ("param", upper)},
        coords={"basin": [BASIN], "time": time_index, "param": list(XAJ_PARAMS)},
        attrs={"model": "dpl", "dynamic_params": "[]", "n_components": 1})


def rain_predictions() -> xr.Dataset:
    rng = np.random.default_rng(1)
    field = lambda: rng.gamma(1.0, 2.0, (3, 4, 5))  # noqa: E731
    return xr.Dataset({n: (("time", "lat", "lon"), field()) for n in ("truth", "exp1", "exp2", "persistence")},
                      coords={"time": pd.date_range("2001-05-21", periods=3, freq="12h"),
                              "lat": [30.0, 32.0, 34.0, 36.0], "lon": [104.0, 106.0, 108.0, 110.0, 112.0]})


def rain_metrics(csi_exp2: float) -> dict:
    """metrics.json of a run with one lead (720 min, a 12-hourly grid) and two thresholds."""
    def block(csi: float) -> dict:
        return {"csi": {"1.0": csi, "5.0": csi / 2}, "pod": {"1.0": csi, "5.0": csi}, "far": {"1.0": 0.2, "5.0": 0.3},
                "ets": {"1.0": csi / 3, "5.0": csi / 4}, "rmse": 1.0 - csi / 2}
    test = {"exp1": block(0.4), "exp2": block(csi_exp2), "persistence": block(0.3)}
    return {"units": "mm", "test": test, "test_leads": {"720": test}, "leads_minutes": ["720"],
            "main_lead_minutes": "720"}


def finished_run(root: Path, name: str, config: dict, predictions: xr.Dataset, metrics: dict, age: float) -> RunDir:
    """A completed run folder; ``age`` seconds in the past (the newest run is what pages pick first)."""
    run = RunDir(root / name).create()
    run.write_config(config)
    run.update_status(state="running", progress=0.5, message="epoch 1")
    run.update_status(state="completed", progress=1.0, message="done")
    run.write_history([{"epoch": 1, "train_loss": 0.4, "val_loss": 0.5}])
    run.write_metrics(metrics)
    predictions.to_netcdf(run.predictions_path)
    stamp = time.time() - age
    os.utime(run.path, (stamp, stamp))
    return run


HYDRO_AT_BOUND, HYDRO_MIDDLE = "hydro-20250103-000000-cbound", "hydro-20250102-000000-middle"
RAIN_A, RAIN_B = "rain-20250103-000000-a", "rain-20250102-000000-b"


def write_overlay_runs(root: Path) -> dict[str, RunDir]:
    """Two dXAJ runs of :data:`BASIN` (the newer holds C at its upper bound, hidden 8 vs 16) and two
    rain runs (exp2 CSI 0.6 vs 0.2 at 1 mm)."""
    metrics = {"model": "dpl", "test": {"median": {"nse": 0.5, "kge": 0.5}}}
    return {
        HYDRO_AT_BOUND: finished_run(root, HYDRO_AT_BOUND, hydro_config(HYDRO_AT_BOUND, 8),
                                     hydro_predictions(0.9, "C"), metrics, age=10),
        HYDRO_MIDDLE: finished_run(root, HYDRO_MIDDLE, hydro_config(HYDRO_MIDDLE, 16),
                                   hydro_predictions(1.2, None), metrics, age=20),
        RAIN_A: finished_run(root, RAIN_A, {"kind": "rain", "name": RAIN_A}, rain_predictions(), rain_metrics(0.6), age=10),
        RAIN_B: finished_run(root, RAIN_B, {"kind": "rain", "name": RAIN_B}, rain_predictions(), rain_metrics(0.2), age=20),
    }


def metrics_json(run: RunDir) -> dict:
    return json.loads((run.path / "metrics.json").read_text())
