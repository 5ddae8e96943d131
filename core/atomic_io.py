"""Atomic file writes: a reader, or a process killed mid-write, sees a whole old file or a whole new one.

Every write goes to a temporary dot-file in the destination folder, is flushed to disk, and is moved
onto the destination with ``os.replace``. Used by the run directories, the checkpoints and the data
caches alike, so this module depends on nothing else in the project.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import yaml


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace`` (never a partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_with(path: str | os.PathLike, writer: Callable[[str], Any]) -> None:
    """Call ``writer(tmp_path)`` to produce a file, then move it onto ``path`` atomically.

    For writers that want a file name (``torch.save``, ``xarray.Dataset.to_netcdf``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _clean_nan(value: Any) -> Any:
    """JSON has no NaN: store non-finite floats as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_nan(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _clean_nan(value.item())
    return value


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    text = json.dumps(_clean_nan(obj), indent=2, default=_json_default, allow_nan=False)
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read JSON; return ``default`` when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


class _PlainDumper(yaml.SafeDumper):
    """Writes a value shared by two keys out twice instead of as an anchor and an alias, so the
    project's own YAML files never hold aliases (their readers refuse them: see core.runs.folder)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def atomic_write_yaml(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, yaml.dump(obj, Dumper=_PlainDumper, sort_keys=False).encode("utf-8"))
