"""Issue 30: which losses, guides and probability matching sharpen ST-RainNet, over several seeds.

    OMP_NUM_THREADS=1 .venv/bin/python bench/rain_sharp.py [--config configs/rain_quick.yaml]
        [--variants plain,wind_mse,wind_csi] [--seeds 0 1 2] [--matching none,last_frame,guide] [--out FILE.json]

Each variant is the config with a few keys overridden (:data:`VARIANTS`); every variant trains
experiments 1 and 2 with the same fixed epochs for each seed, then scores them on the config's test
period with each probability-matching choice (the trained nets are the same; only the
post-processing differs). It prints, per variant and matching, the mean and spread over seeds of
CSI and RMSE at the main lead, the baselines, and the paired (same seed) difference of each variant
against the first one. Choices for shipped configs were made on the validation period
(``--score val``), never on the test period.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.rain import pipeline  # noqa: E402
from core.rain.experiments import Split  # noqa: E402
from core.runs.folder import RunDir  # noqa: E402

WIND = {"nowcast": {"guide": "steering_wind"}}
VARIANTS: dict[str, dict] = {
    "plain": {},
    "plain_csi": {"train": {"loss": "mse_soft_csi"}},
    "extrap_mse": {"nowcast": {"guide": "extrapolation"}},
    "wind_mse": WIND,
    "wind_mae": {**WIND, "train": {"loss": "weighted_mae"}},
    "wind_csi": {**WIND, "train": {"loss": "mse_soft_csi"}},
    "wind_csi_w3": {**WIND, "train": {"loss": "mse_soft_csi", "loss_weight": 3.0}},
    "wind_fss": {**WIND, "train": {"loss": "mse_fss"}},
    "wind_csi_alpha0": {**WIND, "train": {"loss": "mse_soft_csi", "alpha": 0.0}},
    "wind_csi_heavy": {**WIND, "train": {"loss": "mse_soft_csi", "loss_thresholds": [5, 15, 30]}},
    "sprog_csi": {"train": {"loss": "mse_soft_csi"}},
    "sprog_csi_w3": {"train": {"loss": "mse_soft_csi", "loss_weight": 3.0}},
    "sprog_fss": {"train": {"loss": "mse_fss"}},
    "sprog_mae": {"train": {"loss": "weighted_mae"}},
}


def _data_key(cfg: dict) -> str:
    return json.dumps([cfg["data"], cfg["nowcast"], cfg["split"], cfg["regions"]], sort_keys=True, default=str)


def run(args) -> dict:
    torch.set_num_threads(int(args.threads))
    base = pipeline.load_config(args.config)
    results: dict = {}
    cache: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            cfg = pipeline.complete_config(pipeline.SCHEMA.merge(copy.deepcopy(base), VARIANTS[variant]))
            key = _data_key(cfg)
            if key not in cache:
                t0 = time.perf_counter()
                prepared = pipeline.prepare(cfg)
                cache[key] = {part: prepared if part == "test" else _val_prepared(cfg, prepared) for part in args.score}
                print(f"[{variant}] data prepared in {time.perf_counter() - t0:.1f} s", flush=True)
            parts = cache[key]
            prepared = next(iter(parts.values()))
            for seed in args.seeds:
                cfg_s = copy.deepcopy(cfg)
                cfg_s["seed"] = int(seed)
                run_dir = RunDir(Path(tmp) / f"{variant}-{seed}")
                run_dir.path.mkdir(parents=True)
                t0 = time.perf_counter()
                pipeline.train_all(cfg_s, prepared, run_dir, torch.device("cpu"))
                seconds = time.perf_counter() - t0
                for part, scored in parts.items():
                    for matching in args.matching:
                        if matching == "guide" and cfg["nowcast"]["guide"] == "none":
                            continue
                        scored.nowcast.prob_matching = matching
                        cfg_s["nowcast"]["prob_matching"] = matching
                        cfg_s["evaluate"]["n_boot"] = 50
                        metrics = pipeline.evaluate_run(cfg_s, scored, run_dir, torch.device("cpu"))
                        scored.nowcast.prob_matching = "none"
                        name = f"{part}:{variant}/{matching}"
                        results.setdefault(name, {})[int(seed)] = {
                            "train_seconds": seconds,
                            "test_leads": {lead: {s: {"csi": m["csi"], "rmse": m["rmse"]} for s, m in per.items()}
                                           for lead, per in metrics["test_leads"].items()},
                        }
                        print(f"[{name} seed {seed}] {seconds:.0f} s: " + summary(metrics), flush=True)
    return results


def _val_prepared(cfg: dict, prepared):
    """``prepared`` scored on its validation samples: the baselines are recomputed there."""
    from core.rain.pipeline import nowcast_baselines

    if len(prepared.split.val) == 0:
        raise SystemExit("--score val needs a validation part (split.val or val_fraction > 0)")
    val = copy.copy(prepared)
    val.split = Split(train=prepared.split.train, val=prepared.split.val, test=prepared.split.val)
    ds, _ = pipeline.open_gridded(cfg["data"])
    if ds["lat"].size > 1 and ds["lat"].values[1] < ds["lat"].values[0]:
        ds = ds.isel(lat=slice(None, None, -1))
    ds = pipeline.coarsen(ds, cfg["data"].get("coarsen", 1))
    from core.rain.experiments import plan_regions

    layout = plan_regions(ds, cfg["regions"], need_region2="exp2" in cfg["experiments"],
                          motion_frames=prepared.split.fit_frames(prepared.steps))
    rows, cols, layout = layout.cropped()
    nc = copy.copy(prepared.nowcast)
    nc.guide = "none"
    _, val.baselines = nowcast_baselines(ds, val.split, prepared.steps, nc, (rows, cols), layout)
    return val


def summary(metrics: dict) -> str:
    parts = []
    for lead, per in metrics["test_leads"].items():
        for s, m in per.items():
            csi = "/".join(f"{v:.3f}" for v in m["csi"].values())
            parts.append(f"{lead} {s} CSI {csi} RMSE {m['rmse']:.2f}")
    return "; ".join(parts)


def report(results: dict) -> None:
    """Mean (sd) over seeds per variant; paired (same seed) difference against the first variant scored
    on the same part with the same matching; exp2 - exp1 per seed; the baselines of each part."""
    names = list(results)
    print("\nmean (sd) over seeds; d = paired difference vs the first variant (mean [min, max] over seeds)")
    for name in names:
        part, rest = name.split(":", 1)
        matching = rest.split("/", 1)[1]
        ref = next((n for n in names if n.startswith(part + ":") and n.endswith("/" + matching)), name)
        seeds = sorted(results[name])
        for lead in results[name][seeds[0]]["test_leads"]:
            for system in ("exp1", "exp2"):
                rows = [results[name][s]["test_leads"][lead][system] for s in seeds]
                cells = []
                for k in rows[0]["csi"]:
                    v = [r["csi"][k] for r in rows]
                    cell = f"CSI@{k} {statistics.mean(v):.3f} ({statistics.pstdev(v):.3f})"
                    common = [s for s in seeds if s in results[ref]]
                    if name != ref and common:
                        d = [results[name][s]["test_leads"][lead][system]["csi"][k]
                             - results[ref][s]["test_leads"][lead][system]["csi"][k] for s in common]
                        cell += f" d {statistics.mean(d):+.3f} [{min(d):+.3f},{max(d):+.3f}]"
                    cells.append(cell)
                rm = [r["rmse"] for r in rows]
                print(f"{name:28s} {lead:>4s} {system}: " + "; ".join(cells) + f"; RMSE {statistics.mean(rm):.2f}")
            per = [results[name][s]["test_leads"][lead] for s in seeds]
            diffs = {k: [p["exp2"]["csi"][k] - p["exp1"]["csi"][k] for p in per] for k in per[0]["exp2"]["csi"]}
            print(f"{'':28s} {lead:>4s} exp2-exp1 CSI per seed: " +
                  "; ".join(f"{k}: " + " ".join(f"{d:+.3f}" for d in v) for k, v in diffs.items()))
    shown = set()
    for name in names:
        part = name.split(":", 1)[0]
        if part in shown:
            continue
        shown.add(part)
        first = results[name][sorted(results[name])[0]]["test_leads"]
        for lead, per in first.items():
            for s, m in per.items():
                if s not in ("exp1", "exp2"):
                    print(f"{part} baseline {lead} {s}: CSI " + " ".join(f"{k} {v:.3f}" for k, v in m["csi"].items())
                          + f" RMSE {m['rmse']:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/rain_quick.yaml")
    p.add_argument("--variants", default="plain,wind_mse,wind_csi")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--matching", default="none,last_frame,guide")
    p.add_argument("--score", default="val,test", help="parts scored: val (decides) and/or test")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out")
    args = p.parse_args()
    args.variants = args.variants.split(",")
    args.matching = args.matching.split(",")
    args.score = args.score.split(",")
    print(f"{args.config}: variants {args.variants}, seeds {args.seeds}, scored on the {'/'.join(args.score)} samples; "
          f"torch threads {args.threads}", flush=True)
    results = run(args)
    report(results)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
