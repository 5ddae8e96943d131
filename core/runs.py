"""Run directories: config, status, history, metrics, checkpoints and predictions, all written atomically.

Layout of one run directory::

    <run_dir>/
        config.yaml      the full configuration the run used
        status.json      state, progress, message, pid, timestamps (polled by the dashboard)
        history.json     one record per epoch: {"epoch", "train_loss", "val_loss", ...}
        metrics.json     evaluation results (schema in DESIGN.md section 7)
        checkpoints/     ``last.pt`` and ``best.pt``
        predictions.nc   test-period predictions (NetCDF)
        log.txt          the worker's stdout and stderr

Every write goes through ``core.atomic_io`` (a temporary file in the same folder, then ``os.replace``), so a reader (or a
run killed mid-write) only ever sees a whole old file or a whole new file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import yaml

from core.atomic_io import atomic_write_bytes, atomic_write_json, atomic_write_with, atomic_write_yaml, read_json

STATES = ("pending", "running", "completed", "failed", "cancelled")
FINAL_STATES = ("completed", "failed", "cancelled")


def default_runs_root() -> Path:
    """Folder that holds all runs: ``$HYDROCAST_RUNS`` or ``./runs``."""
    return Path(os.environ.get("HYDROCAST_RUNS", "runs")).resolve()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunDir:
    """One run's directory and its files."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()

    # --- paths -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def history_path(self) -> Path:
        return self.path / "history.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.nc"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    # --- config ----------------------------------------------------------------------------
    def create(self) -> "RunDir":
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir.mkdir(exist_ok=True)
        return self

    def write_config(self, config: dict) -> None:
        atomic_write_yaml(self.config_path, config)

    def read_config(self) -> dict:
        if not self.config_path.exists():
            return {}
        return yaml.safe_load(self.config_path.read_text(encoding="utf-8")) or {}

    # --- status ----------------------------------------------------------------------------
    def read_status(self) -> dict:
        try:
            return read_json(self.status_path, default={}) or {}
        except json.JSONDecodeError:
            return {}

    def update_status(self, **fields: Any) -> dict:
        """Merge ``fields`` into status.json (``state`` must be one of ``STATES``) and stamp ``updated``."""
        state = fields.get("state")
        if state is not None and state not in STATES:
            raise ValueError(f"unknown run state {state!r}; expected one of {STATES}")
        status = self.read_status()
        status.update(fields)
        status["updated"] = now_iso()
        if state == "running" and "started" not in status:
            status["started"] = status["updated"]
        if state in FINAL_STATES:
            status.setdefault("finished", status["updated"])
        atomic_write_json(self.status_path, status)
        return status

    # --- history and metrics ---------------------------------------------------------------
    def read_history(self) -> list[dict]:
        try:
            return read_json(self.history_path, default=[]) or []
        except json.JSONDecodeError:
            return []

    def append_history(self, record: dict) -> None:
        history = self.read_history()
        history.append(record)
        atomic_write_json(self.history_path, history)

    def write_history(self, records: Iterable[dict]) -> None:
        atomic_write_json(self.history_path, list(records))

    def write_metrics(self, metrics: dict) -> None:
        atomic_write_json(self.metrics_path, metrics)

    def read_metrics(self) -> dict:
        return read_json(self.metrics_path, default={}) or {}

    def tail_log(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def duration_seconds(self) -> float | None:
        status = self.read_status()
        try:
            start = _dt.datetime.fromisoformat(status["started"])
            end = _dt.datetime.fromisoformat(status.get("finished") or status["updated"])
        except (KeyError, TypeError, ValueError):
            return None
        return (end - start).total_seconds()


def new_run_dir(kind: str, name: str | None = None, root: str | os.PathLike | None = None) -> RunDir:
    """Create a fresh run directory ``<root>/<kind>-<UTC timestamp>[-name]`` (never reuses one)."""
    root = Path(root) if root is not None else default_runs_root()
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{kind}-{stamp}" + (f"-{name}" if name else "")
    path = root / base
    i = 1
    while path.exists():
        path = root / f"{base}-{i}"
        i += 1
    return RunDir(path).create()


def list_runs(root: str | os.PathLike | None = None, kind: str | None = None) -> list[RunDir]:
    """All run directories under ``root`` (those with a config or status), newest first."""
    root = Path(root) if root is not None else default_runs_root()
    if not root.exists():
        return []
    runs = [
        RunDir(p)
        for p in root.iterdir()
        if p.is_dir() and ((p / "status.json").exists() or (p / "config.yaml").exists())
    ]
    if kind is not None:
        runs = [r for r in runs if (r.read_config().get("kind") or r.name.split("-")[0]) == kind]
    return sorted(runs, key=lambda r: r.path.stat().st_mtime, reverse=True)


def delete_run(run: RunDir, root: str | os.PathLike | None = None) -> None:
    """Remove a run directory; refuses paths outside ``root`` and runs that are still running."""
    root = (Path(root) if root is not None else default_runs_root()).resolve()
    if root not in run.path.parents:
        raise ValueError(f"refusing to delete {run.path}: not inside the runs folder {root}")
    if run.read_status().get("state") == "running":
        raise ValueError(f"run {run.name} is still running: cancel it before deleting")
    shutil.rmtree(run.path)
