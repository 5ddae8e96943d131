"""Samples from a record far larger than memory: peak memory and samples per second.

The record is 10 years of 12-hourly fields (7305 steps), 56 channels (5 variables x 11 levels + rain) on
a 160 x 320 grid: 7305 x 56 x 160 x 320 float32 = 84 GB if loaded whole. It is a lazily generated,
dask-backed xarray Dataset (each 16-step chunk is computed from its own seed only when read), so the
bench measures the sample path itself: ``core.data.gridded.iter_windows`` cuts windows one at a time
from a rolling buffer. Baseline, in the same run: cutting each window with its own ``isel`` on the
same lazy record (every frame read ``steps + 1`` times). A one-month slice also goes through
``prepare_zarr`` and ``iter_zarr_windows`` to time the prepared-store path.

Run: ``.venv/bin/python bench/rain_data_scale.py [--windows 120]``
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.gridded import ATMOSPHERE_VARIABLES, iter_windows, iter_zarr_windows, prepare_zarr  # noqa: E402
from core.data.weather_demo import LEVELS_HPA  # noqa: E402

N_STEPS, N_LAT, N_LON, CHUNK = 7305, 160, 320, 16


def _block(seed: int, shape: tuple[int, ...], base: float, spread: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth in space: a coarse random field upsampled, so values look like weather, not noise
    coarse = rng.normal(size=shape[:-2] + (shape[-2] // 16, shape[-1] // 16)).astype(np.float32)
    return (base + spread * np.repeat(np.repeat(coarse, 16, axis=-2), 16, axis=-1)).astype(np.float32)


def lazy_record() -> xr.Dataset:
    """The 10-year record as dask arrays, one chunk per 16 steps, generated on read."""
    times = pd.date_range("2000-01-01", periods=N_STEPS, freq="12h")
    n_chunks = -(-N_STEPS // CHUNK)
    sizes = [min(CHUNK, N_STEPS - i * CHUNK) for i in range(n_chunks)]
    levels = len(LEVELS_HPA)

    def variable(k: int, base: float, spread: float, with_level: bool) -> da.Array:
        blocks = []
        for i, n in enumerate(sizes):
            shape = (n, levels, N_LAT, N_LON) if with_level else (n, N_LAT, N_LON)
            blocks.append(da.from_delayed(
                __import__("dask").delayed(_block)(1000 * k + i, shape, base, spread), shape, dtype=np.float32))
        return da.concatenate(blocks, axis=0)

    dims4 = ("time", "level", "lat", "lon")
    data = {name: (dims4, variable(k, base, spread, True))
            for k, (name, base, spread) in enumerate(zip(ATMOSPHERE_VARIABLES, (260, 250, 10, 0, 5000), (10, 10, 8, 5, 300)))}
    data["rain"] = (("time", "lat", "lon"), da.maximum(variable(9, 0.0, 3.0, False), 0.0))
    return xr.Dataset(data, coords={"time": times, "level": list(LEVELS_HPA),
                                    "lat": np.linspace(20.125, 59.875, N_LAT), "lon": np.linspace(60.125, 139.875, N_LON)})


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def time_windows(iterator, n: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    count = 0
    for _ in iterator:
        count += 1
        if count == n:
            break
    return time.perf_counter() - t0, count


def naive_windows(ds: xr.Dataset, steps: int):
    for i in range(steps, ds.sizes["time"]):
        window = ds.isel(time=slice(i - steps, i + 1))
        parts = [window[v].values for v in ATMOSPHERE_VARIABLES] + [window["rain"].values[:, None]]
        stack = np.concatenate(parts, axis=1)
        yield window["time"].values[-1], stack[:-1], stack[-1, -1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=120, help="windows to time on each path")
    args = parser.parse_args()
    import dask

    dask.config.set(scheduler="synchronous")  # one block at a time: memory is what the sample path holds
    ds = lazy_record()
    whole_gb = sum(v.size * 4 for v in ds.data_vars.values()) / 1e9
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}")
    print(f"record: {N_STEPS} steps x 56 channels x {N_LAT} x {N_LON} float32 = {whole_gb:.1f} GB if loaded whole")

    secs, n = time_windows(iter_windows(ds, steps=6, block_steps=CHUNK), args.windows)
    rolling = n / secs
    print(f"rolling-buffer windows (core.data.gridded.iter_windows): {n} windows in {secs:.2f} s = {rolling:.1f} samples/s; "
          f"peak RSS so far {peak_rss_gb():.2f} GB")
    secs_naive, n_naive = time_windows(naive_windows(ds, 6), max(args.windows // 4, 10))
    naive = n_naive / secs_naive
    print(f"baseline, one isel per window (every frame read 7 times): {n_naive} windows in {secs_naive:.2f} s = "
          f"{naive:.1f} samples/s")
    print(f"ratio rolling / baseline: {rolling / naive:.1f}x")
    full_minutes = (N_STEPS - 6) / rolling / 60
    print(f"all {N_STEPS - 6} windows of the record at this rate: {full_minutes:.1f} min")

    with tempfile.TemporaryDirectory() as tmp:
        month = ds.isel(time=slice(0, 64))
        t0 = time.perf_counter()
        store = prepare_zarr(month, Path(tmp) / "month.zarr", time_chunk=CHUNK)
        prep = time.perf_counter() - t0
        size_gb = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file()) / 1e9
        secs_z, n_z = time_windows(iter_zarr_windows(store, steps=6, block_steps=CHUNK), 58)
        print(f"prepare_zarr of 64 steps: {prep:.2f} s ({size_gb:.2f} GB on disk); "
              f"windows from the store: {n_z / secs_z:.1f} samples/s")
    peak = peak_rss_gb()
    print(f"peak RSS of the whole bench: {peak:.2f} GB ({'under' if peak < 2 else 'OVER'} the 2 GB target)")


if __name__ == "__main__":
    main()
