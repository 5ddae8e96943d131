"""Rain experiments: data source, region 1 and its upstream region 2, experiment choice, training job."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core.data.errors import DataError
from core.data.regions import adjacent_box, check_rain_regions
from core.data.roots import check_under_roots, data_roots
from core.rain.config import EXPERIMENTS, SIDES
from core.rain.losses import LOSSES as RAIN_LOSSES
from core.rain.run_config import FALLBACK_REGION1, PRESET_LABELS, PRESETS as RAIN_PRESETS, rain_config_from_form
from core.rain.run_config import base_config as example_config
from core.runs.folder import RunDir
from core.viz.maps import region_map
from ui.frame import keep_all, period_overlaps, plain, remembered, runs_root, show_error
from ui.job_panel import job_status, start
from ui.sidebar import setup_page

PRESETS = {PRESET_LABELS[name]: name for name in RAIN_PRESETS}

setup_page("Rain experiments", ":material/rainy:")
st.title("Rain experiments")
st.markdown("**Experiment 1** trains ST-RainNet on the target region 1 alone; **experiment 2** adds the "
            "upstream region 2 next to it. Both are scored on region 1 only, so the difference measures "
            "what the upstream weather adds.")


@st.cache_data(show_spinner=False)
def base_config() -> dict:
    return example_config()


@st.cache_data(show_spinner="Reading the data grid…")
def grid_extent(source: str, demo_kwargs: tuple) -> tuple[list[float], list[float]] | None:
    """Latitudes and longitudes of the gridded source (None when it cannot be opened)."""
    from core.rain.pipeline import open_gridded

    ds, _ = open_gridded({"source": source, "demo": dict(demo_kwargs), "radar": {}})
    return [float(v) for v in ds["lat"].values], [float(v) for v in ds["lon"].values]


base = base_config()
regions = base.get("regions") or {}
r1_default = regions.get("region1") or FALLBACK_REGION1
base_side = regions.get("upstream_side", "west")
SOURCE_KINDS = ["demo (generated world)", "gridded file (NetCDF/Zarr, ERA5 layout)", "radar folder"]

st.subheader("Data and regions")
# every choice below is kept in session state, so it survives a visit to another page
kind = st.radio("Data source", SOURCE_KINDS, horizontal=True, **remembered("rain_source_kind", SOURCE_KINDS[0]))
if kind.startswith("demo"):
    source = "demo"
else:
    roots = data_roots(runs_root())
    source = st.text_input("Path", placeholder="/path/to/file.nc or radar folder",
                           help="The dashboard opens data only under its data roots: " + "; ".join(map(str, roots)),
                           **remembered("rain_source_path", "")).strip()
demo_kwargs = tuple(sorted(((base.get("data") or {}).get("demo") or {}).items())) if source == "demo" else ()

c1, c2, c3, c4 = st.columns(4)
south = c1.number_input("Region 1 south (°N)", -90.0, 90.0, **remembered("r1_south", float(r1_default["lat"][0])))
north = c2.number_input("Region 1 north (°N)", -90.0, 90.0, **remembered("r1_north", float(r1_default["lat"][1])))
west = c3.number_input("Region 1 west (°E)", -180.0, 180.0, **remembered("r1_west", float(r1_default["lon"][0])))
east = c4.number_input("Region 1 east (°E)", -180.0, 180.0, **remembered("r1_east", float(r1_default["lon"][1])))
c1, c2, c3 = st.columns(3)
side = c1.selectbox("Upstream side of region 2", SIDES, **remembered("r2_side", base_side if base_side in SIDES else "west"),
                    help="auto: the side the rain comes from, estimated from its motion over the training period")
size = c2.number_input("Region 2 size (x region 1)", 0.25, 4.0, step=0.25, disabled=side == "auto",
                       help="1 = same size as region 1 (the default of the experiments)", **remembered("r2_size", 1.0))
experiment_choice = c3.radio("Experiments", ["both", *EXPERIMENTS], horizontal=True,
                             **remembered("rain_experiments", "both"))
region1 = {"lat": [south, north], "lon": [west, east]}

problems: list[str] = []
extent = None
if not source:
    problems.append("Give the path of the gridded file or radar folder.")
else:
    try:
        if source != "demo":
            check_under_roots(source, roots)  # before anything touches the disk
        extent = grid_extent(source, demo_kwargs)
    except DataError as exc:  # reported once, below, and Start stays disabled
        problems.append(f"Opening the data source {source} failed: {exc}")
    except Exception as exc:  # a file the readers choke on: the same, with the kind of failure
        problems.append(f"Opening the data source {source} failed ({type(exc).__name__}): {exc}")
lat_grid, lon_grid = extent if extent else (None, None)
step = abs(lon_grid[1] - lon_grid[0]) if lon_grid and len(lon_grid) > 1 else 0.25
# with an automatic side, region 2 is known only once the run has read the rain
needs_region2 = experiment_choice != "exp1" and side != "auto"
region2 = adjacent_box(region1, side, size, step) if needs_region2 else None
if extent:
    problems += check_rain_regions(lat_grid, lon_grid, region1, side if needs_region2 else None,
                                   region2 if size != 1.0 else None)
st.plotly_chart(region_map(region1, region2, lat_grid, lon_grid), key="region_map")

# dated split of the example config (demo world): editable, and refused when two periods overlap
split_base = base.get("split") or {}
SPLIT_LABELS = {"train": "Training", "val": "Validation", "test": "Test"}
dated_split = source == "demo" and all(isinstance(split_base.get(k), (list, tuple)) and len(split_base[k]) == 2
                                       for k in SPLIT_LABELS)
periods, overlaps = {}, []
if dated_split:
    st.markdown("**Periods** (by the time of the predicted field)")
    for col, (key, label) in zip(st.columns(3), SPLIT_LABELS.items()):
        start_end = tuple(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10]) for d in split_base[key])
        periods[key] = col.date_input(f"{label} period", **remembered(f"rain_{key}_period", start_end))
    overlaps = period_overlaps(periods)
    if overlaps:  # shown once, with the other problems, above Start
        problems.append(f"{overlaps[0]}. Make the training, validation and test periods follow each other.")

st.subheader("Training settings")
preset_name = st.radio("Preset", list(PRESETS), horizontal=True, **remembered("rain_preset", next(iter(PRESETS))))
preset = RAIN_PRESETS[PRESETS[preset_name]]
tag = list(PRESETS).index(preset_name)  # fields per preset, so switching presets shows that preset's values
train_base = {**(base.get("train") or {}), **(preset.get("train") or {})}
hidden_base = ", ".join(str(h) for h in {**(base.get("model") or {}), **(preset.get("model") or {})}.get("hidden_channels", [32, 64]))
form_keys = [f"rain_{name}_{tag}" for name in ("epochs", "batch", "lr", "loss", "hidden", "amp", "device")]
if problems:
    st.error("Start is disabled: " + plain(" ".join(problems)), icon="⚠️")
with st.form("rain_settings"):
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", 1, 1000, **remembered(form_keys[0], int(train_base.get("epochs", 20)), True))
    batch = c2.number_input("Batch size", 1, 256, **remembered(form_keys[1], int(train_base.get("batch_size", 8)), True))
    lr = c3.number_input("Learning rate", 1e-5, 1.0, format="%.5f", **remembered(form_keys[2], float(train_base.get("lr", 1e-3)), True))
    loss_base = train_base.get("loss") if train_base.get("loss") in RAIN_LOSSES.names() else RAIN_LOSSES.names()[0]
    loss = c4.selectbox("Loss", RAIN_LOSSES.names(), **remembered(form_keys[3], loss_base, True))
    c1, c2, c3 = st.columns(3)
    hidden = c1.text_input("Hidden channels (encoder, bottleneck)", **remembered(form_keys[4], hidden_base, True))
    amp = c2.selectbox("Mixed precision", ["auto", "true", "false"], **remembered(form_keys[5], "auto", True),
                       help="auto: bfloat16 on CPUs with AMX (where it is faster than float32), float16 on CUDA")
    device = c3.selectbox("Device", ["auto", "cpu", "cuda"], **remembered(form_keys[6], "auto", True))
    submitted = st.form_submit_button("Start training", type="primary", disabled=bool(problems),
                                      on_click=keep_all, args=(form_keys,),
                                      help=plain("; ".join(problems)) if problems else None)

if submitted and not problems:
    complete = dated_split and all(isinstance(v, (tuple, list)) and len(v) == 2 for v in periods.values())
    try:
        config = rain_config_from_form(
            PRESETS[preset_name], source=source, region1=region1, upstream_side=side,
            region2=region2 if region2 is not None and size != 1.0 else None, experiments=experiment_choice,
            periods=periods if complete else None, epochs=epochs, batch_size=batch, lr=lr, loss=loss,
            hidden_channels=hidden, amp=amp, device=device)
    except ValueError as exc:
        show_error(exc, "The rain settings are not valid")
    else:
        start("rain", config, name="strainnet")


def _summary(run: RunDir) -> None:
    metrics = run.read_metrics()
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    cols = st.columns(max(len(test), 1))
    for col, (name, scores) in zip(cols, test.items()):
        rmse = scores.get("rmse") if isinstance(scores, dict) else None
        col.metric(f"{name} RMSE", f"{rmse:.3f}" if isinstance(rmse, (int, float)) else "n/a")
    st.page_link("pages/6_Rain_maps.py", label="See the rain maps and CSI")


st.subheader("Training job")
job_status("rain", _summary)
