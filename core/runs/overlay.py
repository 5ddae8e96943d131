"""Several hydro runs of one basin on one time axis, for overlaid hydrographs and a score table per run.

Each run contributes its basin series ``{"time" [T], "q_obs" [T], "prcp" [T] or None, "sims" {model
label: [T]}}`` (streamflow in mm per step, its own test period). The overlay's time axis is the union
of the runs' steps; every run's simulations are placed on it (NaN outside its period) and the
observations are drawn once, taken at each step from the first run that has a value there (the runs
read the same basin record, so they agree where they overlap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from core import metrics

OVERLAY_SCORES = ("nse", "kge", "rmse", "pbias", "peak_error")


@dataclass(frozen=True)
class BasinOverlay:
    """``time`` [T] the union of the runs' steps; ``q_obs`` and ``prcp`` [T] (NaN where no run has a
    value; ``prcp`` None when no run saved rainfall); ``sims`` ``{run: {model label: [T]}}``."""

    time: pd.DatetimeIndex
    q_obs: np.ndarray
    prcp: np.ndarray | None
    sims: dict[str, dict[str, np.ndarray]]


def _on(time: pd.DatetimeIndex, own: pd.DatetimeIndex, values) -> np.ndarray:
    return pd.Series(np.asarray(values, dtype=float), index=own).groupby(level=0).first().reindex(time).to_numpy()


def overlay_basin(series: Mapping[str, Mapping]) -> BasinOverlay:
    """Merge the basin series of several runs (``{run name: series}``, module docstring) on one axis."""
    if not series:
        raise ValueError("overlay_basin needs at least one run")
    times = {run: pd.DatetimeIndex(s["time"]) for run, s in series.items()}
    time = times[next(iter(times))]
    for t in times.values():
        time = time.union(t)
    q_obs = np.full(len(time), np.nan)
    prcp = None
    sims: dict[str, dict[str, np.ndarray]] = {}
    for run, s in series.items():
        obs = _on(time, times[run], s["q_obs"])
        q_obs = np.where(np.isfinite(q_obs), q_obs, obs)
        if s.get("prcp") is not None:
            p = _on(time, times[run], s["prcp"])
            prcp = p if prcp is None else np.where(np.isfinite(prcp), prcp, p)
        sims[run] = {label: _on(time, times[run], q) for label, q in s["sims"].items()}
    return BasinOverlay(time, q_obs, prcp, sims)


def overlay_scores(series: Mapping[str, Mapping]) -> pd.DataFrame:
    """NSE, KGE, RMSE (mm/step), PBIAS and peak error (%) of every model of every run on the basin,
    each over its run's own test period (the ``first``/``last`` columns), NaN observations skipped.
    Columns: ``run``, ``model``, ``first``, ``last`` and :data:`OVERLAY_SCORES`."""
    rows = []
    for run, s in series.items():
        time = pd.DatetimeIndex(s["time"])
        obs = np.asarray(s["q_obs"], dtype=float)
        for label, q in s["sims"].items():
            scores = metrics.hydro_scores(np.asarray(q, dtype=float), obs)
            rows.append({"run": run, "model": label, "first": time[0].date().isoformat() if len(time) else "",
                         "last": time[-1].date().isoformat() if len(time) else "",
                         **{k: scores[k] for k in OVERLAY_SCORES}})
    return pd.DataFrame(rows, columns=["run", "model", "first", "last", *OVERLAY_SCORES])


def periods_differ(series: Mapping[str, Mapping]) -> bool:
    """Whether the runs' test periods differ (scores over different periods are not directly comparable)."""
    spans = {(pd.Timestamp(s["time"][0]), pd.Timestamp(s["time"][-1])) for s in series.values() if len(s["time"])}
    return len(spans) > 1
