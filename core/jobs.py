"""Background training jobs: one ``python -m core <kind> train`` subprocess per run directory.

Everything a job's state depends on lives on disk, so a reloaded dashboard, a second browser tab or
a restarted server sees the same job:

- the run directory (``core.runs``): ``status.json`` written by the worker, ``log.txt`` its output;
- a lock file ``<runs root>/.job-<device>.lock`` (JSON: pid, process start time, run path, device)
  that allows one training job per device at a time.

The worker is started with ``start_new_session=True``: it leads its own process group, so
``cancel_job`` can stop it and anything it spawned (data loader workers, torchrun children) with
``os.killpg``. A worker that disappears while its status still says pending/running (killed by the
OOM killer, a segfault, a closed laptop lid) is marked ``failed`` with the last lines of its log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import psutil

from core.atomic_io import atomic_write_json, atomic_write_yaml, read_json
from core.runs import FINAL_STATES, RunDir, default_runs_root, new_run_dir
from core.threads import worker_environment

KINDS = ("hydro", "rain")
REPO_ROOT = Path(__file__).resolve().parents[1]
REQUEST_NAME = "request.yaml"
"""The config the dashboard asked for; the worker writes the resolved one to ``config.yaml``."""

# Popen handles of workers started by this process: polling them reaps finished children, which
# would otherwise linger as zombies that still look alive to a pid check.
_CHILDREN: dict[int, subprocess.Popen] = {}
_EXIT_CODES: dict[int, int] = {}


class JobError(RuntimeError):
    """A job cannot be started or stopped; the message says why and what to do."""


# --- device and lock ----------------------------------------------------------------------------
def device_key(device: str | None = "auto") -> str:
    """The device a job will train on, as used in the lock name: ``cpu``, ``cuda`` or ``cuda:N``.

    ``auto`` asks torch whether a GPU is present (imported lazily: torch is slow to import).
    """
    name = (device or "auto").strip().lower()
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda:0":
        return "cuda"
    return name


def lock_path(root: str | os.PathLike | None = None, device: str = "cpu") -> Path:
    root = Path(root) if root is not None else default_runs_root()
    return root / f".job-{device.replace(':', '_')}.lock"


def _process_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def process_alive(pid: int | None, started: float | None = None) -> bool:
    """Whether ``pid`` is a live (non-zombie) process; with ``started`` also that it is the same
    process (its start time matches), not a later one that reused the pid."""
    if not pid:
        return False
    child = _CHILDREN.get(int(pid))
    if child is not None and child.poll() is not None:
        _EXIT_CODES[int(pid)] = _CHILDREN.pop(int(pid)).returncode
        return False
    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if started is not None and abs(proc.create_time() - float(started)) > 1.0:
            return False
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _read_lock(path: Path) -> dict | None:
    try:
        return read_json(path)
    except (json.JSONDecodeError, OSError):
        return {}  # half-written by a crashed writer: treated as stale below


def _create_lock(path: Path, record: Mapping[str, Any]) -> bool:
    """Create the lock file exclusively; False when it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(dict(record), fh)
    return True


def _lock_is_live(lock: dict | None) -> bool:
    if not lock:
        return False
    if not process_alive(lock.get("pid"), lock.get("create_time")):
        return False
    run = RunDir(lock["run"]) if lock.get("run") else None
    return run is None or run.read_status().get("state") not in FINAL_STATES


def active_job(root: str | os.PathLike | None = None, device: str | None = None) -> RunDir | None:
    """The run whose worker holds the lock of ``device`` (any device when None), else None.

    A stale lock (worker gone) is cleared, and its run marked failed if it never finished.
    """
    root = Path(root) if root is not None else default_runs_root()
    paths = [lock_path(root, device)] if device else sorted(root.glob(".job-*.lock")) if root.exists() else []
    for path in paths:
        lock = _read_lock(path)
        if lock is None:
            continue
        if _lock_is_live(lock):
            return RunDir(lock["run"])
        if lock.get("run"):
            poll_job(RunDir(lock["run"]))
        _remove(path)
    return None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _release(run: RunDir) -> None:
    """Remove the lock held by ``run`` (locks of other runs are left alone)."""
    root = run.path.parent
    for path in root.glob(".job-*.lock"):
        lock = _read_lock(path) or {}
        if lock.get("run") and Path(lock["run"]).resolve() == run.path:
            _remove(path)


# --- start ---------------------------------------------------------------------------------------
def worker_command(kind: str, config_path: Path, run_dir: Path) -> list[str]:
    """The command line of a training worker."""
    return [sys.executable, "-m", "core", kind, "train", "--config", str(config_path),
            "--run-dir", str(run_dir), "--no-progress"]


def start_job(kind: str, config: Mapping[str, Any], root: str | os.PathLike | None = None,
              name: str | None = None, device: str | None = None) -> RunDir:
    """Start training ``config`` in a new run directory under ``root``; returns the run at once.

    Raises :class:`JobError` when another job is already training on the same device (the message
    names that run), or when ``kind`` is unknown.
    """
    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r}: use one of {KINDS}")
    root = Path(root) if root is not None else default_runs_root()
    device = device or str((config.get("train") or {}).get("device", "auto"))
    key = device_key(device)
    busy = active_job(root, key)
    if busy is not None:
        status = busy.read_status()
        raise JobError(
            f"another training job is already running on {key}: run {busy.name} "
            f"({status.get('state', 'pending')}, {100 * float(status.get('progress') or 0):.0f} %). "
            "Wait for it to finish or cancel it first (one job per device at a time)."
        )
    run = new_run_dir(kind, name, root)
    lock = lock_path(root, key)
    if not _create_lock(lock, {"pid": None, "run": str(run.path), "device": key, "claimed": time.time()}):
        run.update_status(state="failed", message=f"lock {lock.name} was taken by another start at the same moment")
        raise JobError(f"another training job was started on {key} at the same moment; try again in a few seconds")
    try:
        request = run.path / REQUEST_NAME
        atomic_write_yaml(request, {**dict(config), "kind": kind})
        run.update_status(state="pending", progress=0.0, message="starting worker", kind=kind, device=key)
        # the worker gets the thread and wait policy in its environment before it imports torch
        env = worker_environment(dict(os.environ, PYTHONUNBUFFERED="1"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        with open(run.log_path, "ab") as log:
            proc = subprocess.Popen(worker_command(kind, request, run.path), cwd=REPO_ROOT, env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    except BaseException as exc:
        _remove(lock)
        run.update_status(state="failed", message=f"could not start the worker: {exc}")
        raise
    _CHILDREN[proc.pid] = proc
    created = _process_start(proc.pid)
    record = {"pid": proc.pid, "create_time": created, "run": str(run.path), "device": key,
              "started": time.time()}
    atomic_write_json(lock, record)
    # the worker merges its own fields into status.json; pid lets any later process find it
    run.update_status(pid=proc.pid, pid_create_time=created,
                      command=" ".join(worker_command(kind, Path(REQUEST_NAME), Path(run.name))))
    return run


# --- poll and cancel -----------------------------------------------------------------------------
def _exit_code(child: subprocess.Popen) -> int | None:
    """Exit code of a worker already seen dead: a killed child can look gone (zombie) a moment before
    ``poll()`` may reap it, so wait briefly instead of reporting no code."""
    try:
        return child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def poll_job(run: RunDir | str | os.PathLike, log_lines: int = 15) -> dict:
    """Current status of ``run``; a worker gone while still pending/running is marked failed here.

    Returns the status dict (``state``, ``progress``, ``message``, ...). Final states release the lock.
    """
    run = run if isinstance(run, RunDir) else RunDir(run)
    status = run.read_status()
    state = status.get("state")
    if state in FINAL_STATES:
        _release(run)
        return status
    if state is None and not run.path.exists():
        return {"state": "missing", "message": f"run directory {run.path} no longer exists"}
    pid = status.get("pid")
    if pid is None:
        lock = next((l for l in (_read_lock(p) for p in run.path.parent.glob(".job-*.lock"))
                     if l and l.get("run") and Path(l["run"]).resolve() == run.path), None)
        if lock and lock.get("pid") is None and time.time() - float(lock.get("claimed", 0)) < 30:
            return status  # start_job is between claiming the lock and spawning the worker
        pid = lock.get("pid") if lock else None
    if process_alive(pid, status.get("pid_create_time")):
        return status
    # re-read: the worker may have written its final state just before exiting
    status = run.read_status()
    if status.get("state") in FINAL_STATES:
        _release(run)
        return status
    child = _CHILDREN.pop(int(pid), None) if pid else None
    code = _exit_code(child) if child is not None else _EXIT_CODES.pop(int(pid), None) if pid else None
    tail = run.tail_log(log_lines)
    how = f"exit code {code}" if code is not None else "no exit code known"
    status = run.update_status(
        state="failed",
        message=f"the training worker (pid {pid}) stopped without finishing ({how}); last log lines below",
        log_tail=tail,
    )
    _release(run)
    return status


def cancel_job(run: RunDir | str | os.PathLike, grace_seconds: float = 10.0) -> dict:
    """Stop ``run``'s worker (SIGTERM to its process group, SIGKILL after ``grace_seconds``) and mark it cancelled."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    status = run.read_status()
    if status.get("state") in FINAL_STATES:
        _release(run)
        return status
    pid = status.get("pid")
    if pid and process_alive(pid, status.get("pid_create_time")):
        try:
            pgid = os.getpgid(int(pid))
        except ProcessLookupError:
            pgid = None
        # the worker leads its own session, so its group id is its pid; never signal our own group
        if pgid is not None and pgid == int(pid) and pgid != os.getpgid(0):
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while time.monotonic() < deadline and process_alive(pid):
                time.sleep(0.1)
            if process_alive(pid):
                _signal_group(pgid, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and process_alive(pid):
                    time.sleep(0.1)
    child = _CHILDREN.pop(int(pid), None) if pid else None
    if child is not None:
        try:
            child.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
    status = run.read_status()
    if status.get("state") not in FINAL_STATES:  # the worker usually records "cancelled" itself
        status = run.update_status(state="cancelled", message="cancelled from the dashboard")
    _release(run)
    return status


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
