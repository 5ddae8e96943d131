"""The runs under a runs folder: list them (settling those whose worker is gone) and delete one.

Sits above :mod:`core.runs.folder` and :mod:`core.runs.stale`: listing settles stale runs, and
settling needs the run folder, so neither of those two may import this module.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.runs.folder import RunDir, default_runs_root, run_kind
from core.runs.lock import holder
from core.runs.stale import settle as settle_run


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted between listing and sorting
        return 0.0


def list_runs(root: str | os.PathLike | None = None, kind: str | None = None, settle: bool = True) -> list[RunDir]:
    """All run directories under ``root`` (those with a config or status), newest first.

    With ``settle`` a run still marked pending/running whose worker is gone is marked failed first
    (:func:`core.runs.stale.settle`), so a killed worker does not look alive forever.
    """
    root = Path(root) if root is not None else default_runs_root()
    if not root.is_dir():
        return []
    runs = [
        RunDir(p)
        for p in root.iterdir()
        if p.is_dir() and ((p / "status.json").exists() or (p / "config.yaml").exists())
    ]
    if settle:
        for run in runs:
            settle_run(run)
    if kind is not None:
        runs = [r for r in runs if run_kind(r) == kind]
    return sorted(runs, key=lambda r: _mtime(r.path), reverse=True)


def delete_run(run: RunDir, root: str | os.PathLike | None = None) -> None:
    """Remove a run directory; refuses paths outside ``root`` and runs whose worker is alive.

    A run still marked running whose worker is gone is settled (marked failed) first, so it can go.
    """
    root = (Path(root) if root is not None else default_runs_root()).resolve()
    if root not in run.path.parents:
        raise ValueError(f"refusing to delete {run.path}: not inside the runs folder {root}")
    pid = holder(run.path)
    if pid is not None:
        raise ValueError(f"run {run.name} is in use by a live worker (pid {pid or 'unknown'}): cancel it before deleting")
    if settle_run(run).get("state") in ("pending", "running"):
        raise ValueError(f"run {run.name} is still running: cancel it before deleting")
    shutil.rmtree(run.path)
