"""Basins: choose a data source and basins, see outlets on a map, forcing and streamflow; upload a basin table."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data import DataError
from core.viz.hydrographs import forcing_plot
from core.viz.maps import basin_map
from ui.data import basin_catalog, basin_dataset, source_and_basins, upload_dir
from ui.frame import BASINS_KEY, keep, persistent_widget, setup_page, show_error, widget_key

setup_page("Basins", "🗺️")
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
with table_col:
    st.dataframe(catalog, hide_index=True, height=380)

if selected:
    try:
        ds = basin_dataset(source, tuple(selected))
    except DataError as exc:
        show_error(exc, "Loading the selected basins")
    else:
        units = ds.attrs.get("units") or {}
        for bid in selected:
            one = ds.sel(basin=bid)
            series = {v: one[v].values for v in ("prcp", "pet", "q_obs") if v in ds}
            name = str(one["name"].values) if "name" in ds.coords else bid
            st.plotly_chart(forcing_plot(ds.time.values, series, units if isinstance(units, dict) else {},
                                         title=f"{bid}: {name}"), key=f"forcing_{bid}")
else:
    st.info("Select at least one basin.")

st.subheader("Upload a basin table")
st.markdown(
    "A `.csv` with a date column and `prcp` and `q_obs` (and `pet` or temperatures), or a basin `.nc` "
    "file. It is validated fully before use; valid files become a data source in the sidebar."
)
upload = st.file_uploader("Basin file", type=["csv", "nc"], key="basin_upload")
if upload is not None:
    from core.data import validate_upload

    data = upload.getvalue()
    try:
        checked = validate_upload(data, upload.name)
    except DataError as exc:
        show_error(exc, "The uploaded file was rejected")
    else:
        from core.atomic_io import atomic_write_bytes
        from core.safe_names import UnsafeNameError, confined_path

        try:
            # the browser's file name is untrusted ("../../x.csv", "/abs/x.csv"): keep only a safe last part
            target = confined_path(upload_dir(), upload.name, "upload file name")
        except UnsafeNameError as exc:
            show_error(exc, "The uploaded file was rejected")
            st.stop()
        atomic_write_bytes(target, data)
        st.success(f"{target.name}: {checked.sizes['basin']} basin(s), {checked.sizes['time']} time steps "
                   f"from {str(checked.time.values[0])[:10]} to {str(checked.time.values[-1])[:10]}. "
                   "Pick it as the data source in the sidebar.")
        st.cache_data.clear()
