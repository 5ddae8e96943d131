"""Train dXAJ: parameter ranges, training settings, start/cancel a background job, live loss curves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data import DataError
from core.hydro.config import load_config
from core.runs import RunDir
from ui.data import basin_dataset, source_and_basins
from ui.frame import period_overlaps, setup_page, show_error
from ui.job_panel import job_status, start
from ui.ranges import range_editor

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "hydro_quick.yaml"

PRESETS = {
    "quick demo (about a minute on a CPU)": {
        "epochs": 1, "iterations": 4, "batch": 16, "warmup": 60, "rho": 60, "hidden": 16, "baselines": [],
        "test_years": 1,
    },
    "standard (configs/hydro_quick.yaml)": {
        "epochs": 8, "iterations": 20, "batch": 32, "warmup": 180, "rho": 120, "hidden": 32,
        "baselines": ["static_xaj", "lstm"], "test_years": 3,
    },
}

setup_page("Train dXAJ", "🏋️")
st.title("Train dXAJ")
st.markdown("An LSTM reads each window of forcing and basin attributes and outputs the 15 XAJ parameters "
            "inside the ranges below; the XAJ physics turns them into streamflow and the loss flows back "
            "through it.")

source, _, basins = source_and_basins()
st.markdown(f"Data source **{source}**, basins: **{', '.join(basins)}** (change them on the Basins page).")
try:
    ds = basin_dataset(source, tuple(basins))
except DataError as exc:
    show_error(exc, "Loading the selected basins")
    st.stop()

st.subheader("Parameter ranges")
ranges = range_editor()

st.subheader("Training settings")
preset_name = st.radio("Preset", list(PRESETS), horizontal=True, key="hydro_preset")
preset = PRESETS[preset_name]
tag = list(PRESETS).index(preset_name)  # widget keys per preset, so switching presets resets the fields
time = pd.DatetimeIndex(ds.time.values)
first, last = time[0].date(), time[-1].date()
test_start = max((time[-1] - pd.DateOffset(years=preset["test_years"]) + pd.Timedelta(days=1)).date(),
                 (time[0] + (time[-1] - time[0]) * 0.5).date())
# the periods sit outside the form so an overlap disables Start at once (core decides what overlaps)
c1, c2 = st.columns(2)
train_period = c1.date_input("Training period", value=(first, test_start - dt.timedelta(days=1)),
                             min_value=first, max_value=last, key=f"train_period_{tag}")
test_period = c2.date_input("Test period", value=(test_start, last), min_value=first, max_value=last,
                            key=f"test_period_{tag}")
overlaps = period_overlaps({"training": train_period, "test": test_period})
if overlaps:
    st.error(f"{overlaps[0]}. Move the test period after (or before) the training period.", icon="⚠️")
with st.form("hydro_settings"):
    c1, c2, c3, c4 = st.columns(4)
    warmup = c1.number_input("Warm-up (steps)", 0, 3650, preset["warmup"], key=f"warmup_{tag}")
    rho = c2.number_input("Window length rho (steps)", 5, 3650, preset["rho"], key=f"rho_{tag}")
    batch = c3.number_input("Batch size (windows)", 1, 4096, preset["batch"], key=f"batch_{tag}")
    epochs = c4.number_input("Epochs", 1, 1000, preset["epochs"], key=f"epochs_{tag}")
    c1, c2, c3, c4 = st.columns(4)
    iterations = c1.number_input("Batches per epoch", 1, 100000, preset["iterations"], key=f"iters_{tag}")
    hidden = c2.number_input("LSTM hidden size", 4, 1024, preset["hidden"], key=f"hidden_{tag}")
    loss = c3.selectbox("Loss", ["nse", "rmse", "mse"], key=f"loss_{tag}")
    strategy = c4.selectbox("Parameter strategy", ["last", "mean_time", "mean_basin"], key=f"strategy_{tag}",
                            help="last: the LSTM's last step; mean_time: mean over the window; mean_basin: one set per basin")
    c1, c2 = st.columns(2)
    device = c1.selectbox("Device", ["auto", "cpu", "cuda"], key=f"device_{tag}")
    baselines = c2.multiselect("Baselines trained in the same run", ["static_xaj", "lstm"],
                               default=preset["baselines"], key=f"baselines_{tag}")
    submitted = st.form_submit_button("Start training", type="primary", disabled=ranges is None or bool(overlaps))


def _pair(value, label: str) -> list[str]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{label}: pick a start and an end date")
    return [value[0].isoformat(), value[1].isoformat()]


if submitted and ranges is not None and not overlaps:
    try:
        config = load_config(BASE_CONFIG, {
            "name": "dashboard",
            "baselines": list(baselines),
            "data": {"source": source, "basins": list(basins), "train_period": _pair(train_period, "Training period"),
                     "test_period": _pair(test_period, "Test period")},
            "window": {"warmup": int(warmup), "rho": int(rho)},
            "model_args": {"hidden": int(hidden), "strategy": strategy},
            "param_ranges": ranges.to_dict(),
            "train": {"epochs": int(epochs), "batch_size": int(batch), "iterations_per_epoch": int(iterations),
                      "loss": loss, "device": device, "patience": max(int(epochs), 1)},
        })
    except (ValueError, FileNotFoundError) as exc:
        show_error(exc, "The training settings are not valid")
    else:
        if start("hydro", config, name="dxaj") is not None:
            st.success("Training started in the background; you can switch pages, it keeps running.")


def _median(block: object, score: str) -> str:
    """``block["test"]["median"][score]`` of metrics.json as text ("n/a" when absent, null or not a number)."""
    test = block.get("test") if isinstance(block, dict) else None
    median = test.get("median") if isinstance(test, dict) else None
    value = median.get(score) if isinstance(median, dict) else None
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "n/a"


def _summary(run: RunDir) -> None:
    metrics = run.read_metrics()
    cols = st.columns(3)
    cols[0].metric("median test NSE", _median(metrics, "nse"))
    cols[1].metric("median test KGE", _median(metrics, "kge"))
    for name in ("static_xaj", "lstm"):
        if name in metrics:
            cols[2].metric(f"{name} NSE", _median(metrics[name], "nse"))
    st.page_link("pages/3_Hydrographs.py", label="See the hydrographs")


st.subheader("Training job")
job_status("hydro", _summary)
