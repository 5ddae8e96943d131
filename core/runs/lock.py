"""One worker per run directory: an exclusive ``flock`` on ``<run_dir>/.lock`` for the worker's life.

Two workers writing one run directory interleave its history and can leave a "completed" status over
a failed evaluation. The entry point (``python -m core <kind> train|evaluate``) takes this lock before
anything else; the operating system releases it when the process ends, however it ends (SIGKILL
included), so a lock is never left behind by a dead worker. The lock file holds the holder's pid
(for messages only: whether the lock is held is asked of the kernel, never read from the file).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path

LOCK_NAME = ".lock"
PROBE_PATIENCE_SECONDS = 1.0

# the descriptors this process holds: closing one would release its lock
_HELD: dict[Path, int] = {}


class RunDirBusy(RuntimeError):
    """Another live process holds the run directory."""

    def __init__(self, run_dir: Path, pid: int | None):
        self.run_dir, self.pid = run_dir, pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"run directory {run_dir} is in use by {holder} (a training or evaluation worker); "
                         "wait for it to finish or cancel it, or choose another --run-dir")


def lock_file(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir).resolve() / LOCK_NAME


def _holder_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        return int(json.loads(text)["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def acquire(run_dir: str | os.PathLike) -> Path:
    """Take the lock of ``run_dir`` (created if needed) for the rest of this process's life.

    Raises :class:`RunDirBusy` naming the directory and the holder's pid when another process holds
    it; in that case nothing in the directory is changed. Taking a lock this process already holds
    is a no-op.
    """
    path = lock_file(run_dir)
    if path in _HELD:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    # a dashboard probing the lock (``holder``) holds it shared for microseconds: retry briefly
    # before calling the directory busy; a real holder keeps it for its whole life
    deadline = time.monotonic() + PROBE_PATIENCE_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            if time.monotonic() >= deadline:
                pid = _holder_pid(fd)
                os.close(fd)
                raise RunDirBusy(path.parent, pid) from None
            time.sleep(0.05)
    record = json.dumps({"pid": os.getpid(), "since": time.time()}).encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    _HELD[path] = fd
    return path


def release(run_dir: str | os.PathLike) -> None:
    """Give the lock back early (normally the process's exit does it)."""
    fd = _HELD.pop(lock_file(run_dir), None)
    if fd is not None:
        os.close(fd)


def release_all() -> None:
    """Give back every run-directory lock this process holds."""
    for path in list(_HELD):
        os.close(_HELD.pop(path))


def holder(run_dir: str | os.PathLike) -> int | None:
    """Pid of the live process holding ``run_dir`` (0 when held but the pid is unreadable), else None.

    Never creates the lock file: a directory that never had a worker has none.
    """
    path = lock_file(run_dir)
    if path in _HELD:
        return os.getpid()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _holder_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def was_ever_locked(run_dir: str | os.PathLike) -> bool:
    """Whether a worker took this directory's lock at some time (the lock file exists)."""
    return lock_file(run_dir).is_file()


def guard_worker_entry(argv: list[str]) -> None:
    """Take the run-directory lock for ``python -m core <kind> train|evaluate --run-dir D``.

    Called by the entry point before the subcommand runs; raises
    :class:`core.runs.folder.NotARunFolder` when ``D`` is a file or lies under one. Only rank 0 of a torchrun job takes it
    (the other ranks never write the run directory). Commands without ``--run-dir`` are left alone.
    """
    if len(argv) < 2 or argv[1] not in ("train", "evaluate"):
        return
    if os.environ.get("RANK", "0") not in ("", "0"):
        return
    run_dir = None
    for i, arg in enumerate(argv):
        if arg == "--run-dir" and i + 1 < len(argv):
            run_dir = argv[i + 1]
        elif arg.startswith("--run-dir="):
            run_dir = arg.split("=", 1)[1]
    if run_dir:
        from core.runs.folder import check_run_path

        acquire(check_run_path(run_dir))  # a file named as the folder: a named error, not a traceback
