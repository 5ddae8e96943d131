"""Page frame: page config, the shared sidebar (device, data source, active job), readable errors."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.runs.folder import default_runs_root

DATA_SOURCE_KEY = "data_source"
BASINS_KEY = "basins"
PERIOD_KEY = "data_period"
"""(first, last) day of the data chosen on the Basins page, used by Train dXAJ."""


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
        from core.machine.device import describe_device

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


def kept_key(key: str) -> str:
    """Where :func:`remembered` keeps the value of the widget ``key`` between pages."""
    return f"_kept_{key}"


def kept(key: str, default=None):
    """The remembered value of widget ``key`` (also on pages that do not draw it)."""
    return st.session_state.get(kept_key(key), default)


def remember(key: str, value) -> None:
    """Set the value the widget ``key`` shows next time it is drawn."""
    st.session_state[kept_key(key)] = value


def _keep_widget(key: str) -> None:
    st.session_state[kept_key(key)] = st.session_state[key]


def keep_all(keys) -> None:
    """on_click callback of a form's submit button: keep every field of the form (widgets inside a
    form take no on_change callback)."""
    for key in keys:
        if key in st.session_state:
            _keep_widget(key)


def remembered(key: str, default, in_form: bool = False) -> dict:
    """Keyword arguments for a widget ``key`` whose value survives page changes: Streamlit forgets the
    state of widgets a page does not draw, so the value is also kept under :func:`kept_key` (seeded
    with ``default``) and handed back to the widget each run. Pass no ``value``/``index``/``default``
    to the widget itself (Streamlit warns when both a default and session state set it). Widgets in
    a form get no callback: keep them with :func:`keep_all` on submit."""
    if kept_key(key) not in st.session_state:
        st.session_state[kept_key(key)] = default
    st.session_state[key] = st.session_state[kept_key(key)]
    return {"key": key} if in_form else {"key": key, "on_change": _keep_widget, "args": (key,)}


JOB_POLL_SECONDS = 2.0


def status_message(status: dict) -> str:
    """The message of a run's status for people: a cancelled run says so instead of the signal that
    stopped it ("received signal 15")."""
    state = status.get("state", "")
    if state == "cancelled":
        return "Cancelled by user"
    return str(status.get("message") or state or "")


def job_badge() -> None:
    """The active training job, live: a fragment that re-runs every 2 s only while a job is active,
    so an idle tab costs the server nothing."""
    from core.runs.jobs import active_job
    from ui.demo import demo_pending

    busy = active_job(runs_root()) is not None or demo_pending()
    st.fragment(run_every=JOB_POLL_SECONDS if busy else None)(_job_badge_body)(busy)


def _job_badge_body(was_active: bool) -> None:
    from core.runs.jobs import active_job, poll_job
    from ui.demo import advance_demo

    run = active_job(runs_root())
    if run is None and advance_demo():  # the demo's next run starts whatever page is open
        run = active_job(runs_root())
    if run is None:
        st.caption("No training job running.")
        if was_active:
            st.rerun()  # the job ended: redraw the page once (its results), polling off
        return
    status = poll_job(run)  # also notices a dead worker and reaps it
    kind = status.get("kind") or run.name.split("-")[0]
    st.markdown(f"**Job {status.get('state', 'pending')}:** `{run.name}` ({kind})")
    progress = min(max(float(status.get("progress") or 0.0), 0.0), 1.0)
    st.progress(progress, text=status_message(status))
    if not was_active:
        st.rerun()  # started elsewhere since this page was drawn: turn polling on


def flash(message: str) -> None:
    """Show ``message`` as a success box on the next run of the page (survives ``st.rerun``)."""
    st.session_state["_flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("_flash", None)
    if message:
        st.success(message)


def period_overlaps(periods: dict) -> list:
    """``core.data.splits.periods_overlap`` of date-range widgets' values; a range still being picked
    (one date only) is left out."""
    from core.data.splits import periods_overlap

    complete = {name: tuple(v) for name, v in periods.items() if isinstance(v, (tuple, list)) and len(v) == 2}
    return periods_overlap(complete)


def show_error(exc: BaseException, what: str) -> None:
    """A readable error box: what failed and the message from core (no traceback)."""
    st.error(f"{what}: {exc}", icon="⚠️")
