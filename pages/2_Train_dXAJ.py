"""Train dXAJ: parameter ranges, training settings, start/cancel a background job, live loss curves."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from core.data import DataError
from core.hydro.checks import check_basin_period, check_dynamic_inputs, check_hydro_periods
from core.hydro.config import SCHEMA as HYDRO_SCHEMA
from core.hydro.losses import LOSSES as HYDRO_LOSSES
from core.hydro.models import baseline_names
from core.hydro.run_config import PRESET_LABELS, PRESETS as HYDRO_PRESETS, form_defaults, hydro_config_from_form
from core.runs.folder import RunDir
from ui.data import basin_dataset, basin_spans, data_period, hydro_predictions, source_and_basins, source_options
from ui.frame import keep_all, kept, period_overlaps, remember, remembered, show_error
from ui.job_panel import job_status, start
from core.hydro.params import PRESETS as RANGE_PRESETS
from core.hydro.params import XAJ_PARAMS, literature_warnings, preset_ranges
from ui.range_panel import clear_prefill_note, range_panel, show_prefill_note
from ui.ranges import range_editor, set_draft
from ui.sidebar import setup_page

PRESETS = {PRESET_LABELS[name]: name for name in HYDRO_PRESETS}


@st.cache_data(show_spinner=False)
def preset_values(name: str) -> dict:
    return form_defaults(name)


setup_page("Train dXAJ", ":material/model_training:")
st.title("Train dXAJ")
st.markdown("An LSTM reads each window of forcing and basin attributes and outputs the 15 XAJ parameters "
            "inside the ranges below; the XAJ physics turns them into streamflow and the loss flows back "
            "through it.")

show_prefill_note()
source, _, basins = source_and_basins()
st.markdown(f"Data source **{source_options().get(source, source)}**, basins: **{', '.join(basins)}** "
            "(change them and the data period on the Basins page).")
problems: list[str] = []
try:
    spans = basin_spans(source, tuple(basins))
except DataError as exc:
    show_error(exc, "Loading the selected basins")
    spans = {}
    problems.append("The selected basins could not be loaded (see above).")
problems += check_basin_period(spans) if spans else []
# the LSTM inputs of the base config (the presets keep them): a basin without one is refused here, not
# after Start
problems += check_dynamic_inputs({b: list(basin_dataset(source, (b,)).data_vars) for b in spans},
                                 preset_values(next(iter(PRESETS.values())))["dynamic_inputs"])
period = data_period(spans) if spans else None
# without a common period the page still shows the table and settings, with Start disabled
first_ts, last_ts = period or next(iter(spans.values()), (pd.Timestamp("2000-01-01"), pd.Timestamp("2000-12-31")))
step = pd.Timedelta(seconds=int(basin_dataset(source, (basins[0],)).attrs.get("time_step_seconds", 86400))) \
    if spans else pd.Timedelta(days=1)

st.subheader("Parameter ranges")
c1, c2 = st.columns([3, 1])
range_preset = c1.selectbox(
    "Range preset", list(RANGE_PRESETS), key="range_preset",
    help="classic: the table of docs/design.md, 4.7 Parameters and ranges (humid Chinese catchments); "
         "camels_us: wider storage and evaporation ranges from the literature for CAMELS-US "
         "(Feng et al. 2022; Knoben et al. 2019). Load it into the table below, then edit single ranges.")
c2.write("")
if c2.button("Load preset into the table", key="range_preset_apply"):
    set_draft({n: list(r) for n, r in preset_ranges(range_preset).items()})
    st.rerun()
ranges = range_editor()
if ranges is None:
    problems.append("A parameter range is invalid (see the table).")
else:
    for message in literature_warnings(ranges):
        st.warning(message, icon="📚")

st.subheader("Training settings")
preset_name = st.radio("Preset", list(PRESETS), horizontal=True, **remembered("hydro_preset", next(iter(PRESETS))))
preset = preset_values(PRESETS[preset_name])
tag = list(PRESETS).index(preset_name)  # fields per preset, so switching presets shows that preset's values
first, last = first_ts.date(), last_ts.date()
test_start = max((last_ts - pd.DateOffset(years=preset["test_years"]) + pd.Timedelta(days=1)).date(),
                 (first_ts + (last_ts - first_ts) * 0.5).date())
defaults = {"train_period": (first, test_start - dt.timedelta(days=1)), "test_period": (test_start, last),
            "warmup": preset["warmup"], "rho": preset["rho"], "batch": preset["batch"], "epochs": preset["epochs"],
            "iters": preset["iterations"], "hidden": preset["hidden"], "loss": preset["loss"], "strategy": preset["strategy"],
            "device": "auto", "baselines": preset["baselines"]}
keys = {name: f"{name}_{tag}" for name in defaults}
form_keys = [k for name, k in keys.items() if name not in ("train_period", "test_period")]
for name in ("train_period", "test_period"):  # a period from other basins would not fit the date bounds
    stored = kept(keys[name])
    if stored is not None and not all(first <= d <= last for d in stored):
        remember(keys[name], defaults[name])


def field(name: str) -> dict:
    return remembered(keys[name], defaults[name], in_form=True)


# the periods sit outside the form so a problem with them disables Start at once (core decides)
c1, c2 = st.columns(2)
train_period = c1.date_input("Training period", min_value=first, max_value=last,
                             **remembered(keys["train_period"], defaults["train_period"]))
test_period = c2.date_input("Test period", min_value=first, max_value=last,
                            **remembered(keys["test_period"], defaults["test_period"]))
if spans and not check_basin_period(spans):
    overlaps = period_overlaps({"training": train_period, "test": test_period})
    if overlaps:
        problems.append(f"{overlaps[0]}. Move the test period after (or before) the training period.")
    problems += check_hydro_periods((first_ts, last_ts), train_period, test_period,
                                    int(kept(keys["warmup"], preset["warmup"])), int(kept(keys["rho"], preset["rho"])),
                                    step, check_overlap=False)
if problems:
    st.error("Start is disabled: " + " ".join(problems), icon="⚠️")
with st.form("hydro_settings"):
    c1, c2, c3, c4 = st.columns(4)
    warmup = c1.number_input("Warm-up (steps)", 0, 3650, **field("warmup"))
    rho = c2.number_input("Window length rho (steps)", 5, 3650, **field("rho"))
    batch = c3.number_input("Batch size (windows)", 1, 4096, **field("batch"))
    epochs = c4.number_input("Epochs", 1, 1000, **field("epochs"))
    c1, c2, c3, c4 = st.columns(4)
    iterations = c1.number_input("Batches per epoch", 1, 100000, **field("iters"))
    hidden = c2.number_input("LSTM hidden size", 4, 1024, **field("hidden"))
    loss = c3.selectbox("Loss", HYDRO_LOSSES.names(), **field("loss"),
                        help="nse: squared error scaled by each basin's flow variability (NSE*); "
                             "nse_kge: NSE* plus each window's 1 - KGE, which keeps peaks and volumes; "
                             "nse_volume: NSE* plus each window's relative volume error |beta - 1|")
    strategy = c4.selectbox("Parameter strategy", list(HYDRO_SCHEMA.key("model_args.strategy").type.choices),
                            **field("strategy"),
                            help="last: the LSTM's last step; mean_time: mean over the window; mean_basin: one set per basin")
    c1, c2 = st.columns(2)
    dynamic = c1.multiselect("Dynamic parameters (a value per step)", list(XAJ_PARAMS), default=[],
                             key=f"dynamic_{tag}", help="e.g. K and B, as δHBV's dynamic parameters; the CAMELS "
                             "config also makes KI, KG, CI and CG dynamic (README). The rest come from the "
                             "LSTM's last step. Keep A and THETA static.")
    components = c2.number_input("XAJ components per basin (averaged)", 1, 32, 1, key=f"components_{tag}")
    c1, c2 = st.columns(2)
    device = c1.selectbox("Device", ["auto", "cpu", "cuda"], **field("device"))
    baselines = c2.multiselect("Baselines trained in the same run", baseline_names(), **field("baselines"))
    submitted = st.form_submit_button("Start training", type="primary", disabled=bool(problems),
                                      on_click=keep_all, args=(form_keys,),
                                      help=" ".join(problems) if problems else None)


if submitted and not problems and ranges is not None:
    try:
        config = hydro_config_from_form(
            PRESETS[preset_name], source=source, basins=basins, train_period=train_period, test_period=test_period,
            param_ranges=ranges.to_dict(), range_preset=range_preset, warmup=warmup, rho=rho, batch_size=batch,
            epochs=epochs, iterations=iterations, hidden=hidden, loss=loss, strategy=strategy, dynamic_params=dynamic,
            n_components=components, device=device, baselines=baselines)
    except (ValueError, FileNotFoundError) as exc:
        show_error(exc, "The training settings are not valid")
    else:
        clear_prefill_note()
        start("hydro", config, name="dxaj")


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
    for name in baseline_names():
        if name in metrics:
            cols[2].metric(f"{name} NSE", _median(metrics[name], "nse"))
    st.page_link("pages/3_Hydrographs.py", label="See the hydrographs")
    try:  # the run's generated parameters; a baseline-only or damaged run has none to diagnose
        ds = next(iter(hydro_predictions(run).values()), None)
    except (OSError, ValueError) as exc:
        st.warning(f"{run.name}: {exc}", icon="⚠️")
        return
    if ds is not None:
        range_panel(run, ds, "train")


st.subheader("Training job")
job_status("hydro", _summary)
