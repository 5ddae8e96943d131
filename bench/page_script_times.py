"""Benchmark: server-side script time of the two interactions issue 32 must not slow down, the basin
switch on Hydrographs and a sandbox slider move on Parameters, for one checkout of the app.

Streamlit's ``AppTest`` reruns the page as the server would (a whole-page rerun: for the sandbox this is
more than the fragment rerun the browser triggers, so it bounds the page's own cost from above). The
browser round trip, identical for every checkout, is left out. Run it on two checkouts against the same
runs folder, one after the other, and compare::

    python bench/page_script_times.py --write-runs /tmp/bench_runs
    python bench/page_script_times.py --repo /path/to/main_checkout --runs /tmp/bench_runs
    python bench/page_script_times.py --repo . --runs /tmp/bench_runs

The runs: two finished dXAJ runs of the demo's two basins (one year each, all 15 parameters), written
with numpy and ``RunDir`` only, so every checkout can read them. Prints medians, spreads and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def write_runs(root: Path) -> None:
    import numpy as np
    import pandas as pd
    import xarray as xr

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from core.hydro.params import DEFAULT_RANGES, XAJ_PARAMS
    from core.runs.folder import RunDir

    lower = np.array([lo for lo, _ in DEFAULT_RANGES.values()])
    upper = np.array([hi for _, hi in DEFAULT_RANGES.values()])
    basins = ["fulda_grebenau", "hymod_example"]
    for k, (name, scale) in enumerate((("hydro-20250101-000000-bench-a", 0.9), ("hydro-20250102-000000-bench-b", 1.1))):
        time_index = pd.date_range("1988-01-01", "1988-12-31", freq="D")
        rng = np.random.default_rng(k)
        obs = rng.gamma(2.0, 1.0, (2, len(time_index)))
        params = lower + rng.random((2, len(time_index), 15)) * (upper - lower)
        ds = xr.Dataset({"q_obs": (("basin", "time"), obs), "q_sim": (("basin", "time"), obs * scale),
                         "prcp": (("basin", "time"), obs * 2), "pet": (("basin", "time"), obs * 0 + 1),
                         "params": (("basin", "time", "param"), params), "param_lower": ("param", lower),
                         "param_upper": ("param", upper)},
                        coords={"basin": basins, "time": time_index, "param": list(XAJ_PARAMS)}, attrs={"model": "dpl"})
        run = RunDir(root / name).create()
        run.write_config({"kind": "hydro", "name": name, "data": {"source": "demo", "basins": basins,
                                                                  "test_period": ["1988-01-01", "1988-12-31"]},
                          "model_args": {"hidden": 8 * (k + 1)}})
        run.update_status(state="completed", progress=1.0, message="done")
        run.write_metrics({"model": "dpl", "test": {"median": {"nse": 0.5}}})
        ds.to_netcdf(run.predictions_path)


def _median(at, action, repeat: int) -> tuple[float, float, float]:
    action(at, 0)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        action(at, i + 1)
        times.append(time.perf_counter() - start)
        assert not at.exception, [e.value for e in at.exception]
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]), help="app checkout to time")
    parser.add_argument("--runs", help="runs folder (written by --write-runs)")
    parser.add_argument("--write-runs", help="write the two bench runs into this folder and stop")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if args.write_runs:
        Path(args.write_runs).mkdir(parents=True, exist_ok=True)
        write_runs(Path(args.write_runs))
        print(f"runs written to {args.write_runs}")
        return
    repo = Path(args.repo).resolve()
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    os.environ["HYDROCAST_RUNS"] = str(Path(args.runs).resolve())
    os.environ.pop("HYDROCAST_DATA", None)
    from streamlit.testing.v1 import AppTest

    def page(name: str) -> AppTest:
        at = AppTest.from_file(str(repo / "app.py"), default_timeout=300)
        at.switch_page(f"pages/{name}")
        at.run()
        return at

    basins = ["hymod_example", "fulda_grebenau"]
    hydro = _median(page("3_Hydrographs.py"),
                    lambda at, i: at.selectbox(key="hydro_basin_pick").set_value(basins[i % 2]).run(), args.repeat)
    sandbox = _median(page("4_Parameters.py"),
                      lambda at, i: at.slider(key="sandbox_K").set_value(0.3 + 0.05 * (i % 5)).run(), args.repeat)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"checkout {repo}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}")
    print(f"hydrographs basin switch (page script): median {hydro[0]:.3f} s (min {hydro[1]:.3f}, max {hydro[2]:.3f})")
    print(f"parameters slider move (whole page):   median {sandbox[0]:.3f} s (min {sandbox[1]:.3f}, max {sandbox[2]:.3f})")


if __name__ == "__main__":
    main()
