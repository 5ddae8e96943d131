"""Checks a training set-up can pass before Start: periods against the data, basins with a common
period, a preset's windows against the period they must fit in, the model's inputs against the data.

Each check returns a list of problems as plain sentences (empty when everything fits), so a page
can show them once, inline, and keep Start disabled with the reason; the same rules run again in
the worker, where a problem is an error. Region boxes are checked by
:func:`core.data.regions.check_rain_regions`.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import pandas as pd

from core.data.splits import periods_overlap

Span = tuple[pd.Timestamp, pd.Timestamp]


def _day(ts) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def common_period(spans: Mapping[str, Span]) -> Span | None:
    """The period every basin's record covers (``{basin: (first, last)}``); None when they share none."""
    if not spans:
        return None
    start = max(pd.Timestamp(s) for s, _ in spans.values())
    end = min(pd.Timestamp(e) for _, e in spans.values())
    return (start, end) if start <= end else None


def check_basin_period(spans: Mapping[str, Span], period: Sequence | None = None) -> list[str]:
    """Problems of the chosen basins and data ``period`` (first, last day; None = the common period)."""
    if not spans:
        return ["Choose at least one basin."]
    common = common_period(spans)
    if common is None:
        records = "; ".join(f"{b}: {_day(s)} to {_day(e)}" for b, (s, e) in spans.items())
        return [f"The chosen basins share no common period ({records}). Choose basins whose records overlap."]
    if period is None:
        return []
    start, end = (pd.Timestamp(p) for p in period)
    if start > end:
        return [f"The data period starts ({_day(start)}) after it ends ({_day(end)})."]
    if start < common[0] or end > common[1]:
        return [f"The data period {_day(start)} to {_day(end)} is outside the records the chosen basins share "
                f"({_day(common[0])} to {_day(common[1])})."]
    return []


def check_hydro_periods(data: Span, train: Sequence, test: Sequence, warmup: int, rho: int,
                        step: pd.Timedelta = pd.Timedelta(days=1), valid_fraction: float = 0.2,
                        check_overlap: bool = True) -> list[str]:
    """Problems of a dXAJ training set-up on data covering ``data`` (first, last time step).

    ``train`` and ``test`` are (first, last) days; ``warmup`` and ``rho`` are in time steps of
    length ``step``. Both periods must lie inside the data and not overlap; the training period
    (less its validation share) must hold at least one window of ``warmup + rho`` steps, and the test
    period at least ``rho`` steps after a warm-up taken from the data before it.
    """
    problems = []
    first, last = pd.Timestamp(data[0]), pd.Timestamp(data[1])
    periods = {}
    for label, value in (("Training period", train), ("Test period", test)):
        if value is None or len(value) != 2 or any(v is None for v in value):
            problems.append(f"{label}: pick a start and an end date.")
            continue
        start, end = pd.Timestamp(value[0]), pd.Timestamp(value[1])
        if start > end:
            problems.append(f"{label} starts ({_day(start)}) after it ends ({_day(end)}).")
        elif start < first or end > last:
            problems.append(f"{label} {_day(start)} to {_day(end)} is outside the data ({_day(first)} to {_day(last)}).")
        else:
            periods[label] = (start, end)
    if check_overlap and len(periods) == 2 and periods_overlap(periods):
        (a0, a1), (b0, b1) = periods["Training period"], periods["Test period"]
        problems.append(f"Training period ({_day(a0)} to {_day(a1)}) and test period ({_day(b0)} to {_day(b1)}) "
                        "overlap: the test years must be unseen in training.")
    if "Training period" in periods:
        a0, a1 = periods["Training period"]
        steps = int((a1 - a0) / step) + 1
        usable = int(steps * (1 - valid_fraction))
        if usable < warmup + rho:
            problems.append(f"The training period has {usable} steps after holding out {valid_fraction:.0%} for "
                            f"validation, fewer than one window of warm-up + rho = {warmup + rho} steps: "
                            "lengthen the period or shorten the window.")
    if "Test period" in periods:
        b0, b1 = periods["Test period"]
        if int((b1 - b0) / step) + 1 < rho:
            problems.append(f"The test period is shorter than one window (rho = {rho} steps).")
    return problems


# how a user can supply an input the data lacks (the basin-table column names of the README)
_INPUT_HINTS = {
    "tmean": "add a tmean_c column, or tmin_c and tmax_c (tmean is then their mean)",
    "pet": "add a pet_mm column, or tmin_c and tmax_c and the basin latitude to compute it",
}


def check_dynamic_inputs(variables: Mapping[str, Iterable[str]], inputs: Sequence[str]) -> list[str]:
    """Problems of the LSTM's dynamic ``inputs`` (config ``data.dynamic_inputs``) against the data.

    ``variables``: ``{basin: names of the series its data holds}``. One problem per basin that lacks
    any of the inputs, naming the basin and the variables (training would otherwise stop on them
    after Start).
    """
    problems = []
    for basin, names in variables.items():
        have = set(names)
        missing = [name for name in inputs if name not in have]
        if not missing:
            continue
        hints = "; ".join(f"{name}: {_INPUT_HINTS[name]}" for name in missing if name in _INPUT_HINTS)
        problems.append(f"Basin {basin} has no {', '.join(repr(m) for m in missing)} series, which the training "
                        f"feeds to the LSTM (inputs: {', '.join(inputs)})" + (f" ({hints})." if hints else "."))
    return problems
