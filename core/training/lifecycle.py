"""The worker lifecycle shared by ``python -m core hydro|rain train|evaluate``.

- **Cancel.** SIGTERM (the dashboard's Cancel) and SIGINT (Ctrl-C) raise :class:`Cancelled` from the
  signal handler, wherever the worker is (loading data, inside an epoch, writing a file: atomic
  writes clean up their temporary file). ``Cancelled`` derives from ``BaseException``, so no
  ``except Exception`` on the way can swallow it; the run is marked ``cancelled`` (exit 143).
- **Failure.** Any other exception marks the run ``failed`` with ``"<Type>: <message>"`` and prints
  the traceback to the log (exit 1). Success marks it ``completed`` with the body's summary (exit 0).
- **Writing.** Only rank 0 writes status.json, history.json and metrics.json (:func:`is_writer`);
  :class:`Progress` throttles status updates inside an epoch.
- **Epochs** are numbered from 1 in both halves: the history record of the first epoch has
  ``epoch: 1``, a checkpoint's ``epoch`` is the number of epochs it completed (0 = none), and
  ``--resume`` continues with epoch ``checkpoint["epoch"] + 1``; ``best_epoch`` 0 means none yet.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from core.runs.folder import RunDir, now_iso
from core.training import distributed as D

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 143
FIRST_EPOCH = 1


class Cancelled(BaseException):
    """The worker was asked to stop (SIGTERM / SIGINT). Not an ``Exception``: nothing may swallow it."""


def _raise_cancelled(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
    raise Cancelled(f"received signal {signal.Signals(signum).name}")


@contextmanager
def cancel_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`Cancelled` inside the block (main thread only; restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_cancelled) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def is_writer() -> bool:
    """Only rank 0 writes the run directory (call after the process group is set up)."""
    return D.is_main()


class Progress:
    """Throttled status updates from inside an epoch (at most one write per ``every`` seconds)."""

    def __init__(self, run: RunDir, every: float = 2.0):
        self.run, self.every, self._last = run, every, None

    def update(self, force: bool = False, **fields: Any) -> None:
        if not is_writer():
            return
        now = time.monotonic()
        if not force and self._last is not None and now - self._last < self.every:
            return
        self._last = now
        self.run.update_status(**fields)


def start(run: RunDir, command: str, message: str, overwrite: bool = False, **fields: Any) -> None:
    """Create the run directory and mark it running (rank 0); ``overwrite``: first delete the run it
    holds (:meth:`core.runs.folder.RunDir.remove_run`), so the new run starts with one history."""
    if is_writer():
        if overwrite and run.path.is_dir():
            removed = run.remove_run()
            if removed:
                print(f"--overwrite: deleted the previous run's {', '.join(removed)} in {run.path}", file=sys.stderr)
        run.create()
        run.update_status(state="running", progress=0.0, message=message, pid=os.getpid(), command=command,
                          finished=None, **fields)


def mark_unfinished(run: RunDir, previous: dict, message: str, progress: float | None = None) -> None:
    """After an evaluation of a run whose training is unfinished: never ``completed``.

    A ``failed`` or ``cancelled`` state before the evaluation stays; any other (a worker killed
    while ``running``, whose state nobody could write) becomes ``failed``, as the stale-run repair
    would call it. ``message`` says how far training got and how to continue it.
    """
    if not is_writer():
        return
    state = previous.get("state") if previous.get("state") in ("failed", "cancelled") else "failed"
    fields: dict[str, Any] = {"state": state, "message": message, "finished": now_iso()}
    if progress is not None:
        fields["progress"] = round(min(max(progress, 0.0), 1.0), 4)
    run.update_status(**fields)


def run_worker(run: RunDir, body: Callable[[], str], *, complete: bool | Callable[[], bool] = True) -> int:
    """Run ``body`` (which returns a one-line summary) under the lifecycle; returns the exit code.

    ``complete``: mark the run ``completed`` with the summary on success (rank 0); a callable is
    asked after ``body`` (an evaluation of an unfinished training says no and records its own
    state). Errors raised before the run directory exists are printed only.
    """
    try:
        with cancel_on_signals():
            summary = body()
            if (complete() if callable(complete) else complete) and is_writer():
                run.update_status(state="completed", progress=1.0, message=summary, finished=now_iso())
            if is_writer():
                print(summary)
            return EXIT_OK
    except (Cancelled, KeyboardInterrupt) as exc:
        if is_writer() and run.path.is_dir():
            run.update_status(state="cancelled", message=f"cancelled ({exc or 'interrupted'})", finished=now_iso())
        print(f"run {run.path} cancelled ({exc or 'interrupted'})", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:  # every failure lands in status.json for the dashboard
        message = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
        if is_writer() and run.path.is_dir():
            run.update_status(state="failed", message=message, finished=now_iso())
        print(f"error: {message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        D.shutdown()
