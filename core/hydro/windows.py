"""Sliding-window samples for the dPL model (docs/design.md, 5. dPL, after the seed's lookup table).

A sample of basin ``b`` starting at index ``f`` holds forcing ``[f - warmup, f + rho + horizon)`` and
targets ``[f, f + rho + horizon)``. Valid ``f`` run from ``warmup`` to ``T - rho - horizon`` inclusive
in steps of ``stride``: 240 steps with warmup 30, rho 30, horizon 1 give 180 samples per basin.
Samples whose whole target is missing (NaN) are skipped: they carry no loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class WindowSpec:
    """Window lengths in time steps.

    warmup: steps run through the physics (without gradient) before the target part.
    rho: steps of the target part before the forecast steps (the seed's ``forecast_history``).
    horizon: forecast steps at the end of each window (the seed's ``forecast_length``).
    stride: distance between consecutive window starts.
    """

    warmup: int
    rho: int
    horizon: int = 1
    stride: int = 1

    def __post_init__(self) -> None:
        for name in ("warmup", "rho", "horizon", "stride"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"window {name} must be a non-negative integer, got {value!r}")
        if self.stride < 1:
            raise ValueError(f"window stride must be >= 1, got {self.stride}")
        if self.rho + self.horizon < 1:
            raise ValueError("window rho + horizon must be >= 1 (the target part would be empty)")

    @property
    def target_length(self) -> int:
        """Steps carrying targets: ``rho + horizon``."""
        return self.rho + self.horizon

    @property
    def length(self) -> int:
        """Steps of forcing per sample: ``warmup + rho + horizon``."""
        return self.warmup + self.rho + self.horizon


def window_starts(n_steps: int, spec: WindowSpec) -> np.ndarray:
    """All valid start indices ``f`` for a series of ``n_steps`` (ignoring missing targets)."""
    last = n_steps - spec.rho - spec.horizon
    if last < spec.warmup:
        return np.zeros(0, dtype=np.int64)
    return np.arange(spec.warmup, last + 1, spec.stride, dtype=np.int64)


def window_table(
    q_obs: np.ndarray, spec: WindowSpec, first: int | None = None, last: int | None = None
) -> np.ndarray:
    """Sample table ``[n_samples, 2]`` of (basin index, start index f), basin-major.

    q_obs: observed streamflow ``[basin, time]`` (NaN where missing). A window is kept when at least
    one of its target steps ``[f, f + rho + horizon)`` is observed. ``first``/``last`` (time indices,
    inclusive) confine the targets to a period, e.g. training, while the warmup may reach back before
    ``first`` into the preceding days.
    """
    q_obs = np.asarray(q_obs, dtype=np.float64)
    if q_obs.ndim != 2:
        raise ValueError(f"q_obs must be [basin, time], got shape {q_obs.shape}")
    n_basins, n_steps = q_obs.shape
    starts = window_starts(n_steps, spec)
    if first is not None:
        starts = starts[starts >= first]
    if last is not None:
        starts = starts[starts + spec.target_length - 1 <= last]
    if starts.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    observed = np.isfinite(q_obs).astype(np.int64)
    # cumulative count of observed steps makes "any target observed" O(1) per window
    cum = np.concatenate([np.zeros((n_basins, 1), dtype=np.int64), np.cumsum(observed, axis=1)], axis=1)
    counts = cum[:, starts + spec.target_length] - cum[:, starts]
    basin_idx, start_pos = np.nonzero(counts > 0)
    return np.stack([basin_idx, starts[start_pos]], axis=1).astype(np.int64)


def count_windows(n_steps: int, spec: WindowSpec) -> int:
    """Number of windows per fully observed basin of ``n_steps`` steps."""
    return int(window_starts(n_steps, spec).size)


@dataclass
class WindowBatch:
    """One batch of windows, sequence-first.

    x: physics forcing (P, PET) in mm/step ``[warmup + rho + horizon, B, 2]``.
    z: normalised LSTM inputs ``[warmup + rho + horizon, B, F]``.
    y: observed streamflow, mm/step, NaN where missing ``[rho + horizon, B]``.
    basin: basin index of each sample ``[B]``.
    start: start index f of each sample ``[B]``.
    """

    x: torch.Tensor
    z: torch.Tensor
    y: torch.Tensor
    basin: torch.Tensor
    start: torch.Tensor

    def to(self, device: torch.device) -> "WindowBatch":
        return WindowBatch(*(t.to(device) for t in (self.x, self.z, self.y, self.basin, self.start)))


class WindowSampler:
    """Gathers windows from whole-period arrays held in memory (basin-major ``[basin, time, ...]``).

    x: ``[basin, time, 2]`` P and PET (mm/step); z: ``[basin, time, F]`` normalised inputs;
    y: ``[basin, time]`` observed streamflow. ``table`` comes from :func:`window_table`.
    Fancy indexing replaces a per-sample Dataset: one gather per batch instead of B Python calls.
    """

    def __init__(self, x: np.ndarray, z: np.ndarray, y: np.ndarray, table: np.ndarray, spec: WindowSpec):
        if x.shape[:2] != y.shape or z.shape[:2] != y.shape:
            raise ValueError(f"x {x.shape}, z {z.shape} and y {y.shape} must share [basin, time]")
        self.x = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)
        self.z = torch.as_tensor(np.ascontiguousarray(z), dtype=torch.float32)
        self.y = torch.as_tensor(np.ascontiguousarray(y), dtype=torch.float32)
        self.table = torch.as_tensor(table, dtype=torch.long)
        self.spec = spec
        self._offsets = torch.arange(-spec.warmup, spec.rho + spec.horizon)

    def __len__(self) -> int:
        return int(self.table.shape[0])

    def batch(self, indices: torch.Tensor | np.ndarray | list[int]) -> WindowBatch:
        """Windows for sample indices ``indices`` (rows of the table)."""
        rows = self.table[torch.as_tensor(indices, dtype=torch.long)]
        basin, start = rows[:, 0], rows[:, 1]
        times = start[None, :] + self._offsets[:, None]  # [L, B]
        x = self.x[basin[None, :], times]  # [L, B, 2]
        z = self.z[basin[None, :], times]
        y = self.y[basin[None, :], times[self.spec.warmup :]]
        return WindowBatch(x=x, z=z, y=y, basin=basin, start=start)
