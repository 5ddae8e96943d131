"""CAMELS-US reader for the original folder layout (Newman et al. 2015; Addor et al. 2017).

::

    <root>/basin_mean_forcing/<forcing>/[<huc>/]<id>_lump_cida_forcing_leap.txt
    <root>/usgs_streamflow/[<huc>/]<id>_streamflow_qc.txt
    <root>/camels_attributes_v2.0/camels_*.txt          (optional, ';'-separated, all basins)

Forcing files: three header lines (centroid latitude in degrees, mean elevation in m, area in m2),
a column line, then ``Year Mnth Day Hr dayl(s) prcp(mm/day) srad(W/m2) swe(mm) tmax(C) tmin(C)
vp(Pa)``. Streamflow files: ``id year month day q_cfs flag`` with -999 for missing values and the
USGS QC flag ``A`` (approved), ``A:e`` (approved, estimated) or ``M`` (missing).
Output units: prcp mm/day, tmin/tmax degC, srad W m-2 (Daymet daylight mean), vp Pa, dayl h,
swe mm, q_obs mm/day from ``q_cfs * 0.0283168 * 86400 / (area_km2 * 1e6) * 1000`` with the
header area; QC flags as ``q_flag`` codes (-1 = no record; meanings in the variable's attributes).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from . import validation
from .basins import BasinRecord, select_ids
from .errors import DataError

FORCING_DIR = "basin_mean_forcing"
STREAMFLOW_DIR = "usgs_streamflow"
ATTRIBUTES_DIR = "camels_attributes_v2.0"
FORCING_SUFFIX = "_lump_cida_forcing_leap.txt"
STREAMFLOW_SUFFIX = "_streamflow_qc.txt"
CFS_TO_M3S = 0.0283168
STREAMFLOW_SIGNATURES = ("q_mean", "runoff_ratio", "slope_fdc", "baseflow_index", "stream_elas", "q5", "q95",
                         "high_q_freq", "high_q_dur", "low_q_freq", "low_q_dur", "zero_q_freq", "hfd_mean")
"""The attributes of ``camels_hydro.txt``: signatures of the observed streamflow of 1989-2009
(Addor et al. 2017). As model inputs they would hand a model the flow of its own test years, so
``static_inputs: all`` leaves them out."""
QC_FLAGS = ("A", "A:e", "M")

# forcing column header text -> canonical name
_FORCING_COLUMNS = {
    "dayl(s)": "dayl",
    "prcp(mm/day)": "prcp",
    "srad(w/m2)": "srad",
    "swe(mm)": "swe",
    "tmax(c)": "tmax",
    "tmin(c)": "tmin",
    "vp(pa)": "vp",
}


def is_camels_us(folder: str | os.PathLike) -> bool:
    """True when ``folder`` has the CAMELS-US ``basin_mean_forcing`` and ``usgs_streamflow`` folders."""
    folder = Path(folder)
    return (folder / FORCING_DIR).is_dir() and (folder / STREAMFLOW_DIR).is_dir()


def list_camels_basins(root: str | os.PathLike, forcing: str = "daymet") -> dict[str, Path]:
    """Basin id -> forcing file of every basin with a forcing file."""
    base = Path(root) / FORCING_DIR / forcing
    if not base.is_dir():
        raise DataError(f"no forcing folder {FORCING_DIR}/{forcing}", file=base)
    return {p.name[: -len(FORCING_SUFFIX)]: p for p in sorted(base.rglob(f"*{FORCING_SUFFIX}"))}


def load_camels_records(
    root: str | os.PathLike,
    basins: Iterable[str] | str | None = None,
    forcing: str = "daymet",
) -> tuple[list[BasinRecord], dict[str, Any]]:
    """Read the selected CAMELS-US basins (all with forcing when ``basins`` is None)."""
    root = Path(root)
    forcing_files = list_camels_basins(root, forcing)
    ids = select_ids(forcing_files, basins, str(root))
    streamflow_files = {p.name[: -len(STREAMFLOW_SUFFIX)]: p for p in (root / STREAMFLOW_DIR).rglob(f"*{STREAMFLOW_SUFFIX}")}
    attributes = read_camels_attributes(root / ATTRIBUTES_DIR, ids) if (root / ATTRIBUTES_DIR).is_dir() else {}
    records = []
    for basin in ids:
        frame, header = read_forcing(forcing_files[basin], basin)
        statics: dict[str, Any] = dict(attributes.get(basin, {}))
        area_km2 = header["area_m2"] / 1e6
        statics["name"] = statics.pop("gauge_name", basin)
        statics["lat"] = statics.pop("gauge_lat", header["lat"])
        statics["lon"] = statics.pop("gauge_lon", np.nan)
        statics["area_km2"] = area_km2
        statics["elevation"] = header["elevation_m"]
        files = {name: str(forcing_files[basin]) for name in frame.columns}
        flag_attrs: dict[str, dict[str, Any]] = {}
        if basin in streamflow_files:
            q_file = streamflow_files[basin]
            q_mm, flags = read_streamflow(q_file, basin, area_km2)
            frame["q_obs"] = q_mm.reindex(frame.index)
            frame["q_flag"] = flags.reindex(frame.index).fillna(-1).astype(np.int8)
            files["q_obs"] = files["q_flag"] = str(q_file)
            flag_attrs["q_flag"] = {
                "flag_values": list(range(len(QC_FLAGS))),
                "flag_meanings": " ".join(f.replace(":", "_") for f in QC_FLAGS),
                "comment": "USGS QC flag per day: A approved, A:e approved estimated, M missing; -1 no record",
            }
            validation.check_streamflow(frame, str(q_file), basin, "mm/day")
        else:
            frame["q_obs"] = np.nan
        validation.check_precipitation(frame, str(forcing_files[basin]), basin)
        records.append(
            BasinRecord(
                basin=basin,
                frame=frame,
                file=str(forcing_files[basin]),
                step=pd.Timedelta(days=1),
                statics=statics,
                files=files,
                var_attrs=flag_attrs,
            )
        )
    return records, {"source_kind": "camels_us", "forcing": forcing}


def read_forcing(path: Path, basin: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """One forcing file -> (daily DataFrame with canonical columns, header dict).

    Header: ``lat`` (degrees), ``elevation_m`` (m), ``area_m2`` (m2). ``dayl`` is converted from
    seconds to hours. Duplicate or missing days are reported / filled with NaN by validation.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            head = [next(fh) for _ in range(4)]
    except (StopIteration, UnicodeDecodeError) as exc:
        raise DataError(f"not a CAMELS forcing file: expected 3 header lines and a column line ({exc})", file=path, basin=basin) from exc
    header: dict[str, float] = {}
    for line_no, (key, text) in enumerate(zip(("lat", "elevation_m", "area_m2"), head[:3]), start=1):
        try:
            header[key] = float(text.strip())
        except ValueError as exc:
            raise DataError(f"header line {line_no} ({key}) is {text.strip()!r}, not a number", file=path, variable=key, basin=basin) from exc
    if header["area_m2"] <= 0:
        raise DataError(f"basin area in the header is {header['area_m2']:g} m2", file=path, variable="area", basin=basin)
    names = head[3].split()
    if names[:4] != ["Year", "Mnth", "Day", "Hr"]:
        raise DataError(f"column line starts {' '.join(names[:4])!r}, expected 'Year Mnth Day Hr'", file=path, basin=basin)
    table = pd.read_csv(path, sep=r"\s+", skiprows=4, header=None, names=names, engine="c")
    try:
        index = pd.to_datetime(dict(year=table["Year"], month=table["Mnth"], day=table["Day"]))
    except (ValueError, TypeError) as exc:
        raise DataError(f"bad Year/Mnth/Day values ({exc})", file=path, variable="date", basin=basin) from exc
    columns = {}
    for raw in names[4:]:
        canonical = _FORCING_COLUMNS.get(raw.lower(), raw)
        columns[canonical] = table[raw]
    frame = pd.DataFrame(columns)
    frame.index = pd.DatetimeIndex(index, name="time")
    frame = validation.coerce_numeric(frame, str(path), basin)
    if "dayl" in frame:
        frame["dayl"] = frame["dayl"] / 3600.0  # seconds -> hours
    validation.check_required(frame, ("prcp", "tmin", "tmax"), str(path), basin)
    frame, _ = validation.regularise_time(frame, str(path), basin)
    return frame, header


def read_streamflow(path: Path, basin: str, area_km2: float) -> tuple[pd.Series, pd.Series]:
    """One streamflow file -> (runoff in mm/day, QC flag codes), indexed by day; -999 -> NaN."""
    table = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["gauge", "year", "month", "day", "q_cfs", "flag"],
        dtype={"gauge": str, "flag": str},
        engine="c",
    )
    try:
        index = pd.DatetimeIndex(pd.to_datetime(dict(year=table["year"], month=table["month"], day=table["day"])), name="time")
    except (ValueError, TypeError) as exc:
        raise DataError(f"bad year/month/day values ({exc})", file=path, variable="date", basin=basin) from exc
    frame = pd.DataFrame({"q_cfs": table["q_cfs"]}).set_index(index)
    frame = validation.coerce_numeric(frame, str(path), basin)
    q = frame["q_cfs"].where(~frame["q_cfs"].isin(validation.MISSING_CODES))
    if index.has_duplicates:
        where = index[index.duplicated()][0]
        raise DataError("a duplicated date", file=path, variable="date", basin=basin, date=where)
    q_mm = q * CFS_TO_M3S * 86400.0 / (area_km2 * 1e6) * 1000.0
    codes = table["flag"].map({f: i for i, f in enumerate(QC_FLAGS)})
    unknown = codes.isna() & table["flag"].notna()
    if unknown.any():
        where = int(unknown.to_numpy().nonzero()[0][0])
        raise DataError(f"unknown QC flag {table['flag'].iloc[where]!r} (expected {', '.join(QC_FLAGS)})", file=path, variable="q_flag", basin=basin, date=index[where])
    flags = pd.Series(codes.fillna(-1).to_numpy(dtype=np.int8), index=index)
    return pd.Series(q_mm.to_numpy(), index=index), flags


def read_camels_attributes(folder: str | os.PathLike, basins: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Merge ``camels_*.txt`` (';'-separated) into {basin id: {attribute: value}}.

    Numeric attributes become floats (``NA`` -> NaN); text attributes (names, HUC codes, classes)
    stay strings. Only ``basins`` are kept when given.
    """
    folder = Path(folder)
    wanted = None if basins is None else set(basins)
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("camels_*.txt")):
        table = pd.read_csv(path, sep=";", dtype={"gauge_id": str, "huc_02": str})
        if "gauge_id" not in table:
            raise DataError("attribute file has no gauge_id column", file=path, variable="gauge_id")
        table["gauge_id"] = table["gauge_id"].str.strip()
        if wanted is not None:
            table = table[table["gauge_id"].isin(wanted)]
        for row in table.to_dict("records"):
            basin = row.pop("gauge_id")
            target = merged.setdefault(basin, {})
            for key, value in row.items():
                if isinstance(value, str):
                    value = value.strip()
                elif value is not None:
                    value = float(value)
                target[key] = value
    return merged


def join_attributes(records: list[BasinRecord], folder: str | os.PathLike) -> None:
    """Add the ``camels_attributes_v2.0`` attributes of ``folder`` to each record's statics (in place).

    For a source without its own attribute files (e.g. a basin-table folder of CAMELS basins): the
    attribute files cover all 671 CAMELS-US basins. Attributes the record already has keep their
    value. A basin without a row gets none (a warning names it), so ``static_inputs: all``, which
    takes only attributes every basin has, falls back to the source's own attributes for the whole
    set; naming a joined attribute explicitly then fails, naming the basin. Raises
    :class:`DataError` naming the folder when it holds no attribute file.
    """
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.glob("camels_*.txt")):
        raise DataError("no camels_*.txt attribute files (config key data.attributes)", file=folder)
    table = read_camels_attributes(folder, [rec.basin for rec in records])
    lacking = [rec.basin for rec in records if rec.basin not in table]
    if lacking:
        warnings.warn(f"{folder}: no attributes for basin(s) {', '.join(lacking)} (config key data.attributes); "
                      "static_inputs 'all' keeps only attributes every basin has", stacklevel=2)
    for rec in records:
        for key, value in table.get(rec.basin, {}).items():
            rec.statics.setdefault(key, value)
