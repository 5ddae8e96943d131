"""Basins: choose a data source and basins, see outlets on a map, forcing and streamflow; upload a basin table."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data import DataError
from core.hydro.checks import check_basin_period, common_period
from core.viz.hydrographs import forcing_plot
from core.viz.maps import basin_map
from ui.data import basin_catalog, basin_dataset, basin_spans, data_period, source_and_basins, upload_dir
from ui.frame import (BASINS_KEY, DATA_SOURCE_KEY, PERIOD_KEY, flash, keep, kept, persistent_widget, remember,
                      remembered, show_error, show_flash, widget_key)
from ui.sidebar import setup_page

CATALOG_LABELS = {"basin": "basin id", "lat": "outlet lat (°N)", "lon": "outlet lon (°E)", "area_km2": "area (km²)",
                  "start": "first day", "end": "last day"}

setup_page("Basins", ":material/map:")
st.title("Basins")

source, ids, chosen = source_and_basins()
st.session_state[BASINS_KEY] = chosen
persistent_widget(BASINS_KEY)
selected = st.multiselect("Basins", ids, key=widget_key(BASINS_KEY), on_change=keep, args=(BASINS_KEY,),
                          help="Used by the plots below and by Train dXAJ.")

catalog = pd.DataFrame(basin_catalog(source, tuple(ids)))
map_col, table_col = st.columns([3, 2])
with map_col:
    located = catalog.dropna(subset=["lat", "lon"]) if not catalog.empty else catalog
    if located.empty:
        st.info("No coordinates known for these basins.")
    else:
        st.plotly_chart(basin_map(located["lat"], located["lon"], located["basin"], located["name"],
                                  selected=selected, area_km2=located["area_km2"]), key="basin_map")
    unplaced = sorted(set(catalog["basin"]) - set(located["basin"])) if not catalog.empty else []
    if unplaced:
        st.caption(f"Not on the map (no outlet coordinates in the data): {', '.join(unplaced)}.")
with table_col:
    st.dataframe(catalog.rename(columns=CATALOG_LABELS), hide_index=True, height=380)

period = None
if selected:
    try:
        spans = basin_spans(source, tuple(selected))
    except DataError as exc:
        show_error(exc, "Loading the selected basins")
        spans = {}
    problems = check_basin_period(spans) if spans else []
    if problems:
        st.error(" ".join(problems) + " Train dXAJ needs one period for all its basins.", icon="⚠️")
    elif spans:
        common = common_period(spans)
        chosen = data_period(spans)
        stored = kept(PERIOD_KEY)
        if not (isinstance(stored, (tuple, list)) and len(stored) == 1):  # keep a range being picked
            remember(PERIOD_KEY, (chosen[0].date(), chosen[1].date()))
        value = st.date_input("Data period (used by Train dXAJ)", min_value=common[0].date(),
                              max_value=common[1].date(), **remembered(PERIOD_KEY, None),
                              help=f"The chosen basins all have data from {common[0].date()} to {common[1].date()}.")
        if isinstance(value, (tuple, list)) and len(value) == 2:
            period = (value[0].isoformat(), value[1].isoformat())
        else:
            st.caption("Pick an end date too.")
    for bid in selected:
        try:
            ds = basin_dataset(source, (bid,), *(period or (None, None)))
        except DataError as exc:
            show_error(exc, f"Loading basin {bid}")
            continue
        units = ds.attrs.get("units") or {}
        one = ds.sel(basin=bid)
        series = {v: one[v].values for v in ("prcp", "pet", "q_obs") if v in ds}
        name = str(one["name"].values) if "name" in ds.coords else bid
        st.plotly_chart(forcing_plot(ds.time.values, series, units if isinstance(units, dict) else {},
                                     title=f"{bid}: {name}"), key=f"forcing_{bid}")
else:
    st.info("Select at least one basin.")

st.subheader("Upload a basin table")
st.markdown(
    "A `.csv` (or gzip-compressed `.csv.gz`) with a date column and `prcp` and `q_obs` (and `pet` or temperatures), or a basin `.nc` "
    "file. It is validated fully before use; valid files become a data source in the sidebar. Files "
    "chosen together are one upload: a `basins.csv` among them describes their basins, and no other upload."
)
show_flash()
# a new key after each saved upload empties the uploader, so the next files are a new upload, not
# added to the last one
uploads = st.file_uploader("Basin files", type=["csv", "gz", "nc"], accept_multiple_files=True,
                           key=f"basin_upload_{st.session_state.get('_basin_upload_round', 0)}")
upload_ids = tuple(f.file_id for f in uploads or ())
if upload_ids and st.session_state.get("_basin_upload_done") != upload_ids:
    from core.data import validate_upload
    from core.data.uploads import save_upload, save_upload_set

    try:
        if len(uploads) == 1:
            checked = validate_upload(uploads[0].getvalue(), uploads[0].name)
            target = save_upload(upload_dir(), uploads[0].name, uploads[0].getvalue())
        else:
            target, checked = save_upload_set(upload_dir(), [(f.name, f.getvalue()) for f in uploads])
    except (DataError, OSError) as exc:
        show_error(exc, "The uploaded file was rejected" if len(uploads) == 1 else "The uploaded files were rejected")
    else:
        st.cache_data.clear()
        # the new source is chosen at once and the page redraws, so the sidebar lists it now
        st.session_state["_basin_upload_done"] = upload_ids
        st.session_state["_basin_upload_round"] = st.session_state.get("_basin_upload_round", 0) + 1
        st.session_state[DATA_SOURCE_KEY] = str(target)
        st.session_state.pop(BASINS_KEY, None)
        shown = target.name if len(uploads) == 1 else ", ".join(f.name for f in uploads)
        flash(f"{shown}: {checked.sizes['basin']} basin(s), {checked.sizes['time']} time steps "
              f"from {str(checked.time.values[0])[:10]} to {str(checked.time.values[-1])[:10]}. "
              "It is now the data source in the sidebar.")
        st.rerun()
