"""Runs: every run with status, config, metrics and duration; compare two; export; delete."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.runs.catalog import delete_run, list_runs
from core.runs.config_diff import config_differences, public_config_text
from core.runs.state import run_state
from ui.frame import runs_root, show_error
from ui.run_tables import compare_frame, metrics_frame, runs_frame
from ui.sidebar import setup_page

setup_page("Runs", ":material/folder_open:")
st.title("Runs")

runs = list_runs(runs_root())
if not runs:
    st.info(f"No runs in {runs_root()} yet.")
    st.stop()
by_name = {r.name: r for r in runs}
st.dataframe(runs_frame(runs), hide_index=True,
             column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)})

st.subheader("One run")
run = by_name[st.selectbox("Run", list(by_name), key="runs_pick")]
status = run.read_status()
for problem in run.damage():
    st.warning(f"{problem.file.name} of {run.name} is damaged: {problem.reason}. The rest of the run is shown; "
               "delete the run if it cannot be repaired.", icon="⚠️")
c1, c2 = st.columns(2)
with c1:
    shown = run_state(run)  # the reader of the table above and of Home
    st.markdown(f"**State:** {shown.state} — {shown.message}")
    st.markdown("**Config**")
    config = run.safe_config()  # {} when damaged: then the raw text, as it is on disk
    st.code(public_config_text(config) if config else run.config_text() or "(none yet)",
            language="yaml")
with c2:
    table = metrics_frame(run)
    if table.empty:
        st.info("No metrics yet.")
    else:
        st.dataframe(table, hide_index=True, height=300)
        st.download_button("Export metrics (CSV)", table.to_csv(index=False).encode("utf-8"),
                           file_name=f"{run.name}_metrics.csv", mime="text/csv", key="export_csv")
    if run.predictions_path.is_file():
        st.download_button("Export predictions (NetCDF)", run.predictions_path.read_bytes(),
                           file_name=f"{run.name}_predictions.nc", mime="application/x-netcdf", key="export_nc")
    if st.button("Make the run report (HTML)", key="make_report",
                 help="One file with this run's interactive figures, scores, config, data period and machine; "
                      "it opens offline in any browser, no server needed."):
        from core.report import report_html

        try:
            # one report kept (a few MB: plotly.js is inside), for the run it was made of
            st.session_state["_run_report"] = (run.name, report_html(run).encode("utf-8"))
        except OSError as exc:
            show_error(exc, f"Writing the report of {run.name}")
    made = st.session_state.get("_run_report")
    if made and made[0] == run.name:
        st.download_button("Download the run report (HTML)", made[1],
                           file_name=f"{run.name}_report.html", mime="text/html", key="export_report")
    if status.get("state") == "failed":
        st.code(status.get("log_tail") or run.tail_log(15), language="text")
    if status.get("state") in ("pending", "running"):
        # a live worker (or one started outside the dashboard): stop it here, then it can be deleted
        if st.button("Cancel this run", key="cancel_run"):
            from core.runs.jobs import cancel_job

            stopped = cancel_job(run)
            st.warning(f"Run {run.name} {stopped.get('state')}: {stopped.get('message', '')}")
    with st.popover("Delete this run"):
        st.warning(f"Delete {run.name} and all its files?")
        if st.button("Yes, delete", key="delete_run", type="primary"):
            try:
                delete_run(run, runs_root())
            except ValueError as exc:
                show_error(exc, "Cannot delete")
            else:
                st.success(f"Deleted {run.name}")
                st.rerun()

st.subheader("Compare two runs")
names = list(by_name)
c1, c2 = st.columns(2)
a = c1.selectbox("Run A", names, index=0, key="compare_a")
b = c2.selectbox("Run B", names, index=min(1, len(names) - 1), key="compare_b")
differences = config_differences(by_name[a].safe_config(), by_name[b].safe_config())
if a == b:
    st.info("Pick two different runs.")
elif differences:
    st.markdown(f"**Settings that differ** ({len(differences)}):")
    st.dataframe(pd.DataFrame([{"setting": k, a: str(va), b: str(vb)} for k, va, vb in differences]),
                 hide_index=True)
else:
    st.success("Both runs were set up alike (same settings apart from the name).")
st.markdown("**Test scores**")
st.dataframe(compare_frame(by_name[a], by_name[b]), hide_index=True, height=320)
