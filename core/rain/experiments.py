"""Experiments 1 and 2: which grid the model sees, which pixels are scored, and the time split.

- Experiment 1 (``exp1``): the model sees region 1 only.
- Experiment 2 (``exp2``): region 2 (upstream, west by default) is concatenated with region 1 along x
  (along y for a north or south upstream side), upstream part first in the flow direction. A boolean
  mask marks region 1; the loss and every metric use those pixels only.

Regions are lat/lon boxes (inclusive, :class:`core.data.regions.Region`); the grid lookup and the
default region 2 (the box of the same size right next to region 1 on the upstream side) come from
:mod:`core.data.regions`. This module adds what is specific to the experiments: reading the
``regions`` config section, ``upstream_side: auto`` (the side the rain of the training frames comes
from), and the checks that let an explicit region 2 be joined to region 1. Both experiments use the
same samples (the same target times), split chronologically into train / validation / test by the
time of the predicted frame; samples are never shuffled across the split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr

from core.data.errors import DataError
from core.data.regions import (
    SIDES,
    Region,
    axes_outside,
    region_indices,
    upstream_cells,
    upstream_side_from_motion,
)
from core.rain.baselines import METHODS as BASELINES
from core.rain.config import EXPERIMENTS, nowcast_section
from core.rain.stacking import (
    Normalizer,
    channel_names,
)

AUTO = "auto"  # regions.upstream_side: choose the side from the rain motion of the training frames
MOTION_SPAN_S = 1800.0  # seconds of rain motion one motion estimate spans on short (radar) steps


def region_from_config(cfg, key: str) -> Region:
    """Region ``key`` of the config section ``regions``: ``{lat: [south, north], lon: [west, east]}`` (degrees).

    Malformed entries raise ValueError naming the config key (``regions.region1.lat``); a box
    beyond lat -90..90 / lon -180..180 raises DataError, also naming the key.
    """
    where = f"config regions.{key}"
    if not isinstance(cfg, dict) or "lat" not in cfg or "lon" not in cfg:
        raise ValueError(f"{where} must be a mapping with 'lat: [south, north]' and 'lon: [west, east]', got {cfg!r}")
    bounds: dict[str, tuple[float, float]] = {}
    for name in ("lat", "lon"):
        pair = cfg[name]
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"{where}.{name} must be a pair [min, max], got {pair!r}")
        try:
            lo, hi = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            raise ValueError(f"{where}.{name} = {list(pair)}: both values must be numbers (degrees)") from None
        if not lo < hi:
            raise ValueError(f"{where}.{name} = {list(pair)}: the first value must be below the second")
        bounds[name] = (lo, hi)
    try:
        return Region(key, *bounds["lat"], *bounds["lon"])
    except DataError as exc:
        raise DataError(f"{where}: {exc.reason}", variable=f"regions.{key}") from None


def _cells(ds: xr.Dataset, region: Region) -> tuple[np.ndarray, np.ndarray]:
    """:func:`region_indices`, with failures reported by the config key of the offending bound."""
    key = f"regions.{region.name}"
    axes = axes_outside(ds, region)
    if axes:
        parts = []
        for name in axes:
            lo, hi = (region.lat_min, region.lat_max) if name == "lat" else (region.lon_min, region.lon_max)
            coord = ds[name].values
            parts.append(f"config {key}.{name} = [{lo}, {hi}] lies outside the data grid "
                         f"({name} {float(coord.min()):.4g} .. {float(coord.max()):.4g} at the cell centres; "
                         "a box may overhang them by half a cell)")
        raise DataError("; ".join(parts), variable=f"{key}.{axes[0]}")
    try:
        return region_indices(ds, region)
    except DataError as exc:  # inside the grid but between cell centres
        raise DataError(f"config {key}: {exc.reason}", variable=key) from None


def motion_lag(times: np.ndarray) -> int:
    """Frames between the two maps of one rain-motion estimate, from the spacing of ``times``.

    1 for steps of 1 h or more (12-hourly rain moves several cells per step); for shorter steps
    about 30 min of steps (6 for 5-minute radar), since one 5-minute step moves rain less than a
    10 km cell and phase correlation only resolves whole cells. The median spacing is used so the
    gap between two radar events does not count.
    """
    t = np.asarray(times).astype("datetime64[ns]")
    if t.size < 2:
        return 1
    step_s = float(np.median(np.diff(t) / np.timedelta64(1, "s")))
    if step_s <= 0 or step_s >= 3600:
        return 1
    return max(1, int(round(MOTION_SPAN_S / step_s)))


def auto_upstream_side(ds: xr.Dataset, frames: np.ndarray | None = None) -> str:
    """Side region 2 goes on for ``upstream_side: auto``: where the rain of ``ds`` comes from.

    ``frames`` are the time indices to look at (the training frames, so that the layout is not
    chosen from the test period); all frames when None. The lag follows :func:`motion_lag`.
    """
    if "rain" not in ds:
        raise DataError("config regions.upstream_side = auto needs a 'rain' variable in the data",
                        variable="regions.upstream_side")
    rain = ds["rain"] if frames is None else ds["rain"].isel(time=np.asarray(frames))
    n = rain.sizes["time"]
    # a short record still gets an estimate, over the longest lag it holds
    lag = max(1, min(motion_lag(rain["time"].values), n - 1))
    try:
        return upstream_side_from_motion(rain.values, lag=lag)
    except DataError as exc:
        raise DataError(
            f"config regions.upstream_side = auto: cannot tell where the rain comes from in {n} frames "
            f"({exc.reason}); set upstream_side to one of {list(SIDES)}", variable="regions.upstream_side",
        ) from None


@dataclass
class Layout:
    """Where region 1 and region 2 sit in the data grid and in each experiment's input grid.

    ``side`` is the upstream side of region 2 as used (``auto`` resolved to west/east/south/north);
    it stays ``auto`` only when no region 2 is built (experiment 1 alone).
    """

    r1_rows: np.ndarray
    r1_cols: np.ndarray
    r2_rows: np.ndarray | None
    r2_cols: np.ndarray | None
    side: str

    def cropped(self) -> tuple[slice, slice, "Layout"]:
        """``(rows, cols, layout)``: the smallest block of the grid holding both regions, and this
        layout's indices relative to that block. Stacking only the block keeps a large-domain file
        (a global ERA5 download, say) from being loaded whole when the experiments use two boxes.
        """
        rows = [self.r1_rows] + ([self.r2_rows] if self.r2_rows is not None else [])
        cols = [self.r1_cols] + ([self.r2_cols] if self.r2_cols is not None else [])
        r0, r1 = min(int(r.min()) for r in rows), max(int(r.max()) for r in rows) + 1
        c0, c1 = min(int(c.min()) for c in cols), max(int(c.max()) for c in cols) + 1
        shifted = Layout(
            self.r1_rows - r0, self.r1_cols - c0,
            None if self.r2_rows is None else self.r2_rows - r0,
            None if self.r2_cols is None else self.r2_cols - c0,
            self.side,
        )
        return slice(r0, r1), slice(c0, c1), shifted


def plan_regions(ds: xr.Dataset, regions_cfg: dict, need_region2: bool,
                 motion_frames: np.ndarray | None = None) -> Layout:
    """Resolve the region boxes of ``regions_cfg`` on the grid of ``ds`` (lat ascending).

    ``motion_frames``: time indices whose rain motion decides ``upstream_side: auto`` (the training
    frames; all frames when None). Errors name the config key at fault.
    """
    if not isinstance(regions_cfg, dict) or "region1" not in regions_cfg:
        raise ValueError("config section 'regions' must give region1: {lat: [south, north], lon: [west, east]}")
    side = regions_cfg.get("upstream_side", "west")
    if side != AUTO and side not in SIDES:
        raise ValueError(f"config regions.upstream_side = {side!r}; use one of {[*SIDES, AUTO]}")
    r1 = region_from_config(regions_cfg["region1"], "region1")
    rows, cols = _cells(ds, r1)
    if not need_region2:
        return Layout(rows, cols, None, None, side)
    # an explicit region2 that does not fit the side auto chose must say so, or the error reads as nonsense
    chosen = ""
    if side == AUTO:
        side = auto_upstream_side(ds, motion_frames)
        chosen = f" (upstream_side: auto chose {side} from the rain motion)"
    along_x = side in ("west", "east")
    if regions_cfg.get("region2") is not None:
        rows2, cols2 = _cells(ds, region_from_config(regions_cfg["region2"], "region2"))
    else:
        try:
            rows2, cols2 = upstream_cells(ds, r1, side=side, name="region2")
        except DataError as exc:
            raise DataError(
                f"the default region2 (region1's size, on its {side} side) runs off the data grid; "
                f"move regions.region1 or give regions.region2 explicitly ({exc.reason})",
                variable="regions.region2",
            ) from None
    # experiment 2 joins the two boxes into one grid: they need a common edge length, no shared cells,
    # and region 2 where the side says, or the joined grid would put it on the wrong side of region 1
    if along_x and not np.array_equal(rows2, rows):
        raise ValueError(
            f"regions.region2 must cover the same latitude rows as region1 to be joined along x "
            f"(region1 has {len(rows)} rows, region2 {len(rows2)}); give region2 the same lat range{chosen}"
        )
    if not along_x and not np.array_equal(cols2, cols):
        raise ValueError(
            f"regions.region2 must cover the same longitude columns as region1 to be joined along y "
            f"(region1 has {len(cols)} columns, region2 {len(cols2)}); give region2 the same lon range{chosen}"
        )
    overlap = np.intersect1d(cols2, cols) if along_x else np.intersect1d(rows2, rows)
    if overlap.size:
        raise ValueError(f"regions.region2 overlaps region1 by {overlap.size} grid lines; they must be disjoint")
    before = (cols2.max() < cols.min()) if along_x else (rows2.max() < rows.min())
    if before != (side in ("west", "south")):  # lat and lon ascending: west and south come first
        raise ValueError(f"regions.region2 does not lie on the {side} side of region1{chosen}; "
                         "move it or change regions.upstream_side")
    return Layout(rows, cols, rows2, cols2, side)


@dataclass
class ExperimentData:
    """Everything one experiment trains and is scored on.

    ``inputs``: ``[time, C, H, W]`` normalised (NaN -> 0); ``target``: ``[time, H, W]`` normalised rain
    with NaN where unobserved; ``rain_mm``: ``[time, H, W]`` the rain as read (mm per step, NaN kept); ``mask``: ``[H, W]`` True on region 1; ``r1``: (row slice, col slice)
    of region 1 inside the input grid; ``lat``/``lon``: coordinates of the input grid.
    """

    name: str
    inputs: np.ndarray
    target: np.ndarray
    rain_mm: np.ndarray
    mask: np.ndarray
    r1: tuple[slice, slice]
    lat: np.ndarray
    lon: np.ndarray
    normalizer: Normalizer
    channels: list[str]
    # nowcast block (issue 13): forecast steps 1..n_leads, and the optional guide (extrapolation or S-PROG)
    n_leads: int = 1
    guide: np.ndarray | None = None  # [time, n_leads, H, W] normalised guide nowcast issued at each sample frame (0 elsewhere)
    augment: str = "none"  # "flips": random flips across the axis perpendicular to the region join

    @property
    def model_channels(self) -> int:
        """Channels per input frame the network sees: the stacked channels plus one per guide lead."""
        return self.inputs.shape[1] + (self.n_leads if self.guide is not None else 0)


def _take(stack: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return stack[:, :, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def join_grid(name: str, stack: np.ndarray, ds: xr.Dataset, layout: Layout):
    """Experiment ``name``'s input grid cut from ``stack`` ``[time, C, lat, lon]``: ``(grid, r1 slices, lat, lon)``.

    exp1: region 1; exp2: region 2 joined to region 1 along x (west/east) or y (south/north).
    """
    lat, lon = ds["lat"].values, ds["lon"].values
    r1 = _take(stack, layout.r1_rows, layout.r1_cols)
    h1, w1 = r1.shape[-2:]
    if name == "exp1":
        grid, r1_slice = r1, (slice(0, h1), slice(0, w1))
        glat, glon = lat[layout.r1_rows], lon[layout.r1_cols]
    else:
        if layout.r2_rows is None:
            raise ValueError("experiment exp2 needs region2 (regions.region2 or an upstream_side)")
        r2 = _take(stack, layout.r2_rows, layout.r2_cols)
        if layout.side in ("west", "east"):
            first_is_r2 = layout.side == "west"
            grid = np.concatenate([r2, r1] if first_is_r2 else [r1, r2], axis=3)
            off = r2.shape[-1] if first_is_r2 else 0
            r1_slice = (slice(0, h1), slice(off, off + w1))
            glat = lat[layout.r1_rows]
            glon = np.concatenate([lon[layout.r2_cols], lon[layout.r1_cols]] if first_is_r2 else [lon[layout.r1_cols], lon[layout.r2_cols]])
        else:
            first_is_r2 = layout.side == "south"  # lat ascending: south comes first
            grid = np.concatenate([r2, r1] if first_is_r2 else [r1, r2], axis=2)
            off = r2.shape[-2] if first_is_r2 else 0
            r1_slice = (slice(off, off + h1), slice(0, w1))
            glon = lon[layout.r1_cols]
            glat = np.concatenate([lat[layout.r2_rows], lat[layout.r1_rows]] if first_is_r2 else [lat[layout.r1_rows], lat[layout.r2_rows]])
    return grid, r1_slice, glat, glon


def build_experiment(
    name: str,
    stack: np.ndarray,
    ds: xr.Dataset,
    layout: Layout,
    fit_frames: np.ndarray,
    variables: list[str],
    levels: list,
    n_leads: int = 1,
    guide_mm: np.ndarray | None = None,
    augment: str = "none",
    normalizer: Normalizer | None = None,
) -> ExperimentData:
    """Crop/concatenate ``stack`` (``[time, C, lat, lon]`` in mm and physical units) for experiment ``name``.

    The normalisation is fitted on ``fit_frames`` (training frames only) of this experiment's own input grid.
    ``guide_mm``: optional guide nowcast (extrapolation or S-PROG) ``[time, n_leads, lat, lon]`` (mm, issued at each
    frame, on the grid of ``stack``); it is cut like the input and normalised like rain. ``normalizer``:
    one fitted elsewhere (the training events of a ``data.events`` run, scoring a held-out event).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r} in config 'experiments'; use {list(EXPERIMENTS)}")
    grid, r1_slice, glat, glon = join_grid(name, stack, ds, layout)
    if normalizer is None:
        normalizer = Normalizer.fit_stack(grid, fit_frames, channel_names(variables, levels))
    guide = None
    if guide_mm is not None:
        g = join_grid(name, guide_mm, ds, layout)[0]
        guide = np.nan_to_num(normalizer.rain_forward(g), nan=0.0, posinf=0.0, neginf=0.0)
    normed = normalizer.transform_stack(grid)
    target = normed[:, -1].copy()
    inputs = np.nan_to_num(normed, nan=0.0, posinf=0.0, neginf=0.0)
    mask = np.zeros(grid.shape[-2:], dtype=bool)
    mask[r1_slice] = True
    return ExperimentData(
        name=name,
        inputs=inputs,
        target=target,
        rain_mm=grid[:, -1].copy(),
        mask=mask,
        r1=r1_slice,
        lat=np.asarray(glat),
        lon=np.asarray(glon),
        normalizer=normalizer,
        channels=channel_names(variables, levels),
        n_leads=int(n_leads),
        guide=guide,
        augment=augment,
    )


# --- time split --------------------------------------------------------------------------------


@dataclass
class Split:
    """Sample end indices (last input frame) of each part, chronological."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def fit_frames(self, steps: int) -> np.ndarray:
        """Frames seen by training samples (inputs and targets): what the normalisation may use."""
        if len(self.train) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.arange(int(self.train.min()) - steps + 1, int(self.train.max()) + 2)


def lead_sample_ends(times: np.ndarray, steps: int, n_leads: int = 1) -> np.ndarray:
    """Issue indices ``i`` (last input frame) whose window ``i-steps+1 .. i+n_leads`` is evenly spaced.

    The sample issued at ``i`` sees frames up to ``i`` and is scored against ``i + k`` for the lead of
    ``k`` steps; a window never straddles a gap between two events (or a missing frame).
    """
    if steps < 1 or n_leads < 1:
        raise ValueError(f"data.steps and the leads must be >= 1, got steps={steps}, n_leads={n_leads}")
    t = np.asarray(times).astype("datetime64[ns]")
    n = len(t)
    if n < steps + n_leads:
        return np.zeros(0, dtype=np.int64)
    dt = np.diff(t)
    regular = dt == np.median(dt)
    ends = [i for i in range(steps - 1, n - n_leads) if regular[i - steps + 1 : i + n_leads].all()]
    return np.asarray(ends, dtype=np.int64)


def _period(cfg, key: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    if not isinstance(cfg, (list, tuple)) or len(cfg) != 2:
        raise ValueError(f"config split.{key} must be [start, end], got {cfg!r}")
    try:
        start, end = pd.Timestamp(str(cfg[0])), pd.Timestamp(str(cfg[1]))
    except ValueError as exc:
        raise ValueError(f"config split.{key} = {cfg!r}: not a date ({exc})") from None
    if end < start:
        raise ValueError(f"config split.{key} = {cfg!r}: end before start")
    return start, end


def _stamp(value) -> str:
    """A frame time for messages: the day, and the time of day when it is not midnight."""
    ts = pd.Timestamp(value)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")


def split_samples(times: np.ndarray, steps: int, split_cfg: dict, n_leads: int = 1) -> Split:
    """Chronological train / val / test sample indices, by the time of the first predicted frame.

    With ``n_leads`` > 1 a sample predicts frames ``i+1 .. i+n_leads``; training (validation)
    samples whose predicted frames reach frames predicted by validation or test samples are dropped,
    so no scored frame was ever a training target.

    ``split_cfg`` gives either periods ``train: [start, end]``, ``test: [start, end]`` and optionally
    ``val: [start, end]`` (default: the last ``val_fraction`` of the training samples), or fractions
    ``train_fraction`` / ``val_fraction`` (test = the rest). Two parts predicting the same frame are
    refused (a ``ValueError`` naming both periods and the shared frames), the validation samples carved
    off by ``val_fraction`` included.
    """
    split_cfg = split_cfg or {}
    labels = {"train": "train part", "val": "validation part", "test": "test part"}
    ends = lead_sample_ends(times, steps, n_leads)
    if ends.size == 0:
        raise ValueError(f"the data hold {len(times)} frames: too few for a sample of {steps} input steps + "
                         f"{n_leads} target(s) without a gap")
    target_time = pd.DatetimeIndex(np.asarray(times)[ends + 1])
    val_fraction = float(split_cfg.get("val_fraction", 0.15))
    if not 0 <= val_fraction < 1:
        raise ValueError(f"config split.val_fraction must be in [0, 1), got {val_fraction}")
    if "train" in split_cfg or "test" in split_cfg:
        if "train" not in split_cfg or "test" not in split_cfg:
            raise ValueError("config section 'split' needs both train: [start, end] and test: [start, end]")
        t0, t1 = _period(split_cfg["train"], "train")
        s0, s1 = _period(split_cfg["test"], "test")
        in_train = (target_time >= t0) & (target_time <= t1)
        test = ends[(target_time >= s0) & (target_time <= s1)]
        labels["train"] = f"train period {_stamp(t0)} .. {_stamp(t1)}"
        labels["test"] = f"test period {_stamp(s0)} .. {_stamp(s1)}"
        if split_cfg.get("val") is not None:
            v0, v1 = _period(split_cfg["val"], "val")
            val = ends[(target_time >= v0) & (target_time <= v1)]
            train = ends[in_train]
            labels["val"] = f"val period {_stamp(v0)} .. {_stamp(v1)}"
        else:
            tr = ends[in_train]
            n_val = int(round(val_fraction * len(tr)))
            train, val = tr[: len(tr) - n_val], tr[len(tr) - n_val :]
            if len(val):
                span = pd.DatetimeIndex(np.asarray(times)[val + 1])
                labels["val"] = (f"validation samples (the last val_fraction = {val_fraction:g} of the train period's "
                                 f"samples, predicted frames {_stamp(span.min())} .. {_stamp(span.max())})")
    else:
        n = len(ends)
        train_fraction = float(split_cfg.get("train_fraction", 0.7))
        if not 0 < train_fraction < 1 or train_fraction + val_fraction >= 1:
            raise ValueError(
                f"config split fractions train_fraction={train_fraction}, val_fraction={val_fraction} must leave a test part"
            )
        n_train = int(round(train_fraction * n))
        n_val = int(round(val_fraction * n))
        train, val, test = ends[:n_train], ends[n_train : n_train + n_val], ends[n_train + n_val :]
    t_first, t_last = target_time.min(), target_time.max()
    if len(train) == 0:
        raise ValueError(f"the training period holds no samples (predicted frames run {t_first} .. {t_last})")
    if len(test) == 0:
        raise ValueError(f"the test period holds no samples (predicted frames run {t_first} .. {t_last})")
    # no predicted frame in two parts: a test or validation sample must not be scored on a frame that was a
    # training target, nor a test frame steer early stopping ("never shuffled across")
    parts = {"train": train, "val": val, "test": test}
    for first, second in (("train", "test"), ("train", "val"), ("val", "test")):
        shared = np.intersect1d(parts[first] + 1, parts[second] + 1)
        if shared.size:
            raise ValueError(f"config split: the {labels[first]} overlaps the {labels[second]} (both predict the "
                             f"frames {_stamp(times[shared[0]])} .. {_stamp(times[shared[-1]])}): move the test "
                             "period clear of the training period and its validation part, or shorten the training "
                             "period")
    if n_leads > 1:
        def targets(e):
            return (np.asarray(e)[:, None] + np.arange(1, n_leads + 1)[None]).ravel()

        def purge(e, later):
            taken = set(targets(later).tolist())
            return np.asarray([i for i in e if not taken.intersection(range(i + 1, i + n_leads + 1))], dtype=np.int64)

        val = purge(val, test)
        train = purge(train, np.concatenate([val, test]))
        if len(train) == 0:
            raise ValueError(f"no training sample is left once those predicting validation/test frames are "
                             f"dropped ({n_leads} leads); give the periods more room")
    return Split(train=train, val=val, test=test)


def sample_inputs(data: ExperimentData, i: int, steps: int) -> np.ndarray:
    """Network input of the sample issued at frame ``i``: ``[T, model_channels, H, W]``.

    Frames ``i-steps+1 .. i``; with a guide, its ``n_leads`` nowcast maps issued at ``i`` are
    appended as channels to every input frame (the model's residual reads them from the last one).
    """
    x = data.inputs[i - steps + 1 : i + 1]
    if data.guide is not None:
        g = np.broadcast_to(data.guide[i][None], (steps,) + data.guide.shape[1:])
        x = np.concatenate([x, g], axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def sample_targets(data: ExperimentData, i: int) -> np.ndarray:
    """Normalised rain of frames ``i+1 .. i+n_leads``: ``[n_leads, H, W]`` (NaN where unobserved)."""
    return np.ascontiguousarray(data.target[i + 1 : i + 1 + data.n_leads])


class WindowDataset(torch.utils.data.Dataset):
    """Samples ``(x [T, C', H, W], y [n_leads, H, W])`` of one experiment, ``ends`` = issue (last input) frames.

    ``augment=True`` with ``data.augment == "flips"`` flips a sample at random across the axis
    perpendicular to the region join (a west/east join keeps region 2 on its side), so the motion
    direction varies while the upstream layout stays; validation and test never augment.
    """

    def __init__(self, data: ExperimentData, ends: np.ndarray, steps: int, augment: bool = False) -> None:
        self.data = data
        self.ends = np.asarray(ends, dtype=np.int64)
        self.steps = steps
        self.augment = augment and data.augment == "flips"

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = int(self.ends[k])
        x = torch.from_numpy(sample_inputs(self.data, i, self.steps))
        y = torch.from_numpy(sample_targets(self.data, i))
        if self.augment and bool(torch.rand(()) < 0.5):
            # exp1 has no join; its flip axis follows the same rule so both experiments see the same samples
            axis = -2 if self._join_axis() == -1 else -1
            x, y = x.flip(axis), y.flip(axis)
        return x, y

    def _join_axis(self) -> int:
        rows, cols = self.data.r1
        h, w = self.data.mask.shape
        return -1 if (cols.stop - cols.start) < w or (rows.stop - rows.start) == h else -2


# --- nowcast block (issue 13): leads, baselines, guide nowcast -------------------------------------



@dataclass
class NowcastConfig:
    """The ``nowcast`` section of a rain config.

    ``leads``: forecast steps scored (``[1, 3, 6, 12]`` = 5, 15, 30, 60 min on 5-minute radar; the
    reanalysis keeps ``[1]``, its 12 h step); the network predicts every step up to the largest one
    at once (direct multi-output). ``main_lead``: the lead ``metrics.json``'s ``test`` reports.
    ``baselines``: systems without training scored beside the experiments. ``guide``: give the
    network a baseline nowcast (``extrapolation`` or ``sprog``) as input and let it learn a
    correction; the untrained network returns the guide and stays the best checkpoint until training
    improves the validation loss. ``augment``: random
    flips of training samples.
    """

    leads: list[int]
    main_lead: int
    baselines: list[str]
    guide: str = "none"
    augment: str = "none"

    @property
    def n_leads(self) -> int:
        return max(self.leads)

    @classmethod
    def from_config(cls, cfg: dict | None) -> "NowcastConfig":
        """The typed view of a ``nowcast`` section; its keys, defaults and checks are the table's
        (:data:`core.rain.config.SCHEMA`), so a partial section is completed from there."""
        cfg = nowcast_section(cfg)
        leads = sorted(set(cfg["leads"]))
        main = cfg["main_lead"] if cfg["main_lead"] is not None else leads[0]
        base = list(BASELINES) if cfg["baselines"] is None else list(cfg["baselines"])
        if "persistence" not in base:
            base.insert(0, "persistence")  # the reference every table is read against
        return cls(leads=leads, main_lead=int(main), baselines=list(dict.fromkeys(base)), guide=cfg["guide"],
                   augment=cfg["augment"])


def step_minutes(times) -> float:
    """Median spacing of ``times`` in minutes (the lead unit of ``metrics.json``'s ``test_leads``)."""
    t = np.asarray(times).astype("datetime64[ns]")
    if t.size < 2:
        return 0.0
    return float(np.median(np.diff(t) / np.timedelta64(1, "s"))) / 60.0


def lead_key(lead_steps: int, minutes_per_step: float) -> str:
    """JSON key of a lead: minutes, ``"30"`` (``"720"`` for the reanalysis 12 h step)."""
    value = lead_steps * minutes_per_step
    return str(int(round(value))) if abs(value - round(value)) < 1e-6 else f"{value:g}"
