"""Hydrocast Studio: entry point of the Streamlit dashboard (``streamlit run app.py``).

Declares the pages (so the first navigation entry reads "Home", not the file name) and runs the
chosen one; every page calls ``ui.sidebar.setup_page`` for the shared sidebar.
"""

from __future__ import annotations

import streamlit as st

PAGES = [
    ("pages/0_Home.py", "Home", ":material/water_drop:", ""),
    ("pages/1_Basins.py", "Basins", ":material/map:", "Basins"),
    ("pages/2_Train_dXAJ.py", "Train dXAJ", ":material/model_training:", "Train_dXAJ"),
    ("pages/3_Hydrographs.py", "Hydrographs", ":material/show_chart:", "Hydrographs"),
    ("pages/4_Parameters.py", "Parameters", ":material/tune:", "Parameters"),
    ("pages/5_Rain_experiments.py", "Rain experiments", ":material/rainy:", "Rain_experiments"),
    ("pages/6_Rain_maps.py", "Rain maps", ":material/satellite_alt:", "Rain_maps"),
    ("pages/7_Runs.py", "Runs", ":material/folder_open:", "Runs"),
    ("pages/8_Predict.py", "Predict", ":material/online_prediction:", "Predict"),
]

st.navigation([st.Page(path, title=title, icon=icon, url_path=url or None, default=not url)
               for path, title, icon, url in PAGES]).run()
