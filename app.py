"""Hydrocast Studio: entry point of the Streamlit dashboard (``streamlit run app.py``).

Declares the pages (so the first navigation entry reads "Home", not the file name) and runs the
chosen one; every page calls ``ui.sidebar.setup_page`` for the shared sidebar.
"""

from __future__ import annotations

import streamlit as st

PAGES = [
    ("pages/0_Home.py", "Home", "💧", ""),
    ("pages/1_Basins.py", "Basins", "🗺️", "Basins"),
    ("pages/2_Train_dXAJ.py", "Train dXAJ", "🏋️", "Train_dXAJ"),
    ("pages/3_Hydrographs.py", "Hydrographs", "📈", "Hydrographs"),
    ("pages/4_Parameters.py", "Parameters", "🎛️", "Parameters"),
    ("pages/5_Rain_experiments.py", "Rain experiments", "🌧️", "Rain_experiments"),
    ("pages/6_Rain_maps.py", "Rain maps", "🛰️", "Rain_maps"),
    ("pages/7_Runs.py", "Runs", "🗂️", "Runs"),
]

st.navigation([st.Page(path, title=title, icon=icon, url_path=url or None, default=not url)
               for path, title, icon, url in PAGES]).run()
