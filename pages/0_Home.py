"""Home page of the dashboard (declared in ``app.py``): what the product does, where to go, the demo.

Every page calls ``ui.sidebar.setup_page`` for
the shared sidebar. This page stays light: no torch import, so a new user sees it in seconds.
"""

from __future__ import annotations

import streamlit as st

from ui.demo import demo_panel
from ui.frame import runs_root, show_error
from ui.sidebar import device_summary, setup_page

setup_page("Home", ":material/water_drop:")

st.title("Hydrocast Studio")
st.markdown(
    "Differentiable hydrology and rain nowcasting on a laptop: **dXAJ** (an LSTM that generates the 15 "
    "Xinanjiang parameters, trained through the physics) for streamflow, and **ST-RainNet** for rain, "
    "comparing a target region alone (experiment 1) with the target plus its upstream neighbour "
    "(experiment 2). Everything runs offline on embedded data."
)

st.subheader("Demo")
st.markdown("One click trains the quick **dXAJ** run on the embedded Fulda catchment (with a static-XAJ and an "
            "LSTM baseline) and then the quick **rain experiments 1 and 2**, in the background, and shows their "
            "results here: about a minute for dXAJ and two and a half for the rain experiments on 2 CPU cores. "
            "The latest runs follow, with their state.")
demo_panel()

left, right = st.columns(2)
with left:
    st.subheader("Where to go")
    st.page_link("pages/1_Basins.py", label="Basins: browse data, map of outlets, upload a basin table")
    st.page_link("pages/2_Train_dXAJ.py", label="Train dXAJ: parameter ranges, settings, live loss")
    st.page_link("pages/3_Hydrographs.py", label="Hydrographs: observed vs simulated, metrics, FDC")
    st.page_link("pages/4_Parameters.py", label="Parameters: LSTM trajectories and a slider sandbox")
    st.page_link("pages/5_Rain_experiments.py", label="Rain experiments: regions, train exp1/exp2")
    st.page_link("pages/6_Rain_maps.py", label="Rain maps: truth vs predictions, differences, CSI")
    st.page_link("pages/7_Runs.py", label="Runs: status, compare, export, delete")
with right:
    st.subheader("This machine")
    st.markdown(f"Training device: **{device_summary()}**")
    try:
        from ui.data import source_options

        st.markdown("Basin data sources: " + ", ".join(f"`{label}`" for label in source_options().values()))
    except Exception as exc:  # a broken data folder must not take the home page down
        show_error(exc, "Listing data sources failed")
    st.markdown(f"Runs folder: `{runs_root()}`")
