"""The one-click demo: the quick dXAJ and ST-RainNet runs, sized to show a meaningful result in
about a minute each on 2 CPU cores, trained one after the other (one job per device).

The hydro run trains dXAJ on the embedded Fulda catchment with both baselines (static XAJ and an
LSTM); 5 epochs of 10 batches are enough for the LSTM baseline to follow the hydrograph (test NSE
about 0.7 here) instead of a flat line. The rain run is ``configs/rain_quick.yaml`` as it stands
(its size and skill are tuned there) with a smaller bootstrap. Both are presets of
:mod:`core.hydro.run_config` and :mod:`core.rain.run_config`, which the Train pages offer too.
"""

from __future__ import annotations

from typing import Any

from core.hydro.run_config import QUICK as HYDRO_QUICK  # noqa: F401  (the quick preset, kept under its old name)

DEMO_ORDER = ("hydro", "rain")
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
