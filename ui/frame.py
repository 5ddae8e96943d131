"""What every ui module and page shares: session-state keys and widget values kept across pages, the
runs folder, status messages, flashes and readable errors.

Imports no other ui module, so every one of them can import it; the sidebar that needs the data
loaders and the demo queue lives in ``ui.sidebar``."""

from __future__ import annotations

import re
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


def status_message(status: dict) -> str:
    """:func:`core.runs.state.status_message`: one wording of a run's state everywhere."""
    from core.runs.state import status_message as worded

    return worded(status)


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


def plain(text: object) -> str:
    """``text`` with Markdown and LaTeX marks escaped, so a message quoting a regular expression or a
    path (``$``, ``*``, ``_``, backslashes) shows as typed instead of as maths or emphasis."""
    return _MARKDOWN_MARKS.sub(lambda m: "\\" + m.group(0), str(text))


_MARKDOWN_MARKS = re.compile(r"[\\`*_\[\]<>#|$~]")


def show_error(exc: BaseException, what: str) -> None:
    """A readable error box: what failed and the message from core (no traceback)."""
    st.error(f"{what}: {exc}", icon="⚠️")
