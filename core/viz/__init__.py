"""Figures: pure functions from arrays, DataFrames or xarray objects to plotly (or matplotlib) figures.

No Streamlit, no file reads except the embedded map assets; the dashboard pages and any
notebook can call them alike. Modules: ``coastlines`` (embedded Natural Earth lines), ``map_layers`` (embedded
rivers, lakes, state/province borders), ``hydrographs``
(hydrograph, flow-duration curve), ``training`` (loss curves), ``parameters`` (XAJ parameter
trajectories and distributions), ``maps`` (basin outlets, regions, rain and difference maps),
``verification`` (CSI/POD/FAR/ETS tables), ``static_maps`` (cartopy PNG export).
"""
