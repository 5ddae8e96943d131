"""One rain run end to end: config -> data -> experiments -> training -> verification -> run directory.

The config's keys, types, ranges, defaults and help are the table in :mod:`core.rain.config`
(add a key there), loaded by :mod:`core.training.config`, the loader shared with the hydrology half.
Documented by example in ``configs/rain_quick.yaml``::

    seed: 0
    data:
      source: demo              # "demo" (generated world), a NetCDF/Zarr file, or a radar folder
      demo: {}                  # keyword arguments of core.data.weather_demo.load_demo_weather
      radar: {}                 # keyword arguments of core.data.radar (radar folders only)
      variables: auto           # atmospheric variables to stack (auto = all with a level dimension)
      levels: auto
      coarsen: 1                # block-average the grid by this factor first
      steps: 6                  # input frames per sample (T)
    regions:
      region1: {lat: [south, north], lon: [west, east]}
      region2: {lat: [..], lon: [..]}   # optional: default = same size, next to region1 upstream
      upstream_side: west       # east, south, north, or auto: where the rain of the training frames comes from
    split: {train: [start, end], val: [start, end], test: [start, end]}   # or train_fraction/val_fraction
    experiments: [exp1, exp2]
    model: {hidden_channels: [32, 64], kernel_size: 3}
    train: {epochs: 20, batch_size: 8, lr: 0.001, loss: weighted_mse, alpha: 1.0, amp: auto, ...}
    evaluate: {thresholds: [0.1, 5, 15, 30], fss_scales: [1, 3, 5], n_boot: 1000}

Relative data paths resolve against the working directory (the rule of both halves,
:func:`core.training.config.resolve_data_path`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import psutil
import torch
import xarray as xr

from core.data.errors import DataError
from core.rain import evaluate as E
from core.rain.config import SCHEMA  # noqa: F401  (the key table; importable from here too)
from core.rain.experiments import (
    ExperimentData,
    Layout,
    NowcastConfig,
    Split,
    build_experiment,
    lead_sample_ends,
    plan_regions,
    split_samples,
)
from core.rain.stacking import coarsen, resolve_variables, stack_channels
from core.rain.train import load_best_model, train_crops, train_experiment
from core.runs.folder import RunDir
from core.training import distributed as D
from core.training.config import ConfigError, read_yaml, resolve_data_path
from core.training.precision import amp_settings

DEFAULTS: dict = SCHEMA.defaults()


def complete_config(cfg: dict, where: str | Path | None = None) -> dict:
    """``cfg`` over the defaults, checked (unknown or mistyped keys, ranges, overlapping periods)."""
    return SCHEMA.complete(cfg, where)


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """The YAML file ``path`` (duplicate keys refused) with ``overrides`` on top, completed and checked."""
    raw = read_yaml(path)
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping of keys at the top level, got {type(raw).__name__}", where=path)
    try:
        merged = SCHEMA.merge(SCHEMA.defaults(), raw or {})
        merged = SCHEMA.merge(merged, overrides or {})
    except ConfigError as exc:
        raise exc.located(path) from None
    return complete_config(merged, path)


def split_config(cfg: dict) -> dict:
    """The ``split`` section without unset keys (what :func:`core.rain.experiments.split_samples` reads)."""
    return {k: v for k, v in (cfg.get("split") or {}).items() if v is not None}


# --- data ----------------------------------------------------------------------------------------


def resolve_source(source: str, config_dir: Path | None = None) -> Path:
    """A data path given in a config, by the rule of both halves: absolute, or relative to the working
    directory (``config_dir`` is accepted for old callers and not used)."""
    path = Path(resolve_data_path(str(source))).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"config data.source {source!r} not found (looked at {path.resolve()}; "
                                f"relative paths are taken from the working directory {Path.cwd()})")
    return path.resolve()


def open_gridded(data_cfg: dict, config_dir: Path | None = None) -> tuple[xr.Dataset, str]:
    """The gridded dataset of ``data_cfg`` (docs/design.md, 3. Data model) and its kind: ``"weather"`` or ``"radar"``."""
    source = data_cfg.get("source", "demo")
    if isinstance(source, xr.Dataset):
        return source, "radar" if all("level" not in v.dims for v in source.data_vars.values()) else "weather"
    if source == "demo":
        from core.data.weather_demo import load_demo_weather

        return load_demo_weather(**(data_cfg.get("demo") or {})), "weather"
    path = resolve_source(str(source), config_dir)
    if path.is_dir() and not path.suffix == ".zarr":
        from core.data.radar import load_radar

        return load_radar(path, **(data_cfg.get("radar") or {})), "radar"
    from core.data.gridded import open_gridded_files

    ds = open_gridded_files(path)  # lazy, checked against the layout of docs/design.md, 3. Data model
    kind = "radar" if all("level" not in v.dims for v in ds.data_vars.values()) else "weather"
    return ds, kind


@dataclass
class Prepared:
    """Data of a run, ready to train and verify."""

    experiments: dict[str, ExperimentData]
    split: Split
    times: pd.DatetimeIndex
    steps: int
    layout: Layout
    kind: str
    units: str
    nowcast: NowcastConfig | None = None
    baselines: dict[str, np.ndarray] | None = None  # region-1 nowcasts of the test samples [N, n_leads, H1, W1]
    training: object | None = None  # data.events runs: core.rain.events.EventTraining (crop samples)


# float32 copies of the stacked block alive while experiments are built: the stack itself, then per
# experiment its joined grid, the normalised copy and the NaN-free inputs
_COPIES_PER_EXPERIMENT = 3


def check_memory(ds: xr.Dataset, n_channels: int, n_experiments: int, source: str) -> None:
    """Raise DataError when stacking ``ds`` (regions already cut out) would not fit in free memory."""
    cells = ds.sizes["time"] * n_channels * ds.sizes["lat"] * ds.sizes["lon"]
    needed = cells * 4 * (1 + _COPIES_PER_EXPERIMENT * max(n_experiments, 1))
    available = psutil.virtual_memory().available
    if needed > 0.8 * available:
        raise DataError(
            f"stacking {ds.sizes['time']} steps x {n_channels} channels x {ds.sizes['lat']} x {ds.sizes['lon']} "
            f"cells of the regions needs about {needed / 2**30:.1f} GiB, more than the "
            f"{0.8 * available / 2**30:.1f} GiB of memory free to use; raise data.coarsen, shorten the "
            "period or shrink the regions",
            file=source,
        )


def prepare(cfg: dict, config_dir: Path | None = None, ds: xr.Dataset | None = None) -> Prepared:
    """Load and stack the data of ``cfg`` (completed) and build every listed experiment on the same split.

    A config with ``data.events`` trains across radar events (:func:`core.rain.events.prepare_events`).
    """
    if ds is None and cfg["data"].get("events"):
        from core.rain.events import load_events

        training, normalizer, test_ds, source = load_events(cfg, resolve_source(str(cfg["data"]["source"])),
                                                            progress=lambda message: None)
        return prepare_test_event(cfg, test_ds, source, normalizer, training)
    if ds is None:
        ds, kind = open_gridded(cfg["data"], config_dir)
    else:
        kind = "radar" if all("level" not in v.dims for v in ds.data_vars.values()) else "weather"
    for dim in ("time", "lat", "lon"):
        if dim not in ds.dims:
            raise ValueError(f"gridded dataset lacks the {dim!r} dimension (dims: {dict(ds.sizes)})")
    if ds["lat"].size > 1 and ds["lat"].values[1] < ds["lat"].values[0]:
        ds = ds.isel(lat=slice(None, None, -1))
    source = str(cfg["data"].get("source"))
    from core.data.gridded import check_rain_values

    check_rain_values(ds, source)  # before any scale is fitted or any epoch spent
    ds = coarsen(ds, cfg["data"].get("coarsen", 1))
    steps = int(cfg["data"]["steps"])
    times = pd.DatetimeIndex(ds["time"].values)
    nowcast = NowcastConfig.from_config(cfg.get("nowcast"))
    split = split_samples(times.values, steps, split_config(cfg), nowcast.n_leads)
    fit = split.fit_frames(steps)
    # upstream_side: auto looks at the training frames only, so the test period does not shape the layout
    layout = plan_regions(ds, cfg["regions"], need_region2="exp2" in cfg["experiments"], motion_frames=fit)
    variables, levels = resolve_variables(ds, cfg["data"]["variables"], cfg["data"]["levels"])
    rows, cols, layout = layout.cropped()
    # baselines (and the network's guide nowcast) run on the whole grid, then are cut like the data
    check_test_rain(ds, split, steps, nowcast.n_leads, (rows, cols), layout, source)
    guide, baselines = nowcast_baselines(ds, split, steps, nowcast, (rows, cols), layout)
    ds = ds.isel(lat=rows, lon=cols)
    check_memory(ds, len(variables) * len(levels) + 1, len(cfg["experiments"]), str(cfg["data"].get("source")))
    stack = stack_channels(ds, variables, levels)
    experiments = {
        name: build_experiment(name, stack, ds, layout, fit, variables, levels,
                               n_leads=nowcast.n_leads, guide_mm=guide, augment=nowcast.augment)
        for name in cfg["experiments"]
    }
    units = str(ds["rain"].attrs.get("units", "mm/h" if kind == "radar" else "mm per 12 h"))
    return Prepared(experiments, split, times, steps, layout, kind, units, nowcast, baselines)


def prepare_test_event(cfg: dict, ds: xr.Dataset, source: str, normalizer, training) -> Prepared:
    """The held-out test event of a ``data.events`` run (:mod:`core.rain.events`), ready to score.

    Every sample of the event is a test sample; ``regions.region1`` is placed on its grid and region 2
    by ``regions.upstream_side`` (``auto``: from the input frames of its first sample only, so no
    target frame decides the layout); the inputs are scaled with ``normalizer`` (fitted on the
    training events). ``training`` (:class:`core.rain.events.EventTraining`) rides along for training.
    """
    from core.rain.events import event_side

    steps = int(cfg["data"]["steps"])
    nowcast = NowcastConfig.from_config(cfg.get("nowcast"))
    times = pd.DatetimeIndex(ds["time"].values)
    ends = lead_sample_ends(times.values, steps, nowcast.n_leads)
    if ends.size == 0:
        raise DataError(f"test event {source}: no sample of {steps} input steps and {nowcast.n_leads} leads "
                        "without a gap", file=source)
    split = Split(train=np.zeros(0, dtype=np.int64), val=np.zeros(0, dtype=np.int64), test=ends)
    regions = dict(cfg["regions"])
    if regions.get("upstream_side") == "auto" and "exp2" in cfg["experiments"]:
        regions["upstream_side"] = event_side(ds, "auto", np.arange(int(ends[0]) - steps + 1, int(ends[0]) + 1))
    layout = plan_regions(ds, regions, need_region2="exp2" in cfg["experiments"])
    rows, cols, layout = layout.cropped()
    check_test_rain(ds, split, steps, nowcast.n_leads, (rows, cols), layout, source)
    guide, baselines = nowcast_baselines(ds, split, steps, nowcast, (rows, cols), layout)
    block = ds.isel(lat=rows, lon=cols)
    check_memory(block, 1, len(cfg["experiments"]), source)
    stack = stack_channels(block, [], [])
    experiments = {
        name: build_experiment(name, stack, block, layout, np.zeros(0, dtype=np.int64), [], [],
                               n_leads=nowcast.n_leads, guide_mm=guide, normalizer=normalizer)
        for name in cfg["experiments"]
    }
    for event in training.events:
        if event["role"] == "test":
            event.update(issues=int(ends.size), samples=int(ends.size), upstream_side=layout.side)
    units = str(block["rain"].attrs.get("units", "mm/h"))
    return Prepared(experiments, split, times, steps, layout, "radar", units, nowcast, baselines, training=training)


def check_test_rain(ds: xr.Dataset, split: Split, steps: int, n_leads: int, block: tuple[slice, slice],
                    layout: Layout, source: str) -> None:
    """Raise DataError when region 1 has no rain in any field the test samples are scored against.

    Every categorical score (CSI, POD, FAR) would be undefined and the comparison of the experiments
    empty, so the run is refused before training rather than reported "completed, CSI nan".
    """
    if len(split.test) == 0:
        return
    targets = np.unique(np.concatenate([split.test + k for k in range(1, n_leads + 1)]))
    targets = targets[targets < ds.sizes["time"]]
    rows, cols = block
    r1 = ds["rain"].isel(lat=rows, lon=cols).isel(
        lat=slice(layout.r1_rows[0], layout.r1_rows[-1] + 1), lon=slice(layout.r1_cols[0], layout.r1_cols[-1] + 1))
    wettest = float(r1.isel(time=targets).max(skipna=True).values) if targets.size else float("nan")
    if not np.isfinite(wettest) or wettest <= 0:
        times = ds["time"].values
        first, last = (np.datetime_as_string(times[i], unit="s") for i in (targets[0], targets[-1]))
        raise DataError(f"{source}: region 1 has no rain in the test period {first} .. {last}; CSI and the other "
                        "rain scores would be undefined: choose another test period or region", file=source,
                        variable="rain", date=times[targets[0]])


def nowcast_baselines(ds: xr.Dataset, split: Split, steps: int, nowcast: NowcastConfig,
                      block: tuple[slice, slice], layout: Layout):
    """``(guide, baselines)``: the guide nowcast (``nowcast.guide``: extrapolation or S-PROG) issued at
    every sample's frame ``[time, n_leads, block]`` (mm, None without a guide) and each baseline's region-1 nowcasts of the test samples ``[N, n_leads, H1, W1]``.
    """
    from core.rain.baselines import nowcast_stack

    rain = np.asarray(ds["rain"].values, dtype=np.float32)
    rows, cols = block
    r1r, r1c = layout.r1_rows, layout.r1_cols
    k = nowcast.n_leads
    guide = None
    test = nowcast_stack(rain, split.test, steps, k, nowcast.baselines)
    if nowcast.guide != "none":
        issue = np.unique(np.concatenate([split.train, split.val]))
        fields = np.zeros((0, k) + rain.shape[1:], dtype=np.float32)
        if len(issue):
            fields = nowcast_stack(rain, issue, steps, k, [nowcast.guide])[nowcast.guide]
        guide = np.zeros((rain.shape[0], k) + rain[0, rows, cols].shape, dtype=np.float32)
        guide[issue] = fields[:, :, rows, cols]
        # the test samples' guide is the baseline scored beside the nets: computed once, the same fields
        test_guide = test[nowcast.guide] if nowcast.guide in test else \
            nowcast_stack(rain, split.test, steps, k, [nowcast.guide])[nowcast.guide]
        guide[split.test] = test_guide[:, :, rows, cols]
    baselines = {
        name: f[:, :, rows, cols][:, :, r1r[0] : r1r[-1] + 1, r1c[0] : r1c[-1] + 1].astype(np.float64)
        for name, f in test.items()
    }
    return guide, baselines


# --- train and evaluate ----------------------------------------------------------------------------


def model_config(cfg: dict, prepared: Prepared) -> dict:
    """The ``model`` section plus what the ``nowcast`` block decides: outputs per lead, residual on the guide."""
    nc = prepared.nowcast or NowcastConfig.from_config(cfg.get("nowcast"))
    return {**cfg["model"], "leads": nc.n_leads, "residual": nc.guide != "none"}


def train_all(
    cfg: dict,
    prepared: Prepared,
    run: RunDir,
    device: torch.device,
    resume: bool = False,
    progress: Callable[..., None] | None = None,
    progress_bar: bool = False,
) -> dict:
    """Train every experiment of the config one after the other, each into ``models/<experiment>/``;
    returns per-experiment summaries. ``progress(fraction, message, epoch=, force=)`` gets the
    fraction of all experiments' epochs done."""
    names = list(cfg["experiments"])
    summaries = {}
    for i, name in enumerate(names):
        def report(fraction: float, message: str, epoch: int, force: bool = False, i: int = i) -> None:
            if progress is not None:
                progress((i + fraction) / len(names), message, epoch=epoch, force=force)

        if prepared.training is not None:  # data.events: crops of the train/val events
            result = train_crops(prepared.training.train[name], prepared.training.val[name],
                                 prepared.experiments[name], model_config(cfg, prepared), cfg["train"], device,
                                 augment=prepared.nowcast.augment, seed=int(cfg.get("seed", 0)), run=run,
                                 resume=resume, progress=report, progress_bar=progress_bar)
        else:
            result = train_experiment(prepared.experiments[name], prepared.split, prepared.steps,
                                      model_config(cfg, prepared), cfg["train"], device, seed=int(cfg.get("seed", 0)),
                                      run=run, resume=resume, progress=report, progress_bar=progress_bar)
        summaries[name] = result.summary()
    return summaries


def evaluate_run(cfg: dict, prepared: Prepared, run: RunDir, device: torch.device) -> dict:
    """Score the best checkpoint of each trained experiment and the baselines at every lead.

    Writes ``metrics.json`` and ``predictions.nc`` into ``run`` and returns the metrics
    (:func:`core.rain.evaluate.evaluate_leads`).
    """
    ev = cfg["evaluate"]
    thresholds = ev["thresholds"] or list(
        E.DEFAULT_THRESHOLDS_RADAR if prepared.kind == "radar" else E.DEFAULT_THRESHOLDS_12H
    )
    autocast_on, autocast_dtype, _ = amp_settings(device, cfg["train"]["amp"])
    models = {name: load_best_model(run, name, device)[0] for name in cfg["experiments"]}
    metrics = E.evaluate_leads(
        prepared, models, E.check_thresholds(thresholds), ev["fss_scales"], int(ev["n_boot"]),
        int(cfg.get("seed", 0)), device, autocast_dtype if autocast_on else None, int(ev.get("batch_size", 8)),
        run.predictions_path,
    )
    if prepared.training is not None:  # data.events: the samples are crops of other events
        metrics.update(n_train=len(prepared.training.train[cfg["experiments"][0]]),
                       n_val=len(prepared.training.val[cfg["experiments"][0]]), events=prepared.training.events)
    run.write_metrics(metrics)
    return metrics


def is_writer() -> bool:
    """Only rank 0 writes the run directory."""
    return D.is_main()
