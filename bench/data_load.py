"""Benchmark: load the real 30-year, 25-basin CAMELS-US table with ``core.data.load_basins``.

Prints wall-clock seconds (median of ``--repeat`` runs, after one warm-up), the machine, and the
ratio against a naive baseline measured in the same process: plain ``pandas.read_csv`` of the same
25 files (no validation, no PET, no dataset assembly). Also times the embedded demo and the
4-basin CAMELS-US sample. Run: ``python bench/data_load.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = (REPO / ".." / "shared" / "data").resolve()


def _median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up: file cache and lazy imports (pyet) are not what we measure
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    import pandas as pd
    import torch

    from core.data import load_basins

    table = SHARED / "camels_us_daily"
    if not table.is_dir():
        print(f"skipped: {table} not present")
        return 0
    files = sorted(p for p in table.glob("*.csv") if p.name != "basins.csv")

    def naive() -> None:
        for path in files:
            pd.read_csv(path)

    def full() -> None:
        ds = load_basins(table)
        assert ds.sizes == {"basin": 25, "time": 10957}

    print(f"machine: {platform.platform()}, python {platform.python_version()}, cpu_count={os.cpu_count()}, "
          f"torch threads={torch.get_num_threads()}, processor={platform.processor() or 'n/a'}")
    naive_s = _median_seconds(naive, args.repeat)
    full_s = _median_seconds(full, args.repeat)
    print(f"baseline  pandas.read_csv of the 25 files ............ {naive_s:7.3f} s")
    print(f"load_basins(camels_us_daily) 25 basins x 10957 days .. {full_s:7.3f} s "
          f"(ratio to baseline {full_s / naive_s:.2f}x; PET Priestley-Taylor, validation, assembly)")
    hargreaves_s = _median_seconds(lambda: load_basins(table, pet_method="hargreaves"), args.repeat)
    print(f"  same with pet_method='hargreaves' .................. {hargreaves_s:7.3f} s")
    demo_s = _median_seconds(lambda: load_basins("demo"), args.repeat)
    print(f"load_basins('demo') Fulda 1979-1988 .................. {demo_s:7.3f} s")
    sample = SHARED / "camels_us_sample"
    sample_s = _median_seconds(lambda: load_basins(sample), args.repeat)
    print(f"load_basins(camels_us_sample) 4 basins, 671-basin attributes {sample_s:7.3f} s")

    # a cold demo load in a fresh interpreter, as the dashboard sees it at start-up
    import subprocess

    code = "import time; t=time.perf_counter(); import core.data as d; d.load_basins('demo'); print(time.perf_counter()-t)"
    cold = float(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout)
    print(f"cold 'import core.data; load_basins(\"demo\")' in a new process {cold:7.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
