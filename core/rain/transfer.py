"""A trained rain run scored on data it never saw: another radar's folder, on that radar's own grid.

``python -m core rain evaluate --run-dir RUN --data FOLDER --test-period S E --out DIR [--region1 S N W E]``
(:func:`evaluate_elsewhere`). A forecaster with their own radar uses a network trained elsewhere:

- the data are read as the run read its own (``data.radar`` of the run: cell size, format, noise
  floor; ``data.coarsen``), but on the folder's own extent: the run's ``lat_range``/``lon_range``
  and ``start``/``end`` belong to the radar it trained on and are dropped;
- region 1 is ``--region1`` (else the run's region 1, which must then lie on the new grid); region
  2 is placed by the run's rule: its ``upstream_side`` beside region 1, region 1's size (an
  explicit ``region2`` box of the run belongs to the other grid and is not used). ``auto`` is
  estimated from the rain motion of the evaluated frames, since nothing else of the new radar is seen;
- the networks keep the normalisation they were trained with (from their checkpoints), and the
  baselines (persistence, pySTEPS extrapolation, S-PROG, ANVIL, the STEPS mean, as the run lists)
  are computed on the new data, so every system is scored on the same samples and pixels;
- samples are chosen by the time of their first predicted frame in ``--test-period`` (the rule
  of the run's own split); leads are keyed in minutes of the new data's step. A step that differs
  from the training data's is reported (``transfer.trained_step_minutes``), not hidden: the networks
  predict one of their steps per output.

``DIR/metrics.json`` has the layout of a run's own (:mod:`core.rain.evaluate`) plus ``transfer``
(what was scored on what); ``DIR/predictions.nc`` the maps. The run folder is only read. Bad input
(a folder without radar files, a period outside the data, a region outside the grid, a run trained
on other channels) raises :class:`core.data.errors.DataError` naming the folder, date or region.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from core.atomic_io import atomic_write_json
from core.data.errors import DataError
from core.data.normalize import Normalizer
from core.rain import evaluate as E
from core.rain import pipeline as P
from core.rain.experiments import NowcastConfig, Split, build_experiment, lead_sample_ends, plan_regions, step_minutes
from core.rain.stacking import coarsen, resolve_variables, stack_channels
from core.rain.train import load_best_model
from core.runs.folder import RunDir
from core.training.precision import amp_settings

GRID_KEYS = ("lat_range", "lon_range", "start", "end")
"""``data.radar`` keys that describe the training radar's extent and period, not how to read a radar."""


def transfer_config(cfg: dict, source: str, region1: list[float] | None) -> dict:
    """The run's config ``cfg`` pointed at ``source``: its own extent, region 1 from ``region1``
    (``[south, north, west, east]``, degrees) when given, region 2 by the run's side rule."""
    out = copy.deepcopy(cfg)
    out["data"]["source"] = str(source)
    out["data"]["radar"] = {k: v for k, v in (out["data"].get("radar") or {}).items() if k not in GRID_KEYS}
    if region1 is not None:
        south, north, west, east = (float(v) for v in region1)
        out["regions"]["region1"] = {"lat": [south, north], "lon": [west, east]}
    out["regions"]["region2"] = None
    return out


def _open_period(data_cfg: dict, period: tuple[pd.Timestamp, pd.Timestamp], margin: int) -> tuple[xr.Dataset, str]:
    """The source of ``data_cfg`` around ``period``: ``margin`` frames before and after it are kept for
    the inputs and the leads; a radar folder reads only those files."""
    source = str(data_cfg["source"])
    path = P.resolve_source(source)
    start, end = period
    if path.is_dir() and path.suffix != ".zarr":
        from core.data.radar import load_radar, radar_files

        fmt, files = radar_files(path, (data_cfg.get("radar") or {}).get("format", "auto"))
        times = pd.DatetimeIndex([t for t, _ in files])
        _check_period(times, period, source)
        step = pd.Timedelta(np.median(np.diff(times.values))) if len(times) > 1 else pd.Timedelta(0)
        radar = {**(data_cfg.get("radar") or {}), "start": str(start - margin * step), "end": str(end + margin * step)}
        return load_radar(path, **radar), "radar"
    ds, kind = P.open_gridded(data_cfg)
    times = pd.DatetimeIndex(ds["time"].values)
    _check_period(times, period, source)
    return ds, kind


def _check_period(times: pd.DatetimeIndex, period: tuple[pd.Timestamp, pd.Timestamp], source: str) -> None:
    start, end = period
    if end < times[0] or start > times[-1]:
        raise DataError(f"{source}: the test period {start} .. {end} lies outside the data, which run "
                        f"{times[0]} .. {times[-1]}", file=source, date=start)


def test_ends(times: pd.DatetimeIndex, steps: int, n_leads: int, period: tuple[pd.Timestamp, pd.Timestamp],
              source: str) -> np.ndarray:
    """Issue frames of the samples whose first predicted frame lies in ``period`` (whole windows only)."""
    ends = lead_sample_ends(times.values, steps, n_leads)
    if ends.size:
        first = pd.DatetimeIndex(times.values[ends + 1])
        ends = ends[(first >= period[0]) & (first <= period[1])]
    if ends.size == 0:
        raise DataError(f"{source}: the test period {period[0]} .. {period[1]} holds no sample of {steps} input "
                        f"frames and {n_leads} lead(s) without a gap (data {times[0]} .. {times[-1]})",
                        file=source, date=period[0])
    return ends


def _place_regions(ds: xr.Dataset, cfg: dict, motion_frames: np.ndarray, source: str):
    try:
        return plan_regions(ds, cfg["regions"], need_region2="exp2" in cfg["experiments"], motion_frames=motion_frames)
    except (DataError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, DataError) else str(exc)
        raise DataError(f"{source}: {reason}; give --region1 SOUTH NORTH WEST EAST inside lat "
                        f"{float(ds['lat'].min()):.3f}..{float(ds['lat'].max()):.3f}, lon "
                        f"{float(ds['lon'].min()):.3f}..{float(ds['lon'].max()):.3f}", file=source,
                        variable="regions.region1") from None


def prepare_elsewhere(cfg: dict, run: RunDir, source: str, period: tuple[str, str], region1: list[float] | None,
                      device: torch.device) -> tuple[P.Prepared, dict[str, torch.nn.Module]]:
    """The test samples of ``source`` in ``period`` prepared for the trained models of ``run`` (``cfg`` = its
    completed config), and those models."""
    cfg = transfer_config(cfg, source, region1)
    try:
        span = (pd.Timestamp(str(period[0])), pd.Timestamp(str(period[1])))
    except ValueError as exc:
        raise DataError(f"--test-period {period[0]} {period[1]}: not a date ({exc})", variable="test_period") from None
    if span[1] < span[0]:
        raise DataError(f"--test-period {period[0]} {period[1]}: end before start", variable="test_period")
    nowcast = NowcastConfig.from_config(cfg.get("nowcast"))
    steps = int(cfg["data"]["steps"])
    ds, kind = _open_period(cfg["data"], span, margin=steps + nowcast.n_leads + 1)
    if ds["lat"].size > 1 and ds["lat"].values[1] < ds["lat"].values[0]:
        ds = ds.isel(lat=slice(None, None, -1))
    from core.data.gridded import check_rain_values

    check_rain_values(ds, source)
    ds = coarsen(ds, cfg["data"].get("coarsen", 1))
    times = pd.DatetimeIndex(ds["time"].values)
    ends = test_ends(times, steps, nowcast.n_leads, span, source)
    split = Split(train=np.zeros(0, dtype=np.int64), val=np.zeros(0, dtype=np.int64), test=ends)
    inputs = np.unique(np.concatenate([np.arange(i - steps + 1, i + 1) for i in ends]))
    layout = _place_regions(ds, cfg, inputs, source)
    variables, levels = resolve_variables(ds, cfg["data"]["variables"], cfg["data"]["levels"])
    rows, cols, layout = layout.cropped()
    P.check_test_rain(ds, split, steps, nowcast.n_leads, (rows, cols), layout, source)
    guide, baselines = P.nowcast_baselines(ds, split, steps, nowcast, (rows, cols), layout)
    ds = ds.isel(lat=rows, lon=cols)
    stack = stack_channels(ds, variables, levels)
    experiments, models = {}, {}
    for name in cfg["experiments"]:
        model, ckpt = load_best_model(run, name, device)
        data = build_experiment(name, stack, ds, layout, np.zeros(0, dtype=np.int64), variables, levels,
                                n_leads=nowcast.n_leads, guide_mm=guide, augment="none",
                                normalizer=Normalizer.from_dict(ckpt["normalizer"]))
        trained = list(ckpt.get("channels") or [])
        if int(ckpt["in_channels"]) != data.model_channels or (trained and trained != data.channels):
            raise DataError(f"{source}: run {run.path} ({name}) was trained on {ckpt['in_channels']} input channels "
                            f"({', '.join(trained) or 'unnamed'}), the data give {data.model_channels} "
                            f"({', '.join(data.channels)}); score it on data of the same kind", file=source,
                            variable="channels")
        experiments[name], models[name] = data, model
    units = str(ds["rain"].attrs.get("units", "mm/h" if kind == "radar" else "mm per 12 h"))
    return P.Prepared(experiments, split, times, steps, layout, kind, units, nowcast, baselines), models


def _trained_step_minutes(run: RunDir, cfg: dict) -> float | None:
    """Minutes per step of the data ``run`` trained on, from its metrics' lead keys; None when unknown."""
    try:
        minutes = [float(k) for k in run.read_metrics().get("leads_minutes") or []]
    except (ValueError, TypeError, OSError):  # no or a damaged metrics.json: unknown, not guessed
        return None
    leads = sorted(set(cfg["nowcast"]["leads"]))
    return minutes[0] / leads[0] if minutes and len(minutes) == len(leads) else None


def evaluate_elsewhere(cfg: dict, run: RunDir, source: str, period: tuple[str, str], out: Path,
                       region1: list[float] | None, device: torch.device) -> dict:
    """Score the trained experiments of ``run`` and the baselines on ``source`` in ``period``; write
    ``out/metrics.json`` and ``out/predictions.nc`` and return the metrics (module docstring)."""
    prepared, models = prepare_elsewhere(cfg, run, source, period, region1, device)
    ev = cfg["evaluate"]
    thresholds = ev["thresholds"] or list(
        E.DEFAULT_THRESHOLDS_RADAR if prepared.kind == "radar" else E.DEFAULT_THRESHOLDS_12H)
    autocast_on, autocast_dtype, _ = amp_settings(device, cfg["train"]["amp"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = E.evaluate_leads(
        prepared, models, E.check_thresholds(thresholds), ev["fss_scales"], int(ev["n_boot"]), int(cfg.get("seed", 0)),
        device, autocast_dtype if autocast_on else None, int(ev.get("batch_size", 8)), out / "predictions.nc")
    first = next(iter(prepared.experiments.values()))
    r1 = prepared.layout
    metrics["transfer"] = {
        "run": str(run.path),
        "source": str(source),
        "test_period": [str(period[0]), str(period[1])],
        "region1": {"lat": [float(first.lat[first.r1[0]][0]), float(first.lat[first.r1[0]][-1])],
                    "lon": [float(first.lon[first.r1[1]][0]), float(first.lon[first.r1[1]][-1])]},
        "region1_cells": [int(len(r1.r1_rows)), int(len(r1.r1_cols))],
        "upstream_side": prepared.layout.side,
        "step_minutes": step_minutes(prepared.times.values),
        "trained_step_minutes": _trained_step_minutes(run, cfg),
    }
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
