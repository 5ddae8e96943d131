"""Cost of the rain references per forecast: persistence, extrapolation, S-PROG, ANVIL, STEPS mean.

Times :func:`core.rain.baselines.nowcast_stack` (one motion field per issue time, shared, as in a
run) for each reference alone on

1. the demo world of ``configs/rain_quick.yaml`` (the generated 12-hourly world, 2 x 2 coarsened:
   16 x 32 cells, 1 lead), ``--demo-issues`` issue times of its test period;
2. the MeteoSwiss event 2015-05-15 of ``../shared/data/radar_mch`` at ``configs/rain_mch.yaml``'s cells
   (0.05 x 0.075 degrees, the whole composite grid as a run computes it), 12 leads (60 min),
   ``--radar-issues`` issue times; skipped when the folder is absent.

STEPS runs with 10 and 20 members. Every number is seconds per forecast (one issue time, all
leads), with its ratio to S-PROG measured in the same process. One thread (``OMP_NUM_THREADS=1``,
as the pipeline computes the references), on a machine the other processes share: see the load.

Run: ``.venv/bin/python bench/rain_references.py [--demo-issues 20] [--radar-issues 4]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from machine_info import cpu_name, load_average  # noqa: E402  (bench/ is on sys.path as the script folder)

SYSTEMS = (("persistence", {}), ("extrapolation", {}), ("sprog", {}), ("anvil", {}),
           ("steps_mean", {"members": 10}), ("steps_mean", {"members": 20}))


def time_references(rain: np.ndarray, issue: np.ndarray, steps: int, n_leads: int, grid: dict) -> dict[str, float]:
    """Seconds per forecast of each entry of :data:`SYSTEMS` on ``rain`` ``[time, H, W]``."""
    from core.rain.baselines import nowcast_stack

    nowcast_stack(rain, issue[:1], steps, n_leads, ["sprog", "anvil", "steps_mean"], {**grid, "members": 2})  # warm up
    out = {}
    for name, extra in SYSTEMS:
        start = time.perf_counter()
        nowcast_stack(rain, issue, steps, n_leads, [name], {**grid, **extra})
        label = name + (f" ({extra['members']} members)" if extra else "")
        out[label] = (time.perf_counter() - start) / len(issue)
    return out


def report(title: str, seconds: dict[str, float]) -> None:
    print(f"\n{title}")
    ref = seconds["sprog"]
    for label, s in seconds.items():
        print(f"  {label:28s} {s:8.3f} s per forecast   {s / ref:6.2f} x S-PROG")


def demo(n_issues: int) -> None:
    from core.data.weather_demo import load_demo_weather
    from core.rain.baselines import grid_options
    from core.rain.stacking import coarsen

    ds = coarsen(load_demo_weather(seed=0, n_steps=360), 2)
    rain = np.asarray(ds["rain"].values, dtype=np.float32)
    issue = np.linspace(280, 355, n_issues).astype(int)  # the test period of rain_quick (late May, June)
    grid = grid_options(ds["lat"].values, ds["lon"].values, ds["time"].values)
    report(f"demo world {rain.shape[1]} x {rain.shape[2]} cells, 1 lead, {n_issues} issue times",
           time_references(rain, issue, 6, 1, grid))


def radar(n_issues: int) -> None:
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "radar_mch" / "20150515"
    if not folder.is_dir():
        print(f"\n(no {folder}: radar part skipped)")
        return
    from core.data.radar import load_radar
    from core.rain.baselines import grid_options

    ds = load_radar(folder, resolution_deg=(0.05, 0.075))
    rain = np.asarray(ds["rain"].values, dtype=np.float32)
    issue = np.linspace(12, rain.shape[0] - 13, n_issues).astype(int)
    grid = grid_options(ds["lat"].values, ds["lon"].values, ds["time"].values)
    report(f"MeteoSwiss 2015-05-15, {rain.shape[1]} x {rain.shape[2]} cells, 12 leads (60 min), {n_issues} issue times",
           time_references(rain, issue, 6, 12, grid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-issues", type=int, default=20)
    parser.add_argument("--radar-issues", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, load {load_average()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    demo(args.demo_issues)
    radar(args.radar_issues)
    print(f"\nload at the end: {load_average()}")


if __name__ == "__main__":
    main()
