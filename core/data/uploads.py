"""Dashboard uploads: each uploaded basin table in a folder of its own.

The uploads folder (``<runs>/uploads``) holds one folder per upload::

    uploads/
        upload_fulda-3f9a0c1b2d/upload_fulda.csv
        basins-7c01e4aa90/basins.csv
        old_upload.csv                      (a file saved directly here by earlier versions)

A basin-table file reads the ``basins.csv`` next to it as its attributes, so uploads sharing one
folder could rewrite each other's coordinates and areas (or break each other with a ``basins.csv``
that has no id column). In a folder of its own an upload, including one called ``basins.csv``,
only ever describes itself. The folder name is the file's safe stem and a hash of its bytes: the
same file uploaded twice is one upload, a changed file under the same name is another.

Files uploaded together (an upload set) share one folder: series files with the ``basins.csv``
that describes them. A set with one series file is that file as a source; with several, the folder
is a basin-table source.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from typing import Sequence

import xarray as xr

from .basin_table import (ATTRIBUTES_FILE, DEFAULT_MAX_UPLOAD_BYTES, SERIES_SUFFIXES, check_upload_bytes, is_csv_series,
                          series_stem, series_suffix)
from .errors import DataError

UPLOADS_FOLDER = "uploads"
UPLOAD_SUFFIXES = SERIES_SUFFIXES  # .csv, .csv.gz, .nc
_HASH_CHARS = 10
_MAX_STEM = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_UPLOAD_FOLDER = re.compile(r"^(?P<stem>.+)-(?P<hash>[0-9a-f]{%d})$" % _HASH_CHARS)


@dataclass(frozen=True)
class Upload:
    """One upload as a data source: ``source`` is what ``load_basins`` takes, ``label`` what the
    dashboard shows, ``folder`` the upload's own folder (None for a file saved by earlier versions
    directly in the uploads folder)."""

    source: Path
    label: str
    folder: Path | None


def upload_file_name(filename: str) -> str:
    """The name an upload is saved under: the last part of the browser's (untrusted) file name, with
    characters outside ``A-Za-z0-9_.-`` replaced, so its stem is the basin id ``validate_upload``
    reported. Raises :class:`DataError` for a name with no usable stem or a type other than .csv/.nc."""
    if not isinstance(filename, str) or "\x00" in filename:
        raise DataError("the upload's file name is not usable text", file=repr(filename))
    last = re.split(r"[\\/]+", filename.strip())[-1]
    suffix = series_suffix(last)
    stem = last[: len(last) - len(suffix)] if suffix else last
    if suffix not in UPLOAD_SUFFIXES:
        raise DataError(f"unsupported file type {suffix or '(none)'!r}: upload a .csv, .csv.gz or .nc basin table", file=last or filename)
    safe = _UNSAFE.sub("_", stem).strip("._")[:_MAX_STEM].strip("._")
    if not safe:
        raise DataError("the file name has no usable characters (after removing folders and dots)", file=last or filename)
    return safe + suffix


def save_upload(root: str | os.PathLike, filename: str, data: bytes) -> Path:
    """Save one uploaded (already validated) file into its own folder under ``root``; return its path.

    The folder appears complete or not at all (written under a hidden temporary name, then renamed),
    so a page listing uploads meanwhile never sees half a file. Saving identical bytes under the
    same name again returns the existing upload.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = upload_file_name(filename)
    digest = hashlib.sha256(data).hexdigest()[:_HASH_CHARS]
    folder = root / f"{series_stem(name)}-{digest}"
    target = folder / name
    if folder.is_symlink():
        raise DataError(f"{folder.name} in the uploads folder is a symbolic link; refusing to write through it", file=folder)
    if target.is_file():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        with open(staging / name, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.rename(staging, folder)
        except OSError:
            # another session saved the same upload first (rename onto a non-empty folder fails)
            if not target.is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def save_upload_set(
    root: str | os.PathLike,
    files: Sequence[tuple[str, bytes]],
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    pet_method: str = "auto",
) -> tuple[Path, xr.Dataset]:
    """Validate files uploaded together as they will be read, then save them in one folder of their own.

    ``files`` are ``(browser file name, bytes)``; a ``basins.csv`` among them gives the attributes of
    the set's series files and of no other upload. Returns the source to load (the one series file,
    or the folder for several) and its basin dataset. Raises :class:`DataError` naming the uploaded
    file at fault; nothing is saved then.
    """
    from .loader import load_basins
    from .sources import check_table_header

    root = Path(root)
    if not files:
        raise DataError("no files in the upload")
    named: dict[str, bytes] = {}
    for filename, data in files:
        name = upload_file_name(filename)
        if name.lower() in {n.lower() for n in named}:
            raise DataError(f"two files in one upload are both saved as {name!r}", file=name)
        check_upload_bytes(name, data, max_bytes)
        named[name] = data
    series = sorted(n for n in named if n.lower() != ATTRIBUTES_FILE) or sorted(named)
    digest = hashlib.sha256()
    for name in sorted(named):
        digest.update(f"{name}\0{hashlib.sha256(named[name]).hexdigest()}\0".encode())
    folder = root / f"{series_stem(series[0])}-{digest.hexdigest()[:_HASH_CHARS]}"
    if folder.is_symlink():
        raise DataError(f"{folder.name} in the uploads folder is a symbolic link; refusing to write through it", file=folder)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        for name, data in named.items():
            (staging / name).write_bytes(data)
        staged = staging / series[0] if len(series) == 1 else staging
        try:
            for name in series:
                if is_csv_series(name):
                    check_table_header(staging / name)
            dataset = load_basins(staged, pet_method=pet_method).load()
        except DataError as exc:
            raise _named_by_upload(exc, staging) from exc
        except (ValueError, TypeError, KeyError) as exc:
            # nothing unreadable is saved, and the page shows one message, never a traceback
            raise DataError(f"cannot read this upload ({type(exc).__name__}: {exc})", file=", ".join(named)) from exc
        for name in named:
            with open(staging / name, "rb+") as fh:
                os.fsync(fh.fileno())
        try:
            os.rename(staging, folder)
        except OSError:
            if not folder.is_dir():  # else another session saved the same set first
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return (folder / series[0] if len(series) == 1 else folder), dataset


def _named_by_upload(exc: DataError, staging: Path) -> DataError:
    """The same error with the temporary folder taken out: the user knows the files by their names."""
    prefix = str(staging) + os.sep
    file = exc.file.replace(prefix, "") if exc.file else None
    if file == str(staging):
        file = None
    return DataError(exc.reason.replace(prefix, "").replace(str(staging), "the upload"), file=file, variable=exc.variable,
                     basin=exc.basin, date=exc.date)


def list_uploads(root: str | os.PathLike) -> list[Upload]:
    """Every upload under ``root`` as a data source, ordered by file name.

    Labels are ``upload: <file name>``; when two uploads share a file name (a table uploaded again
    after an edit) their labels add the folder's hash so the sidebar can tell them apart.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found: list[tuple[Path, Path | None]] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_file() and series_suffix(entry) in UPLOAD_SUFFIXES:
            found.append((entry, None))
        elif entry.is_dir() and _UPLOAD_FOLDER.match(entry.name):
            files = [p for p in sorted(entry.iterdir()) if p.is_file() and series_suffix(p) in UPLOAD_SUFFIXES]
            series = [p for p in files if p.name.lower() != ATTRIBUTES_FILE] or files
            if len(series) == 1:
                found.append((series[0], entry))
            elif series:
                found.append((entry, entry))
    names = [_shown(path) for path, _ in found]
    uploads = []
    for path, folder in found:
        label = f"upload: {_shown(path)}"
        if names.count(_shown(path)) > 1:
            label += f" ({_UPLOAD_FOLDER.match(folder.name)['hash']})" if folder is not None else " (earlier upload)"
        uploads.append(Upload(path, label, folder))
    return sorted(uploads, key=lambda u: (u.label, str(u.source)))


def _shown(source: Path) -> str:
    """A file upload by its name, a set by its series files (and its basins.csv)."""
    if not source.is_dir():
        return source.name
    files = sorted((p.name for p in source.iterdir() if p.is_file() and series_suffix(p) in UPLOAD_SUFFIXES),
                   key=lambda n: (n.lower() == ATTRIBUTES_FILE, n))
    return ", ".join(files[:3]) + (f" + {len(files) - 3} more" if len(files) > 3 else "")
