"""Rain maps: truth vs experiments 1 and 2 and the baselines at a chosen lead, lead chart, CSI table, PNG export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.rain.predictions import has_leads, rain_fields
from core.viz.maps import difference_maps, rain_maps
from core.viz.overlays import has_lead_csi, lead_overlay_chart
from core.viz.verification import (SYSTEM_LABELS, baseline_gain_table, baseline_verdict, csi_chart, gain_table, lead_chart,
                                   lead_keys, lead_verdict, verification_table)
from ui.data import predictions, readable_runs
from ui.frame import show_error
from ui.sidebar import setup_page

setup_page("Rain maps", ":material/satellite_alt:")
st.title("Rain maps")

runs, damaged = readable_runs("rain")
for message in damaged:
    st.warning(message, icon="⚠️")
if not runs:
    st.info("No finished rain run yet: train one on the **Rain experiments** page.")
    st.page_link("pages/5_Rain_experiments.py", label="Rain experiments")
    st.stop()

by_name = {r.name: r for r in runs}
run = by_name[st.selectbox("Run", list(by_name), key="rain_run_pick")]
try:
    ds = predictions(run.predictions_path, "rain")
except (OSError, ValueError) as exc:
    show_error(exc, f"Reading the predictions of {run.name}")
    st.stop()
metrics = run.read_metrics()
leads = lead_keys(metrics)
lead = None
if leads and has_leads(ds):
    main = str(metrics.get("main_lead_minutes") or leads[0])
    lead = st.radio("Lead time (minutes after the last observed frame)", leads, index=leads.index(main) if main in leads else 0,
                    horizontal=True, key="rain_lead")
try:
    maps = rain_fields(ds, lead)
except (KeyError, ValueError) as exc:
    show_error(exc, f"Reading the maps of {run.name}")
    st.stop()
units = str(metrics.get("units") or maps.units or "mm")
systems, truth_all, system_all, times = list(maps.systems), maps.truth, maps.systems, maps.times
labels = [t.strftime("%Y-%m-%d %H:%M") for t in times]

try:
    thresholds = list((next(iter((metrics.get("test") or {}).values()), {}).get("csi") or {}).keys())
    if thresholds:
        shown = thresholds[min(1, len(thresholds) - 1)]
        st.markdown(lead_verdict(metrics, lead, shown))
        if against_references := baseline_verdict(metrics, lead, shown):
            st.markdown(against_references)
except (AttributeError, TypeError, ValueError, KeyError):  # a damaged metrics.json: the warning comes below
    thresholds = []

# default to the wettest test time: an empty map shows nothing
wettest = int(np.nanargmax(np.nan_to_num(truth_all).sum(axis=(1, 2)))) if len(times) else 0
choice = st.select_slider("Valid time (predicted field)", options=labels, value=labels[wettest], key="rain_time")
i = labels.index(choice)
lat, lon = maps.lat, maps.lon
fields = {"truth": truth_all[i], **{n: system_all[n][i] for n in systems}}
when = f"{choice}" + (f", {lead} min ahead" if lead is not None else "")
st.plotly_chart(rain_maps(fields, lat, lon, units, title=f"Region 1 rain at {when} ({units})"), key="rain_maps")
st.plotly_chart(difference_maps({n: system_all[n][i] for n in systems}, truth_all[i], lat, lon, units,
                                title="Prediction minus truth (blue: too dry, red: too wet)"), key="diff_maps")

try:
    table = verification_table(metrics, lead)
    gains = gain_table(metrics, lead)
    best = baseline_gain_table(metrics, lead)
except (AttributeError, TypeError, ValueError, KeyError) as exc:  # metrics.json edited or from another version
    st.warning(f"metrics.json of {run.name} has an unexpected layout ({exc}); the maps above are unaffected.", icon="⚠️")
    table = gains = best = None
if table is not None and leads and thresholds:
    st.subheader("Skill against lead time")
    pick = st.selectbox(f"CSI threshold ({units})", thresholds, index=thresholds.index(shown), key="lead_thr")
    st.plotly_chart(lead_chart(metrics, pick), key="lead_chart")
    others = [r.name for r in runs if r.name != run.name]
    if "rain_overlay_pick" in st.session_state:  # the run shown itself cannot be overlaid on it
        st.session_state["rain_overlay_pick"] = [o for o in st.session_state["rain_overlay_pick"] if o in others]
    overlaid = st.multiselect("Put other rain runs' CSI against lead on one chart", others, key="rain_overlay_pick",
                              placeholder="Choose runs" if others else "No other rain run")
    if overlaid:
        compared = {run.name: metrics, **{o: by_name[o].read_metrics() for o in overlaid}}
        shown = {o: m for o, m in compared.items() if has_lead_csi(m, pick)}
        if len(shown) < len(compared):
            st.warning(f"No CSI at {pick} {units} per lead in metrics.json of "
                       f"{', '.join(o for o in compared if o not in shown)} (not drawn).", icon="⚠️")
        if len(shown) > 1:
            st.plotly_chart(lead_overlay_chart(shown, pick, SYSTEM_LABELS), key="lead_overlay_chart")

st.subheader("Verification over the whole test period" + (f" at {lead} min" if lead is not None else ""))
if table is None:
    pass
elif table.empty:
    st.info("This run has no categorical scores in metrics.json.")
else:
    st.markdown(f"CSI, POD, FAR, ETS per threshold ({units}); RMSE over all region-1 pixels.")
    st.table(table.set_index(["threshold", "system"]).style.format("{:.3f}", na_rep="–"))
    if not gains.empty:
        st.markdown("**Experiment 2 minus experiment 1** with the paired-bootstrap interval "
                    "(CSI gain > 0 and RMSE change < 0 favour the upstream region):")
        st.table(gains.set_index(["score", "threshold"]).style.format("{:.3f}", na_rep="–"))
    if not best.empty:
        st.markdown("**Better experiment minus the strongest baseline** in CSI, with the paired-bootstrap interval "
                    "over test samples (above 0: the network beats every reference at that threshold):")
        st.table(best.set_index("threshold").style.format(
            "{:.3f}", subset=["difference", "low", "high", "level"], na_rep="–"))
    st.plotly_chart(csi_chart(metrics, lead), key="csi_chart")

st.subheader("Static map export")
if st.button("Render PNG with cartopy", key="export_png"):
    from core.viz.static_maps import rain_maps_png

    try:
        png = rain_maps_png(fields, lat, lon, units, title=f"{run.name} {choice}")
    except Exception as exc:  # cartopy/matplotlib problems become a message, not a traceback
        show_error(exc, "Static map export failed")
    else:
        st.image(png)
        st.download_button("Download PNG", png, file_name=f"{run.name}_{i:04d}.png", mime="image/png")
