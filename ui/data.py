"""Cached loaders for datasets and run results (keyed on paths and file modification times)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import xarray as xr

from core.runs.catalog import list_runs
from core.runs.folder import RunDir
from ui.frame import BASINS_KEY, DATA_SOURCE_KEY, PERIOD_KEY, kept, runs_root, show_error

def upload_dir() -> Path:
    """The folder holding the dashboard's uploads, one folder per upload (``core.data.uploads``)."""
    from core.data.uploads import UPLOADS_FOLDER

    path = runs_root() / UPLOADS_FOLDER
    path.mkdir(parents=True, exist_ok=True)
    return path


@st.cache_data(show_spinner=False, ttl=300)
def _available_sources(uploads: tuple[tuple[str, str], ...], data_roots: str) -> dict[str, str]:
    # data_roots ($HYDROCAST_DATA) is part of the key: the sources listed depend on it
    from core.data import available_sources

    options = {}
    for source in available_sources():
        key = "demo" if source.kind == "demo" else source.path
        options[key] = f"{source.name} ({source.kind}, {source.n_basins} basins)"
    for path, label in uploads:
        options[path] = label
    return options


def source_options() -> dict[str, str]:
    """``{source argument for load_basins: label}``: demo, $HYDROCAST_DATA folders, uploaded files."""
    from core.data.uploads import list_uploads

    return _available_sources(tuple((str(u.source), u.label) for u in list_uploads(upload_dir())),
                              os.environ.get("HYDROCAST_DATA", ""))


@st.cache_data(show_spinner=False)
def basin_ids(source: str) -> list[str]:
    from core.data import list_basins

    return list_basins(source)


def source_and_basins() -> tuple[str, list[str], list[str]]:
    """The sidebar's data source, all its basin ids, and the basins chosen on the Basins page.

    The choice is shared by the Basins and Train pages; ids the current source does not have are
    dropped (the first basin stands in for an empty choice). Stops the page with a readable error
    when the source cannot be listed.
    """
    from core.data import DataError

    source = st.session_state[DATA_SOURCE_KEY]
    try:
        ids = basin_ids(source)
    except (DataError, OSError) as exc:
        show_error(exc, f"Reading the basin list of {source}")
        st.stop()
    chosen = [b for b in st.session_state.get(BASINS_KEY, []) if b in ids] or ids[:1]
    return source, ids, chosen


@st.cache_data(show_spinner="Loading basin data…")
def basin_dataset(source: str, basins: tuple[str, ...] | None = None, start: str | None = None,
                  end: str | None = None) -> xr.Dataset:
    """``core.data.load_basins`` cached per (source, basins, period)."""
    from core.data import load_basins

    return load_basins(source, basins=list(basins) if basins else None, start=start, end=end).load()


def basin_spans(source: str, basins: tuple[str, ...]) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """``{basin: (first, last time step)}`` of each basin's own record (each loaded alone, cached)."""
    spans = {}
    for bid in basins:
        time = basin_dataset(source, (bid,))["time"].values
        spans[bid] = (pd.Timestamp(time[0]), pd.Timestamp(time[-1]))
    return spans


def data_period(spans: dict[str, tuple[pd.Timestamp, pd.Timestamp]]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The data period chosen on the Basins page, kept when it lies inside the basins' common period,
    else that whole common period (None when the basins share none)."""
    from core.hydro.checks import common_period

    common = common_period(spans)
    if common is None:
        return None
    chosen = kept(PERIOD_KEY)
    if isinstance(chosen, (tuple, list)) and len(chosen) == 2:
        start, end = pd.Timestamp(chosen[0]), pd.Timestamp(chosen[1])
        if common[0] <= start <= end <= common[1]:
            return start, end
    return common


@st.cache_data(show_spinner=False)
def basin_catalog(source: str, ids: tuple[str, ...]) -> list[dict[str, Any]]:
    """Id, name, lat, lon, area of every basin of a source (for the outlet map and table).

    Basin-table folders have a basins.csv with these attributes; other sources are read basin by
    basin (cached), which is quick for the few basins of the demo or a sample.
    """
    from core.data import DataError, load_basins

    rows = []
    if Path(source).is_dir() and (Path(source) / "basins.csv").exists():
        from core.data.basin_table import read_attributes

        attrs = read_attributes(Path(source) / "basins.csv")
        for bid in ids:
            a = attrs.get(bid, {})
            rows.append({"basin": bid, "name": a.get("name", bid), "lat": a.get("lat"), "lon": a.get("lon"),
                         "area_km2": a.get("area_km2")})
        return rows
    for bid in ids[:30]:
        try:
            ds = load_basins(source, basins=[bid])
        except DataError as exc:
            rows.append({"basin": bid, "name": f"unreadable: {exc}", "lat": None, "lon": None, "area_km2": None})
            continue
        rows.append({"basin": bid, "name": str(ds["name"].values[0]) if "name" in ds.coords else bid,
                     "lat": float(ds["lat"].values[0]), "lon": float(ds["lon"].values[0]),
                     "area_km2": float(ds["area_km2"].values[0]) if "area_km2" in ds.coords else None,
                     "start": str(ds.time.values[0])[:10], "end": str(ds.time.values[-1])[:10]})
    return rows


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_data(show_spinner="Reading predictions…", max_entries=16)
def _open_predictions(path: str, mtime: float, kind: str | None) -> xr.Dataset:
    from core.runs.results import open_predictions

    return open_predictions(path, kind)


def predictions(path: Path, kind: str | None = None) -> xr.Dataset:
    """A run's predictions.nc, checked for ``kind``'s pages and cached until the file changes.

    Raises ``core.runs.RunFileDamaged`` (a ``ValueError``) naming the file and what is wrong.
    """
    return _open_predictions(str(path), _mtime(path), kind)


def hydro_predictions(run: RunDir) -> dict[str, xr.Dataset]:
    """``{model name: predictions}``: the run's own model first, then its other models (baselines)."""
    out = {}
    if run.predictions_path.exists():
        ds = predictions(run.predictions_path, "hydro")
        out[str(ds.attrs.get("model", "dpl"))] = ds
    for name in run.model_names():
        path = run.model_dir(name).predictions_path
        if path.exists():
            out[name] = predictions(path, "hydro")
    return out


def runs_with_predictions(kind: str) -> list[RunDir]:
    """Runs of ``kind`` that have predictions, newest first."""
    return [r for r in list_runs(runs_root(), kind) if r.predictions_path.exists()]


def readable_runs(kind: str) -> tuple[list[RunDir], list[str]]:
    """Runs of ``kind`` whose predictions open and hold what the pages draw, and one message per run
    whose predictions are damaged (the pages list those and keep working with the others)."""
    good, damaged = [], []
    for run in runs_with_predictions(kind):
        try:
            if kind == "hydro":
                hydro_predictions(run)
            else:
                predictions(run.predictions_path, kind)
        except (OSError, ValueError) as exc:
            damaged.append(f"Run {run.name} is skipped: {exc}")
        else:
            good.append(run)
    return good, damaged


from core.viz.palette import MODEL_LABELS  # noqa: E402,F401  (one naming for the pages and the run report)
