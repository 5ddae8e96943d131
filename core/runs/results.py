"""A run's results as the dashboard reads them: predictions checked on opening, per-basin score tables.

``open_predictions`` loads a ``predictions.nc`` and checks that it has what the pages draw (the
dimensions and variables of docs/design.md, 8.5 predictions.nc); a file that does not open or lacks them raises
:class:`core.runs.RunFileDamaged` naming the file and what is missing, never a ``KeyError`` deep in
a page. ``hydro_score_table`` recomputes NSE, KGE, RMSE, PBIAS and peak error per basin and model
from the predictions (so baselines and the main model are scored the same way) with medians.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from core import metrics
from core.runs.folder import RunFileDamaged

TABLE_SCORES = ("nse", "kge", "rmse", "pbias", "peak_error")
"""Columns of :func:`hydro_score_table` (NSE, KGE: 1 is perfect; RMSE mm/step; PBIAS and peak error %)."""

REQUIRED = {
    "hydro": {"dims": ("basin", "time"), "variables": {"q_sim": ("basin", "time"), "q_obs": ("basin", "time")}},
    "rain": {"dims": ("time", "lat", "lon"), "variables": {"truth": ("time", "lat", "lon")}},
}
PARAMETER_VARIABLES = ("params", "param_lower", "param_upper")


def open_predictions(path: str | os.PathLike, kind: str | None = None) -> xr.Dataset:
    """``predictions.nc`` loaded into memory, checked for ``kind`` (``hydro`` / ``rain`` / None: opens only).

    Raises :class:`RunFileDamaged` when the file is not NetCDF, is truncated, or lacks a dimension or
    variable the pages of ``kind`` need (e.g. hydro predictions without a ``basin`` dimension).
    """
    path = Path(path)
    try:
        with xr.open_dataset(path) as handle:
            ds = handle.load()
    except FileNotFoundError:
        raise
    except Exception as exc:  # netCDF4/h5py/scipy raise many types for a bad file
        raise RunFileDamaged(path, f"cannot be opened as NetCDF ({type(exc).__name__}: {exc})") from None
    check_predictions(ds, path, kind)
    return ds


def check_predictions(ds: xr.Dataset, path: str | os.PathLike, kind: str | None) -> None:
    """Raise :class:`RunFileDamaged` when ``ds`` lacks what the pages of ``kind`` draw."""
    need = REQUIRED.get(kind or "")
    if need is None:
        return
    missing_dims = [d for d in need["dims"] if d not in ds.dims]
    if missing_dims:
        have = ", ".join(map(str, ds.dims)) or "none"
        raise RunFileDamaged(Path(path), f"no {', '.join(missing_dims)} dimension in {kind} predictions (dimensions: {have})")
    for name, dims in need["variables"].items():
        if name not in ds:
            raise RunFileDamaged(Path(path), f"variable {name!r} is missing from the {kind} predictions")
        if tuple(ds[name].dims) != dims:
            raise RunFileDamaged(Path(path), f"variable {name!r} has dimensions {tuple(ds[name].dims)}, expected {dims}")
    if kind == "hydro" and "params" in ds:
        absent = [n for n in PARAMETER_VARIABLES if n not in ds] + (["param"] if "param" not in ds.dims else [])
        if absent:
            raise RunFileDamaged(Path(path), f"parameters stored without {', '.join(absent)}")
        if tuple(ds["params"].dims) != ("basin", "time", "param"):
            raise RunFileDamaged(Path(path), f"'params' has dimensions {tuple(ds['params'].dims)}, expected ('basin', 'time', 'param')")


def hydro_score_table(models: Mapping[str, xr.Dataset], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Scores of every model on every basin, then one ``basin == "median"`` row per model.

    ``models``: ``{model name: predictions}`` with ``q_sim`` and ``q_obs`` ``(basin, time)`` in mm per
    step (NaN observations are skipped by the metrics). ``labels`` renames models for display.
    Columns: ``model``, ``basin`` and :data:`TABLE_SCORES`.
    """
    labels = labels or {}
    rows = []
    for model, ds in models.items():
        sim = np.asarray(ds["q_sim"].transpose("basin", "time").values, dtype=float)
        obs = np.asarray(ds["q_obs"].transpose("basin", "time").values, dtype=float)
        for i, basin in enumerate(ds["basin"].values):
            scores = metrics.hydro_scores(sim[i], obs[i])
            rows.append({"model": labels.get(model, model), "basin": str(basin), **{k: scores[k] for k in TABLE_SCORES}})
    table = pd.DataFrame(rows, columns=["model", "basin", *TABLE_SCORES])
    if table.empty:
        return table
    medians = table.groupby("model", sort=False)[list(TABLE_SCORES)].median().reset_index()
    medians["basin"] = "median"
    return pd.concat([table, medians], ignore_index=True)
