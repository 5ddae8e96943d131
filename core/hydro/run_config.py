"""Hydrology run configs for the dashboard and the demo: the presets and the form -> config builder.

The presets are overrides of ``configs/hydro_quick.yaml`` (read by :func:`preset_config`, so the
``standard`` preset *is* that file): ``quick`` is the one-click demo's run (Fulda catchment, dXAJ
and both baselines, about a minute on 2 CPU cores), ``standard`` the file as it stands. The Train
page shows these presets; :mod:`core.demo` trains ``quick``.

:func:`hydro_config_from_form` turns the Train page's widget values into a checked config; a bad
value raises :class:`core.training.config.ConfigError` naming the config key.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from core.hydro.config import SCHEMA, load_config
from core.training.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO / "configs" / "hydro_quick.yaml"

QUICK: dict[str, Any] = {
    "name": "demo",
    "data": {"source": "demo", "basins": ["fulda_grebenau"], "train_period": ["1979-01-01", "1986-12-31"],
             "test_period": ["1987-01-01", "1988-12-31"]},
    "window": {"warmup": 90, "rho": 90},
    "model_args": {"hidden": 16},
    # 5 epochs of 10 batches: enough for the LSTM baseline to follow the hydrograph (test NSE ~0.7)
    "train": {"epochs": 5, "batch_size": 16, "iterations_per_epoch": 10, "patience": 5},
    "overrides": {"lstm": {"train": {"lr": 0.01}}},
}

PRESETS: dict[str, dict[str, Any]] = {"quick": QUICK, "standard": {}}
"""Overrides of :data:`BASE_CONFIG` by preset name; the first is the default."""
PRESET_LABELS: dict[str, str] = {
    "quick": "quick demo (about a minute on a CPU)",
    "standard": "standard (configs/hydro_quick.yaml)",
}


def preset_config(name: str) -> dict[str, Any]:
    """The checked config of the preset ``name`` (one of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}", "preset")
    return load_config(BASE_CONFIG, PRESETS[name])


def held_out_years(config: Mapping[str, Any]) -> int:
    """Whole years of a config's test period (at least 1): how much of the data the page holds out."""
    start, end = (pd.Timestamp(d) for d in config["data"]["test_period"])
    return max(1, round((end - start).days / 365.25))


def form_defaults(preset: str) -> dict[str, Any]:
    """The Train page's field values of a preset (config values under the page's field names)."""
    cfg = preset_config(preset)
    return {"epochs": cfg["train"]["epochs"], "iterations": cfg["train"]["iterations_per_epoch"],
            "batch": cfg["train"]["batch_size"], "warmup": cfg["window"]["warmup"], "rho": cfg["window"]["rho"],
            "hidden": cfg["model_args"]["hidden"], "baselines": list(cfg["baselines"]), "loss": cfg["train"]["loss"],
            "strategy": cfg["model_args"]["strategy"], "test_years": held_out_years(cfg),
            "dynamic_inputs": list(cfg["data"]["dynamic_inputs"])}


def _whole(value: Any) -> Any:
    # number widgets may hand back 60.0 for 60; anything else goes to the key table to be refused
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _period(value: Any, key: str) -> list[str]:
    if not isinstance(value, (tuple, list)) or len(value) != 2 or any(v is None for v in value):
        raise ConfigError("pick a start and an end date", key)
    return [v.isoformat() if isinstance(v, (dt.date, pd.Timestamp)) else str(v) for v in value]


def hydro_config_from_form(
    preset: str,
    *,
    source: str,
    basins: Sequence[str],
    train_period: Any,
    test_period: Any,
    param_ranges: Mapping[str, Sequence[float]] | None = None,
    range_preset: str = "classic",
    warmup: Any,
    rho: Any,
    batch_size: Any,
    epochs: Any,
    iterations: Any,
    hidden: Any,
    loss: str,
    strategy: str,
    dynamic_params: Sequence[str] = (),
    n_components: Any = 1,
    device: str = "auto",
    baselines: Sequence[str] = (),
    name: str = "dashboard",
) -> dict[str, Any]:
    """The checked config of a Train-page form: the preset, then the form's values.

    Raises :class:`ConfigError` naming the key of a value that cannot work (e.g. ``window.rho``).
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}", "preset")
    epochs = _whole(epochs)
    form = {
        "name": name,
        "baselines": list(baselines),
        "data": {"source": source, "basins": list(basins), "train_period": _period(train_period, "data.train_period"),
                 "test_period": _period(test_period, "data.test_period")},
        "param_ranges": dict(param_ranges) if param_ranges is not None else None,
        "window": {"warmup": _whole(warmup), "rho": _whole(rho)},
        "model_args": {"hidden": _whole(hidden), "strategy": strategy, "dynamic_params": list(dynamic_params),
                       "n_components": _whole(n_components)},
        "range_preset": range_preset,
        # a dashboard run trains its epochs: early stopping would cut the short runs shown there
        "train": {"epochs": epochs, "batch_size": _whole(batch_size), "iterations_per_epoch": _whole(iterations),
                  "loss": loss, "device": device, "patience": max(epochs, 1) if isinstance(epochs, int) else epochs},
    }
    return load_config(BASE_CONFIG, SCHEMA.merge(PRESETS[preset], form))
