"""Hydrology run configuration: defaults, merging of a YAML file and overrides, validation.

A config is a plain nested dict (it is written to the run's ``config.yaml`` as resolved). Keys:

``model``           ``dpl`` (dXAJ) | ``static_xaj`` | ``lstm``
``baselines``       extra models trained and evaluated in the same run, e.g. ``[static_xaj, lstm]``
``overrides``       per-model config changes, e.g. ``{static_xaj: {train: {lr: 0.05}}}``
``data``            ``source`` (``demo``, a CAMELS or basin-table folder), ``basins``, ``train_period``,
                    ``valid_period`` (or ``valid_fraction`` of the training period held out at its end;
                    0 turns early stopping off), ``test_period``, ``dynamic_inputs``, ``static_inputs``
                    (``all`` = every static attribute of the dataset, or a list), ``pet_method``
                    (``core.data.pet``: ``auto`` | ``provided`` | ``priestley_taylor`` | ``hargreaves``)
``window``          ``warmup``, ``rho``, ``horizon``, ``stride`` (steps; DESIGN.md section 5)
``model_args``      ``hidden``, ``dropout``, ``strategy`` (``last`` | ``mean_time`` | ``mean_basin``),
                    ``lstm_steps`` (dXAJ: the parameter LSTM reads only the window's last N steps;
                    null = the whole window, as in the seed), ``bptt_steps`` (dXAJ: truncated
                    back-propagation through the last N LSTM steps; null = full)
``xaj``             ``uh_length`` (steps), ``backend`` (``auto`` | ``reference`` | ``fused``)
``param_ranges``    ``{name: [lower, upper]}`` (omitted names keep the defaults)
``train``           ``epochs``, ``batch_size`` (global, windows), ``iterations_per_epoch`` (null = all
                    windows once), ``optimizer`` (``adamw`` | ``adadelta``), ``lr``, ``weight_decay``,
                    ``loss`` (``rmse`` | ``mse`` | ``nse``), ``patience`` (epochs), ``seed``, ``device``,
                    ``grad_clip``, ``num_threads``, ``max_minutes`` (wall-clock cap; stops after the
                    epoch that crosses it)
``evaluate``        ``batch_size`` (windows per forward pass), ``stride`` (k: a window ends every k test
                    days and predicts its last k days; 1 = one window per day)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import yaml

MODELS = ("dpl", "static_xaj", "lstm")

DEFAULTS: dict[str, Any] = {
    "kind": "hydro",
    "name": None,
    "model": "dpl",
    "baselines": [],
    "overrides": {},
    "data": {
        "source": "demo",
        "basins": None,
        "train_period": None,
        "valid_period": None,
        "valid_fraction": 0.2,
        "test_period": None,
        "dynamic_inputs": ["prcp", "pet"],
        "static_inputs": "all",
        "pet_method": "auto",
    },
    "window": {"warmup": 365, "rho": 365, "horizon": 1, "stride": 1},
    "model_args": {"hidden": 64, "dropout": 0.0, "strategy": "last", "lstm_steps": None, "bptt_steps": None},
    "xaj": {"uh_length": 15, "backend": "auto"},
    "param_ranges": None,
    "train": {
        "epochs": 20,
        "batch_size": 64,
        "iterations_per_epoch": None,
        "optimizer": "adamw",
        "lr": 0.005,
        "weight_decay": 0.0,
        "loss": "rmse",
        "patience": 5,
        "seed": 42,
        "device": "auto",
        "grad_clip": 1.0,
        "num_threads": None,
        "max_minutes": None,
    },
    "evaluate": {"batch_size": 512, "stride": 1},
}

# --- issue 12 (dXAJ) keys: one block, so the merge with the declarative schema stays easy ---------
# range_preset              ``classic`` (DESIGN.md) | ``camels_us`` (core.hydro.params.CAMELS_US_RANGES);
#                           ``param_ranges`` then edits single parameters on top of the preset
# data.log_prcp             feed log(1 + P) to the LSTMs instead of P (z-scored afterwards); physics sees P
# model_args.dynamic_params XAJ parameters the LSTM gives at every step (dXAJ), e.g. [K, B]
# model_args.n_components   parallel XAJ components per basin, averaged after routing (dXAJ)
# model_args.ensemble       n models from seeds seed .. seed + n - 1, trained side by side on the same
#                           batches (each on its own loss) and averaged (dXAJ and LSTM)
# xaj.warmup_routing        the unit hydrograph starts with the warmup's surface inflow as history
# xaj.step_hours            length of a step; != 24 converts KI, KG, CI, CG, THETA from their daily meaning
DEFAULTS["range_preset"] = "classic"
DEFAULTS["data"]["log_prcp"] = False
DEFAULTS["model_args"].update({"dynamic_params": [], "n_components": 1, "ensemble": 1})
DEFAULTS["xaj"].update({"warmup_routing": False, "step_hours": 24.0})


def validate_dxaj(config: Mapping[str, Any]) -> None:
    """Checks of the issue 12 keys; raise ``ValueError`` naming the key."""
    from core.hydro.params import PRESETS, XAJ_PARAMS

    if config.get("range_preset", "classic") not in PRESETS:
        raise ValueError(f"config key 'range_preset' is {config.get('range_preset')!r}; choose one of {tuple(PRESETS)}")
    margs = config["model_args"]
    dyn = margs.get("dynamic_params") or []
    if not isinstance(dyn, list) or any(n not in XAJ_PARAMS for n in dyn):
        raise ValueError(f"config key 'model_args.dynamic_params' must list XAJ parameters ({', '.join(XAJ_PARAMS)}), "
                         f"got {dyn!r}")
    for key in ("n_components", "ensemble"):
        if not isinstance(margs.get(key), int) or margs[key] < 1:
            raise ValueError(f"config key 'model_args.{key}' must be a positive integer, got {margs.get(key)!r}")
    if not float(config["xaj"].get("step_hours", 24.0)) > 0:
        raise ValueError(f"config key 'xaj.step_hours' must be positive, got {config['xaj'].get('step_hours')!r}")
# --- end of issue 12 keys ------------------------------------------------------------------------------

_FREE_KEYS = {"param_ranges", "overrides", "name", "baselines"}


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """Copy of ``base`` with ``update`` merged in; unknown keys raise, naming their path."""
    out = copy.deepcopy(dict(base))
    for key, value in (update or {}).items():
        path = f"{where}.{key}"
        if key not in out and where == "config" and key not in _FREE_KEYS:
            raise ValueError(f"unknown key {path!r}; known keys: {', '.join(sorted(out))}")
        if isinstance(out.get(key), dict) and isinstance(value, Mapping) and key not in _FREE_KEYS:
            unknown = set(value) - set(out[key])
            if unknown:
                raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))} under {path!r}; known: {', '.join(sorted(out[key]))}")
            out[key] = deep_merge(out[key], value, path)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the YAML file ``path`` (if any), then ``overrides``; validated."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} not found")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {path}: expected a mapping at the top level")
        try:
            config = deep_merge(config, loaded)
        except ValueError as exc:
            raise ValueError(f"config file {path}: {exc}") from None
    config = deep_merge(config, overrides or {})
    validate(config)
    return config


def for_model(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The config a single model trains with: ``model`` set, its ``overrides`` merged, no baselines."""
    sub = deep_merge(config, (config.get("overrides") or {}).get(model, {}))
    sub["model"] = model
    sub["baselines"] = []
    sub["overrides"] = {}
    return sub


def validate(config: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the key at fault."""
    if config["model"] not in MODELS:
        raise ValueError(f"config key 'model' is {config['model']!r}; choose one of {MODELS}")
    baselines = config.get("baselines") or []
    if not isinstance(baselines, list):
        raise ValueError(f"config key 'baselines' must be a list, got {baselines!r}")
    for name in baselines:
        if name not in MODELS or name == "dpl":
            raise ValueError(f"config key 'baselines' lists {name!r}; choose from 'static_xaj', 'lstm'")
    for name in config.get("overrides") or {}:
        if name not in MODELS:
            raise ValueError(f"config key 'overrides' names unknown model {name!r}; choose from {MODELS}")
    for key in ("train_period", "test_period"):
        if not config["data"].get(key):
            raise ValueError(f"config key 'data.{key}' is missing: give [start, end] dates")
    train = config["train"]
    for key in ("epochs", "batch_size"):
        if not isinstance(train[key], int) or train[key] < 1:
            raise ValueError(f"config key 'train.{key}' must be a positive integer, got {train[key]!r}")
    if train["optimizer"] not in ("adamw", "adadelta"):
        raise ValueError(f"config key 'train.optimizer' is {train['optimizer']!r}; choose 'adamw' or 'adadelta'")
    validate_dxaj(config)
    frac = config["data"]["valid_fraction"]
    if not 0 <= float(frac) < 1:
        raise ValueError(f"config key 'data.valid_fraction' must be in [0, 1), got {frac!r}")
