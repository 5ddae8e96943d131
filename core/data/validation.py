"""Checks on basin time series, each raising :class:`DataError` that names file, variable, basin, date.

The readers call these on one basin's ``DataFrame`` (DatetimeIndex ``time``, canonical column names,
canonical units, fluxes in mm per step) before the basins are stacked into the dataset.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .errors import DataError, DataWarning
from .errors import _format_date as _fmt

# Codes used by CAMELS and many agency exports for "no value"; only ever accepted in q_obs.
MISSING_CODES = (-999.0, -9999.0)

# Long-term runoff cannot exceed precipitation by this factor in a closed basin; beyond it the
# streamflow is almost surely in m3/s or l/s rather than mm per step.
MAX_RUNOFF_RATIO = 2.0
MIN_STEPS_FOR_RATIO = 30

NON_FORCING = ("q_obs", "q_flag")

# Physically possible ranges of the canonical variables (units as in core.data.basins.CANONICAL_UNITS).
# Wide on purpose: they catch unit mix-ups, sentinel values and corrupted numbers (1e300), not climate.
# Fluxes are per day and scale with the step (with a floor for short, intense steps).
PLAUSIBLE_RANGES: dict[str, tuple[float, float, str]] = {
    "tmin": (-90.0, 60.0, "degC"),  # records: -89.2 (Vostok), 56.7 (Death Valley)
    "tmax": (-90.0, 60.0, "degC"),
    "tmean": (-90.0, 60.0, "degC"),
    "srad": (0.0, 1500.0, "W m-2"),  # above the solar constant (1361) nothing reaches the ground
    "vp": (0.0, 12000.0, "Pa"),  # saturation vapour pressure at 50 degC is 12.3 kPa
    "dayl": (0.0, 24.0, "h"),
    "swe": (0.0, 50000.0, "mm"),
}
FLUX_MAX_PER_DAY = {"prcp": 2000.0, "pet": 50.0}  # world-record daily rain 1825 mm; PET beyond ~20 mm/day unknown
FLUX_MIN_PER_STEP = {"prcp": 400.0, "pet": 5.0}  # hourly rain records exceed 300 mm
# Gridded products interpolate tmin and tmax separately, so small inversions are real data: Daymet in
# CAMELS-US has tmin above tmax by up to 1.3 degC on a few days. Beyond this, columns are swapped or wrong.
TMIN_ABOVE_TMAX_TOLERANCE = 3.0
# Beyond this share of inverted steps the columns are surely swapped (a real record never inverts
# most of its days); below it the inversions are warned about and kept.
SWAPPED_TEMPERATURE_SHARE = 0.5


# Basin constants: what a place on Earth can be. The largest river basin, the Amazon, drains about
# 7.0e6 km2; an area beyond 1e7 km2 or not above 0 is a unit or typing error, and dividing discharge
# by it would give runoff off by that much without a word.
MAX_AREA_KM2 = 1.0e7
STATIC_RANGES: dict[str, tuple[float, float, str]] = {
    "lat": (-90.0, 90.0, "degrees north"),
    "lon": (-180.0, 360.0, "degrees east"),
    "area_km2": (0.0, MAX_AREA_KM2, "km2"),
    "elevation": (-450.0, 9000.0, "m"),  # Dead Sea shore .. Everest
}


def check_statics(statics: dict, file: str, basin: str, files: dict[str, str] | None = None) -> None:
    """Latitude, longitude, area and elevation of a basin must be numbers a real basin can have.

    Missing (None, blank, NaN) is allowed here: what needs a value (PET needs latitude, discharge
    needs area) says so itself. Text that is not a number, such as ``51,2`` with a decimal comma in a
    comma-separated table, is refused with the value quoted rather than read as "missing".
    """
    for name, (low, high, unit) in STATIC_RANGES.items():
        value = statics.get(name)
        if value is None or (isinstance(value, str) and value.strip() in ("", "NA", "NaN", "nan")):
            continue
        where = (files or {}).get(name, file)
        try:
            number = float(value)
        except (TypeError, ValueError):
            hint = f" (a decimal comma? write {str(value).replace(',', '.')})" if re.fullmatch(r"\s*-?\d+,\d+\s*", str(value)) else ""
            raise DataError(f"basin {name} {str(value)!r} is not a number{hint}", file=where, variable=name, basin=basin) from None
        if np.isnan(number):
            continue
        # the area must be strictly positive; the other ranges include their ends
        if not np.isfinite(number) or number > high or number < low or (name == "area_km2" and number <= 0):
            bound = f"above 0 and at most {high:g}" if name == "area_km2" else f"between {low:g} and {high:g}"
            raise DataError(f"impossible basin {name} {number:g} {unit} (must be {bound} {unit})",
                            file=where, variable=name, basin=basin)


def check_required(frame: pd.DataFrame, required: tuple[str, ...], file: str, basin: str) -> None:
    """Every name in ``required`` must be a column of ``frame``."""
    for name in required:
        if name not in frame.columns:
            have = ", ".join(map(str, frame.columns)) or "none"
            raise DataError(
                f"required variable {name!r} is missing (columns found: {have})",
                file=file,
                variable=name,
                basin=basin,
            )


def coerce_numeric(frame: pd.DataFrame, file: str, basin: str) -> pd.DataFrame:
    """Convert text columns to float, raising on the first entry that is not a number.

    Empty cells and ``NA``/``NaN`` stay missing; anything else that does not parse (``"1,5"``,
    ``"n/a mm"``, ``"abc"``) is an error that quotes the value and its date.
    """
    out = frame
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            continue
        if name == "q_flag":
            continue
        converted = pd.to_numeric(column, errors="coerce")
        bad = converted.isna() & column.notna() & (column.astype(str).str.strip() != "")
        if bad.any():
            where = bad.to_numpy().nonzero()[0][0]
            raise DataError(
                f"non-numeric value {column.iloc[where]!r} in column {name!r}",
                file=file,
                variable=name,
                basin=basin,
                date=frame.index[where],
            )
        if out is frame:
            out = frame.copy()
        out[name] = converted.astype(float)
    return out


def regularise_time(frame: pd.DataFrame, file: str, basin: str) -> tuple[pd.DataFrame, pd.Timedelta]:
    """Infer the time step and put the series on a gap-free regular axis.

    Rows must be in increasing time order without duplicates; the step is the most frequent
    difference between consecutive rows, and every other difference must be a whole multiple of it
    (a gap). Gaps become rows of NaN, which the forcing check later reports if they fall in the
    requested period and which simply stay NaN for observed streamflow.
    """
    index = frame.index
    if len(index) == 0:
        raise DataError("the series has no rows", file=file, basin=basin)
    if index.hasnans:
        raise DataError("a row has no valid date", file=file, variable="date", basin=basin)
    stamps = index.asi8
    if len(stamps) == 1:
        return frame, pd.Timedelta(days=1)
    diffs = np.diff(stamps)
    if (diffs <= 0).any():
        where = int((diffs <= 0).nonzero()[0][0]) + 1
        problem = "a duplicated date" if diffs[where - 1] == 0 else "a date out of order"
        raise DataError(f"{problem}: dates must increase row by row", file=file, variable="date", basin=basin, date=index[where])
    values, counts = np.unique(diffs, return_counts=True)
    step_ns = int(values[counts.argmax()])
    off_grid = diffs % step_ns != 0
    if off_grid.any():
        where = int(off_grid.nonzero()[0][0]) + 1
        raise DataError(
            f"irregular time step: {index[where]} is not a whole number of "
            f"{pd.Timedelta(step_ns, unit='ns')} steps after the previous row",
            file=file,
            variable="date",
            basin=basin,
            date=index[where],
        )
    step = pd.Timedelta(step_ns, unit="ns")
    if (diffs != step_ns).any():
        full = pd.date_range(index[0], index[-1], freq=step, name=index.name)
        frame = frame.reindex(full)
    return frame, step


def check_precipitation(frame: pd.DataFrame, file: str, basin: str) -> None:
    """Precipitation must not be negative (a -999 missing code is negative too)."""
    if "prcp" not in frame:
        return
    values = frame["prcp"].to_numpy(dtype=float)
    negative = values < 0
    if negative.any():
        where = int(negative.nonzero()[0][0])
        hint = " (a missing-value code? forcing must be complete)" if values[where] in MISSING_CODES else ""
        raise DataError(
            f"negative precipitation {values[where]:g} mm{hint}",
            file=file,
            variable="prcp",
            basin=basin,
            date=frame.index[where],
        )


def clean_streamflow(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn the -999/-9999 missing codes of observed streamflow into NaN."""
    if "q_obs" not in frame:
        return frame
    q = frame["q_obs"]
    missing = q.isin(MISSING_CODES)
    if missing.any():
        frame = frame.copy()
        frame.loc[missing, "q_obs"] = np.nan
    return frame


def check_streamflow(frame: pd.DataFrame, file: str, basin: str, step_label: str) -> None:
    """Observed streamflow (mm per step) must be non-negative and plausible against precipitation.

    A long-term mean runoff above ``MAX_RUNOFF_RATIO`` times the mean precipitation is treated as a
    unit error: discharge in m3/s or l/s was put in a column meant for mm.
    """
    if "q_obs" not in frame:
        return
    q = frame["q_obs"].to_numpy(dtype=float)
    negative = q < 0
    if negative.any():
        where = int(negative.nonzero()[0][0])
        raise DataError(
            f"negative observed streamflow {q[where]:g}",
            file=file,
            variable="q_obs",
            basin=basin,
            date=frame.index[where],
        )
    observed = q[np.isfinite(q)]
    if observed.size >= MIN_STEPS_FOR_RATIO and not observed.any():
        # a record of zeros is a fill value, not a river: NSE and every other skill score divide by
        # the variance of the observations and would come out NaN after a whole training
        raise DataError(
            f"observed streamflow is 0 on all {observed.size} observed steps; no model can be trained or "
            "scored on it (NSE is undefined): leave unobserved steps blank or -999 instead of 0",
            file=file,
            variable="q_obs",
            basin=basin,
            date=frame.index[int(np.isfinite(q).nonzero()[0][0])],
        )
    if "prcp" not in frame:
        return
    p = frame["prcp"].to_numpy(dtype=float)
    both = np.isfinite(q) & np.isfinite(p)
    if both.sum() < MIN_STEPS_FOR_RATIO:
        return
    q_mean, p_mean = float(q[both].mean()), float(p[both].mean())
    if p_mean > 0 and q_mean > MAX_RUNOFF_RATIO * p_mean:
        first = frame.index[int(both.nonzero()[0][0])]
        raise DataError(
            f"implausible streamflow units: mean q_obs {q_mean:.3g} {step_label} is "
            f"{q_mean / p_mean:.1f} times the mean precipitation {p_mean:.3g} {step_label}; "
            "streamflow must be runoff depth in mm per step (from m3/s: q_mm = q * 1000 * "
            "step_seconds / (area_km2 * 1e6)), or name the column q_obs_m3s / q_obs_cfs / q_obs_ls "
            "and give area_km2",
            file=file,
            variable="q_obs",
            basin=basin,
            date=first,
        )


def check_plausible(frame: pd.DataFrame, file: str, basin: str, step: pd.Timedelta,
                    files: dict[str, str] | None = None) -> None:
    """Refuse values no instrument or model can produce (infinite, 1e300, a 30 h day, swapped tmin/tmax).

    Ranges are :data:`PLAUSIBLE_RANGES` (and :data:`FLUX_MAX_PER_DAY` scaled to the step for
    precipitation and PET); the first offending value is named with its variable, basin and date.
    """
    days = step / pd.Timedelta(days=1)

    def fail(name: str, where: int, reason: str) -> None:
        raise DataError(reason, file=(files or {}).get(name, file), variable=name, basin=basin, date=frame.index[where])

    for name in frame.columns:
        if name == "q_flag" or not pd.api.types.is_numeric_dtype(frame[name].dtype):
            continue
        values = frame[name].to_numpy(dtype=float)
        infinite = np.isinf(values)
        if infinite.any():
            where = int(infinite.nonzero()[0][0])
            fail(name, where, f"infinite value {values[where]:g} in {name!r}")
        if name in FLUX_MAX_PER_DAY:
            low, high, unit = 0.0, max(FLUX_MAX_PER_DAY[name] * days, FLUX_MIN_PER_STEP[name]), "mm per step"
        elif name in PLAUSIBLE_RANGES:
            low, high, unit = PLAUSIBLE_RANGES[name]
        else:
            continue
        # below the lower bound is left to the dedicated checks where one exists (negative precipitation)
        wrong = (values > high) | ((values < low) & (name not in ("prcp",)))
        if wrong.any():
            where = int(wrong.nonzero()[0][0])
            fail(name, where, f"impossible {name} {values[where]:g} {unit} (possible range {low:g} .. {high:g} {unit})")
    if "tmin" in frame and "tmax" in frame:
        check_temperature_order(frame, (files or {}).get("tmin", file), basin)


def check_temperature_order(frame: pd.DataFrame, file: str, basin: str) -> None:
    """tmin above tmax: refused when most steps are inverted (swapped columns), else a warning.

    Daymet interpolates tmin and tmax separately and inverts them on some cold days (in 9 of 150
    CAMELS-US regional basins, 346 days, by up to 14.7 degC). Such rows are real data: PET treats the
    day as having no temperature range and the rows are kept. Only ``frame``'s dates (the period
    being loaded) are looked at.
    """
    tmin, tmax = frame["tmin"].to_numpy(dtype=float), frame["tmax"].to_numpy(dtype=float)
    both = np.isfinite(tmin) & np.isfinite(tmax)  # missing values are the forcing check's business
    inverted = both & (tmin > tmax + TMIN_ABOVE_TMAX_TOLERANCE)
    if not inverted.any():
        return
    first = int(inverted.nonzero()[0][0])
    share = inverted.sum() / max(int(both.sum()), 1)
    if share > SWAPPED_TEMPERATURE_SHARE:
        raise DataError(f"tmin is above tmax on {share:.0%} of the steps (first: tmin {tmin[first]:g} degC, "
                        f"tmax {tmax[first]:g} degC): are the columns swapped?",
                        file=file, variable="tmin", basin=basin, date=frame.index[first])
    worst = float(np.max(tmin[inverted] - tmax[inverted]))
    warnings.warn(DataWarning(
        f"{file}: basin {basin}: tmin above tmax by more than {TMIN_ABOVE_TMAX_TOLERANCE:g} degC on "
        f"{int(inverted.sum())} step(s) (first {_fmt(frame.index[first])}, at most {worst:.1f} degC); kept as given "
        "(gridded products such as Daymet invert them on some cold days)"), stacklevel=2)


def check_forcing_complete(frame: pd.DataFrame, file: str, basin: str, files: dict[str, str] | None = None) -> None:
    """No forcing variable (everything except observed streamflow) may be NaN in ``frame``.

    ``frame`` is already cut to the requested period; ``files`` maps a variable to the file it came
    from when a basin is spread over several files.
    """
    for name in frame.columns:
        if name in NON_FORCING:
            continue
        values = frame[name].to_numpy(dtype=float)
        missing = ~np.isfinite(values)
        if missing.any():
            where = int(missing.nonzero()[0][0])
            count = int(missing.sum())
            raise DataError(
                f"forcing variable {name!r} is missing at {count} step(s) inside the requested "
                "period (first shown); forcing must be complete, choose another period or fill the gaps",
                file=(files or {}).get(name, file),
                variable=name,
                basin=basin,
                date=frame.index[where],
            )


def check_period(
    first: pd.Timestamp,
    last: pd.Timestamp,
    start: pd.Timestamp,
    end: pd.Timestamp,
    file: str,
    basin: str,
) -> None:
    """The requested period [start, end] must lie inside the basin record [first, last]."""
    if start > end:
        raise DataError(f"period start {_fmt(start)} is after its end {_fmt(end)}", file=file, basin=basin, date=start)
    if start < first:
        raise DataError(
            f"requested start {_fmt(start)} is before the first record {_fmt(first)} (data cover {_fmt(first)} .. {_fmt(last)})",
            file=file,
            basin=basin,
            date=start,
        )
    if end > last:
        raise DataError(
            f"requested end {_fmt(end)} is after the last record {_fmt(last)} (data cover {_fmt(first)} .. {_fmt(last)})",
            file=file,
            basin=basin,
            date=end,
        )
