"""The editable table of XAJ parameter ranges (draft kept in session state, validated by core)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.hydro.params import DEFAULT_RANGES, XAJ_PARAMS, ParamRanges

DRAFT_KEY = "param_ranges_draft"
"""Ranges the table starts from (changed by the one-range form and reset); cell edits apply on top."""
CURRENT_KEY = "param_ranges_current"
"""What the table shows now, cell edits included (possibly invalid)."""
VERSION_KEY = "param_ranges_version"
TABLE_COLUMNS = ["name", "unit", "lower", "upper", "default lower", "default upper", "physical limits", "meaning"]


def draft() -> dict[str, list[float]]:
    """The table's starting ranges ``{name: [lower, upper]}`` (possibly invalid)."""
    if DRAFT_KEY not in st.session_state:
        st.session_state[DRAFT_KEY] = {n: list(r) for n, r in DEFAULT_RANGES.items()}
    return st.session_state[DRAFT_KEY]


def _frame(ranges: dict[str, list[float]]) -> pd.DataFrame:
    frame = ParamRanges.defaults().to_frame()
    frame["lower"] = [float(ranges[n][0]) for n in frame["name"]]
    frame["upper"] = [float(ranges[n][1]) for n in frame["name"]]
    return frame[TABLE_COLUMNS]


def set_draft(ranges: dict[str, list[float]]) -> None:
    """Replace the draft and redraw the table from it (a new editor key drops stale cell edits)."""
    st.session_state[DRAFT_KEY] = {n: [float(v) for v in ranges[n]] for n in XAJ_PARAMS}
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def range_editor() -> ParamRanges | None:
    """Draw the table, the one-range form and reset; return the validated ranges or None (error shown)."""
    base = dict(draft())
    version = st.session_state.get(VERSION_KEY, 0)
    edited = st.data_editor(
        _frame(base), key=f"ranges_table_{version}", hide_index=True, num_rows="fixed",
        disabled=[c for c in TABLE_COLUMNS if c not in ("lower", "upper")],
        column_config={"lower": st.column_config.NumberColumn("lower", format="%.4g"),
                       "upper": st.column_config.NumberColumn("upper", format="%.4g")},
    )
    current = {str(r["name"]): [float(r["lower"]), float(r["upper"])] for _, r in edited.iterrows()}
    st.session_state[CURRENT_KEY] = current
    with st.expander("Set one range", expanded=False):
        c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
        name = c1.selectbox("Parameter", XAJ_PARAMS, key="range_param")
        lo, hi = current[name]
        lower = c2.number_input("Lower", value=float(lo), key=f"range_lower_{name}_{version}", format="%.4g")
        upper = c3.number_input("Upper", value=float(hi), key=f"range_upper_{name}_{version}", format="%.4g")
        c4.write("")
        if c4.button("Apply", key="range_apply"):
            set_draft({**current, name: [lower, upper]})
            st.rerun()
    if st.button("Reset all ranges to defaults", key="range_reset"):
        set_draft({n: list(r) for n, r in DEFAULT_RANGES.items()})
        st.rerun()
    try:
        ranges = ParamRanges.from_dict(current, source="parameter table")
    except ValueError as exc:
        st.error(f"Invalid parameter range: {exc}", icon="⚠️")
        return None
    changed = [n for n in XAJ_PARAMS if tuple(ranges[n]) != DEFAULT_RANGES[n]]
    st.caption("All ranges valid." + (f" Changed from the defaults: {', '.join(changed)}." if changed else " (defaults)"))
    return ranges


def active_ranges() -> tuple[dict[str, tuple[float, float]], bool]:
    """``({name: (lower, upper)}, edited)``: the ranges of the Train page's table when they are valid
    (so the sandbox explores what training will use), else the defaults."""
    table = st.session_state.get(CURRENT_KEY) or st.session_state.get(DRAFT_KEY)
    try:
        ranges = ParamRanges.from_dict(table, source="parameter table")
    except ValueError:
        ranges = ParamRanges.from_dict(None)
    chosen = {n: (float(ranges[n][0]), float(ranges[n][1])) for n in XAJ_PARAMS}
    return chosen, any(chosen[n] != tuple(DEFAULT_RANGES[n]) for n in XAJ_PARAMS)
