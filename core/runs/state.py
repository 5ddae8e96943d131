"""One reader of a run's state for every place that shows it (Home's table and demo lines, Runs, the sidebar).

Two readers gave two answers (issue 32): Home's table read status.json as it was when the page was
drawn while the demo's line polled the worker. :func:`run_state` is the one reading: it polls the
worker (:func:`core.runs.jobs.poll_job`, which settles a run whose worker is gone) and words the
message for people, and :func:`latest_run_states` lists runs through it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from core.runs.catalog import list_runs
from core.runs.folder import RunDir, run_kind
from core.runs.jobs import poll_job
from core.runs.stale import LIVE_STATES


@dataclass(frozen=True)
class RunState:
    """What a person is shown of one run at one moment."""

    name: str
    path: str
    kind: str
    state: str
    progress: float
    """0 to 1."""
    message: str
    duration_s: float | None
    """Seconds from start to finish (or to the last update while running); None before the start."""
    started: str | None

    @property
    def live(self) -> bool:
        """Still pending or running (a page showing it keeps polling)."""
        return self.state in LIVE_STATES

    def row(self) -> dict:
        """A table row with the dashboard's column names."""
        values = asdict(self)
        return {"run": values["name"], "kind": values["kind"], "state": values["state"],
                "progress": values["progress"],
                "duration (s)": round(values["duration_s"]) if values["duration_s"] is not None else None,
                "started": values["started"], "message": values["message"]}


def status_message(status: dict) -> str:
    """The message of a status for people: a cancelled run says so instead of the signal that stopped
    it ("received signal 15")."""
    state = status.get("state", "")
    if state == "cancelled":
        return "Cancelled by user"
    return str(status.get("message") or state or "")


def run_state(run: RunDir | str | os.PathLike) -> RunState:
    """The state of ``run`` now (its worker polled; a run whose worker is gone reads as failed)."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    status = poll_job(run)
    try:
        progress = min(max(float(status.get("progress") or 0.0), 0.0), 1.0)
    except (TypeError, ValueError):  # a hand-edited status.json
        progress = 0.0
    return RunState(name=run.name, path=str(run.path), kind=run_kind(run), state=str(status.get("state", "?")), progress=progress,
                    message=status_message(status), duration_s=run.duration_seconds(),
                    started=status.get("started"))


def latest_run_states(root: str | os.PathLike | None = None, limit: int | None = None) -> list[RunState]:
    """:func:`run_state` of the newest ``limit`` runs under ``root`` (all when None), newest first."""
    runs = list_runs(root)
    return [run_state(run) for run in (runs if limit is None else runs[:limit])]
