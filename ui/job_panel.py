"""Start / follow / cancel a background training job (shared by the two Train pages).

The page remembers its run in ``st.session_state[f"{kind}_run"]``; after a reload it finds the
active job (lock file) or the newest run of its kind, so a second tab sees the same job.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import streamlit as st

from core.runs import jobs
from core.runs.catalog import list_runs
from core.runs.folder import DAMAGED, FINAL_STATES, RunDir, run_kind
from core.viz.training import loss_curves
from ui.frame import flash, runs_root, show_error, show_flash, status_message

POLL_SECONDS = 2.0


def run_key(kind: str) -> str:
    return f"{kind}_run"


def current_run(kind: str) -> RunDir | None:
    """The run this page follows: the one it started, else the active job of its kind, else the newest."""
    path = st.session_state.get(run_key(kind))
    if path:
        return RunDir(path)
    active = jobs.active_job(runs_root())
    if active is not None and run_kind(active) == kind:
        return active
    runs = list_runs(runs_root(), kind)
    return runs[0] if runs else None


def start(kind: str, config: Mapping[str, Any], name: str | None = None) -> RunDir | None:
    """Start a job; a refusal (another job on this device) is shown as an error and returns None."""
    try:
        run = jobs.start_job(kind, config, runs_root(), name=name)
    except jobs.JobError as exc:
        st.error(str(exc))
        return None
    except (OSError, ValueError) as exc:
        show_error(exc, "Could not start the training job")
        return None
    st.session_state[run_key(kind)] = str(run.path)
    flash("Training started in the background; you can switch pages, it keeps running.")
    st.rerun()  # redraw at once, so the sidebar and the status below show the running job
    return run


def job_status(kind: str, summary: Callable[[RunDir], None] | None = None) -> None:
    """Status of the followed run: progress, message, loss curves, cancel; polls while it runs."""
    show_flash()
    run = current_run(kind)
    if run is None:
        st.info("No run yet: set it up above and press **Start training**.")
        return
    running = run.read_status().get("state") not in (*FINAL_STATES, DAMAGED)
    # run_every only while a job runs, so a finished page stays still
    st.fragment(run_every=POLL_SECONDS if running else None)(_status_body)(kind, str(run.path), running, summary)


def _status_body(kind: str, path: str, was_running: bool, summary: Callable[[RunDir], None] | None) -> None:
    run = RunDir(path)
    status = jobs.poll_job(run)
    state = status.get("state", "pending")
    st.markdown(f"**Run `{run.name}`: {state}**")
    st.progress(min(max(float(status.get("progress") or 0.0), 0.0), 1.0), text=status_message(status))
    if state in ("running", "pending"):
        if st.button("Cancel training", key=f"cancel_{kind}", type="secondary"):
            status = jobs.cancel_job(run)
            st.warning(f"Run {run.name}: {status_message(status)}")
    if state == DAMAGED:
        st.error(f"This run cannot be shown: {status.get('message', '')}", icon="⚠️")
    if state == "failed":
        st.error(f"Training failed: {status.get('message', '')}")
        tail = status.get("log_tail") or run.tail_log(15)
        if tail:
            st.code(tail, language="text")
    history = run.read_all_history()  # the run's and each of its model folders'
    if history:
        st.plotly_chart(loss_curves(history, title="Training and validation loss"),
                        key=f"loss_{kind}")
    if state == "completed" and summary is not None:
        summary(run)
    if was_running and state in (*FINAL_STATES, DAMAGED):
        st.rerun()  # the whole page redraws once, with polling off
