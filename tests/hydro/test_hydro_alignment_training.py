"""Training with a known answer: the target is an exact XAJ run of the forcing with known parameters.

Fed through the whole pipeline (basin-table files -> load_basins -> inputs -> windows -> static XAJ
calibration -> evaluation), the calibration must reproduce the target almost exactly. Offsetting the
target by one step against the forcing (what a one-step slip in ``core.hydro.inputs`` would do) must
make the score collapse: the unit hydrograph is pinned to release nearly everything in the step of the
rain (A and THETA ranges at their bottom), so no parameter set can absorb a one-day lag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.hydro import cli
from core.hydro.params import XAJ_PARAMS
from core.hydro.xaj import simulate

START = "2001-01-01"
N_DAYS = 4 * 365
# narrow ranges around a known truth, away from the middle so calibration has to move
RANGES = {"K": [0.6, 1.0], "B": [0.2, 0.4], "IM": [0.0, 0.05], "UM": [10, 30], "LM": [50, 90],
          "DM": [40, 80], "C": [0.05, 0.2], "SM": [10, 40], "EX": [1.0, 1.5], "KI": [0.2, 0.5],
          "KG": [0.05, 0.2], "A": [0.0, 0.05], "THETA": [0.0, 0.05], "CI": [0.1, 0.4], "CG": [0.8, 0.9]}
TRUTH_AT = 0.3  # each true parameter sits 30 % into its range


def _write_basins(folder, shift: int) -> None:
    rng = np.random.default_rng(7)
    n_basin = 2
    wet = rng.random((N_DAYS, n_basin)) < 0.35
    prcp = np.where(wet, rng.gamma(0.8, 12.0, (N_DAYS, n_basin)), 0.0)
    doy = np.arange(N_DAYS) % 365
    pet = 2.5 + 2.0 * np.sin(2 * np.pi * (doy - 100) / 365)[:, None] * np.ones((1, n_basin))
    lower = torch.tensor([RANGES[n][0] for n in XAJ_PARAMS], dtype=torch.float64)
    upper = torch.tensor([RANGES[n][1] for n in XAJ_PARAMS], dtype=torch.float64)
    truth = (lower + TRUTH_AT * (upper - lower)).expand(n_basin, -1)
    forcing = torch.tensor(np.stack([prcp, pet], -1), dtype=torch.float64)
    q, _ = simulate(forcing, truth, backend="reference")
    q = q.numpy()
    if shift:  # the target one step ahead of the forcing: q_obs[t] = XAJ(forcing)[t + shift]
        q = np.concatenate([q[shift:], np.full((shift, n_basin), np.nan)])
    dates = pd.date_range(START, periods=N_DAYS, freq="D")
    rows = []
    for b in range(n_basin):
        frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "prcp_mm": prcp[:, b], "pet_mm": pet[:, b],
                              "q_obs_mm": q[:, b]})
        frame.to_csv(folder / f"b{b}.csv", index=False)
        rows.append({"gauge_id": f"b{b}", "name": f"synthetic {b}", "lat": 45.0, "lon": 10.0, "area_km2": 100.0})
    pd.DataFrame(rows).to_csv(folder / "basins.csv", index=False)


def _train_static_xaj(tmp_path, shift: int) -> float:
    import json

    import yaml

    data = tmp_path / f"data_shift{shift}"
    data.mkdir()
    _write_basins(data, shift)
    config = {
        "name": "alignment", "model": "static_xaj", "baselines": [],
        "data": {"source": str(data), "train_period": ["2001-01-01", "2003-12-31"], "valid_fraction": 0.0,
                 "test_period": ["2004-01-01", "2004-12-30"], "dynamic_inputs": ["prcp", "pet"],
                 "static_inputs": [], "pet_method": "provided"},
        "window": {"warmup": 200, "rho": 60, "horizon": 1},
        "param_ranges": RANGES,
        "xaj": {"backend": "fused"},
        "train": {"epochs": 12, "batch_size": 16, "iterations_per_epoch": 10, "lr": 0.1, "loss": "nse",
                  "seed": 0, "device": "cpu", "patience": 50},
        "evaluate": {"batch_size": 64},
    }
    path = tmp_path / f"alignment{shift}.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp_path / f"run{shift}"
    assert cli.main(["train", "--config", str(path), "--run-dir", str(run), "--no-progress"]) == 0
    return json.loads((run / "metrics.json").read_text())["test"]["median"]["nse"]


@pytest.mark.slow
def test_calibration_recovers_an_exact_xaj_target_and_collapses_when_offset_by_one_step(tmp_path):
    aligned = _train_static_xaj(tmp_path, shift=0)
    offset = _train_static_xaj(tmp_path, shift=1)
    assert aligned > 0.97, f"aligned target: test NSE {aligned:.3f}, expected an almost exact fit"
    assert offset < aligned - 0.3, f"one-step offset: test NSE {offset:.3f} vs aligned {aligned:.3f}"
