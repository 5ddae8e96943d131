"""Sliding-window sample table (docs/design.md, 5. dPL) and the window gatherer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.hydro.windows import WindowSampler, WindowSpec, count_windows, window_table


def test_seed_example_gives_180_windows():
    spec = WindowSpec(warmup=30, rho=30, horizon=1)
    assert count_windows(240, spec) == 180
    table = window_table(np.ones((1, 240)), spec)
    assert table.shape == (180, 2)
    assert table[0].tolist() == [0, 30] and table[-1].tolist() == [0, 209]


def test_stride_and_several_basins():
    spec = WindowSpec(warmup=30, rho=30, horizon=1, stride=10)
    table = window_table(np.ones((3, 240)), spec)
    assert len(table) == 3 * 18
    assert sorted(set(table[:, 0].tolist())) == [0, 1, 2]
    assert np.all(np.diff(table[table[:, 0] == 1, 1]) == 10)


def test_windows_with_all_nan_target_are_skipped():
    spec = WindowSpec(warmup=5, rho=4, horizon=1)
    q = np.ones((2, 40))
    q[0, 10:30] = np.nan  # targets [f, f+5) fully inside the gap: f = 10 .. 25 -> 16 windows dropped
    table = window_table(q, spec)
    starts0 = table[table[:, 0] == 0, 1]
    assert len(starts0) == count_windows(40, spec) - 16
    assert not np.any((starts0 >= 10) & (starts0 <= 25))
    assert len(table[table[:, 0] == 1]) == count_windows(40, spec)


def test_period_limits_confine_targets_but_not_warmup():
    spec = WindowSpec(warmup=10, rho=5, horizon=1)
    table = window_table(np.ones((1, 100)), spec, first=50, last=79)
    assert table[:, 1].min() == 50  # warmup reaches back to day 40, before the period
    assert (table[:, 1] + spec.target_length - 1).max() == 79


def test_short_series_and_bad_specs():
    assert count_windows(20, WindowSpec(warmup=10, rho=10, horizon=1)) == 0
    with pytest.raises(ValueError, match="stride"):
        WindowSpec(warmup=1, rho=1, horizon=1, stride=0)
    with pytest.raises(ValueError, match="warmup"):
        WindowSpec(warmup=-1, rho=1)


def test_sampler_gathers_sequence_first_windows():
    spec = WindowSpec(warmup=3, rho=4, horizon=1)
    n_basins, n_time = 2, 30
    t = np.arange(n_time, dtype=np.float32)
    x = np.stack([np.stack([t + 100 * b, -t] , axis=-1) for b in range(n_basins)])  # [2, 30, 2]
    z = x[..., :1] * 2
    y = x[..., 0] + 0.5
    table = window_table(y, spec)
    sampler = WindowSampler(x, z, y, table, spec)
    batch = sampler.batch([0, len(table) - 1])
    assert batch.x.shape == (spec.length, 2, 2)
    assert batch.z.shape == (spec.length, 2, 1)
    assert batch.y.shape == (spec.target_length, 2)
    b, f = table[-1]
    assert batch.basin.tolist() == [0, int(b)]
    # first sample starts at f=3: forcing from day 0, targets from day 3
    assert batch.x[0, 0, 0].item() == 0.0 and batch.y[0, 0].item() == 3.5
    assert torch.equal(batch.x[:, 1, 0], torch.arange(f - 3, f + 5, dtype=torch.float32) + 100 * b)
