"""Train / validation / test periods by date; the normalisation fitted on the training period is
:class:`core.data.normalize.Normalizer` (re-exported here).

Typical use (the dXAJ trainer)::

    periods = {"train": ("1980-10-01", "1995-09-30"), "test": ("1995-10-01", "2010-09-30")}
    parts = split_periods(ds, periods)
    norm = Normalizer.fit(parts["train"], ["prcp", "pet", "tmax"], statics=["aridity"])
    config["normalization"] = norm.to_dict()        # stored with the run / checkpoint
    z = norm.transform(parts["test"])               # same scaling at evaluation
    norm = Normalizer.from_dict(config["normalization"])

Statistics are NaN-aware, pooled over all basins and steps of the training period for dynamic
variables and over basins for static ones; a zero spread is replaced by 1 so a constant input maps
to 0 instead of dividing by zero.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import pandas as pd
import xarray as xr

from .basins import parse_date
from .errors import DataError
from .normalize import Normalizer  # noqa: F401  (the one normaliser; re-exported here for its users)

PERIOD_ORDER = ("train", "valid", "test")


def parse_period(period: Any, name: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` / ``[start, end]`` / ``{"start": .., "end": ..}`` -> two Timestamps."""
    if isinstance(period, Mapping):
        period = (period.get("start"), period.get("end"))
    try:
        start, end = period
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} period must be (start, end), got {period!r}", variable=name) from exc
    start_ts, end_ts = parse_date(start, f"{name} start"), parse_date(end, f"{name} end")
    if start_ts is None or end_ts is None:
        raise DataError(f"{name} period needs both a start and an end, got {period!r}", variable=name)
    if start_ts > end_ts:
        raise DataError(f"{name} period starts {start_ts.date()} after it ends {end_ts.date()}", variable=name, date=start_ts)
    return start_ts, end_ts


class PeriodOverlap(NamedTuple):
    """Two named periods sharing the days ``start`` .. ``end`` (inclusive)."""

    first: str
    second: str
    start: pd.Timestamp
    end: pd.Timestamp

    def __str__(self) -> str:
        days = (self.end.normalize() - self.start.normalize()).days + 1
        return (f"periods {self.first!r} and {self.second!r} overlap from {self.start.date()} to {self.end.date()} "
                f"({days} day{'s' if days != 1 else ''}): {self.second} days would also be {self.first} days")


def periods_overlap(periods: Mapping[str, Any]) -> list[PeriodOverlap]:
    """Every pair of named periods that share a day (inclusive dates), in the order given: the one
    overlap rule of the config checks, the dashboard and the data split.

    ``periods``: ``{name: (start, end)}`` (anything :func:`parse_period` reads; None entries are
    skipped, e.g. an optional validation period). An end given as a plain date covers that whole day
    (sub-daily data included). Raises :class:`DataError` for an unreadable period.
    """
    parsed = {}
    for name, period in periods.items():
        if period is None:
            continue
        start, end = parse_period(period, name)
        raw_end = period.get("end") if isinstance(period, Mapping) else period[1]
        if end == end.normalize() and (not isinstance(raw_end, str) or len(raw_end.strip()) <= 10):
            end = end + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        parsed[name] = (start, end)
    names = list(parsed)
    found = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (s1, e1), (s2, e2) = parsed[a], parsed[b]
            if s1 <= e2 and s2 <= e1:
                found.append(PeriodOverlap(a, b, max(s1, s2), min(e1, e2)))
    return found


def check_periods_disjoint(periods: Mapping[str, Any], file: Any = None) -> None:
    """Raise :class:`DataError` naming the first two periods that overlap (a test period sharing days
    with training would flatter the scores)."""
    overlaps = periods_overlap(periods)
    if overlaps:
        first = overlaps[0]
        raise DataError(str(first), file=file, variable=first.second, date=first.start)


def split_periods(ds: xr.Dataset, periods: Mapping[str, Any]) -> dict[str, xr.Dataset]:
    """Cut ``ds`` into named periods (inclusive dates), e.g. ``{"train": (s, e), "test": (s, e)}``.

    Each period must lie inside the dataset's time axis and periods must not overlap (a test
    period that shares days with training would flatter the scores). Returns ``{name: Dataset}``.
    """
    if not periods:
        raise DataError("no periods given (expected e.g. train and test)")
    first, last = pd.Timestamp(ds.time.values[0]), pd.Timestamp(ds.time.values[-1])
    step = pd.Timedelta(int(ds.attrs.get("time_step_seconds", 86400)), unit="s")
    parsed: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for name, period in periods.items():
        start, end = parse_period(period, name)
        if step < pd.Timedelta(days=1) and end == end.normalize():
            end = end + pd.Timedelta(days=1) - step  # a plain end date includes that whole day
        if start < first or end > last:
            bad = start if start < first else end
            raise DataError(
                f"{name} period {start.date()} .. {end.date()} is outside the data ({first.date()} .. {last.date()})",
                file=ds.attrs.get("source"),
                variable=name,
                date=bad,
            )
        parsed[name] = (start, end)
    check_periods_disjoint(parsed)
    return {name: ds.sel(time=slice(start, end)) for name, (start, end) in parsed.items()}
