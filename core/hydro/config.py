"""Hydrology run configuration: defaults, a YAML file and overrides merged and checked strictly.

A config is a plain nested dict (written to the run's ``config.yaml`` as resolved). Its keys, types,
ranges, defaults and help are the table in :mod:`core.hydro.config_schema` (add a key there); the
loader is :mod:`core.training.config`, shared with the rain half. Summary:

``model``           ``dpl`` (dXAJ) | ``static_xaj`` | ``lstm``
``baselines``       extra models trained and evaluated in the same run, e.g. ``[static_xaj, lstm]``
``overrides``       per-model config changes, e.g. ``{static_xaj: {train: {lr: 0.05}}}`` (checked like the rest)
``data``            ``source``, ``basins``, ``train_period``, ``valid_period`` (or ``valid_fraction``),
                    ``test_period`` (periods must not overlap), ``dynamic_inputs``, ``static_inputs``,
                    ``pet_method``
``window``          ``warmup``, ``rho``, ``horizon``, ``stride`` (steps; docs/design.md, 5. dPL)
``model_args``      ``hidden``, ``dropout``, ``strategy``, ``lstm_steps``, ``bptt_steps``
``xaj``             ``uh_length`` (steps), ``backend`` (``auto`` | ``reference`` | ``fused``)
``param_ranges``    ``{name: [lower, upper]}`` (omitted names keep the defaults)
``train``           ``epochs``, ``batch_size``, ``iterations_per_epoch``, ``optimizer``, ``lr``,
                    ``weight_decay``, ``loss``, ``patience``, ``lr_decay``, ``lr_decay_patience``, ``weight_average``,
                    ``seed``, ``device``, ``grad_clip``,
                    ``num_threads``, ``max_minutes``
``evaluate``        ``batch_size``, ``stride``
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from core.training.config import ConfigError, read_yaml
from core.hydro.config_schema import MODELS, SCHEMA

DEFAULTS: dict[str, Any] = SCHEMA.defaults()

__all__ = ["DEFAULTS", "MODELS", "SCHEMA", "ConfigError", "deep_merge", "for_model", "load_config", "validate"]


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``base`` with ``update`` merged in section by section; unknown keys raise, naming their path."""
    return SCHEMA.merge(base, update or {})


def validate(config: Mapping[str, Any], where: str | os.PathLike | None = None) -> dict[str, Any]:
    """Type-, range- and cross-check a merged config (also every model's ``overrides``); returns it normalised."""
    try:
        out = SCHEMA.validate(config)
        for name in out.get("overrides") or {}:
            try:
                for_model(out, name)
            except ConfigError as exc:
                raise ConfigError(exc.reason, f"overrides.{name}.{exc.path}" if exc.path else f"overrides.{name}") from None
        return out
    except ConfigError as exc:
        raise exc.located(where) from None


def load_config(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the YAML file ``path`` (if any), then ``overrides``; checked. Errors name the file and key."""
    config = DEFAULTS
    if path is not None:
        raw = read_yaml(path)
        try:
            if raw is not None and not isinstance(raw, Mapping):
                raise ConfigError(f"expected a mapping of keys at the top level, got {type(raw).__name__}")
            config = deep_merge(DEFAULTS, raw or {})
        except ConfigError as exc:
            raise exc.located(path) from None
    try:
        config = deep_merge(config, overrides or {})
    except ConfigError as exc:
        raise exc.located("overrides" if path is not None else None) from None
    return validate(config, path)


def override_every_model(config: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` (e.g. ``{"train": {"max_minutes": 60}}``) merged into every model's ``overrides`` too,
    checked: a command line's value must not be undone by a baseline's own value in the file."""
    if not over or not config.get("overrides"):
        return dict(config)
    merged = dict(config)
    merged["overrides"] = {name: deep_merge(sub or {}, over) for name, sub in config["overrides"].items()}
    return validate(merged)


def for_model(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The config a single model trains with: ``model`` set, its ``overrides`` merged, no baselines."""
    sub = deep_merge(config, (config.get("overrides") or {}).get(model, {}))
    sub["model"] = model
    sub["baselines"] = []
    sub["overrides"] = {}
    return SCHEMA.validate(sub)
