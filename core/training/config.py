"""The one config loader of both kinds: strict YAML, a declarative key table per kind, clear errors.

A kind's keys are one table of :class:`Key` rows, kept with its half (``core.hydro.config_schema``,
``core.rain.config``): dotted path, value type with its range, default and help. To add a
key, add a row. :meth:`Schema.complete` merges a raw config over the defaults and

- rejects unknown keys (naming them and the keys allowed there) and sections given as non-mappings;
- checks every value's type and range (``train.lr: expected a number > 0, got 'fast'``);
- runs the kind's cross-key checks (e.g. overlapping train/valid/test periods).

:func:`read_yaml` rejects duplicate keys and keys that are lists, names the file on a syntax error, and
refuses a file beyond 1 MB, 32 levels or 200,000 values after aliases expand (``MAX_CONFIG_*``) before
building anything. Every error is a
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


# --- YAML ---------------------------------------------------------------------------------------------

# A config is a few KB; the longest real list, ``data.basins`` of CAMELS-US, is 671 ids (~10 KB).
# The bounds keep a hostile or mistaken file (an alias bomb, a dump of data, thousands of open
# brackets) from costing more than a fraction of a second before it is refused by name.
MAX_CONFIG_BYTES = 1_000_000
# Values after aliases are expanded: every later step (merge, checks, ``config.yaml``) walks the
# expanded tree, so this is what bounds their time and memory; ten nested aliases reach 10**10.
MAX_CONFIG_VALUES = 200_000
# A config nests about six levels; 32 keeps the recursive steps (YAML composer, deepcopy, checks)
# far below Python's recursion limit.
MAX_CONFIG_DEPTH = 32

# libyaml's parser when installed: ~10x faster than the pure-Python one on a large file
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently) or a
    key that is a list or mapping, and keeps a date that is not on the calendar as its text."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise ConfigError(f"line {line}: a key must be a name or number, got {show_value(key)}") from None
        if key in seen:
            raise ConfigError(f"line {line}: duplicate key {key!r} (first given on line {seen[key]})")
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, TypeError, AttributeError):
        # 1979-02-30 has a date's shape but no day: as text, the key's type refuses it by key and value
        return loader.construct_scalar(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


@dataclass
class _Open:
    """A sequence or mapping whose end event has not come yet (see :func:`_check_bounds`)."""

    mapping: bool
    anchor: str | None
    values_before: int
    levels: int = 1
    items: int = 0  # children so far; in a mapping, keys and values alternate
    key: str = "?"  # the mapping key whose value is being read


def _key_path(stack: list[_Open]) -> str:
    return ".".join(f.key for f in stack if f.mapping and f.items % 2 == 1)


def _check_bounds(text: str) -> None:
    """Refuse ``text`` if it nests deeper than :data:`MAX_CONFIG_DEPTH` or holds more than
    :data:`MAX_CONFIG_VALUES` values once its aliases are expanded, or an alias inside its own anchor.

    One pass over the parser's events, before anything is built: the parser keeps its own stack (the
    composer that builds nodes recurses once per level), and an alias counts as the size of the value
    it repeats, known from that value's end event, so an alias bomb is refused at the first alias that
    crosses the budget without being expanded.
    """
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values, levels) of the finished value
    stack: list[_Open] = []
    values = 0
    aliases = False

    def refuse(message: str, line: int) -> ConfigError:
        return ConfigError(f"line {line}: {message}", _key_path(stack))

    def child_done(levels: int, key: str = "?") -> None:
        if stack:
            parent = stack[-1]
            parent.levels = max(parent.levels, levels + 1)
            if parent.mapping and parent.items % 2 == 0:
                parent.key = key
            parent.items += 1

    for event in yaml.parse(text, Loader=_BaseLoader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) >= MAX_CONFIG_DEPTH:
                raise refuse(f"nested more than {MAX_CONFIG_DEPTH} levels deep (a config needs about 6)", line)
            values += 1
            stack.append(_Open(isinstance(event, yaml.MappingStartEvent), event.anchor, values - 1))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            done = stack.pop()
            if done.anchor is not None:
                anchors[done.anchor] = (values - done.values_before, done.levels)
            child_done(done.levels)
            continue
        elif isinstance(event, yaml.AliasEvent):
            if any(f.anchor == event.anchor for f in stack):
                raise refuse(f"alias *{event.anchor} repeats a value that contains it", line)
            size, levels = anchors.get(event.anchor, (1, 0))  # an unknown anchor: the loader names it
            if len(stack) + levels > MAX_CONFIG_DEPTH:
                raise refuse(f"alias *{event.anchor} nests the config more than {MAX_CONFIG_DEPTH} levels deep", line)
            values += size
            aliases = True
            child_done(levels)
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
            child_done(0, event.value)
        else:
            continue
        if values > MAX_CONFIG_VALUES:
            what = "aliases expand the config to" if aliases else "the config holds"
            raise refuse(f"{what} more than {MAX_CONFIG_VALUES:,} values (a config holds a few hundred)", line)


def _too_large(size: int) -> str:
    return f"the config is {size / 1e6:.1f} MB, more than the {MAX_CONFIG_BYTES / 1e6:g} MB a config may have"


def parse_yaml(text: str, where: str | os.PathLike | None = None) -> Any:
    """YAML text -> Python, rejecting duplicate keys and texts beyond the bounds above; errors name ``where``."""
    try:
        if len(text) > MAX_CONFIG_BYTES or len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
            raise ConfigError(_too_large(len(text.encode("utf-8", "replace"))))
        _check_bounds(text)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as exc:
        raise exc.located(where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {' '.join(str(exc).split())}", where=where) from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        # a tagged value PyYAML cannot build (!!int abc, !!bool maybe): the text is no config either
        raise ConfigError(f"not valid YAML: {type(exc).__name__}: {show_value(str(exc))}", where=where) from None


def read_yaml(path: str | os.PathLike) -> Any:
    """Read the YAML file ``path`` strictly; a missing, unreadable or oversized file raises naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found" if not path.exists() else "not a file", where=path)
    try:
        with path.open("rb") as handle:
            # read at most one byte past the limit: a 50 MB file costs no more than a 1 MB one
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(_too_large(max(path.stat().st_size, len(data))), where=path)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file ({exc})", where=path) from None
    return parse_yaml(text, path)
