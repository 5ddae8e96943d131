"""Training across radars (issue 30): the events of ``data.events`` read, put on one footing, cut into samples.

Every event (``{folder, start, end, role}``, ``folder`` under ``data.source``) is read by
:func:`core.data.radar.load_radar` with the common ``data.radar`` arguments, which give one unit
(mm/h), one cell size (``cell_km``) and one time step (``step_minutes``; see
:mod:`core.data.radar_steps`). Then:

- ``role: train`` events give the training samples: random crops around their issue frames
  (:mod:`core.rain.crops`), region 2 on the event's upstream side (``regions.upstream_side``; ``auto``
  from the motion of the event's own frames), turned to one orientation and augmented by flips and
  rotations. The rain scale of the normalisation is fitted on these events only.
- ``role: val`` events give the validation samples (crops, never augmented), so early stopping and
  the choice of the best checkpoint look at a radar event the network never trains on.
- the ``role: test`` event is scored like any single-folder run (:func:`core.rain.pipeline.prepare`'s
  path): ``regions.region1`` on its grid, region 2 by the run's rule, every sample a test sample, the
  baselines on the same samples. With ``upstream_side: auto`` its side comes from the input frames of
  its first sample only (no target frame decides the layout).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from core.data.errors import DataError
from core.rain.baselines import nowcast_stack
from core.rain.crops import CropSet, EventFields, choose_crops
from core.rain.experiments import AUTO, NowcastConfig, auto_upstream_side, lead_sample_ends
from core.rain.stacking import Normalizer

FALLBACK_SIDE = "west"  # an event whose motion cannot be told (almost dry) still gives samples


@dataclass
class EventTraining:
    """The training and validation samples of every experiment and what they came from."""

    train: dict[str, CropSet]
    val: dict[str, CropSet]
    events: list[dict] = field(default_factory=list)  # name, role, frames, grid, side, samples (for metrics.json)


def read_event(root: Path, event: dict, radar_args: dict) -> xr.Dataset:
    """The event's rain (mm/h) on the common cells and step, latitudes ascending."""
    from core.data.radar import load_radar

    folder = root / str(event["folder"])
    ds = load_radar(folder, event.get("start"), event.get("end"), **radar_args)
    if ds["lat"].size > 1 and ds["lat"].values[1] < ds["lat"].values[0]:
        ds = ds.isel(lat=slice(None, None, -1))
    return ds


def event_name(event: dict, ds: xr.Dataset) -> str:
    """``folder first-frame`` (``radar_mch 2016-07-11 20:50``): how messages and metrics.json name an event."""
    return f"{event['folder']} {pd.Timestamp(ds['time'].values[0]):%Y-%m-%d %H:%M}"


def event_side(ds: xr.Dataset, configured: str, frames: np.ndarray | None = None) -> str:
    """Region 2's side for an event: the configured one, or (``auto``) where its rain comes from."""
    if configured != AUTO:
        return configured
    try:
        return auto_upstream_side(ds, frames)
    except DataError:
        return FALLBACK_SIDE


def fit_rain_scale(rains: list[np.ndarray]) -> Normalizer:
    """The rain normalisation (``log1p(mm/h) / s``) fitted on every frame of the training events."""
    values = np.concatenate([r[np.isfinite(r)].ravel() for r in rains])
    if values.size == 0:
        raise DataError("the training events hold no observed rain value: nothing to fit the normalisation on",
                        variable="data.events")
    return Normalizer.fit_stack(values.astype(np.float32)[None, None, None, :], np.array([0]), ["rain"])


def event_fields(name: str, ds: xr.Dataset, steps: int, nowcast: NowcastConfig, normalizer: Normalizer,
                 side: str) -> EventFields:
    """One training/validation event as normalised fields, with the guide nowcast of every issue frame."""
    rain = np.asarray(ds["rain"].values, dtype=np.float32)
    ends = lead_sample_ends(ds["time"].values, steps, nowcast.n_leads)
    guide = None
    if nowcast.guide != "none" and ends.size:
        guide = np.zeros((rain.shape[0], nowcast.n_leads) + rain.shape[1:], dtype=np.float32)
        guide[ends] = nowcast_stack(rain, ends, steps, nowcast.n_leads, [nowcast.guide])[nowcast.guide]
        guide = normalizer.rain_forward(guide).astype(np.float32)
    return EventFields(name, normalizer.rain_forward(rain).astype(np.float32), guide, ends, side)


def load_events(cfg: dict, root: Path, progress=print) -> tuple[EventTraining, Normalizer, xr.Dataset, str]:
    """Every event of a ``data.events`` config read: ``(training, normalizer, test_ds, test_source)``, the crop
    samples of the train and val events, the rain scale fitted on the train events, and the test event
    (scored by :func:`core.rain.pipeline.prepare_test_event`)."""
    from core.data.gridded import check_rain_values

    data = cfg["data"]
    steps, crop = int(data["steps"]), int(data["crop"])
    nowcast = NowcastConfig.from_config(cfg.get("nowcast"))
    configured_side = cfg["regions"].get("upstream_side", "west")
    loaded = []
    for event in data["events"]:
        ds = read_event(root, event, dict(data.get("radar") or {}))
        check_rain_values(ds, str(root / event["folder"]))
        loaded.append((event, ds, event_name(event, ds)))
        progress(f"read {loaded[-1][2]}: {ds.sizes['time']} frames of {ds.sizes['lat']} x {ds.sizes['lon']} cells")
    train_ds = [ds for event, ds, _ in loaded if event.get("role", "train") == "train"]
    normalizer = fit_rain_scale([np.asarray(ds["rain"].values) for ds in train_ds])

    rng = np.random.default_rng(int(cfg.get("seed", 0)))
    fields: list[EventFields] = []
    crops = {"train": [], "val": []}
    summary = []
    test = None
    for event, ds, name in loaded:
        role = event.get("role", "train")
        if role == "test":
            test = (event, ds, name)
            continue
        ev = event_fields(name, ds, steps, nowcast, normalizer, event_side(ds, configured_side))
        if ev.ends.size == 0:
            raise DataError(f"event {name}: {ds.sizes['time']} frames hold no sample of {steps} input steps and "
                            f"{nowcast.n_leads} leads without a gap", file=str(root / event["folder"]))
        fields.append(ev)
        chosen = choose_crops(ev, len(fields) - 1, crop, int(data["crops_per_issue"]) if role == "train" else 1, rng)
        crops[role].extend(chosen)
        summary.append({"name": name, "role": role, "frames": int(ds.sizes["time"]), "issues": int(ev.ends.size),
                        "samples": len(chosen), "grid": [int(ds.sizes["lat"]), int(ds.sizes["lon"])],
                        "upstream_side": ev.side, "time_step": ds.attrs.get("time_step"),
                        "native_time_step_seconds": int(ds.attrs.get("native_time_step_seconds",
                                                                     ds.attrs.get("time_step_seconds", 0)))})
        progress(f"{name}: {role}, {ev.ends.size} issue times, {len(chosen)} samples, region 2 {ev.side}")

    event, ds, name = test
    summary.append({"name": name, "role": "test", "frames": int(ds.sizes["time"]),
                    "grid": [int(ds.sizes["lat"]), int(ds.sizes["lon"])], "time_step": ds.attrs.get("time_step"),
                    "native_time_step_seconds": int(ds.attrs.get("native_time_step_seconds",
                                                                 ds.attrs.get("time_step_seconds", 0)))})
    training = EventTraining(
        train={exp: CropSet(fields, crops["train"], steps, nowcast.n_leads, crop, exp) for exp in cfg["experiments"]},
        val={exp: CropSet(fields, crops["val"], steps, nowcast.n_leads, crop, exp) for exp in cfg["experiments"]},
        events=summary,
    )
    return training, normalizer, ds, str(root / event["folder"])
