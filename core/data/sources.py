"""Where basin data live: the embedded demo, user folders from config or ``HYDROCAST_DATA``.

``HYDROCAST_DATA`` holds one or more folders separated by ``os.pathsep`` (``:`` on Linux/macOS,
``;`` on Windows). Each may be a CAMELS-US folder, a basin-table folder, a single basin file, or a
parent folder whose direct sub-folders are such sources (e.g. ``../shared/data``). Configuration
files can list more folders under ``data_sources:`` (pass them as ``extra``).

The kinds of source are one registry, :data:`SOURCE_KINDS` (``get_source_kind(name)``): each
:class:`SourceKind` says whether a path is of its kind, lists the basin ids it offers and reads their
records (``load(location, basins) -> (records, attributes)``, assembled by
:func:`core.data.load_basins`). Detection tries the kinds in registration order.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from core.registry import Registry

from .errors import DataError

ENV_VAR = "HYDROCAST_DATA"


@dataclass(frozen=True)
class DataSource:
    """One selectable basin data source.

    ``name``: short label shown in the dashboard and accepted by ``load_basins``; ``kind``: ``demo``,
    ``camels_us``, ``basin_table`` or ``basin_file``; ``path``: folder or file (``"demo"`` for the
    embedded data); ``n_basins``: number of basins found; ``origin``: ``builtin``, ``env`` or ``config``.
    """

    name: str
    kind: str
    path: str
    n_basins: int
    origin: str
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_kind(path: str | os.PathLike) -> str | None:
    """The name of the first :data:`SOURCE_KINDS` entry that recognises ``path``, or None."""
    path = Path(path)
    for name, kind in SOURCE_KINDS.items():
        if kind.detect(path):
            return name
    return None


def _looks_like_basin_series(path: Path) -> bool:
    """Cheap sniff: a CSV whose header has a date column, or a NetCDF whose
    dimensions are only time (and basin) -- gridded weather files have lat/lon too."""
    from .basin_table import COLUMN_ALIASES, csv_header, is_csv_series

    try:
        if is_csv_series(path):
            names = {COLUMN_ALIASES.get(c.lower()) for c in csv_header(path)}
            return "date" in names
        import xarray as xr

        with xr.open_dataset(path, decode_cf=False) as handle:
            dims = set(map(str, handle.dims))
        return bool(dims) and dims <= {"time", "date", "basin"}
    except (OSError, ValueError, DataError):
        return False


@dataclass(frozen=True)
class SourceKind:
    """One kind of basin data source: how to recognise it, list its basins and read their records."""

    detect: Callable[[Path], bool]
    list_basins: Callable[[Any], list[str]]
    load: Callable[[Any, Any], tuple[list, dict[str, Any]]]
    label: str = ""


SOURCE_KINDS: Registry[SourceKind] = Registry("basin data source kind")


def _never(path: Path) -> bool:
    return False  # the demo is named, never found on disk


def _demo_ids(location: Any) -> list[str]:
    from .embedded import DEMO_BASINS

    return list(DEMO_BASINS)


def _demo_load(location: Any, basins: Any) -> tuple[list, dict[str, Any]]:
    from .embedded import load_demo_records

    return load_demo_records(basins)


def _is_camels(path: Path) -> bool:
    from .camels_us import is_camels_us

    return path.is_dir() and is_camels_us(path)


def _camels_ids(location: Any) -> list[str]:
    from .camels_us import list_camels_basins

    return list(list_camels_basins(location))


def _camels_load(location: Any, basins: Any) -> tuple[list, dict[str, Any]]:
    from .camels_us import load_camels_records

    return load_camels_records(location, basins)


def _is_table_folder(path: Path) -> bool:
    if not path.is_dir():
        return False
    from .basin_table import SERIES_SUFFIXES, series_suffix

    series = sorted(p for p in path.iterdir() if series_suffix(p) in SERIES_SUFFIXES and p.name.lower() != "basins.csv")
    return bool(series) and _looks_like_basin_series(series[0])


def _table_ids(location: Any) -> list[str]:
    from .basin_table import list_folder_basins

    return list_folder_basins(location)


def _table_load(location: Any, basins: Any) -> tuple[list, dict[str, Any]]:
    from .basin_table import load_table_folder_records

    return load_table_folder_records(location, basins)


def _is_table_file(path: Path) -> bool:
    from .basin_table import SERIES_SUFFIXES, series_suffix

    return path.is_file() and series_suffix(path) in SERIES_SUFFIXES and _looks_like_basin_series(path)


def _file_load(location: Any, basins: Any) -> tuple[list, dict[str, Any]]:
    from .basin_table import load_table_file_records

    return load_table_file_records(location, basins)


SOURCE_KINDS.register("demo", SourceKind(_never, _demo_ids, _demo_load, "embedded demo catchments"))
SOURCE_KINDS.register("camels_us", SourceKind(_is_camels, _camels_ids, _camels_load, "CAMELS-US folder"))
SOURCE_KINDS.register("basin_table", SourceKind(_is_table_folder, _table_ids, _table_load, "basin-table folder"))
def _file_ids(location: Any) -> list[str]:
    from .basin_table import list_file_basins

    return list_file_basins(location)


SOURCE_KINDS.register("basin_file", SourceKind(_is_table_file, _file_ids, _file_load, "single basin file"))


def get_source_kind(name: str) -> SourceKind:
    """The :class:`SourceKind` called ``name`` (one of :data:`SOURCE_KINDS`)."""
    return SOURCE_KINDS.get(name)


def resolve_source(source: str | os.PathLike) -> tuple[str, Any]:
    """Map ``load_basins``' ``source`` argument to ``(kind, path)``.

    Accepts ``"demo"``, a path, or the name of a source from :func:`available_sources`.
    """
    if isinstance(source, str) and source.strip().lower() == "demo":
        return "demo", "demo"
    path = Path(os.fspath(source)).expanduser()
    if path.exists():
        kind = detect_kind(path)
        if kind is None and path.is_file() and path.name.lower().endswith((".csv", ".csv.gz")):
            check_table_header(path)
        if kind is None:
            raise DataError(
                "not a basin data source: expected a CAMELS-US folder (basin_mean_forcing/, usgs_streamflow/), "
                "a folder of per-basin .csv/.csv.gz/.nc files, or a single .csv/.csv.gz/.nc file",
                file=path,
            )
        return kind, path
    if isinstance(source, str):
        for candidate in available_sources(include_demo=False):
            if candidate.name == source:
                return candidate.kind, Path(candidate.path)
    raise DataError(
        f"data source {str(source)!r} not found: give 'demo', an existing folder or file, or a source name "
        f"from ${ENV_VAR} (currently {os.environ.get(ENV_VAR, 'unset')!r})",
        file=str(source),
    )


def check_table_header(path: Path) -> None:
    """Raise the precise reason a ``.csv`` file given as a source is not read as a basin table."""
    from .basin_table import COLUMN_ALIASES, csv_header, is_csv_series

    header = csv_header(path)  # raises for an encoding it cannot read
    if "date" not in {COLUMN_ALIASES.get(c.lower()) for c in header}:
        shown = ", ".join(repr(c) for c in header[:12]) or "none"
        raise DataError(f"no date column in the header (columns found: {shown}): expected a basin table whose "
                        "header names a date column (date, time, datetime or timestamp) and prcp, q_obs, ...; "
                        "fields separated by ',' or ';'", file=path, variable="date")


def configured_paths(extra: Iterable[str | os.PathLike] | None = None) -> list[tuple[Path, str]]:
    """Folders from ``$HYDROCAST_DATA`` then ``extra`` (e.g. a config's ``data_sources`` list)."""
    out: list[tuple[Path, str]] = []
    for text in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if text.strip():
            out.append((Path(text.strip()).expanduser(), "env"))
    for item in extra or ():
        out.append((Path(os.fspath(item)).expanduser(), "config"))
    return out


def available_sources(extra: Iterable[str | os.PathLike] | None = None, include_demo: bool = True) -> list[DataSource]:
    """Every usable basin source: the demo first, then the configured folders that exist.

    A configured folder that is itself not a source is searched one level down. Missing or
    unrecognised folders are skipped (the dashboard lists what works).
    """
    sources: list[DataSource] = []
    if include_demo:
        from .embedded import DEMO_BASINS

        sources.append(
            DataSource("demo", "demo", "demo", len(DEMO_BASINS), "builtin", "real observed daily series shipped with spotpy (Fulda 1979-1988, HYMOD catchment 2012-2016)")
        )
    seen: set[Path] = set()
    for path, origin in configured_paths(extra):
        if not path.exists():
            continue
        kind = detect_kind(path)
        candidates = [(path, kind)] if kind else [(p, detect_kind(p)) for p in sorted(path.iterdir()) if p.is_dir()]
        for candidate, candidate_kind in candidates:
            resolved = candidate.resolve()
            if candidate_kind is None or resolved in seen:
                continue
            seen.add(resolved)
            sources.append(DataSource(candidate.name, candidate_kind, str(resolved), _count_basins(resolved, candidate_kind), origin))
    return sources


def list_basins(source: str | os.PathLike) -> list[str]:
    """Basin ids a source offers, without reading the series."""
    kind, path = resolve_source(source)
    return get_source_kind(kind).list_basins(path)


def _count_basins(path: Path, kind: str) -> int:
    try:
        return len(list_basins(path))
    except DataError:
        return 0
