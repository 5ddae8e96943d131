"""Untrusted names (an upload's file name, a run name typed by a user) turned into one safe path component.

A browser sends the multipart file name verbatim, so ``../../x.csv``, ``/etc/x.csv`` or ``a\\b.csv``
arrive as they were typed or crafted. Everything written under a folder on behalf of a user goes
through :func:`confined_path`, which keeps only the last component of the name, replaces characters
outside a conservative set, refuses empty and NUL-carrying names, and checks that the result still
lies directly inside the folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_NAME_LENGTH = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


class UnsafeNameError(ValueError):
    """A name that cannot be made into a file name inside its folder (empty, NUL, only dots)."""


def safe_file_name(name: object, what: str = "file name") -> str:
    """The last path component of ``name`` with unsafe characters replaced by ``_``.

    Leading dots are dropped (no hidden files: the runs folder keeps its lock files under dot
    names), so ``..`` and ``.`` are refused. Raises :class:`UnsafeNameError` naming ``what``.
    """
    if not isinstance(name, str):
        raise UnsafeNameError(f"{what} must be text, got {type(name).__name__}")
    if "\x00" in name:
        raise UnsafeNameError(f"{what} {name!r} contains a NUL character")
    last = re.split(r"[\\/]+", name.strip())[-1]
    cleaned = _UNSAFE.sub("_", last).lstrip(".").strip("_ ")
    if not cleaned or set(cleaned) <= {".", "_"}:
        raise UnsafeNameError(f"{what} {name!r} has no usable characters (after removing folders and dots)")
    if len(cleaned) > MAX_NAME_LENGTH:
        stem, dot, suffix = cleaned.rpartition(".")
        keep = suffix if dot and len(suffix) <= 10 else ""
        cleaned = cleaned[: MAX_NAME_LENGTH - len(keep) - 1].rstrip(".") + (f".{keep}" if keep else "")
    return cleaned


def confined_path(folder: str | os.PathLike, name: object, what: str = "file name") -> Path:
    """``folder / safe_file_name(name)``, guaranteed to be a direct child of ``folder``.

    Refuses a target that exists as a symbolic link (writing through it would leave the folder).
    """
    root = Path(folder).resolve()
    target = root / safe_file_name(name, what)
    if target.parent != root:  # cannot happen after safe_file_name; kept as the last line of defence
        raise UnsafeNameError(f"{what} {name!r} would leave the folder {root}")
    if target.is_symlink():
        raise UnsafeNameError(f"{what} {name!r}: {target} is a symbolic link; refusing to write through it")
    return target
