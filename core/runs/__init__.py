"""Run folders: layout and status (``folder``), the worker's lock (``lock``), repair of runs whose
worker is gone (``stale``), listing and deleting runs (``catalog``), results readers (``results``),
background jobs (``jobs``), safe file names (``safe_names``), config differences (``config_diff``).

The names below were importable from ``core.runs`` when it was one module; they stay importable so
``from core.runs import RunDir, list_runs`` keeps working. Modules inside this package import from
the submodules, never from here: the package would otherwise be half-initialised when they load.
"""

from core.runs.catalog import delete_run, list_runs
from core.runs.folder import (
    DAMAGED,
    FINAL_STATES,
    KINDS,
    STATES,
    RunDir,
    RunFileDamaged,
    default_runs_root,
    new_run_dir,
    now_iso,
    run_kind,
)

__all__ = [
    "DAMAGED",
    "FINAL_STATES",
    "KINDS",
    "STATES",
    "RunDir",
    "RunFileDamaged",
    "default_runs_root",
    "delete_run",
    "list_runs",
    "new_run_dir",
    "now_iso",
    "run_kind",
]
