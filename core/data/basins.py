"""Assemble per-basin series into the one basin dataset, and the ``load_basins`` entry point.

Every reader (CAMELS-US, basin table, embedded demo) turns its files into :class:`BasinRecord`
objects: one ``DataFrame`` per basin with canonical column names and units (fluxes in mm per step)
plus static attributes. :func:`assemble` then picks the period, computes PET where needed,
validates, and stacks the basins into an ``xarray.Dataset`` with dims ``(basin, time)``
(docs/design.md, 3. Data model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
import xarray as xr

from . import validation
from .errors import DataError
from .errors import _format_date as _fmt
from .pet import choose_pet_method, compute_pet_batch

# Units of the canonical variables; "{flux}" is replaced by the per-step flux unit (mm/day, mm/h).
CANONICAL_UNITS = {
    "prcp": "{flux}",
    "pet": "{flux}",
    "q_obs": "{flux}",
    "tmin": "degC",
    "tmax": "degC",
    "tmean": "degC",
    "srad": "W m-2",
    "vp": "Pa",
    "dayl": "h",
    "swe": "mm",
    "q_flag": "1",
}
# Per-basin coordinates every dataset carries (NaN / id when a source does not know them).
BASIN_COORDS = ("name", "area_km2", "lat", "lon")


@dataclass
class BasinRecord:
    """One basin's series as read from its files.

    ``frame``: DataFrame indexed by a regular DatetimeIndex named ``time``; canonical columns;
    fluxes in mm per step. ``file``: the main file (named in error messages); ``files`` maps a
    variable to another file it came from (e.g. ``q_obs`` from a streamflow file). ``statics``:
    ``name``, ``area_km2`` (km2), ``lat``/``lon`` (degrees), ``elevation`` (m) and any other
    attributes. ``var_attrs``: extra attributes per variable (e.g. QC flag meanings).
    """

    basin: str
    frame: pd.DataFrame
    file: str
    step: pd.Timedelta
    statics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    var_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)


def step_label(step: pd.Timedelta) -> str:
    """Flux unit for a time step: ``mm/day`` for daily data, ``mm/h``, ``mm/3h``, ``mm/15min`` ..."""
    if step == pd.Timedelta(days=1):
        return "mm/day"
    freq = pd.tseries.frequencies.to_offset(step).freqstr
    return f"mm/{freq}"


def parse_date(value: Any, what: str) -> pd.Timestamp | None:
    """``None`` or a Timestamp; an unparsable value raises :class:`DataError` naming it."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"cannot read {what} {value!r} as a date ({exc})", date=str(value)) from exc
    if stamp is pd.NaT:
        raise DataError(f"{what} {value!r} is not a date", date=str(value))
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def select_ids(available: Iterable[str], basins: Iterable[str] | str | None, source: str) -> list[str]:
    """Requested basin ids in request order (all available, sorted, when ``basins`` is None)."""
    available = list(available)
    if basins is None:
        return sorted(available)
    if isinstance(basins, (str, int)):
        basins = [basins]
    wanted = [str(b) for b in basins]
    known = set(available)
    for basin in wanted:
        if basin not in known:
            shown = ", ".join(sorted(known)[:10]) + (" ..." if len(known) > 10 else "")
            padded = [k for k in known if k.lstrip("0") == basin.lstrip("0") and k != basin]
            hint = f"; did you mean {padded[0]!r}? ids are text, keep leading zeros" if padded else ""
            raise DataError(f"unknown basin id {basin!r} in {source} (available: {shown or 'none'}){hint}", file=source, basin=basin)
    if len(set(wanted)) != len(wanted):
        duplicate = next(b for b in wanted if wanted.count(b) > 1)
        raise DataError(f"basin id {duplicate!r} requested twice", file=source, basin=duplicate)
    return wanted


def assemble(
    records: list[BasinRecord],
    source: str,
    start: Any = None,
    end: Any = None,
    pet_method: str = "auto",
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Cut, complete, validate and stack basin records into the basin dataset.

    The period defaults to the span every selected basin covers; an explicit ``start``/``end``
    outside a basin's record is an error. PET is computed per basin when ``pet_method`` asks for it
    (or ``"auto"`` finds no ``pet`` series). Forcing must be complete in the period; missing
    observed streamflow stays NaN.
    """
    if not records:
        raise DataError(f"no basins to load from {source}", file=source)
    step = records[0].step
    for rec in records[1:]:
        if rec.step != step:
            raise DataError(
                f"time step {rec.step} differs from {step} of basin {records[0].basin}; load them separately",
                file=rec.file,
                basin=rec.basin,
            )
    start_ts, end_ts = parse_date(start, "start"), parse_date(end, "end")
    if start_ts is None:
        start_ts = max(rec.frame.index[0] for rec in records)
    if end_ts is None:
        end_ts = min(rec.frame.index[-1] for rec in records)
    elif step < pd.Timedelta(days=1) and end_ts == end_ts.normalize():
        # a midnight end (a plain date) includes that whole day for sub-daily data
        end_ts = end_ts + pd.Timedelta(days=1) - step
    if start is None and end is None and start_ts > end_ts:
        spans = "; ".join(f"{r.basin}: {r.frame.index[0].date()}..{r.frame.index[-1].date()}" for r in records)
        raise DataError(f"the selected basins share no common period ({spans}); load them separately or pick a period", file=source)
    if start_ts > end_ts and (start is not None or end is not None):
        raise DataError(f"period start {_fmt(start_ts)} is after its end {_fmt(end_ts)}", file=source, date=start_ts)
    time = pd.date_range(start_ts, end_ts, freq=step, name="time")
    if len(time) == 0:
        raise DataError(f"period {_fmt(start_ts)} .. {_fmt(end_ts)} holds no time step", file=source, date=start_ts)

    frames: list[pd.DataFrame] = []
    methods: dict[str, str] = {}
    for rec in records:
        validation.check_statics(rec.statics, rec.file, rec.basin, rec.files)
        first, last = rec.frame.index[0], rec.frame.index[-1]
        validation.check_period(first, last, time[0], time[-1], rec.file, rec.basin)
        frame = rec.frame.reindex(time)
        try:
            method = choose_pet_method(frame.columns, pet_method, sub_daily=step < pd.Timedelta(days=1))
        except DataError as exc:
            raise DataError(exc.reason, file=rec.file, variable=exc.variable, basin=rec.basin) from exc
        # precipitation first, then the other inputs: the message names the variable the user
        # will recognise, not a PET that came out NaN because of them
        ordered = ["prcp"] + [c for c in frame.columns if c not in ("prcp", "pet")]
        if method == "provided":
            ordered.append("pet")
        # impossible values first: an infinite value is wrong data, not a gap
        validation.check_plausible(frame, rec.file, rec.basin, step, rec.files)
        validation.check_forcing_complete(frame[ordered], rec.file, rec.basin, rec.files)
        if method != "provided" and not np.isfinite(_as_float(rec.statics.get("lat"))):
            raise DataError(
                f"PET method {method!r} needs the basin latitude: add a 'lat' column to basins.csv "
                "or provide a 'pet' series",
                file=rec.file,
                variable="lat",
                basin=rec.basin,
            )
        frames.append(frame)
        methods[rec.basin] = method
    for method in sorted(set(methods.values()) - {"provided"}):
        todo = [i for i, rec in enumerate(records) if methods[rec.basin] == method]
        try:
            pets = compute_pet_batch(
                [frames[i] for i in todo],
                method,
                [_as_float(records[i].statics.get("lat")) for i in todo],
                [_as_float(records[i].statics.get("elevation")) for i in todo],
            )
        except DataError as exc:
            rec = records[todo[0]] if len(todo) == 1 else None
            raise DataError(exc.reason, file=rec.file if rec else source, variable=exc.variable, basin=rec.basin if rec else None) from exc
        for i, pet in zip(todo, pets):
            frames[i] = frames[i].assign(pet=pet.to_numpy())
            validation.check_forcing_complete(frames[i][["pet"]], records[i].file, records[i].basin, records[i].files)
    return _to_dataset(records, frames, time, step, source, methods, attrs or {})


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _to_dataset(
    records: list[BasinRecord],
    frames: list[pd.DataFrame],
    time: pd.DatetimeIndex,
    step: pd.Timedelta,
    source: str,
    methods: dict[str, str],
    extra_attrs: dict[str, Any],
) -> xr.Dataset:
    flux = step_label(step)
    ids = [rec.basin for rec in records]
    # variable order: model inputs first, then observations, then the rest as they appear
    names: list[str] = ["prcp", "pet"]
    for frame in frames:
        names += [c for c in frame.columns if c not in names]
    names = [n for n in names if n != "q_obs"] + ["q_obs"]
    data_vars: dict[str, Any] = {}
    units: dict[str, str] = {}
    for name in names:
        is_flag = name == "q_flag"
        fill = -1 if is_flag else np.nan
        dtype = np.int8 if is_flag else np.float64
        stack = np.full((len(ids), len(time)), fill, dtype=dtype)
        for i, frame in enumerate(frames):
            if name not in frame:
                continue
            if is_flag:
                stack[i] = frame[name].fillna(-1).to_numpy().astype(np.int8)
            else:
                stack[i] = frame[name].to_numpy(dtype=float)
        unit = CANONICAL_UNITS.get(name, "unknown").format(flux=flux)
        attrs: dict[str, Any] = {"units": unit}
        for rec in records:
            attrs.update(rec.var_attrs.get(name, {}))
        data_vars[name] = (("basin", "time"), stack, attrs)
        units[name] = unit

    coords: dict[str, Any] = {"basin": ("basin", np.array(ids, dtype=object)), "time": time}
    coords["name"] = ("basin", np.array([str(rec.statics.get("name") or rec.basin) for rec in records], dtype=object))
    for key, unit in (("area_km2", "km2"), ("lat", "degrees_north"), ("lon", "degrees_east")):
        coords[key] = ("basin", np.array([_as_float(rec.statics.get(key)) for rec in records]), {"units": unit})
        units[key] = unit

    static_names: list[str] = []
    other_keys: list[str] = []
    for rec in records:
        for key in rec.statics:
            if key not in BASIN_COORDS and key not in static_names and key not in other_keys:
                values = [rec2.statics.get(key) for rec2 in records]
                if all(v is None or _is_number(v) for v in values):
                    static_names.append(key)
                else:
                    other_keys.append(key)
    for key in static_names:
        data_vars[key] = ("basin", np.array([_as_float(rec.statics.get(key)) for rec in records]))
    for key in other_keys:
        coords[key] = ("basin", np.array(["" if rec.statics.get(key) is None else str(rec.statics.get(key)) for rec in records], dtype=object))

    distinct = sorted(set(methods.values()))
    pet_method = distinct[0] if len(distinct) == 1 else ", ".join(f"{b}: {m}" for b, m in methods.items())
    attrs = {
        "source": source,
        "pet_method": pet_method,
        "time_step": pd.tseries.frequencies.to_offset(step).freqstr,
        "time_step_seconds": int(step.total_seconds()),
        "units": units,
        "dynamic_variables": [n for n in names if n not in ("q_obs", "q_flag")],
        "static_variables": static_names,
    }
    attrs.update(extra_attrs)
    return xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)


def _is_number(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return False
