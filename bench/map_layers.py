"""Benchmark: what the embedded rivers, lakes and state/province borders cost the basin map and the rain maps.

Builds each figure with the layers and without them (``core.viz.maps.reference_traces`` replaced by
one returning nothing: the maps as they were before issue 32), in the same process: the median
seconds to build the figure and the size of its JSON (what the browser receives and draws), with the
ratio. Cases: the demo's Fulda outlet, the 25 CAMELS-US basins (continental US), and the demo rain
world's four rain panels (eastern China). Run: ``python bench/map_layers.py [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = (REPO / ".." / "shared" / "data").resolve()


def _median(fn, repeat: int) -> float:
    fn()  # warm-up: the asset load and plotly's validators are not what we measure
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cases() -> dict:
    from core.viz import maps

    cases = {"basin map, one outlet (Fulda)": lambda: maps.basin_map([50.74], [9.47], ["fulda_grebenau"])}
    table = SHARED / "camels_us_daily" / "basins.csv"
    if table.exists():
        import pandas as pd

        basins = pd.read_csv(table, dtype={"basin": str})
        id_col = next(c for c in basins.columns if c.lower() in ("basin", "id", "gauge_id"))
        cases[f"basin map, {len(basins)} CAMELS-US outlets"] = lambda: maps.basin_map(
            basins["lat"], basins["lon"], basins[id_col])
    lat, lon = np.linspace(28, 44, 9), np.linspace(104, 120, 9)
    field = np.random.default_rng(0).gamma(1.0, 5.0, (9, 9))
    fields = {name: field for name in ("truth", "exp1", "exp2", "persistence")}
    cases["rain maps, 4 panels (demo world, eastern China)"] = lambda: maps.rain_maps(fields, lat, lon)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from core.viz import maps

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    real = maps.reference_traces
    for name, build in _cases().items():
        with_s = _median(build, args.repeat)
        with_kb = len(build().to_json()) / 1e3
        maps.reference_traces = lambda *a, **k: []
        try:
            without_s = _median(build, args.repeat)
            without_kb = len(build().to_json()) / 1e3
        finally:
            maps.reference_traces = real
        print(f"{name}: build {with_s * 1e3:.1f} ms with layers vs {without_s * 1e3:.1f} ms without "
              f"(ratio {with_s / without_s:.2f}); JSON {with_kb:.0f} kB vs {without_kb:.0f} kB "
              f"(ratio {with_kb / max(without_kb, 1e-9):.2f})")


if __name__ == "__main__":
    main()
