"""Rain run configs for the dashboard and the demo: the example config, the presets and the form ->
config builder.

The presets are overrides of ``configs/rain_quick.yaml`` (read here, so ``standard`` *is* that file):
``quick`` trains fewer epochs and bootstraps less. The Rain experiments page shows these presets and
reads the example config's regions and periods through :func:`base_config`; :mod:`core.demo` trains
``standard`` with a smaller bootstrap.

:func:`rain_config_from_form` turns the page's widget values into a checked config; a bad value
raises :class:`core.training.config.ConfigError` naming the config key.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any, Mapping

from core.rain.config import EXPERIMENTS, SCHEMA
from core.training.config import ConfigError, read_yaml

REPO = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO / "configs" / "rain_quick.yaml"
FALLBACK_REGION1 = {"lat": [40.0, 50.0], "lon": [10.0, 20.0]}

PRESETS: dict[str, dict[str, Any]] = {
    # 3 of the 12 epochs over the 16-month world, 49 s on 2 cores: exp2 CSI@5 0.629, exp1 0.412,
    # extrapolation 0.596 (docs/results_rain.md); 10 STEPS members instead of 20: half the cost
    "quick": {"train": {"epochs": 3, "batch_size": 8}, "model": {"hidden_channels": [16, 32]},
              "evaluate": {"n_boot": 200}, "nowcast": {"steps_members": 10}},
    "standard": {},
}
"""Overrides of :data:`BASE_CONFIG` by preset name; the first is the default."""
PRESET_LABELS: dict[str, str] = {
    "quick": "quick demo (about a minute on 2 CPU cores)",
    "standard": "standard (configs/rain_quick.yaml)",
}


def base_config() -> dict[str, Any]:
    """The example config as written (not completed): the page's defaults for regions and periods.
    Without the file, region 1 falls back to a box over central Europe."""
    if not BASE_CONFIG.exists():
        return {"regions": {"region1": FALLBACK_REGION1, "upstream_side": "west"}}
    raw = read_yaml(BASE_CONFIG) or {}
    raw.pop("kind", None)
    return raw


def preset_raw(name: str) -> dict[str, Any]:
    """The example config with the preset ``name``'s overrides, not yet completed (what a worker is given)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}", "preset")
    return SCHEMA.merge(base_config(), PRESETS[name])


def preset_config(name: str) -> dict[str, Any]:
    """The checked config of the preset ``name`` (one of :data:`PRESETS`)."""
    return SCHEMA.complete(preset_raw(name), BASE_CONFIG)


def parse_channels(text: Any) -> Any:
    """``"16, 32"`` -> ``[16, 32]``; anything unreadable is returned for the key table to refuse by name."""
    if not isinstance(text, str):
        return text
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"expected whole numbers separated by commas, got {text!r}", "model.hidden_channels") from None


def _period(value: Any) -> list[str]:
    return [v.isoformat() if isinstance(v, dt.date) else str(v) for v in value]


def rain_config_from_form(
    preset: str,
    *,
    source: str,
    region1: Mapping[str, Any],
    upstream_side: str,
    region2: Mapping[str, Any] | None = None,
    experiments: str = "both",
    periods: Mapping[str, Any] | None = None,
    epochs: Any,
    batch_size: Any,
    lr: Any,
    loss: str,
    hidden_channels: Any,
    amp: Any = "auto",
    device: str = "auto",
) -> dict[str, Any]:
    """The config of a Rain-experiments form (the preset, then the form's values), checked.

    ``experiments``: ``both`` or one experiment name. ``periods``: ``{train, val, test}`` date pairs
    (the example config's dated split, demo source only). For a file of the user's, the example
    config's dates, coarsening, demo arguments and nowcast guide (which describe the generated world) are dropped,
    so the core defaults apply (split by fractions of the file's time span).

    Returns the raw config to hand to a worker (the worker completes it the same way); raises
    :class:`ConfigError` naming the key of a value that cannot work.
    """
    config = preset_raw(preset)
    config.setdefault("data", {})["source"] = source
    if source != "demo":
        config["data"] = {"source": source}
        config["split"] = {}
        # the steering-wind guide reads the demo world's 600 hPa wind, which a user's file may not hold
        config.pop("nowcast", None)
    if periods:
        config["split"] = {k: _period(v) for k, v in periods.items()}
    config["regions"] = {"region1": dict(region1), "upstream_side": upstream_side}
    if region2 is not None:
        config["regions"]["region2"] = dict(region2)
    config["experiments"] = list(EXPERIMENTS) if experiments == "both" else [experiments]
    number = (lambda v: int(v) if isinstance(v, float) and v.is_integer() else v)
    config["train"] = {**(config.get("train") or {}), "epochs": number(epochs), "batch_size": number(batch_size),
                       "lr": lr, "loss": loss, "amp": amp, "device": device}
    config.setdefault("model", {})["hidden_channels"] = parse_channels(hidden_channels)
    SCHEMA.complete(copy.deepcopy(config))
    return config
