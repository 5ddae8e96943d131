"""Basin tables: one CSV or NetCDF file per basin, plus an optional ``basins.csv`` of attributes.

This is the format users upload in the dashboard and the simplest way to bring one's own basins::

    my_basins/
        basins.csv        gauge_id,name,lat,lon,area_km2,elevation,...   (optional)
        01484100.csv      date,prcp_mm,tmin_c,tmax_c,q_obs_mm,...
        01484100.nc       (or NetCDF: variables over a `time` dimension)

Series columns are recognised by name (case-insensitive, see :data:`COLUMN_ALIASES`): ``date``;
``prcp``/``prcp_mm`` (mm per step); ``pet``/``pet_mm`` (mm per step, optional: computed from
meteorology when absent); ``q_obs``/``q_obs_mm`` (runoff depth, mm per step, blank / NaN / -999
where not observed) or discharge ``q_obs_m3s``, ``q_obs_cfs``, ``q_obs_ls`` converted with
``area_km2``; ``tmin_c``, ``tmax_c``, ``tmean_c`` (degC; derived as (tmin + tmax) / 2 when only the
extremes are given), ``srad_w_m2`` (W m-2; Daymet
daylight mean when ``dayl_h`` is present), ``vp_pa`` (Pa), ``dayl_h`` (h). Other numeric columns are
kept as extra meteorology. The time step (daily, hourly, ...) is read from the dates. A single CSV
may also hold several basins in long format with a ``basin`` column, and per-basin constants
(``lat``, ``lon``, ``area_km2``, ``elevation``, ``name``) may be columns of the series file itself.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import xarray as xr

from . import validation
from .basins import BasinRecord, assemble, select_ids, step_label
from .errors import DataError

SERIES_SUFFIXES = (".csv", ".csv.gz", ".nc")
ATTRIBUTES_FILE = "basins.csv"
DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024

# lower-case column name -> canonical variable name
COLUMN_ALIASES: dict[str, str] = {}
for _canonical, _aliases in {
    "date": ("date", "time", "datetime", "timestamp"),
    "prcp": ("prcp", "prcp_mm", "precip", "precip_mm", "precipitation", "precipitation_mm", "p", "p_mm",
             "rain", "rain_mm", "rainfall", "rainfall_mm"),
    "pet": ("pet", "pet_mm", "pe", "ep", "potential_evaporation"),
    "q_obs": ("q_obs", "q_obs_mm", "qobs", "qobs_mm", "q_mm", "q", "runoff", "runoff_mm"),
    "q_obs_m3s": ("q_obs_m3s", "q_m3s", "q_cms", "discharge_m3s", "streamflow_m3s"),
    "q_obs_cfs": ("q_obs_cfs", "q_cfs", "streamflow_cfs", "discharge_cfs"),
    "q_obs_ls": ("q_obs_ls", "q_ls", "discharge_ls"),
    "tmin": ("tmin", "tmin_c", "tmin_degc"),
    "tmax": ("tmax", "tmax_c", "tmax_degc"),
    "tmean": ("tmean", "tmean_c", "tmean_degc", "tavg", "temp", "temperature", "tair"),
    "srad": ("srad", "srad_w_m2", "srad_wm2"),
    "vp": ("vp", "vp_pa"),
    "vp_kpa": ("vp_kpa",),
    "dayl": ("dayl", "dayl_h"),
    "dayl_s": ("dayl_s",),
    "swe": ("swe", "swe_mm"),
    "basin": ("basin", "basin_id", "gauge_id", "id"),
}.items():
    for _alias in _aliases:
        COLUMN_ALIASES[_alias] = _canonical

# attribute names (basins.csv columns, constant series columns, NetCDF attributes) -> canonical
STATIC_ALIASES = {
    "gauge_id": "basin", "basin": "basin", "basin_id": "basin", "id": "basin",
    "name": "name", "gauge_name": "name", "basin_name": "name",
    "lat": "lat", "latitude": "lat", "gauge_lat": "lat",
    "lon": "lon", "longitude": "lon", "gauge_lon": "lon",
    "area_km2": "area_km2", "area": "area_km2",
    "elevation": "elevation", "elevation_m": "elevation", "elev_mean_m": "elevation",
}
_SERIES_STATICS = ("lat", "lon", "area_km2", "elevation", "name")
_STEP_SECONDS_DAY = 86400.0
_CFS_TO_M3S = 0.0283168


# ----------------------------------------------------------------------------------------------
# public readers

def series_suffix(name: str | os.PathLike) -> str:
    """The file type of a basin series file, lower-case: ``.csv``, ``.csv.gz`` (a gzip-compressed CSV,
    as CAMELS-US regional tables are shipped), ``.nc``, or whatever else its name ends with."""
    lowered = Path(name).name.lower()
    return ".csv.gz" if lowered.endswith(".csv.gz") else Path(lowered).suffix


def series_stem(name: str | os.PathLike) -> str:
    """The basin id a series file's name gives: its name without ``.csv``, ``.csv.gz`` or ``.nc``."""
    base = Path(name).name
    return base[: -len(series_suffix(base))] if series_suffix(base) else base


def is_csv_series(name: str | os.PathLike) -> bool:
    """Whether a series file is a (possibly gzip-compressed) CSV table."""
    return series_suffix(name) in (".csv", ".csv.gz")


def list_table_basins(folder: str | os.PathLike) -> dict[str, Path]:
    """Basin id -> series file for a basin-table folder (``basins.csv`` is not a basin)."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if series_suffix(path) not in SERIES_SUFFIXES or path.name.lower() == ATTRIBUTES_FILE:
            continue
        stem = series_stem(path)
        if path.is_dir():
            # a folder named like a basin file would be read as one and fail deep inside pandas
            raise DataError(f"{path.name} in the basin folder is a folder, not a basin file: rename or move it",
                            file=path, basin=stem)
        if stem in found:
            raise DataError(f"basin {stem!r} has two series files ({found[stem].name}, {path.name})", file=path, basin=stem)
        found[stem] = path
    return found


def list_file_basins(path: str | os.PathLike) -> list[str]:
    """Basin ids of one basin file: its name without extension, or the ids it holds itself (a long
    CSV with a ``basin`` column, a NetCDF with a ``basin`` dimension); only those columns are read."""
    path = Path(path)
    if series_suffix(path) == ".nc":
        try:
            with xr.open_dataset(path) as handle:
                if "basin" not in handle.dims:
                    return [path.stem]
                return list(dict.fromkeys(str(b) for b in handle["basin"].values))
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot open as NetCDF ({exc})", file=path) from exc
    columns = [c for c in csv_header(path) if COLUMN_ALIASES.get(c.lower()) == "basin"]
    if not columns:
        return [series_stem(path)]
    if len(columns) > 1:
        raise DataError(f"columns {columns[0]!r} and {columns[1]!r} both give variable 'basin'", file=path, variable="basin")
    encoding, separator, _ = csv_format(_head_bytes(path), str(path))
    try:
        ids = pd.read_csv(path, usecols=lambda c: str(c).strip().strip('"').lstrip("\ufeff") == columns[0], dtype=str,
                          encoding=encoding, sep=separator, skipinitialspace=True).iloc[:, 0]
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, IndexError) as exc:
        raise DataError(f"cannot read the basin column {columns[0]!r} ({exc})", file=path, variable="basin") from exc
    return list(dict.fromkeys(ids.astype(str).str.strip()))


def list_folder_basins(folder: str | os.PathLike) -> list[str]:
    """Basin ids a basin-table folder offers: file names, and the ids of long-format CSVs in it."""
    return list(_folder_ids(list_table_basins(folder)))


def _folder_ids(files: dict[str, Path]) -> dict[str, Path]:
    # NetCDF files keep their name as id here: opening each to look for a basin dimension would
    # make listing a folder of hundreds of basins slow, while a CSV header is read in microseconds
    out: dict[str, Path] = {}
    for stem, path in files.items():
        for basin in list_file_basins(path) if is_csv_series(path) else [stem]:
            if basin in out:
                raise DataError(f"basin {basin!r} is in two series files ({out[basin].name}, {path.name})",
                                file=path, basin=basin)
            out[basin] = path
    return out


def load_table_folder_records(
    folder: str | os.PathLike, basins: Iterable[str] | str | None = None
) -> tuple[list[BasinRecord], dict[str, Any]]:
    """Read the selected basins of a basin-table folder into records (see module docstring)."""
    folder = Path(folder)
    files = list_table_basins(folder)
    if not files:
        raise DataError(f"no basin series (*.csv, *.csv.gz, *.nc) in folder {folder}", file=folder)
    files = _folder_ids(files)
    ids = select_ids(files, basins, str(folder))
    attributes = read_attributes(folder / ATTRIBUTES_FILE) if (folder / ATTRIBUTES_FILE).is_file() else {}
    by_id: dict[str, BasinRecord] = {}
    # a long-format file holds several of the chosen basins: read it once
    for path in dict.fromkeys(files[basin] for basin in ids):
        for rec in _read_series_file(path, default_basin=series_stem(path), statics={}, attributes=attributes):
            # a bad latitude or area is then reported in basins.csv, where it was written
            rec.files.update({key: str(folder / ATTRIBUTES_FILE) for key in attributes.get(rec.basin, {})
                              if key not in rec.files})
            by_id.setdefault(rec.basin, rec)
    records = [by_id[basin] for basin in ids]
    return records, {"source_kind": "basin_table"}


def load_table_file_records(
    path: str | os.PathLike, basins: Iterable[str] | str | None = None
) -> tuple[list[BasinRecord], dict[str, Any]]:
    """Read a single basin CSV/NetCDF file (one basin, or several in long format / a basin dim)."""
    path = Path(path)
    sidecar = path.parent / ATTRIBUTES_FILE
    attributes = read_attributes(sidecar) if sidecar.is_file() and sidecar != path else {}
    stem = series_stem(path)
    records = _read_series_file(path, default_basin=stem, statics=attributes.get(stem, {}), attributes=attributes)
    by_id = {rec.basin: rec for rec in records}
    ids = select_ids(by_id, basins, str(path))
    return [by_id[b] for b in ids], {"source_kind": "basin_file"}


def check_upload_bytes(name: str, data: bytes, max_bytes: int) -> None:
    """Refuse an uploaded file that is larger than ``max_bytes`` or empty, naming it."""
    if len(data) > max_bytes:
        raise DataError(f"file is {len(data) / 1e6:.1f} MB, larger than the {max_bytes / 1e6:.1f} MB upload limit", file=name)
    if not data.strip():
        raise DataError("file is empty", file=name)


def validate_upload(
    data: bytes,
    filename: str,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    pet_method: str = "auto",
    lat: float | None = None,
    area_km2: float | None = None,
) -> xr.Dataset:
    """Parse and fully validate an uploaded basin-table file (CSV or NetCDF) given as bytes.

    Returns the basin dataset it describes (one basin, or several for a long-format CSV with a
    ``basin`` column); the basin id is the file name without extension unless the file says
    otherwise. ``lat`` / ``area_km2`` fill in attributes the file lacks (latitude is needed to
    compute PET, area to convert discharge). Raises :class:`DataError` with a message naming the
    file and the problem (too large, empty, wrong type, bad column, value or date).
    """
    name = Path(filename or "upload").name
    check_upload_bytes(name, data, max_bytes)
    suffix = series_suffix(name)
    if suffix not in SERIES_SUFFIXES:
        raise DataError(f"unsupported file type {suffix or '(none)'!r}: upload a .csv, .csv.gz or .nc basin table", file=name)
    statics = {k: v for k, v in (("lat", lat), ("area_km2", area_km2)) if v is not None}
    basin = _safe_id(series_stem(name))
    try:
        if suffix != ".nc":
            raw = _read_csv_source(io.BytesIO(data), name)
            records = _records_from_table(raw, name, basin, statics, {})
        else:
            fd, tmp = tempfile.mkstemp(suffix=".nc")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                records = _records_from_netcdf(Path(tmp), basin, statics, display=name)
            finally:
                os.unlink(tmp)
        return assemble(records, name, pet_method=pet_method, attrs={"source_kind": "upload"})
    except DataError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        # the dashboard saves only what this accepts, so a case the readers do not name yet must still
        # end as one refusal naming the file, never as a traceback on the page or a saved bad upload
        raise DataError(f"cannot read this basin table ({type(exc).__name__}: {exc})", file=name) from exc


def read_attributes(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``basins.csv`` -> {basin id: {attribute: value}}; ids and code-like columns stay text.

    Recognised names (``gauge_id``/``basin``/``id``, ``gauge_name``/``name``, ``lat``, ``lon``,
    ``area_km2``, ``elev_mean_m``/``elevation``) are mapped to the canonical ``basin``, ``name``,
    ``lat``, ``lon``, ``area_km2``, ``elevation``; other columns keep their names. Numeric columns
    become numbers except codes with leading zeros (``huc_02 = 02``).
    """
    path = Path(path)
    encoding, separator, decimal = csv_format(_head_bytes(path), str(path))
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding=encoding,
                            sep=separator)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read basin attributes ({exc})", file=path) from exc
    if decimal == ",":
        # a ';'-separated table writes 51,2 for 51.2; only whole numbers are touched, never names
        table = table.replace(to_replace=r"^\s*(-?\d+),(\d+)\s*$", value=r"\1.\2", regex=True)
    table.columns = [str(c).strip() for c in table.columns]
    renamed = {c: STATIC_ALIASES.get(c.lower(), c) for c in table.columns}
    if "basin" not in renamed.values():
        raise DataError("basins.csv needs an id column (gauge_id, basin or id)", file=path, variable="gauge_id")
    table = table.rename(columns=renamed)
    out: dict[str, dict[str, Any]] = {}
    converted: dict[str, pd.Series] = {}
    for column in table.columns:
        if column in ("basin", "name"):
            continue
        text = table[column].str.strip()
        numbers = pd.to_numeric(text.replace({"": None, "NA": None, "NaN": None, "nan": None}), errors="coerce")
        is_code = text.str.match(r"^0\d").any()
        parses = numbers.notna() | text.isin(["", "NA", "NaN", "nan"])
        if parses.all() and not is_code:
            converted[column] = numbers
    for i, row in table.iterrows():
        basin = str(row["basin"]).strip()
        if not basin:
            raise DataError(f"row {i + 2} has an empty basin id", file=path, variable="basin")
        values: dict[str, Any] = {}
        for column in table.columns:
            if column == "basin":
                continue
            values[column] = float(converted[column].iloc[i]) if column in converted else str(row[column]).strip()
        out[basin] = values
    return out


def write_basin_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Write a basin dataset to NetCDF (dict/list attributes are stored as JSON text)."""
    out = ds.copy()
    out.attrs = {k: (json.dumps(v) if isinstance(v, (dict, list, tuple)) else v) for k, v in ds.attrs.items()}
    for name in ("basin", "name") + tuple(k for k in out.coords if out[k].dtype == object):
        if name in out.coords:
            out = out.assign_coords({name: out[name].astype(str)})
    from core.atomic_io import atomic_write_with

    atomic_write_with(path, lambda tmp: out.to_netcdf(tmp))


# ----------------------------------------------------------------------------------------------
# parsing

def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "basin"


_SNIFF_BYTES = 64 * 1024
_SEPARATORS = (",", ";", "\t")
_DECIMAL_COMMA = re.compile(r"\d,\d")


_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(source: Any) -> bool:
    if isinstance(source, io.BytesIO):
        return source.getvalue()[:2] == _GZIP_MAGIC
    with open(source, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _head_bytes(source: Any, display: str | None = None) -> bytes:
    if isinstance(source, io.BytesIO):
        raw = source.getvalue()[:_SNIFF_BYTES]
    else:
        with open(source, "rb") as fh:
            raw = fh.read(_SNIFF_BYTES)
    if raw[:2] == _GZIP_MAGIC:
        # a gzip-compressed table (<id>.csv.gz): pandas decompresses it; the sniff needs the text of
        # its start, which a stream cut short still has (the full read names the damage)
        import zlib

        try:
            return zlib.decompressobj(wbits=31).decompress(raw, _SNIFF_BYTES)
        except zlib.error as exc:
            raise DataError(f"damaged gzip file ({exc})", file=display or str(source)) from exc
    return raw


def csv_format(head: bytes, display: str) -> tuple[str, str, str]:
    """``(encoding, separator, decimal)`` of a basin CSV from its first bytes.

    Spreadsheet programs save "CSV UTF-8" with a byte-order mark, "Unicode text" as UTF-16 and,
    in locales where the comma is the decimal mark, separate fields with ``;``: all of these are
    read. Anything else that is not UTF-8 is a :class:`DataError` naming the file, what was found
    and what is expected.
    """
    if head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif len(head) >= 4 and head[1::2][:16].count(0) > 4 and head[0::2][:16].count(0) == 0:
        encoding = "utf-16-le"  # UTF-16 written without its byte-order mark: every other byte is 0
    elif len(head) >= 4 and head[0::2][:16].count(0) > 4 and head[1::2][:16].count(0) == 0:
        encoding = "utf-16-be"
    else:
        encoding = "utf-8"
    # the sniffed head may end inside a character; only the whole file's decoding is authoritative
    text = head.decode(encoding, errors="replace") if encoding.startswith("utf-16") else None
    if text is None:
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                raise DataError(f"not a UTF-8 text CSV: byte 0x{head[exc.start]:02x} at position {exc.start} ({exc.reason}); "
                                "save the table as CSV UTF-8 (UTF-16 and a byte-order mark are read too)",
                                file=display) from exc
            text = head[: exc.start].decode(encoding)
    if "\x00" in text:
        raise DataError("binary data, not a text CSV table: expected a .csv saved as text (UTF-8 or UTF-16)", file=display)
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    separator = max(_SEPARATORS, key=lambda sep: (counts[sep], sep == ","))
    # with ';' or tab between fields a comma inside a number can only be the decimal mark
    body = text[len(header):]
    decimal = "," if separator != "," and _DECIMAL_COMMA.search(body) else "."
    return encoding, separator, decimal


def csv_header(path: str | os.PathLike) -> list[str]:
    """The column names of a basin CSV file, read with its own encoding and separator."""
    raw = _head_bytes(path)
    encoding, separator, _ = csv_format(raw, str(path))
    head = raw.decode(encoding, errors="replace").lstrip("\ufeff")
    first = head.splitlines()[0] if head.strip() else ""
    return [c.strip().strip('"').strip() for c in first.split(separator)]


def _read_csv_source(source: Any, display: str) -> pd.DataFrame:
    encoding, separator, decimal = csv_format(_head_bytes(source, display), display)
    try:
        # basin ids are text ("01484100"), never numbers that lose their leading zeros
        id_columns = {alias: str for alias, canonical in COLUMN_ALIASES.items() if canonical == "basin"}
        id_columns.update({alias.upper(): str for alias in id_columns})
        # by content, not name: an upload arrives as bytes, and a .csv may be compressed all the same
        return pd.read_csv(source, skipinitialspace=True, low_memory=False, dtype=id_columns, encoding=encoding,
                           sep=separator, decimal=decimal, compression="gzip" if _is_gzip(source) else None)
    except UnicodeDecodeError as exc:
        raise DataError(f"not a {encoding.upper().replace('-SIG', '')} text CSV ({exc.reason} at byte {exc.start}): "
                        "save the table as CSV UTF-8",
                        file=display) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError("file is empty", file=display) from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"not a well-formed CSV table ({exc})", file=display) from exc
    except (OSError, EOFError) as exc:  # a gzip stream cut short
        raise DataError(f"damaged gzip file ({exc})", file=display) from exc


def _read_series_file(
    path: Path,
    default_basin: str,
    statics: dict[str, Any],
    attributes: dict[str, dict[str, Any]] | None = None,
) -> list[BasinRecord]:
    if series_suffix(path) == ".nc":
        return _records_from_netcdf(path, default_basin, statics, display=str(path), attributes=attributes)
    return _records_from_table(_read_csv_source(path, str(path)), str(path), default_basin, statics, attributes or {})


def _canonical_columns(table: pd.DataFrame, file: str, basin: str) -> pd.DataFrame:
    renamed: dict[str, str] = {}
    seen: dict[str, str] = {}
    for column in table.columns:
        key = str(column).strip()
        canonical = COLUMN_ALIASES.get(key.lower(), STATIC_ALIASES.get(key.lower(), key))
        if canonical in seen:
            raise DataError(f"columns {seen[canonical]!r} and {key!r} both give variable {canonical!r}", file=file, variable=canonical, basin=basin)
        seen[canonical] = key
        renamed[column] = canonical
    return table.rename(columns=renamed)


def _records_from_table(
    table: pd.DataFrame,
    file: str,
    default_basin: str,
    statics: dict[str, Any],
    attributes: dict[str, dict[str, Any]],
) -> list[BasinRecord]:
    table = _canonical_columns(table, file, default_basin)
    validation.check_required(table, ("date",), file, default_basin)
    if "basin" in table:
        blank = table["basin"].isna() | (table["basin"].astype(str).str.strip() == "")
        if blank.any():
            # else the row would silently leave its basin's series and surface as a forcing gap
            row = int(blank.to_numpy().nonzero()[0][0]) + 1
            raise DataError(f"data row {row} has an empty basin id (column 'basin'): every row of a long-format "
                            "table names its basin", file=file, variable="basin")
        ids = table["basin"].astype(str).str.strip()
        groups = [(b, table.loc[ids == b].drop(columns="basin")) for b in pd.unique(ids)]
    else:
        groups = [(default_basin, table)]
    records = []
    for basin, part in groups:
        merged = dict(attributes.get(basin, {}))
        merged.update(statics)
        records.append(_record_from_frame(part, file, basin, merged))
    return records


# an offset only counts after a time of day ("2001-01-02" ends in "-02" but has none)
_UTC_OFFSET = re.compile(r"[T ]\d{1,2}(?::\d{2}){0,2}(?:\.\d+)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


def _parse_dates(column: pd.Series, file: str, basin: str) -> pd.DatetimeIndex:
    """ISO dates of one basin's rows as a naive UTC index; any bad date is a :class:`DataError` naming
    the file, the column and the data row (1 = the first row under the header)."""
    text = column.astype(str).str.strip()
    rows = [int(i) + 1 if isinstance(i, (int, np.integer)) else n + 1 for n, i in enumerate(column.index)]
    name = str(column.name)

    def bad(where: int, why: str) -> DataError:
        return DataError(f"cannot read {text.iloc[where]!r} on data row {rows[where]} as a date ({why}; column {name!r}): "
                         "use ISO dates such as 2001-10-01 or 2001-10-01T13:00, with one UTC offset for the whole "
                         "column or none", file=file, variable="date", basin=basin)

    # a time-zone offset must be on every row or on none, and the same everywhere: mixing them is
    # either a daylight-saving clock (steps of 23 and 25 h) or rows from different sources
    offsets = text.str.extract(_UTC_OFFSET, expand=False)
    has_offset = offsets.notna().to_numpy()
    if has_offset.any():
        if not has_offset.all():
            where = int((has_offset != has_offset[0]).nonzero()[0][0])
            raise bad(where, "a date with a UTC offset mixed with dates without one")
        normalised = offsets.str.upper().str.replace("Z", "+00:00").str.replace(":", "")
        differs = (normalised != normalised.iloc[0]).to_numpy()
        if differs.any():
            where = int(differs.nonzero()[0][0])
            raise bad(where, f"UTC offset {offsets.iloc[where]} differs from {offsets.iloc[0]} of the first row (mixed UTC offsets)")
    parsed = None
    for fmt in ("ISO8601", None):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(text, errors="coerce", format=fmt, utc=bool(has_offset.any()))
            break
        except (ValueError, TypeError, OverflowError):
            continue
    if parsed is None:
        raise bad(0, "dates that cannot be read")
    missing = parsed.isna().to_numpy()
    if missing.any():
        raise bad(int(missing.nonzero()[0][0]), "a value that is not a date")
    index = pd.DatetimeIndex(parsed, name="time")
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index


def _record_from_frame(part: pd.DataFrame, file: str, basin: str, statics: dict[str, Any]) -> BasinRecord:
    """Dates, statics, numbers, units and checks for one basin's rows."""
    index = _parse_dates(part["date"], file, basin)
    frame = part.drop(columns="date")
    frame.index = index
    statics = dict(statics)
    for name in _SERIES_STATICS:
        if name in frame:
            values = frame[name].dropna().unique()
            if len(values) > 1:
                raise DataError(f"column {name!r} is a per-basin constant but has {len(values)} different values", file=file, variable=name, basin=basin)
            if len(values) and name not in statics:
                # text that is not a number stays text, so the statics check can quote it
                statics[name] = values[0] if name == "name" else _number_or_text(values[0])
            frame = frame.drop(columns=name)
    frame = validation.coerce_numeric(frame, file, basin)
    frame, step = validation.regularise_time(frame, file, basin)
    frame = _convert_units(frame, step, statics, file, basin)
    frame, var_attrs = _derive_tmean(frame)
    validation.check_required(frame, ("prcp",), file, basin)
    frame = validation.clean_streamflow(frame)
    validation.check_precipitation(frame, file, basin)
    validation.check_streamflow(frame, file, basin, step_label(step))
    return BasinRecord(basin=basin, frame=frame, file=file, step=step, statics=statics, var_attrs=var_attrs)


def _derive_tmean(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """``tmean`` (degC) = (tmin + tmax) / 2 when the table has both and no mean temperature of its own.

    The models' presets read ``tmean``; a table with only daily extremes would otherwise load and
    then fail when training starts. A gap in tmin or tmax stays a gap (NaN) in tmean, so the
    forcing checks still name the day. The variable's ``derived`` attribute says where it came from.
    """
    if "tmean" in frame or "tmin" not in frame or "tmax" not in frame:
        return frame, {}
    frame = frame.assign(tmean=(frame["tmin"] + frame["tmax"]) / 2.0)
    return frame, {"tmean": {"derived": "(tmin + tmax) / 2"}}


def _convert_units(frame: pd.DataFrame, step: pd.Timedelta, statics: dict[str, Any], file: str, basin: str) -> pd.DataFrame:
    """Discharge columns -> runoff depth (mm per step); kPa -> Pa; seconds -> hours."""
    discharge = [c for c in ("q_obs_m3s", "q_obs_cfs", "q_obs_ls") if c in frame]
    if not discharge and "vp_kpa" not in frame and "dayl_s" not in frame:
        return frame
    frame = frame.copy()
    if discharge:
        if "q_obs" in frame or len(discharge) > 1:
            raise DataError(f"several streamflow columns ({', '.join(['q_obs'] * ('q_obs' in frame) + discharge)}); keep one", file=file, variable="q_obs", basin=basin)
        column = discharge[0]
        area = statics.get("area_km2")
        try:
            area = float(area)
        except (TypeError, ValueError):
            area = float("nan")
        if not np.isfinite(area) or area <= 0:
            raise DataError(f"column {column!r} is discharge: converting it to mm needs a positive basin area 'area_km2'", file=file, variable="area_km2", basin=basin)
        q = frame.pop(column)
        q = q.where(~q.isin(validation.MISSING_CODES))
        factor = {"q_obs_m3s": 1.0, "q_obs_cfs": _CFS_TO_M3S, "q_obs_ls": 1e-3}[column]
        # m3/s over one step spread on the basin area, in mm
        frame["q_obs"] = q * factor * step.total_seconds() / (area * 1e6) * 1000.0
    if "vp_kpa" in frame:
        frame["vp"] = frame.pop("vp_kpa") * 1000.0
    if "dayl_s" in frame:
        frame["dayl"] = frame.pop("dayl_s") / 3600.0
    return frame


def _records_from_netcdf(
    path: Path,
    default_basin: str,
    statics: dict[str, Any],
    display: str,
    attributes: dict[str, dict[str, Any]] | None = None,
) -> list[BasinRecord]:
    try:
        with xr.open_dataset(path) as handle:
            ds = handle.load()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot open as NetCDF ({exc})", file=display) from exc
    time_name = next((n for n in ("time", "date") if n in ds.dims), None)
    if time_name is None:
        raise DataError(f"no 'time' dimension (dimensions: {', '.join(map(str, ds.dims)) or 'none'})", file=display, variable="time", basin=default_basin)
    if not np.issubdtype(ds[time_name].dtype, np.datetime64):
        # read as nanoseconds, 0..n would all fall on 1970-01-01 and be reported as duplicated dates
        values = ds[time_name].values
        shown = f"{values[0]} .. {values[-1]}" if values.size else "empty"
        raise DataError(f"the {time_name!r} axis holds {ds[time_name].dtype} values ({shown}), not dates: give it "
                        "CF units such as 'days since 2000-01-01' or store dates", file=display, variable=time_name,
                        basin=default_basin)
    if "basin" in ds.dims:
        ids = [str(b) for b in ds["basin"].values]
        parts = [(b, ds.isel(basin=i)) for i, b in enumerate(ids)]
    else:
        parts = [(default_basin, ds)]
    records = []
    for basin, part in parts:
        merged = dict((attributes or {}).get(basin, {}))
        # per-basin scalars (0-d after selecting the basin) are static attributes, whatever their name
        for key in part.variables:
            if part[key].ndim != 0 or key in (time_name, "basin"):
                continue
            value = part[key].values.item()
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            canonical = STATIC_ALIASES.get(str(key).lower(), str(key))
            if canonical in ("lat", "lon", "area_km2", "elevation"):
                value = _float_or_nan(value)
            elif not isinstance(value, str):
                value = _float_or_nan(value)
            merged[canonical] = value
        # global attributes only for the well-known ones (others describe the file, not a basin)
        for key, value in part.attrs.items():
            canonical = STATIC_ALIASES.get(str(key).lower())
            if canonical in _SERIES_STATICS:
                merged.setdefault(canonical, str(value) if canonical == "name" else _float_or_nan(value))
        merged.update(statics)
        series = {name: part[name].values for name in part.data_vars if part[name].dims == (time_name,)}
        table = pd.DataFrame(series)
        table.insert(0, "date", pd.DatetimeIndex(part[time_name].values).strftime("%Y-%m-%dT%H:%M:%S"))
        # a NetCDF variable declared in m3/s is discharge, whatever its name
        for name in list(table.columns):
            if name in part and str(part[name].attrs.get("units", "")).replace(" ", "") in ("m3/s", "m3s-1", "m^3/s"):
                table = table.rename(columns={name: "q_obs_m3s"})
        table = _canonical_columns(table, display, basin)
        records.append(_record_from_frame(table, display, basin, merged))
    return records


def _number_or_text(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
