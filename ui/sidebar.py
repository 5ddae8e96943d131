"""Page frame: page config and the shared sidebar (device, data source, active job); every page
calls :func:`setup_page` first."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.runs.jobs import active_job
from core.runs.state import run_state
from ui.data import source_options
from ui.demo import advance_demo, demo_pending
from ui.frame import DATA_SOURCE_KEY, keep, persistent_widget, runs_root, widget_key


@st.cache_resource(show_spinner=False)
def device_summary() -> str:
    """The device training uses. Torch is imported only when a GPU may exist: importing it costs
    about 2 s here and the home page must render fast on a CPU-only laptop."""
    if Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia").exists():
        from core.machine.device import describe_device

        return describe_device()
    return f"CPU ({os.cpu_count()} cores, no GPU found)"


def setup_page(title: str, icon: str = ":material/water_drop:") -> None:
    """``st.set_page_config`` plus the shared sidebar; call first on every page. Icons are Streamlit's
    bundled Material ones (``:material/name:``): emoji draw as empty boxes where the browser has no
    emoji font, as in a plain Debian Chromium."""
    st.set_page_config(page_title=f"{title} · Hydrocast Studio", page_icon=icon, layout="wide")
    sidebar()


def sidebar() -> None:
    with st.sidebar:
        st.markdown(f"**Device:** {device_summary()}")
        options = source_options()
        if st.session_state.get(DATA_SOURCE_KEY) not in options:
            st.session_state[DATA_SOURCE_KEY] = next(iter(options))
        persistent_widget(DATA_SOURCE_KEY)
        st.selectbox("Basin data source", list(options), key=widget_key(DATA_SOURCE_KEY),
                     on_change=keep, args=(DATA_SOURCE_KEY,), format_func=lambda k: options[k],
                     help="Set HYDROCAST_DATA to add folders; uploads appear here too.")
        job_badge()


JOB_POLL_SECONDS = 2.0


def job_badge() -> None:
    """The active training job, live: a fragment that re-runs every 2 s only while a job is active,
    so an idle tab costs the server nothing."""
    busy = active_job(runs_root()) is not None or demo_pending()
    st.fragment(run_every=JOB_POLL_SECONDS if busy else None)(_job_badge_body)(busy)


def _job_badge_body(was_active: bool) -> None:
    run = active_job(runs_root())
    if run is None and advance_demo():  # the demo's next run starts whatever page is open
        run = active_job(runs_root())
    if run is None:
        st.caption("No training job running.")
        if was_active:
            st.rerun()  # the job ended: redraw the page once (its results), polling off
        return
    state = run_state(run)  # polls the worker (a dead one is noticed and reaped); Home and Runs read the same
    st.markdown(f"**Job {state.state}:** `{run.name}` ({state.kind})")
    st.progress(state.progress, text=state.message)
    if not was_active:
        st.rerun()  # started elsewhere since this page was drawn: turn polling on
