"""Background training jobs: one ``python -m core <kind> train`` subprocess per run directory.

Everything a job's state depends on lives on disk, so a reloaded dashboard, a second browser tab or
a restarted server sees the same job:

- the run directory (``core.runs``): ``status.json`` written by the worker, ``log.txt`` its output;
- a lock file ``<runs root>/.job-<device>.lock`` (JSON: pid, process start time, run path, device)
  that allows one training job per device at a time.

The lock protocol holds under concurrent starts (several tabs, threads or server processes):

- every change to a device's lock (claim, clearing a stale one) happens while holding an exclusive
  ``flock`` on ``.job-<device>.guard``, so check-then-create is one step;
- a lock file appears whole (written to a temporary file, then ``os.link``-ed into place, which fails
  if it exists) and is replaced whole (``os.replace``), so a reader never sees it half written;
- between the claim and the worker's spawn the lock names the *starting* process (phase
  ``starting``); it counts as live while that process is alive, for at most
  :data:`START_GRACE_SECONDS`. ``active_job``, called on every page render, never deletes a lock it
  has not re-judged dead under the guard.

Device aliases share one lock: ``cpu`` and ``cpu:N`` are ``cpu``; ``cuda`` and ``cuda:0`` are ``cuda``.

The worker is started with ``start_new_session=True``: it leads its own process group, so
``cancel_job`` can stop it and anything it spawned (data loader workers, torchrun children) with
``os.killpg``. A worker that disappears while its status still says pending/running (killed by the
OOM killer, a segfault, a closed laptop lid) is marked ``failed`` with the last lines of its log.
"""

from __future__ import annotations

import contextlib
import fcntl
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
from core.machine.threads import worker_environment
from core.runs.folder import DAMAGED, FINAL_STATES, KINDS, RunDir, default_runs_root, new_run_dir

START_GRACE_SECONDS = 60.0
"""How long a lock in phase ``starting`` (claimed, worker not yet spawned) counts as live."""
REPO_ROOT = Path(__file__).resolve().parents[2]
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
    if name == "cpu" or name.startswith("cpu:"):
        return "cpu"  # one CPU pool: cpu:1 trains on the same cores as cpu
    if name in ("cuda:0", "gpu", "gpu:0"):
        return "cuda"
    if name.startswith("gpu:"):
        return "cuda:" + name[4:]
    return name


def lock_path(root: str | os.PathLike | None = None, device: str = "cpu") -> Path:
    root = Path(root) if root is not None else default_runs_root()
    key = device_key(device) if device != "auto" else device
    return root / f".job-{key.replace(':', '_')}.lock"


@contextlib.contextmanager
def _guard(lock: Path):
    """Exclusive flock on the device's guard file for one check-and-change of its lock."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock.with_suffix(".guard"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the flock


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
    """The lock's record; None when there is no lock; {} when it is unreadable (not one of ours)."""
    try:
        record = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return {}
    return record if isinstance(record, dict) else {}


def _create_lock(path: Path, record: Mapping[str, Any]) -> bool:
    """Create the lock file, complete, in one step; False when it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    tmp.write_text(json.dumps(dict(record)), encoding="utf-8")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def _lock_is_live(lock: dict | None, path: Path | None = None) -> bool:
    if lock is None:
        return False
    if not lock:
        # unreadable: not written by this protocol (locks appear whole); young ones get the benefit of the doubt
        try:
            return path is not None and time.time() - path.stat().st_mtime < START_GRACE_SECONDS
        except OSError:
            return False
    if lock.get("phase") == "starting":
        fresh = time.time() - float(lock.get("claimed") or 0) < START_GRACE_SECONDS
        return fresh and process_alive(lock.get("owner"), lock.get("owner_create_time"))
    if not process_alive(lock.get("pid"), lock.get("create_time")):
        return False
    run = RunDir(lock["run"]) if lock.get("run") else None
    return run is None or run.read_status().get("state") not in FINAL_STATES


def _clear_if_dead(path: Path) -> tuple[RunDir | None, RunDir | None]:
    """Under the guard: ``(run of the live lock, None)``, or ``(None, run of the dead lock just removed)``.

    The caller settles the dead lock's run after leaving the guard (``poll_job`` may take guards itself).
    """
    lock = _read_lock(path)
    if lock is None:
        return None, None
    if _lock_is_live(lock, path):
        return (RunDir(lock["run"]) if lock.get("run") else None), None
    _remove(path)
    return None, (RunDir(lock["run"]) if lock.get("run") else None)


def active_job(root: str | os.PathLike | None = None, device: str | None = None) -> RunDir | None:
    """The run whose worker holds the lock of ``device`` (any device when None), else None.

    A lock that looks dead is re-judged under the device's guard before it is removed (a start may
    be replacing it at that moment), and its run marked failed if it never finished.
    """
    root = Path(root) if root is not None else default_runs_root()
    paths = [lock_path(root, device)] if device else sorted(root.glob(".job-*.lock")) if root.exists() else []
    for path in paths:
        lock = _read_lock(path)
        if lock is None:
            continue
        if _lock_is_live(lock, path):
            if lock.get("run"):
                return RunDir(lock["run"])
            continue
        with _guard(path):
            run, dead = _clear_if_dead(path)
        if dead is not None:
            poll_job(dead)  # marks it failed if it never finished
        if run is not None:
            return run
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
            with _guard(path):
                again = _read_lock(path) or {}
                if again.get("run") and Path(again["run"]).resolve() == run.path:
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
    lock = lock_path(root, key)
    with _guard(lock):
        busy, dead = _clear_if_dead(lock)
        if busy is not None:
            status = busy.read_status()
            try:
                percent = 100 * float(status.get("progress") or 0)
            except (TypeError, ValueError):
                percent = 0.0
            raise JobError(
                f"another training job is already running on {key}: run {busy.name} "
                f"({status.get('state', 'pending')}, {percent:.0f} %). "
                "Wait for it to finish or cancel it first (one job per device at a time)."
            )
        run = new_run_dir(kind, name, root)
        me = os.getpid()
        claim = {"phase": "starting", "owner": me, "owner_create_time": _process_start(me), "pid": None,
                 "run": str(run.path), "device": key, "claimed": time.time()}
        if not _create_lock(lock, claim):  # cannot happen under the guard unless the lock was made by hand
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
        record = {"phase": "running", "pid": proc.pid, "create_time": created, "run": str(run.path), "device": key,
                  "started": time.time()}
        atomic_write_json(lock, record)
    if dead is not None:
        poll_job(dead)
    # the worker merges its own fields into status.json; pid lets any later process find it
    run.update_status(pid=proc.pid, pid_create_time=created,
                      command=" ".join(worker_command(kind, Path(REQUEST_NAME), Path(run.name))))
    return run


# --- poll and cancel -----------------------------------------------------------------------------
def reap_children() -> None:
    """Collect the exit codes of finished workers started by this process, so none lingers as a
    zombie under a long-running server (a worker that finishes normally is otherwise never waited for)."""
    for pid, child in list(_CHILDREN.items()):
        code = child.poll()
        if code is not None:
            _EXIT_CODES[pid] = code
            del _CHILDREN[pid]


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
    reap_children()
    status = run.read_status()
    state = status.get("state")
    if state in FINAL_STATES:
        _release(run)
        return status
    if state is None and not run.path.exists():
        return {"state": "missing", "message": f"run directory {run.path} no longer exists"}
    if state == DAMAGED:
        return status  # shown as such; never overwritten from a page's poll
    pid = status.get("pid")
    if pid is None:
        lock = next((l for l in (_read_lock(p) for p in run.path.parent.glob(".job-*.lock"))
                     if l and l.get("run") and Path(l["run"]).resolve() == run.path), None)
        if lock and lock.get("phase") == "starting" and _lock_is_live(lock):
            return status  # start_job is between claiming the lock and spawning the worker
        pid = lock.get("pid") if lock else None
        if pid is None:
            from core.runs.stale import settle

            return settle(run)  # a run started outside the dashboard: judged by its run lock
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
    pid, started = status.get("pid"), status.get("pid_create_time")
    if not pid:
        # a worker started outside the dashboard (the CLI) records no pid: its run lock names it
        from core.runs.lock import holder

        pid, started = holder(run.path) or None, None
    if pid and process_alive(pid, started):
        try:
            pgid = os.getpgid(int(pid))
        except ProcessLookupError:
            pgid = None
        # a dashboard worker leads its own session, so its group id is its pid: stop the whole group;
        # otherwise signal the process alone. Never signal our own group.
        group = pgid is not None and pgid == int(pid) and pgid != os.getpgid(0)
        if pgid is not None and (group or int(pid) != os.getpid()):
            stop = (lambda sig: _signal_group(pgid, sig)) if group else (lambda sig: _signal_pid(int(pid), sig))
            stop(signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while time.monotonic() < deadline and process_alive(pid):
                time.sleep(0.1)
            if process_alive(pid):
                stop(signal.SIGKILL)
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


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
