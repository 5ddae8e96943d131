"""Streamlit helpers shared by ``app.py`` and ``pages/``: page frame and sidebar, cached loaders,
the background-job panel. Only this package, ``app.py`` and ``pages/`` import streamlit."""
