"""Hydrocast Studio core library: models, data readers, metrics, runs and jobs.

Never imports Streamlit; the dashboard (``app.py``, ``pages/``) sits on top of it.
"""

__version__ = "0.1.0"

# The thread and wait policy (core.machine.threads) must be in the environment before torch or numba load
# OpenMP, and importing core comes first in every process that trains or evaluates: the CLI and its
# DDP ranks (python -m core), dashboard workers, the dashboard's own pages (the Parameters sandbox).
from core.machine.threads import apply_environment as _apply_thread_policy  # noqa: E402

_apply_thread_policy()
