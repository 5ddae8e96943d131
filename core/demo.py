"""The one-click demo: the quick dXAJ and ST-RainNet runs, sized to show a meaningful result in
about a minute each on 2 CPU cores, trained one after the other (one job per device).

The hydro run trains dXAJ on the embedded Fulda catchment with both baselines (static XAJ and an
LSTM); 5 epochs of 10 batches are enough for the LSTM baseline to follow the hydrograph (test NSE
about 0.7 here) instead of a flat line. The rain run is ``configs/rain_quick.yaml`` as it stands
(its size and skill are tuned there) with a smaller bootstrap.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
HYDRO_BASE = REPO / "configs" / "hydro_quick.yaml"
RAIN_BASE = REPO / "configs" / "rain_quick.yaml"

HYDRO_QUICK = {
    "name": "demo",
    "baselines": ["static_xaj", "lstm"],
    "data": {"source": "demo", "basins": ["fulda_grebenau"], "train_period": ["1979-01-01", "1986-12-31"],
             "test_period": ["1987-01-01", "1988-12-31"]},
    "window": {"warmup": 90, "rho": 90},
    "model_args": {"hidden": 16},
    "train": {"epochs": 5, "batch_size": 16, "iterations_per_epoch": 10, "patience": 5},
    "overrides": {"lstm": {"train": {"lr": 0.01}}},
}
"""Overrides of ``configs/hydro_quick.yaml`` for the demo and the Train page's quick preset."""

DEMO_ORDER = ("hydro", "rain")


def hydro_demo_config() -> dict[str, Any]:
    """The validated quick dXAJ config (embedded Fulda basin, dXAJ + static XAJ + LSTM)."""
    from core.hydro.config import load_config

    return load_config(HYDRO_BASE, HYDRO_QUICK)


def rain_demo_config(n_boot: int = 200) -> dict[str, Any]:
    """``configs/rain_quick.yaml`` (experiments 1 and 2 on the generated world) with ``n_boot``
    bootstrap resamples for the exp2 - exp1 intervals."""
    config = yaml.safe_load(RAIN_BASE.read_text(encoding="utf-8")) or {}
    config = copy.deepcopy(config)
    config.pop("kind", None)
    config.setdefault("evaluate", {})["n_boot"] = int(n_boot)
    return config


def demo_config(kind: str) -> dict[str, Any]:
    """The demo config of ``kind`` ("hydro" or "rain")."""
    if kind == "hydro":
        return hydro_demo_config()
    if kind == "rain":
        return rain_demo_config()
    raise ValueError(f"demo_config: unknown kind {kind!r}; use one of {DEMO_ORDER}")
