"""Page frame: page config, the shared sidebar (device, data source, active job), readable errors."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.runs import default_runs_root

DATA_SOURCE_KEY = "data_source"
BASINS_KEY = "basins"


def runs_root() -> Path:
    """Folder of all runs (``$HYDROCAST_RUNS`` or ``./runs``), created on first use."""
    root = default_runs_root()
    root.mkdir(parents=True, exist_ok=True)
    return root


@st.cache_resource(show_spinner=False)
def device_summary() -> str:
    """The device training uses. Torch is imported only when a GPU may exist: importing it costs
    about 2 s here and the home page must render fast on a CPU-only laptop."""
    if Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia").exists():
        from core.device import describe_device

        return describe_device()
    return f"CPU ({os.cpu_count()} cores, no GPU found)"


def setup_page(title: str, icon: str = "💧") -> None:
    """``st.set_page_config`` plus the shared sidebar; call first on every page."""
    st.set_page_config(page_title=f"{title} · Hydrocast Studio", page_icon=icon, layout="wide")
    sidebar()


def sidebar() -> None:
    from ui.data import source_options

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


def widget_key(key: str) -> str:
    return f"_w_{key}"


def persistent_widget(key: str) -> None:
    """Seed the widget ``_w_<key>`` from ``st.session_state[key]``: Streamlit forgets a widget's
    state on pages that do not draw it, the plain key survives page switches."""
    if key in st.session_state:
        st.session_state[widget_key(key)] = st.session_state[key]


def keep(key: str) -> None:
    """on_change callback: copy the widget value back to the persistent key."""
    st.session_state[key] = st.session_state[widget_key(key)]


def job_badge() -> None:
    """The active training job, if any (read from the lock file and status.json on disk)."""
    from core.jobs import active_job

    run = active_job(runs_root())
    if run is None:
        st.caption("No training job running.")
        return
    status = run.read_status()
    st.markdown(f"**Active job:** `{run.name}`")
    st.progress(float(status.get("progress") or 0.0), text=str(status.get("message", status.get("state", ""))))


def period_overlaps(periods: dict) -> list:
    """``core.data.splits.periods_overlap`` of date-range widgets' values; a range still being picked
    (one date only) is left out."""
    from core.data.splits import periods_overlap

    complete = {name: tuple(v) for name, v in periods.items() if isinstance(v, (tuple, list)) and len(v) == 2}
    return periods_overlap(complete)


def show_error(exc: BaseException, what: str) -> None:
    """A readable error box: what failed and the message from core (no traceback)."""
    st.error(f"{what}: {exc}", icon="⚠️")
