"""Hydrocast Studio core library: models, data readers, metrics, runs and jobs.

Never imports Streamlit; the dashboard (``app.py``, ``pages/``) sits on top of it.
"""

__version__ = "0.1.0"
