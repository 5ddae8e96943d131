"""The one-click demo: the quick dXAJ and ST-RainNet runs, sized to show a meaningful result on 2 CPU
cores (about a minute for dXAJ, 2.5 for the rain experiments), trained one after the other (one job
per device).

The hydro run trains dXAJ on the embedded Fulda catchment with both baselines (static XAJ and an
LSTM); 5 epochs of 10 batches are enough for the LSTM baseline to follow the hydrograph (test NSE
about 0.7 here) instead of a flat line. The rain run is ``configs/rain_quick.yaml`` as it stands
(its size and skill are tuned there) with a smaller bootstrap. Both are presets of
:mod:`core.hydro.run_config` and :mod:`core.rain.run_config`, which the Train pages offer too.
"""

from __future__ import annotations

import os
import re
from typing import Any

from core.hydro.run_config import QUICK as HYDRO_QUICK  # noqa: F401  (the quick preset, kept under its old name)
from core.runs.catalog import list_runs
from core.runs.folder import RunDir

DEMO_ORDER = ("hydro", "rain")
DEMO_RUN_NAME = "demo"
"""The name the demo gives its runs: folders ``<kind>-<UTC stamp>-demo`` (``-<i>`` when two share a second)."""
HYDRO_PRESET = "quick"
RAIN_PRESET = "standard"


def hydro_demo_config() -> dict[str, Any]:
    """The validated quick dXAJ config (embedded Fulda basin, dXAJ + static XAJ + LSTM)."""
    from core.hydro.run_config import preset_config

    return preset_config(HYDRO_PRESET)


def rain_demo_config(n_boot: int = 200) -> dict[str, Any]:
    """``configs/rain_quick.yaml`` (experiments 1 and 2 on the generated world) with ``n_boot``
    bootstrap resamples for the exp2 - exp1 intervals."""
    from core.rain.run_config import preset_raw

    config = preset_raw(RAIN_PRESET)
    config.setdefault("evaluate", {})["n_boot"] = int(n_boot)
    return config


def demo_config(kind: str) -> dict[str, Any]:
    """The demo config of ``kind`` ("hydro" or "rain")."""
    if kind == "hydro":
        return hydro_demo_config()
    if kind == "rain":
        return rain_demo_config()
    raise ValueError(f"demo_config: unknown kind {kind!r}; use one of {DEMO_ORDER}")


def is_demo_run(run: RunDir, kind: str) -> bool:
    """Whether ``run`` is a demo run of ``kind`` (by its folder name, as ``core.runs.folder.new_run_dir`` makes it)."""
    return re.fullmatch(rf"{re.escape(kind)}-\d{{8}}-\d{{6}}-{DEMO_RUN_NAME}(-\d+)?", run.name) is not None


def latest_demo_runs(root: str | os.PathLike | None = None) -> dict[str, RunDir]:
    """``{kind: newest demo run of kind}`` under ``root``: what Home shows when it has no demo of its own
    in the session (a new tab, a restarted server), read from the run folders on disk."""
    found: dict[str, RunDir] = {}
    for run in list_runs(root, settle=False):  # newest first
        for kind in DEMO_ORDER:
            if kind not in found and is_demo_run(run, kind):
                found[kind] = run
    return found
