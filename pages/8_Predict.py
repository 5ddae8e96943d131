"""Predict: a trained run on a basin it never saw (ungauged), from forcing and attributes only."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import streamlit as st

from core.data import DataError
from core.hydro.model_scores import model_test_blocks
from core.viz.hydrographs import hydrograph
from core.viz.parameters import parameter_trajectories
from ui.data import MODEL_LABELS, basin_ids, source_options, upload_dir
from ui.frame import DATA_SOURCE_KEY, flash, show_error, show_flash
from ui.predict import prediction, predicting_runs, run_test_period
from ui.sidebar import setup_page

setup_page("Predict", ":material/online_prediction:")
st.title("Predict an ungauged basin")
st.markdown(
    "A trained run applied to a basin it never saw: dXAJ's LSTM turns the basin's forcing and static "
    "attributes into XAJ parameters; the LSTM baseline reads the same inputs. Observed flow, when the "
    "basin has it, is only used for the scores, never by the models. The static XAJ is calibrated per "
    "training basin and has nothing to say about a new one."
)

runs = predicting_runs()
if not runs:
    st.info("No trained dXAJ run yet: train one on the **Train dXAJ** page.")
    st.page_link("pages/2_Train_dXAJ.py", label="Train dXAJ")
    st.stop()

by_name = {r.name: r for r in runs}
run = by_name[st.selectbox("Trained run", list(by_name), key="predict_run_pick")]

show_flash()
with st.expander("Upload a basin: a .csv or .nc with a date column, prcp and temperatures or pet (q_obs "
                 "optional), with a basins.csv of its attributes (choose the files together)"):
    files = st.file_uploader("Basin files", type=["csv", "nc"], accept_multiple_files=True,
                             key=f"predict_upload_{st.session_state.get('_predict_round', 0)}")
    if files:
        from core.data import validate_upload
        from core.data.uploads import save_upload, save_upload_set

        try:
            if len(files) == 1:
                validate_upload(files[0].getvalue(), files[0].name)
                target = save_upload(upload_dir(), files[0].name, files[0].getvalue())
            else:
                target, _ = save_upload_set(upload_dir(), [(f.name, f.getvalue()) for f in files])
        except (DataError, OSError) as exc:
            show_error(exc, "The uploaded files were rejected")
        else:
            st.cache_data.clear()
            st.session_state["predict_source_pick"] = str(target)
            st.session_state["_predict_round"] = st.session_state.get("_predict_round", 0) + 1
            flash(f"{', '.join(f.name for f in files)} saved: the data source below.")
            st.rerun()

options = source_options()
if st.session_state.get("predict_source_pick") not in options:
    st.session_state["predict_source_pick"] = st.session_state.get(DATA_SOURCE_KEY, next(iter(options)))
c1, c2 = st.columns([2, 1])
source = c1.selectbox("Data source", list(options), format_func=lambda k: options.get(k, k), key="predict_source_pick")
try:
    ids = basin_ids(source)
except (DataError, OSError) as exc:
    show_error(exc, f"Reading the basin list of {source}")
    st.stop()
basin = c2.selectbox("Basin", ids, key="predict_basin_pick")

default = run_test_period(run) or ("2000-01-01", "2000-12-31")
c3, c4, c5 = st.columns([1, 1, 1])
start = c3.date_input("From", value=pd.Timestamp(default[0]).date(), min_value=dt.date(1900, 1, 1), key="predict_start")
end = c4.date_input("To", value=pd.Timestamp(default[1]).date(), min_value=dt.date(1900, 1, 1), key="predict_end")
c5.write("")
asked = c5.button("Predict", type="primary", key="predict_go")
if asked:
    st.session_state["predict_request"] = (str(run.path), source, basin, str(start), str(end))
request = st.session_state.get("predict_request")
if request != (str(run.path), source, basin, str(start), str(end)):
    st.caption("Choose a run, a basin and the days, then **Predict** (the run's warmup is taken from the days "
               "before the start when the data have them).")
    st.stop()

try:
    result = prediction(run, source, basin, str(start), str(end))
except (DataError, ValueError, OSError) as exc:
    show_error(exc, f"Predicting basin {basin} with {run.name}")
    st.stop()
ds, metrics = result["dataset"], result["metrics"]
for note in result["notes"]:
    st.info(note)

one = ds.sel(basin=basin)
sims = {MODEL_LABELS.get(m, m): one["q_sim"].sel(model=m).values for m in ds["model"].values.tolist()}
q_obs = one["q_obs"].values if "q_obs" in one else np.full(one.sizes["time"], np.nan)
what = "observed vs simulated" if "q_obs" in one else "simulated (no observed flow in the data)"
st.plotly_chart(hydrograph(one["time"].values, q_obs, sims, prcp=one["prcp"].values,
                           title=f"{basin}: {what} streamflow, ungauged prediction"), key="predict_hydrograph")

if metrics is not None:
    rows = []
    for name, block in model_test_blocks(metrics).items():
        s = block["per_basin"].get(basin, {})
        rows.append({"model": MODEL_LABELS.get(name, name), "NSE (-)": s.get("nse"), "KGE (-)": s.get("kge"),
                     "PBIAS (%)": s.get("pbias")})
    st.markdown("**Scores against the observed flow** (NSE and KGE: 1 is perfect, 0 is as good as the mean flow)")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="predict_scores",
                 column_config={"NSE (-)": st.column_config.NumberColumn(format="%.3f"),
                                "KGE (-)": st.column_config.NumberColumn(format="%.3f"),
                                "PBIAS (%)": st.column_config.NumberColumn(format="%.1f")})
else:
    st.caption("The data have no observed flow for this basin: no scores.")

if "params" in ds:
    st.subheader("Generated parameters")
    st.plotly_chart(parameter_trajectories(one["time"].values, one["params"].values[None], list(ds["param"].values),
                                           ds["param_lower"].values, ds["param_upper"].values, [basin],
                                           title=f"XAJ parameters dXAJ generated for {basin}, {start} .. {end}"),
                    key="predict_params")
