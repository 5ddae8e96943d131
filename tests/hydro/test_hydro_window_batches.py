"""WindowSampler gathers each window's forcing, LSTM inputs and targets from its own basin and days.

Coded arrays (each value encodes basin, day and feature) make a window taken one day early, from the
neighbouring basin or with targets misaligned to the forcing show as a wrong number.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.hydro.windows import WindowSampler, WindowSpec, window_table


def _coded(n_basins: int = 3, n_days: int = 40):
    b = np.arange(n_basins)[:, None]
    t = np.arange(n_days)[None, :]
    x = np.stack([100.0 * b + t, 100.0 * b + t + 0.5], axis=-1)  # P, PET
    z = np.stack([1000.0 * b + t + 0.1 * f for f in range(3)], axis=-1)
    y = 10.0 * b + t + 0.25 + 0 * t
    return x, z, y.astype(np.float64)


def test_each_window_holds_its_own_basin_and_days():
    x, z, y = _coded()
    spec = WindowSpec(warmup=4, rho=5, horizon=2)
    table = window_table(y, spec)
    sampler = WindowSampler(x, z, y, table, spec)
    assert len(sampler) == len(table) == 3 * (40 - 5 - 2 - 4 + 1)
    rows = [0, 7, len(table) - 1, 30]
    batch = sampler.batch(rows)
    assert batch.x.shape == (11, 4, 2) and batch.z.shape == (11, 4, 3) and batch.y.shape == (7, 4)
    for k, row in enumerate(rows):
        basin, start = (int(v) for v in table[row])
        assert int(batch.basin[k]) == basin and int(batch.start[k]) == start
        days = np.arange(start - spec.warmup, start + spec.rho + spec.horizon)  # forcing: warmup before f
        assert torch.equal(batch.x[:, k], torch.tensor(x[basin, days], dtype=torch.float32))
        assert torch.equal(batch.z[:, k], torch.tensor(z[basin, days], dtype=torch.float32))
        targets = np.arange(start, start + spec.rho + spec.horizon)  # targets: from f on
        assert torch.equal(batch.y[:, k], torch.tensor(y[basin, targets], dtype=torch.float32))
        # the last target day is the last forcing day: the forecast step sees its own day's forcing
        assert float(batch.y[-1, k]) - 0.25 - 10 * basin == float(batch.x[-1, k, 0]) - 100 * basin


def test_mismatched_arrays_are_refused():
    x, z, y = _coded()
    spec = WindowSpec(warmup=2, rho=2)
    table = window_table(y, spec)
    with pytest.raises(ValueError, match="share"):
        WindowSampler(x, z[:, :-1], y, table, spec)
    with pytest.raises(ValueError, match="share"):
        WindowSampler(x[:2], z[:2], y, table, spec)
