"""Helpers for prediction tests: a small synthetic basin-table folder and a tiny trained hydro run.

The folder is written by the test itself (no reference data needed): daily rain from a gamma
distribution, seasonal temperatures, and streamflow from a linear reservoir of the rain, so a model
has something to learn and every basin has static attributes (lat, lon, area_km2, frac_snow, aridity).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from core.hydro import cli


def write_basin_folder(folder: Path, ids: list[str], start: str = "2000-01-01", end: str = "2002-12-31",
                       seed: int = 0, snowy: set[str] | None = None, flow: bool = True, warming: float = 0.0) -> Path:
    """A basin-table folder: ``<id>.csv`` (date, prcp_mm, tmin_c, tmax_c[, q_obs_mm]) + basins.csv.

    Temperatures swing around 10 degC by +-10 (winters below freezing) plus ``warming`` (degC)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, end, freq="D")
    doy = dates.dayofyear.to_numpy()
    rows = []
    for k, bid in enumerate(ids):
        wet = rng.random(len(dates)) < 0.35
        prcp = np.where(wet, rng.gamma(0.8, 8.0, len(dates)), 0.0)
        tmean = 10 + warming + 10 * np.sin(2 * np.pi * (doy - 100) / 365.25) + rng.normal(0, 2, len(dates))
        store, q = 50.0, np.empty(len(dates))
        for t, p in enumerate(prcp):  # linear reservoir: q = k S
            store += p
            q[t] = 0.05 * store
            store -= q[t]
            store -= min(store, 1.0)  # evaporation
        frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "prcp_mm": prcp.round(3),
                              "tmin_c": (tmean - 5).round(2), "tmax_c": (tmean + 5).round(2)})
        if flow:
            frame["q_obs_mm"] = q.round(4)
        frame.to_csv(folder / f"{bid}.csv", index=False)
        frac_snow = 0.3 if snowy and bid in snowy else 0.05
        rows.append({"gauge_id": bid, "lat": 40.0 + k, "lon": -80.0 - k, "area_km2": 100.0 + 10 * k,
                     "frac_snow": frac_snow, "aridity": 0.8 + 0.1 * k})
    pd.DataFrame(rows).to_csv(folder / "basins.csv", index=False)
    return folder


def tiny_config(source: Path, train_period=("2000-01-01", "2001-06-30"), test_period=("2001-07-01", "2002-12-31"),
                **changes) -> dict:
    """A run config of seconds: short windows, small networks, two epochs of a few batches."""
    config = {
        "name": "tiny-predict",
        "model": "dpl",
        "baselines": ["static_xaj", "lstm"],
        "data": {"source": str(source), "train_period": list(train_period), "valid_fraction": 0,
                 "test_period": list(test_period), "dynamic_inputs": ["prcp", "pet", "tmean"], "static_inputs": "all"},
        "window": {"warmup": 30, "rho": 30, "horizon": 1},
        "model_args": {"hidden": 8},
        "xaj": {"backend": "reference"},
        "train": {"epochs": 1, "batch_size": 8, "iterations_per_epoch": 2, "lr": 0.01, "loss": "nse", "seed": 3,
                  "device": "cpu"},
        "evaluate": {"batch_size": 256, "stride": 10},
    }
    for key, value in changes.items():
        config[key] = value
    return config


def train_tiny_run(tmp: Path, source: Path, **changes) -> Path:
    """Train :func:`tiny_config` on ``source`` into ``tmp/run``; returns the run folder."""
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(source, **changes)))
    run = tmp / "run"
    assert cli.main(["train", "--config", str(path), "--run-dir", str(run), "--no-progress"]) == 0
    return run
