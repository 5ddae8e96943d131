"""Hydrographs: observed vs simulated streamflow per basin (with baselines), metrics table, flow-duration curve."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.runs.config_diff import settings_table
from core.runs.overlay import overlay_basin, overlay_scores, periods_differ
from core.runs.results import hydro_score_table
from core.viz.hydrographs import flow_duration_curve, hydrograph
from core.viz.overlays import overlay_hydrograph
from ui.data import MODEL_LABELS, hydro_predictions, readable_runs
from ui.frame import show_error
from ui.sidebar import setup_page

SCORE_UNITS = {"NSE (-)": "-", "KGE (-)": "-", "RMSE (mm/day)": "mm/day", "PBIAS (%)": "%", "peak error (%)": "%"}
SCORE_LABELS = dict(zip(("nse", "kge", "rmse", "pbias", "peak_error"), SCORE_UNITS))

setup_page("Hydrographs", ":material/show_chart:")
st.title("Hydrographs")

runs, damaged = readable_runs("hydro")
for message in damaged:
    st.warning(message, icon="⚠️")
if not runs:
    st.info("No finished dXAJ run yet: train one on the **Train dXAJ** page.")
    st.page_link("pages/2_Train_dXAJ.py", label="Train dXAJ")
    st.stop()

by_name = {r.name: r for r in runs}
c1, c2 = st.columns(2)
run_name = c1.selectbox("Run", list(by_name), key="hydro_run_pick")
run = by_name[run_name]
try:
    models = hydro_predictions(run)
except (OSError, ValueError) as exc:
    show_error(exc, f"Reading the predictions of {run.name}")
    st.stop()
main = next(iter(models.values()))
basins = [str(b) for b in main["basin"].values]
basin = c2.selectbox("Basin", basins, key="hydro_basin_pick")


@st.cache_data(show_spinner=False, max_entries=64)
def basin_series(run_path: str, mtime: float, basin: str) -> dict:
    """Arrays of one basin: time, obs, prcp and each model's simulation (aligned on the main model's time)."""
    from core.runs.folder import RunDir

    models = hydro_predictions(RunDir(run_path))
    main = next(iter(models.values()))
    out = {"time": main["time"].values, "q_obs": main["q_obs"].sel(basin=basin).values,
           "prcp": main["prcp"].sel(basin=basin).values if "prcp" in main else None, "sims": {}}
    for name, ds in models.items():
        q = ds["q_sim"].sel(basin=basin).reindex(time=main["time"]).values
        out["sims"][MODEL_LABELS.get(name, name)] = q
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def run_basins(run_path: str, mtime: float) -> list[str]:
    """The basins a run tested (its main model's predictions)."""
    from core.runs.folder import RunDir

    return [str(b) for b in next(iter(hydro_predictions(RunDir(run_path)).values()))["basin"].values]


try:  # the files may be replaced between the reads above and these (a run evaluated again meanwhile)
    series = basin_series(str(run.path), run.predictions_path.stat().st_mtime, basin)
except (OSError, ValueError) as exc:
    show_error(exc, f"Reading the predictions of {run.name}")
    st.stop()
name = str(main["name"].sel(basin=basin).values) if "name" in main.coords else basin

# other runs that tested this basin can be drawn on the same chart
def tested_basin(other) -> bool:
    try:  # a run whose files went away meanwhile is simply not offered
        return basin in run_basins(str(other.path), other.predictions_path.stat().st_mtime)
    except (OSError, ValueError, StopIteration):
        return False


others = [r.name for r in runs if r.name != run.name and tested_basin(r)]
if "hydro_overlay_pick" in st.session_state:  # runs without this basin drop out when the basin changes
    st.session_state["hydro_overlay_pick"] = [o for o in st.session_state["hydro_overlay_pick"] if o in others]
overlaid = st.multiselect("Overlay other runs of this basin", others, key="hydro_overlay_pick",
                          help="Observed flow once, each run's dXAJ and baselines (a colour per run), with a "
                               "score table per run and the settings that differ.",
                          placeholder="Choose runs" if others else "No other run tested this basin")
try:
    overlay_series = {run.name: series, **{o: basin_series(str(by_name[o].path), by_name[o].predictions_path.stat().st_mtime,
                                                            basin) for o in overlaid}}
except (OSError, ValueError) as exc:
    show_error(exc, "Reading the predictions of the overlaid runs")
    overlaid, overlay_series = [], {run.name: series}
if overlaid:
    merged = overlay_basin(overlay_series)
    st.plotly_chart(overlay_hydrograph(merged.time, merged.q_obs, merged.sims, prcp=merged.prcp,
                                       title=f"{basin}: {len(overlay_series)} runs overlaid (test periods)"),
                    key="hydrograph")
    fdc_obs, fdc_sims = merged.q_obs, {f"{r} · {m}": q for r, models in merged.sims.items() for m, q in models.items()}
else:
    st.plotly_chart(hydrograph(series["time"], series["q_obs"], series["sims"], prcp=series["prcp"],
                               title=f"{basin}: observed vs simulated streamflow (test period)"), key="hydrograph")
    fdc_obs, fdc_sims = series["q_obs"], series["sims"]


@st.cache_data(show_spinner=False)
def metrics_table(run_path: str, mtime: float) -> pd.DataFrame:
    from core.runs.folder import RunDir

    return hydro_score_table(hydro_predictions(RunDir(run_path)), MODEL_LABELS)


st.plotly_chart(flow_duration_curve(fdc_obs, fdc_sims, title=f"{basin}: flow-duration curve"), key="fdc")
if overlaid:
    st.markdown(f"**Scores of each run on {basin}**, each over its own test period")
    if periods_differ(overlay_series):
        st.caption("The runs' test periods differ: compare their scores with care.")
    st.dataframe(overlay_scores(overlay_series).rename(columns=SCORE_LABELS), hide_index=True, key="overlay_scores",
                 column_config={label: st.column_config.NumberColumn(label, format="%.3f" if unit != "%" else "%.1f")
                                for label, unit in SCORE_UNITS.items()})
    differences = settings_table({n: by_name[n].safe_config() for n in overlay_series})
    if differences:
        st.markdown("**Settings that differ** (config.yaml of each run)")
        st.dataframe(pd.DataFrame(differences), hide_index=True, key="overlay_settings")
    else:
        st.caption("The runs were set up alike (no setting differs in their config.yaml).")
st.markdown("**Test scores, all basins** (NSE and KGE: 1 is perfect, 0 is as good as the mean flow)")
try:
    table = metrics_table(str(run.path), run.predictions_path.stat().st_mtime)
except (OSError, ValueError) as exc:
    show_error(exc, f"Reading the predictions of {run.name}")
    st.stop()
st.dataframe(table.rename(columns=SCORE_LABELS), hide_index=True,
             column_config={label: st.column_config.NumberColumn(label, format="%.3f" if unit != "%" else "%.1f")
                            for label, unit in SCORE_UNITS.items()})
