"""Range diagnostics of a finished dXAJ run: how often each generated XAJ parameter sits at a bound.

The LSTM's outputs go through a sigmoid and ``lower + p (upper - lower)`` (``ParamRanges.denormalise``),
so a parameter whose best value lies outside the range is held at the bound (p near 0 or 1) instead
of reaching it. The diagnosis counts, per parameter, the test steps (time steps x basins, from the
``params`` ``[basin, time, param]`` a run saves in predictions.nc) whose value lies within
:data:`NEAR_BOUND` of the range width from the lower and from the upper bound, and flags a bound
held in at least :data:`FLAG_SHARE` of them. Missing values (steps the evaluation did not cover) are
left out of both numerator and denominator.

With several XAJ components per basin the saved values are component means: a mean within 2 % of a
bound implies every component is near it, so the diagnosis can only miss, never invent, a flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core.hydro.params import LITERATURE_RANGES, PARAM_SPECS, ParamRanges, XAJ_PARAMS

NEAR_BOUND = 0.02
"""Band at each bound, as a fraction of the range width (2 %: a sigmoid output below 0.02 or above 0.98)."""

FLAG_SHARE = 0.25
"""A bound is flagged when at least this share of the test steps lies in its band. A parameter spread
evenly over its range puts 2 % of its steps in each band, so 25 % is more than ten times that: the
network is pressing against the bound for a quarter of the time, not passing by it. The diagnosis
that drove the ``camels_us`` preset (core.hydro.params) found 32-96 % for the parameters it widened."""

WIDEN_FACTOR = 1.0
"""A widened bound moves outward by this many current range widths (the range doubles on that side),
stopping at the literature limit (``LITERATURE_RANGES``): a step large enough to show whether the
bound mattered, small enough to stay near ranges published studies use."""

_SPECS = {spec.name: spec for spec in PARAM_SPECS}


@dataclass(frozen=True)
class BoundDiagnosis:
    """One parameter of one run.

    share_lower/share_upper: fraction (0-1) of finite test steps (basins x time) within the band of
    the lower/upper bound; basins_lower/basins_upper: basins whose own share reaches ``FLAG_SHARE``;
    n_steps: finite steps counted (0 when the parameter has no values: shares are NaN then).
    """

    name: str
    unit: str
    lower: float
    upper: float
    literature_lower: float
    literature_upper: float
    physical_limits: str
    share_lower: float
    share_upper: float
    basins_lower: int
    basins_upper: int
    n_basins: int
    n_steps: int

    @property
    def flagged(self) -> tuple[str, ...]:
        """The bounds (``"lower"``, ``"upper"``) held in at least ``FLAG_SHARE`` of the test steps."""
        out = []
        if self.share_lower >= FLAG_SHARE:
            out.append("lower")
        if self.share_upper >= FLAG_SHARE:
            out.append("upper")
        return tuple(out)

    def widened(self, side: str) -> tuple[float, float] | None:
        """The range with the ``side`` bound moved out by ``WIDEN_FACTOR`` widths, capped at the literature
        limit; None when that bound already reaches the literature limit (nothing to widen toward)."""
        width = self.upper - self.lower
        if side == "lower":
            new = max(self.lower - WIDEN_FACTOR * width, self.literature_lower)
            return (new, self.upper) if new < self.lower else None
        if side == "upper":
            new = min(self.upper + WIDEN_FACTOR * width, self.literature_upper)
            return (self.lower, new) if new > self.upper else None
        raise ValueError(f"side must be 'lower' or 'upper', got {side!r}")


def bound_shares(params: np.ndarray, lower: Sequence[float], upper: Sequence[float],
                 band: float = NEAR_BOUND) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shares of the steps near each bound.

    ``params`` ``[basin, time, param]`` in physical units (NaN = no value); ``lower``/``upper``
    ``[param]`` the range the run used. Returns ``(share_lower [param], share_upper [param],
    basin_share_lower [basin, param], basin_share_upper [basin, param], n_steps [param])``, shares as
    fractions 0-1 (NaN where a parameter, or a basin's parameter, has no finite value).
    """
    p = np.asarray(params, dtype=float)
    if p.ndim != 3:
        raise ValueError(f"params must be [basin, time, param], got {p.ndim} dimensions")
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if lo.shape != (p.shape[2],) or hi.shape != lo.shape:
        raise ValueError(f"param_lower/param_upper must have {p.shape[2]} values (one per parameter), "
                         f"got {lo.shape} and {hi.shape}")
    margin = band * (hi - lo)
    finite = np.isfinite(p)
    near_lo = finite & (p <= lo + margin)
    near_hi = finite & (p >= hi - margin)
    counted = finite.sum(axis=1)  # [basin, param]
    with np.errstate(invalid="ignore", divide="ignore"):
        basin_lo = near_lo.sum(axis=1) / counted
        basin_hi = near_hi.sum(axis=1) / counted
        n = counted.sum(axis=0)
        share_lo = near_lo.sum(axis=(0, 1)) / n
        share_hi = near_hi.sum(axis=(0, 1)) / n
    return share_lo, share_hi, basin_lo, basin_hi, n


def diagnose(params: np.ndarray, names: Sequence[str], lower: Sequence[float],
             upper: Sequence[float]) -> list[BoundDiagnosis]:
    """One :class:`BoundDiagnosis` per parameter of ``names`` (the ``param`` coordinate of the run's
    predictions; ``params`` ``[basin, time, param]`` in that order, ``lower``/``upper`` ``[param]``)."""
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in _SPECS]
    if unknown:
        raise ValueError(f"unknown XAJ parameter(s) {', '.join(unknown)} in the run's predictions; "
                         f"known: {', '.join(XAJ_PARAMS)}")
    share_lo, share_hi, basin_lo, basin_hi, n = bound_shares(params, lower, upper)
    out = []
    for j, name in enumerate(names):
        spec = _SPECS[name]
        lit_lo, lit_hi = LITERATURE_RANGES[name]
        out.append(BoundDiagnosis(
            name=name, unit=spec.unit, lower=float(lower[j]), upper=float(upper[j]),
            literature_lower=float(lit_lo), literature_upper=float(lit_hi), physical_limits=spec.limit_text(),
            share_lower=float(share_lo[j]), share_upper=float(share_hi[j]),
            basins_lower=int(np.sum(basin_lo[:, j] >= FLAG_SHARE)), basins_upper=int(np.sum(basin_hi[:, j] >= FLAG_SHARE)),
            n_basins=int(np.asarray(params).shape[0]), n_steps=int(n[j])))
    return out


def diagnose_predictions(ds) -> list[BoundDiagnosis]:
    """:func:`diagnose` of a run's predictions (an ``xarray.Dataset`` with ``params``
    ``(basin, time, param)``, ``param_lower`` and ``param_upper``); empty when it holds no parameters
    (a baseline's predictions)."""
    if "params" not in ds:
        return []
    params = ds["params"].transpose("basin", "time", "param").values
    return diagnose(params, [str(n) for n in ds["param"].values], ds["param_lower"].values, ds["param_upper"].values)


def diagnosis_table(diagnoses: Sequence[BoundDiagnosis]) -> pd.DataFrame:
    """The diagnoses as a table for display: shares in percent, ranges as text, the flag in words."""
    rows = []
    for d in diagnoses:
        rows.append({
            "parameter": d.name, "flag": ", ".join(f"held at {side} bound" for side in d.flagged),
            "unit": d.unit, "range used": f"{d.lower:g} – {d.upper:g}",
            "literature range": f"{d.literature_lower:g} – {d.literature_upper:g}",
            "physical limits": d.physical_limits,
            "at lower bound (%)": 100.0 * d.share_lower, "at upper bound (%)": 100.0 * d.share_upper,
            "basins at lower": f"{d.basins_lower} of {d.n_basins}", "basins at upper": f"{d.basins_upper} of {d.n_basins}",
        })
    return pd.DataFrame(rows)


def flag_message(d: BoundDiagnosis, side: str) -> str:
    """Plain words for a flagged bound: how often, in how many basins, and what widening is offered."""
    share = d.share_lower if side == "lower" else d.share_upper
    basins = d.basins_lower if side == "lower" else d.basins_upper
    bound = d.lower if side == "lower" else d.upper
    unit = "" if d.unit == "-" else f" {d.unit}"  # dimensionless parameters carry "-" as their unit
    text = (f"**{d.name}** lies within {NEAR_BOUND:.0%} of its {side} bound {bound:g}{unit} in "
            f"{share:.0%} of the test steps ({basins} of {d.n_basins} basins at least {FLAG_SHARE:.0%} of the time).")
    widened = d.widened(side)
    if widened is None:
        text += (f" That bound already reaches the literature limit "
                 f"({d.literature_lower:g} – {d.literature_upper:g}): the parameter may be compensating "
                 "for something else (input bias, model structure).")
    else:
        text += f" Widening toward the literature limit gives {widened[0]:g} – {widened[1]:g}."
    return text


def widened_ranges(ranges: Mapping[str, Sequence[float]], name: str, widened: tuple[float, float],
                   source: str = "widened ranges") -> dict[str, list[float]]:
    """All 15 ranges ``{name: [lower, upper]}`` of a run (``ranges`` may leave names out: the classic
    preset fills them) with ``name`` replaced by ``widened``, validated against the physical limits."""
    checked = ParamRanges.from_dict(dict(ranges), source=source).with_range(name, *widened)
    return checked.to_dict()
