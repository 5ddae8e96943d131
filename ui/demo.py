"""The Home page's one-click demo: queue the quick hydro and rain runs, start each when the device is
free (from the sidebar's job fragment, so the queue moves on whatever page is open), show results.

The queue lives in ``st.session_state["demo"]``: ``{"queue": [kinds still to start], "runs": {kind: path}}``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.demo import DEMO_ORDER, demo_config
from core.runs import jobs
from core.runs.folder import FINAL_STATES, RunDir
from core.rain.predictions import rain_fields
from ui.frame import runs_root, show_error, status_message

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
        run = jobs.start_job(kind, demo_config(kind), runs_root(), name="demo")
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
    """Button, progress of both runs, then their results (polls only while the demo runs)."""
    pending = demo_pending()
    st.button("▶ Run the demo", type="primary", on_click=start_demo, disabled=pending, key="demo_start",
              help="Trains the quick dXAJ run (embedded Fulda basin, with static-XAJ and LSTM baselines) and "
                   "then the quick rain experiments 1 and 2 in the background, about a minute each on 2 CPU "
                   "cores, and shows their results here.")
    if DEMO_KEY in st.session_state:
        st.fragment(run_every=POLL_SECONDS if pending else None)(_demo_body)(pending)


def _demo_body(was_pending: bool) -> None:
    demo = st.session_state[DEMO_KEY]
    advance_demo()
    for kind, label in (("hydro", "dXAJ (streamflow)"), ("rain", "ST-RainNet (rain)")):
        path = demo["runs"].get(kind)
        if path is None:
            st.caption(f"{label}: waiting for the device")
            continue
        status = jobs.poll_job(RunDir(path))
        st.progress(min(max(float(status.get("progress") or 0.0), 0.0), 1.0),
                    text=f"{label}, run `{RunDir(path).name}`: {status.get('state')} - {status_message(status)}")
    if was_pending and not demo_pending():
        st.rerun()  # the whole page once, to show the results with polling off
    if not demo_pending():
        _results(demo)


def _results(demo: dict) -> None:
    from core.viz.hydrographs import hydrograph
    from core.viz.maps import rain_maps
    from ui.data import MODEL_LABELS, hydro_predictions, predictions

    left, right = st.columns(2)
    hydro = RunDir(demo["runs"]["hydro"]) if "hydro" in demo["runs"] else None
    rain = RunDir(demo["runs"]["rain"]) if "rain" in demo["runs"] else None
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
