"""Runs whose worker is gone while status.json still says pending or running, marked failed with why.

A worker killed with SIGKILL (the OOM killer, ``kill -9``) or one that died on a full disk cannot
write its final state. Evidence that the worker is gone, strongest first:

1. the run directory's lock (``core.runs.lock``) exists but no process holds it: every worker holds
   it for its whole life and the kernel drops it at death, so this is certain;
2. the pid recorded in status.json (by ``core.runs.jobs.start_job``) is dead or now another process;
3. no worker holds the directory and status.json was last updated more than
   :data:`STALE_AFTER_SECONDS` ago (a worker that never got to take the lock).

A run whose lock is held is alive, however long since its last update (a long epoch).
"""

from __future__ import annotations

import datetime as _dt

import psutil

from core.runs import lock as run_lock
from core.runs.folder import RunDir

STALE_AFTER_SECONDS = 15 * 60.0
LIVE_STATES = ("pending", "running")


def _pid_alive(pid: object, started: object) -> bool:
    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - float(started)) <= 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, TypeError, ValueError):
        return False


def _age_seconds(stamp: object) -> float | None:
    try:
        when = _dt.datetime.fromisoformat(str(stamp))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return (_dt.datetime.now(_dt.timezone.utc) - when).total_seconds()


def stale_reason(run: RunDir, status: dict | None = None, max_age: float = STALE_AFTER_SECONDS) -> str | None:
    """Why ``run`` is stale (its worker is gone while the status says pending/running), else None."""
    status = run.read_status() if status is None else status
    if status.get("state") not in LIVE_STATES:
        return None
    if run_lock.holder(run.path) is not None:
        return None
    if run_lock.was_ever_locked(run.path):
        return "its worker is gone: no process holds the run directory's lock any more (killed, or crashed without writing its state)"
    pid = status.get("pid")
    if pid is not None and not _pid_alive(pid, status.get("pid_create_time")):
        return f"its worker (pid {pid}) is gone without writing a final state (killed, or crashed)"
    age = _age_seconds(status.get("updated"))
    if (pid is None or not _pid_alive(pid, status.get("pid_create_time"))) and age is not None and age > max_age:
        return f"no worker holds the run and status.json was last updated {age / 60:.0f} min ago"
    return None


def settle(run: RunDir, max_age: float = STALE_AFTER_SECONDS) -> dict:
    """The run's status, after marking it failed (with the reason and the log's tail) when stale."""
    status = run.read_status()
    reason = stale_reason(run, status, max_age)
    if reason is None:
        return status
    # re-read: the worker may have written its final state a moment ago
    status = run.read_status()
    if status.get("state") not in LIVE_STATES:
        return status
    return run.update_status(state="failed", message=f"marked failed: {reason}", log_tail=run.tail_log(15))
