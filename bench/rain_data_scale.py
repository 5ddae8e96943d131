"""Samples from a record far larger than memory: peak memory and samples per second.

The record is 10 years of 12-hourly fields (7305 steps), 56 channels (5 variables x 11 levels + rain) on
a 160 x 320 grid: 7305 x 56 x 160 x 320 float32 = 84 GB if loaded whole. The bench

1. generates it chunk by chunk (16 steps, ~180 MB per chunk, each from its own seed) and writes it to
   /tmp as 10 Zarr stores of ~1 year (blosc-lz4, float32), after checking free disk space; the whole
   record is never in memory;
2. opens the 10 stores lazily (``core.data.gridded.open_gridded_files`` -> ``open_mfdataset`` with
   chunks) and cuts windows ``[6, 56, 160, 320]`` one at a time from a rolling buffer
   (``iter_windows``), timing samples/s and peak memory;
3. baselines in the same run: (a) the eager path on a small slice (32 steps loaded whole into memory,
   windows cut from the array) and (b) one ``isel`` per window on the lazy record (every frame read
   7 times); and ``prepare_zarr`` + ``iter_zarr_windows`` on a one-month slice;
4. deletes everything it wrote.

The synthetic fields are smooth (coarse noise upsampled 16x), so they compress far better than real
weather would (~35x); the on-disk size is printed.

Run: ``.venv/bin/python bench/rain_data_scale.py [--windows 240] [--years 10]``
"""

from __future__ import annotations

import argparse
import os
import shutil
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

from core.data.gridded import (  # noqa: E402
    ATMOSPHERE_VARIABLES,
    iter_windows,
    iter_zarr_windows,
    open_gridded_files,
    prepare_zarr,
)
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


def write_record(ds: xr.Dataset, folder: Path, steps_per_store: int) -> list[Path]:
    """Write ``ds`` as Zarr stores of ``steps_per_store`` steps, one 16-step chunk in memory at a time."""
    from numcodecs import Blosc

    compressor = Blosc(cname="lz4", clevel=1, shuffle=Blosc.SHUFFLE)
    stores = []
    for k, start in enumerate(range(0, ds.sizes["time"], steps_per_store)):
        part = ds.isel(time=slice(start, start + steps_per_store))
        store = folder / f"record_{k:02d}.zarr"
        part.to_zarr(store, mode="w", zarr_format=2, consolidated=True,
                     encoding={v: {"compressors": [compressor]} for v in part.data_vars})
        stores.append(store)
    return stores


def eager_windows(ds: xr.Dataset, steps: int):
    """Baseline: the slice loaded whole into memory, windows cut from the in-memory stack."""
    parts = [ds[v].values for v in ATMOSPHERE_VARIABLES] + [ds["rain"].values[:, None]]
    stack = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
    del parts
    times = ds["time"].values
    for i in range(steps, stack.shape[0]):
        yield times[i], stack[i - steps:i], stack[i, -1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=240, help="windows to time on the lazy on-disk record")
    parser.add_argument("--years", type=float, default=10.0, help="record length (10 years = 7305 steps)")
    parser.add_argument("--tmp", default="/tmp", help="folder for the on-disk record (deleted afterwards)")
    args = parser.parse_args()
    import dask

    dask.config.set(scheduler="synchronous")  # one block at a time: memory is what the sample path holds
    ds = lazy_record()
    n_steps = min(N_STEPS, int(round(args.years * 730.5)))
    ds = ds.isel(time=slice(0, n_steps))
    whole_gb = sum(v.size * 4 for v in ds.data_vars.values()) / 1e9
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, numpy {np.__version__}, xarray {xr.__version__}")
    print(f"record: {n_steps} steps x 56 channels x {N_LAT} x {N_LON} float32 = {whole_gb:.1f} GB if loaded whole")

    free_gb = shutil.disk_usage(args.tmp).free / 1e9
    # measured compression of these smooth fields is ~35x; demand 4x that estimate plus 10 GB headroom
    need_gb = 4 * whole_gb / 35 + 10
    if free_gb < need_gb:
        raise SystemExit(f"only {free_gb:.0f} GB free in {args.tmp}; the bench wants {need_gb:.0f} GB")
    folder = Path(tempfile.mkdtemp(prefix="rain_data_scale_", dir=args.tmp))
    try:
        t0 = time.perf_counter()
        stores = write_record(ds, folder, steps_per_store=46 * CHUNK)  # 736 steps ~ 1 year, chunk-aligned
        write_s = time.perf_counter() - t0
        disk_gb = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e9
        print(f"written chunk by chunk: {len(stores)} Zarr stores, {disk_gb:.2f} GB on disk "
              f"({whole_gb / disk_gb:.0f}x compression) in {write_s:.0f} s ({whole_gb / write_s:.2f} GB/s raw); "
              f"peak RSS so far {peak_rss_gb():.2f} GB (free before: {free_gb:.0f} GB)")

        t0 = time.perf_counter()
        record = open_gridded_files(stores, chunks={"time": CHUNK})
        print(f"open_gridded_files on {len(stores)} stores (lazy): {time.perf_counter() - t0:.2f} s, "
              f"{record.sizes['time']} steps")
        # start mid-record so the windows cross a store boundary
        mid = record.isel(time=slice(43 * CHUNK if len(stores) > 1 else 0, None))
        secs, n = time_windows(iter_windows(mid, steps=6, block_steps=CHUNK), args.windows)
        rolling = n / secs
        print(f"lazy on-disk record, rolling-buffer windows (iter_windows): {n} windows [6, 56, {N_LAT}, {N_LON}] "
              f"in {secs:.2f} s = {rolling:.1f} samples/s; peak RSS so far {peak_rss_gb():.2f} GB")

        small = record.isel(time=slice(0, 32))  # small enough that the baseline itself stays under 2 GB
        t0 = time.perf_counter()
        n_eager = sum(1 for _ in eager_windows(small, 6))
        eager_s = time.perf_counter() - t0
        eager_rate = n_eager / eager_s
        print(f"baseline A, eager slice of 32 steps ({small.sizes['time'] * 56 * N_LAT * N_LON * 4 / 1e9:.2f} GB "
              f"loaded whole, read included): {n_eager} windows in {eager_s:.2f} s = {eager_rate:.1f} samples/s")
        print(f"ratio lazy rolling / eager slice: {rolling / eager_rate:.2f}x "
              f"(the eager path cannot hold the whole record: {whole_gb:.0f} GB)")
        secs_naive, n_naive = time_windows(naive_windows(mid, 6), max(args.windows // 8, 10))
        naive = n_naive / secs_naive
        print(f"baseline B, one isel per window on the lazy record (every frame read 7 times): {n_naive} windows "
              f"in {secs_naive:.2f} s = {naive:.1f} samples/s; ratio rolling / B: {rolling / naive:.1f}x")
        print(f"all {n_steps - 6} windows of the record at the rolling rate: {(n_steps - 6) / rolling / 60:.1f} min")

        month = record.isel(time=slice(0, 64))
        t0 = time.perf_counter()
        store = prepare_zarr(month, folder / "prepared_month.zarr", time_chunk=CHUNK)
        prep = time.perf_counter() - t0
        secs_z, n_z = time_windows(iter_zarr_windows(store, steps=6, block_steps=CHUNK), 58)
        print(f"prepare_zarr of 64 steps: {prep:.2f} s; windows from the prepared store: {n_z / secs_z:.1f} samples/s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    peak = peak_rss_gb()
    print(f"peak RSS of the whole bench: {peak:.2f} GB ({'under' if peak < 2 else 'OVER'} the 2 GB target); "
          f"temporary record deleted: {not folder.exists()}")


if __name__ == "__main__":
    main()
