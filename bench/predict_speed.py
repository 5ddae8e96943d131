"""Benchmark: ``hydro predict`` on 25 CAMELS-US basins x 10 years (issue 31: under 30 s on 2 cores).

Times :func:`core.hydro.predict.predict_run` (load the basins, build inputs without q_obs, run dXAJ
and the LSTM, score) of a run with the recipe of ``configs/hydro_camels.yaml`` on the 25 basins of
``../shared/data/camels_us_daily`` over 1995-10-01 .. 2005-09-30, and, as the baseline measured in
the same process, the run's own ``evaluate`` of the same models over the same days (the data
prepared once, as ``hydro evaluate`` does). Speed does not depend on the weights, so without
``--run-dir`` a run of one epoch of one batch per model is trained first (not timed).

    python bench/predict_speed.py [--run-dir RUN] [--threads 2] [--repeat 2]

``predict``'s default is a window per ``rho + horizon`` days predicting its whole target part; the
bench also times ``--stride`` of the run's ``evaluate.stride`` (what ``hydro evaluate`` does).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = (REPO / ".." / "shared" / "data").resolve()
PERIOD = ("1995-10-01", "2005-09-30")


def _train_quick_run(folder: Path) -> Path:
    import yaml

    from core.hydro import cli

    config = yaml.safe_load((REPO / "configs" / "hydro_camels.yaml").read_text())
    config["data"].update(source=str(SHARED / "camels_us_daily"), train_period=["1985-10-01", "1995-09-30"],
                          test_period=list(PERIOD))
    config["overrides"]["lstm"]["data"]["attributes"] = str(SHARED / "camels_us_sample" / "camels_attributes_v2.0")
    config["baselines"] = ["lstm"]
    config["train"].update(epochs=1, iterations_per_epoch=1)
    config["overrides"]["lstm"]["train"].update(epochs=1, iterations_per_epoch=1)
    (folder / "quick.yaml").write_text(yaml.safe_dump(config))
    run = folder / "run"
    assert cli.main(["train", "--config", str(folder / "quick.yaml"), "--run-dir", str(run), "--no-progress"]) == 0
    return run


def _evaluate_seconds(run: Path) -> float:
    """The baseline: every transferable model of the run re-evaluated on its own (prepared) test data."""
    from core.hydro.evaluate import evaluate_model
    from core.hydro.predict import run_models
    from core.hydro.prepare import PreparedCache
    from core.runs.folder import RunDir

    _, models, _ = run_models(run)
    start = time.perf_counter()
    cache = PreparedCache()
    for m in models:
        folder = RunDir(run) if m.name == models[0].name else RunDir(run).model_dir(m.name)
        evaluate_model(m.config, folder, "cpu", prepared=cache.get(m.config))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", help="a trained run with the hydro_camels.yaml recipe (default: train a quick one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    if not (SHARED / "camels_us_daily").is_dir():
        print(f"skipped: {SHARED / 'camels_us_daily'} not present")
        return 0
    import platform

    import torch

    from machine_info import cpu_name, load_average  # bench/ is on sys.path as the script folder
    from core.hydro.predict import predict_run

    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    run = Path(args.run_dir) if args.run_dir else _train_quick_run(Path(tmp.name))
    source = str(SHARED / "camels_us_daily")
    predict_run(run, source, PERIOD)  # warm-up: compiled kernels, file cache
    from core.hydro.predict import run_models

    config = run_models(run)[0]
    run_stride = int(config["evaluate"].get("stride") or 1)
    times, baseline, daily = [], [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        pred = predict_run(run, source, PERIOD)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        predict_run(run, source, PERIOD, stride=run_stride)
        daily.append(time.perf_counter() - start)
        baseline.append(_evaluate_seconds(run))
    q = pred.dataset["q_sim"]
    print(f"machine: {cpu_name()}, cpu_count {os.cpu_count()}, {platform.platform()}, torch threads {torch.get_num_threads()}, "
          f"load average {load_average()} (the machine is shared: read the ratio)")
    print(f"predict (default: each window predicts its whole target part): {q.sizes['basin']} basins x "
          f"{q.sizes['time']} days x models {q['model'].values.tolist()}: median {statistics.median(times):.1f} s "
          f"(runs {', '.join(f'{t:.1f}' for t in times)}); goal < 30 s")
    print(f"predict --stride {run_stride} (the run's evaluate.stride, as hydro evaluate): median "
          f"{statistics.median(daily):.1f} s (runs {', '.join(f'{t:.1f}' for t in daily)})")
    print(f"baseline, the run's evaluate of the same models and days: median {statistics.median(baseline):.1f} s")
    print(f"ratio predict / evaluate: {statistics.median(times) / statistics.median(baseline):.2f}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
