"""The one config loader of both kinds: strict YAML, a declarative key table per kind, clear errors.

A kind's keys are one table of :class:`Key` rows, kept with its half (``core.hydro.config_schema``,
``core.rain.config``): dotted path, value type with its range, default and help. To add a
key, add a row. :meth:`Schema.complete` merges a raw config over the defaults and

- rejects unknown keys (naming them and the keys allowed there) and sections given as non-mappings;
- checks every value's type and range (``train.lr: expected a number > 0, got 'fast'``);
- runs the kind's cross-key checks (e.g. overlapping train/valid/test periods).

:func:`read_yaml` rejects duplicate keys and names the file on a syntax error. Every error is a
:class:`ConfigError` (a ``ValueError``) whose text starts with the file (when there is one) and the
key path: ``configs/x.yaml: train.lr: expected a number > 0, got 'fast'``.

Relative data paths (``data.source``) are resolved against the current working directory (the
repository root for the documented commands and the dashboard's workers) in both kinds, and stored
absolute in the run's ``config.yaml``, so ``--resume`` and ``evaluate`` work from anywhere. A value
that is not an existing path (``demo``, a source name from ``HYDROCAST_DATA``) is kept as written.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
import yaml

from core.training.config_types import (  # noqa: F401  (the types rows are written with, re-exported)
    AnyValue, Bool, Choice, DataPath, Date, Device, Float, FreeMapping, Int, Invalid, ListOf, OneOf, Optional,
    Period, Str, Type, plain_values, resolve_data_path, show_value,
)


class ConfigError(ValueError):
    """A config value, key or file that cannot work; the message names the file and the key path."""

    def __init__(self, message: str, path: str = "", where: str | os.PathLike | None = None):
        self.path, self.where, self.reason = path, (str(where) if where is not None else None), message
        parts = [p for p in (self.where, path) if p]
        super().__init__(": ".join(parts + [message]))

    def located(self, where: str | os.PathLike | None) -> "ConfigError":
        """The same error attributed to the file ``where`` (when it names none yet)."""
        if self.where is not None or where is None:
            return self
        return ConfigError(self.reason, self.path, where)


# --- the key table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One config key: dotted ``path``, value ``type`` (with its range), ``default`` and ``help``."""

    path: str
    type: Type
    default: Any = None
    help: str = ""


Check = Callable[[dict], None]  # a cross-key check: raises ConfigError(message, path)


@dataclass
class Schema:
    """The keys of one kind of config, and its cross-key checks."""

    kind: str
    keys: Sequence[Key]
    checks: list[Check] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._keys = {k.path: k for k in self.keys}
        self._sections = {".".join(k.path.split(".")[:i]) for k in self.keys for i in range(1, k.path.count(".") + 1)}

    def key(self, path: str) -> Key:
        return self._keys[path]

    def defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.keys:
            node = out
            *parents, leaf = k.path.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = copy.deepcopy(k.default)
        return out

    def _known_under(self, prefix: str) -> list[str]:
        depth = prefix.count(".") + 1 if prefix else 0
        names = {p.split(".")[depth] for p in list(self._keys) + list(self._sections)
                 if (p.startswith(prefix + ".") if prefix else True) and p.count(".") >= depth}
        return sorted(names)

    def merge(self, base: Mapping[str, Any], update: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """``update`` merged over ``base`` section by section; unknown keys raise :class:`ConfigError`."""
        if not isinstance(update, Mapping):
            raise ConfigError(f"expected a mapping of keys, got {show_value(update)}", prefix)
        out = copy.deepcopy(dict(base))
        for name, value in update.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            if path in self._keys:
                out[name] = copy.deepcopy(value)
            elif path in self._sections:
                if not isinstance(value, Mapping):
                    raise ConfigError(f"expected a mapping (keys {', '.join(self._known_under(path))}), got {show_value(value)}", path)
                out[name] = self.merge(out.get(name) or {}, value, path)
            else:
                known = self._known_under(prefix)
                raise ConfigError(f"unknown key {name!r}; known keys{' under ' + prefix if prefix else ''}: {', '.join(known)}",
                                  path)
        return out

    def _check_keys(self, config: dict[str, Any], prefix: str = "") -> None:
        """Type- and range-check, in place, the keys under ``prefix`` (``""``: all) of ``config``, which
        holds what lies under that prefix; defaults fill the keys it lacks."""
        for k in self.keys:
            if not k.path.startswith(prefix):
                continue
            node = config
            *parents, leaf = k.path[len(prefix):].split(".")
            for p in parents:
                node = node.setdefault(p, {})
            try:
                node[leaf] = k.type.check(node.get(leaf, copy.deepcopy(k.default)))
            except Invalid as exc:
                raise ConfigError(str(exc), k.path) from None

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Type- and range-check every key of a merged config; returns the normalised config."""
        out = copy.deepcopy(dict(config))
        self._check_keys(out)
        for check in self.checks:
            check(out)
        return plain_values(out)

    def complete(self, raw: Mapping[str, Any] | None, where: str | os.PathLike | None = None,
                 base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``raw`` over ``base`` (default: the defaults), checked; errors name ``where`` (the file)."""
        try:
            if raw is not None and not isinstance(raw, Mapping):
                raise ConfigError(f"a {self.kind} config must be a mapping of keys, got {show_value(raw)}")
            merged = self.merge(base if base is not None else self.defaults(), raw or {})
            return self.validate(merged)
        except ConfigError as exc:
            raise exc.located(where) from None

    def complete_section(self, section: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """One section (``"nowcast"``) of ``raw`` over its defaults, type- and range-checked, without
        the cross-key checks (they read other sections); for typed views built from a section alone."""
        out = self.merge(self.defaults(), {section: dict(raw or {})})[section]
        self._check_keys(out, section + ".")
        return plain_values(out)

    def help_table(self) -> str:
        """The key table as text (``path  type  default  help``), for documentation."""
        rows = [f"{k.path:<32} {k.type.expected:<40} {k.default!r:<14} {k.help}" for k in self.keys]
        return "\n".join(rows)


# --- cross-key checks -----------------------------------------------------------------------------


def get_path(config: Mapping[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def check_periods_disjoint(paths: Iterable[str]) -> Check:
    """A check that the ``[start, end]`` periods at ``paths`` (those given) share no day.

    A period that ends on a plain date covers that whole day (sub-daily data included).
    """
    paths = list(paths)

    def check(config: dict) -> None:
        from core.data.errors import DataError
        from core.data.splits import periods_overlap

        given = {p: get_path(config, p) for p in paths if get_path(config, p)}
        try:
            overlaps = periods_overlap(given)
        except DataError as exc:  # the Period type has checked each one; kept for hand-made configs
            raise ConfigError(str(exc), paths[0]) from None
        if overlaps:
            o = overlaps[0]
            ta, tb = (f"{given[p][0]} .. {given[p][1]}" for p in (o.first, o.second))
            raise ConfigError(f"overlaps {o.first} ({ta}): periods must not share days "
                              f"(shared from {o.start.date()} to {o.end.date()})", f"{o.second} ({tb})")

    return check


# --- YAML -------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"line {line}: duplicate key {key!r} (first given on line {seen[key]})")
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, where: str | os.PathLike | None = None) -> Any:
    """YAML text -> Python, rejecting duplicate keys; errors name ``where``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as exc:
        raise exc.located(where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {' '.join(str(exc).split())}", where=where) from None


def read_yaml(path: str | os.PathLike) -> Any:
    """Read the YAML file ``path`` strictly; a missing or unreadable file raises naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found" if not path.exists() else "not a file", where=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file ({exc})", where=path) from None
    return parse_yaml(text, path)
