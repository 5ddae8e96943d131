"""The Home page's one-click demo and its runs table: queue the quick hydro and rain runs, start each
when the device is free (from the sidebar's job fragment, so the queue moves on whatever page is
open), show their state and results, and the latest runs.

The queue lives in ``st.session_state["demo"]``: ``{"queue": [kinds still to start], "runs": {kind: path}}``.
The results are read from the demo's run folders: without a demo in the session (a new tab, after a
restart) Home shows the newest demo runs on disk (:func:`core.demo.latest_demo_runs`).

The demo's lines and the "Latest runs" table are drawn in one fragment from one reading per poll
(:func:`core.runs.state.run_state`), so they cannot disagree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.demo import DEMO_ORDER, DEMO_RUN_NAME, demo_config, latest_demo_runs
from core.runs import jobs
from core.runs.folder import FINAL_STATES, RunDir
from core.runs.state import RunState, latest_run_states, run_state
from core.rain.predictions import rain_fields
from ui.frame import runs_root, show_error, status_message

LATEST_RUNS = 8
"""Rows of Home's "Latest runs" table."""
DEMO_KEY = "demo"
POLL_SECONDS = 2.0


def start_demo() -> None:
    """on_click of the Demo button: queue both runs and start the first one if the device is free."""
    st.session_state[DEMO_KEY] = {"queue": list(DEMO_ORDER), "runs": {}}
    advance_demo()


def advance_demo() -> bool:
    """Start the next queued demo run when no job is active; True when one was started."""
    demo = st.session_state.get(DEMO_KEY)
    if not demo or not demo["queue"] or jobs.active_job(runs_root()) is not None:
        return False
    if any(RunDir(p).read_status().get("state") == "cancelled" for p in demo["runs"].values()):
        demo["queue"].clear()  # a user who cancels a demo run stops the demo
        return False
    kind = demo["queue"][0]
    try:
        run = jobs.start_job(kind, demo_config(kind), runs_root(), name=DEMO_RUN_NAME)
    except jobs.JobError:
        return False  # another start won the device a moment ago; the next poll tries again
    demo["queue"].pop(0)
    demo["runs"][kind] = str(run.path)
    st.session_state[f"{kind}_run"] = str(run.path)  # the Train pages follow the demo run
    return True


def demo_pending() -> bool:
    """Whether the demo still has a run to start or one that has not finished."""
    demo = st.session_state.get(DEMO_KEY)
    if not demo:
        return False
    return bool(demo["queue"]) or any(RunDir(p).read_status().get("state") not in FINAL_STATES
                                      for p in demo["runs"].values())


def demo_panel() -> None:
    """Button, then one fragment with the demo's state and results and the latest runs (polling only
    while a demo run or a listed run is pending or running)."""
    pending = demo_pending()
    st.button("▶ Run the demo", type="primary", on_click=start_demo, disabled=pending, key="demo_start",
              help="Trains the quick dXAJ run (embedded Fulda basin, with static-XAJ and LSTM baselines) and "
                   "then the rain experiments 1 and 2 in the background (about 1 + 2.5 minutes on 2 CPU "
                   "cores), and shows their results here.")
    live = pending or any(state.live for state in latest_run_states(runs_root(), LATEST_RUNS))
    st.fragment(run_every=POLL_SECONDS if live else None)(_live_body)(live)


def _demo_runs() -> dict[str, RunDir]:
    """The session's demo runs, else the newest demo runs on disk."""
    demo = st.session_state.get(DEMO_KEY)
    if demo and demo["runs"]:
        return {kind: RunDir(path) for kind, path in demo["runs"].items()}
    return latest_demo_runs(runs_root())


def _live_body(was_live: bool) -> None:
    advance_demo()
    # one reading of every run for this poll: the demo's lines and the table below show the same states
    latest = latest_run_states(runs_root(), LATEST_RUNS)
    states = {state.name: state for state in latest}
    runs = _demo_runs()
    demo = st.session_state.get(DEMO_KEY)
    if demo or runs:
        for kind, label in (("hydro", "dXAJ (streamflow)"), ("rain", "ST-RainNet (rain)")):
            run = runs.get(kind)
            if run is None:
                if demo and kind in demo["queue"]:
                    st.caption(f"{label}: waiting for the device")
                continue
            state = states.get(run.name) or run_state(run)
            st.progress(state.progress, text=f"{label}, run `{run.name}`: {state.state} - {state.message}")
        if not demo_pending() and all(_state(run, states).state in FINAL_STATES for run in runs.values()):
            _results(runs)
    _latest_table(latest)
    if was_live and not (demo_pending() or any(state.live for state in latest)):
        st.rerun()  # the whole page once, to show the results with polling off


def _state(run: RunDir, states: dict[str, RunState]) -> RunState:
    return states.get(run.name) or run_state(run)


def _latest_table(latest: list[RunState]) -> None:
    st.subheader("Latest runs")
    if not latest:
        st.info("No runs yet. Press **Run the demo** above, or start with **Train dXAJ**.")
        return
    # a plain table: its cells are text a reader (and a browser test) sees at once
    rows = [{**state.row(), "progress": f"{state.progress:.0%}"} for state in latest]
    st.table(pd.DataFrame(rows).drop(columns=["started"]).set_index("run"))
    for state in latest:
        problems = RunDir(state.path).damage()
        if problems:  # one message per damaged run; the other runs are listed as usual
            st.warning(f"Run {state.name}: {problems[0]}. Inspect or delete it on **Runs**.", icon="⚠️")


def _results(runs: dict[str, RunDir]) -> None:
    """The demo's hydrograph and rain maps, read from its run folders."""
    from core.viz.hydrographs import hydrograph
    from core.viz.maps import rain_maps
    from ui.data import MODEL_LABELS, hydro_predictions, predictions

    left, right = st.columns(2)
    hydro, rain = runs.get("hydro"), runs.get("rain")
    with left:
        if hydro is not None and hydro.predictions_path.exists():
            try:
                models = hydro_predictions(hydro)
                main = next(iter(models.values()))
                basin = str(main["basin"].values[0])
                sims = {MODEL_LABELS.get(n, n): ds["q_sim"].sel(basin=basin).reindex(time=main["time"]).values
                        for n, ds in models.items()}
                st.plotly_chart(hydrograph(main["time"].values, main["q_obs"].sel(basin=basin).values, sims,
                                           prcp=main["prcp"].sel(basin=basin).values,
                                           title=f"{basin}: observed vs simulated streamflow (test period)"),
                                key="demo_hydrograph")
            except (OSError, ValueError, KeyError) as exc:
                show_error(exc, f"Reading the demo run {hydro.name}")
            st.page_link("pages/3_Hydrographs.py", label="Open Hydrographs for all scores")
        elif hydro is not None:
            st.warning(f"The demo's dXAJ run ended without predictions: {status_message(hydro.read_status())}")
    with right:
        if rain is not None and rain.predictions_path.exists():
            try:
                maps = rain_fields(predictions(rain.predictions_path))
                wet = int(np.nanargmax(np.nan_to_num(maps.truth).sum(axis=(1, 2))))
                when = maps.times[wet].strftime("%Y-%m-%d %H:%M")
                fields = {"truth": maps.truth[wet],
                          **{n: maps.systems[n][wet] for n in ("exp1", "exp2", "persistence") if n in maps.systems}}
                units = str(maps.units or "mm")
                st.plotly_chart(rain_maps(fields, maps.lat, maps.lon, units,
                                          title=f"Region 1 rain at {when} ({units})"), key="demo_rain_maps")
            except (OSError, ValueError, KeyError) as exc:
                show_error(exc, f"Reading the demo run {rain.name}")
            st.page_link("pages/6_Rain_maps.py", label="Open Rain maps for CSI and the exp2 - exp1 gain")
        elif rain is not None:
            st.warning(f"The demo's rain run ended without predictions: {status_message(rain.read_status())}")
