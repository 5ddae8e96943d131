"""Value types of the config key tables: each checks one value and returns it normalised.

A type raises :class:`Invalid` with ``expected <what>, got <value>``; :class:`core.training.config.Schema`
adds the file and the key path. Dates are kept as ISO text and tuples as lists, so a checked config
holds only YAML/JSON/checkpoint-safe values.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd


class Invalid(Exception):
    """Raised by a value type; :class:`Schema` turns it into a :class:`ConfigError` with the key path."""


def show_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Type:
    """A value type: ``check`` returns the (normalised) value or raises :class:`Invalid`."""

    expected = "a value"

    def check(self, value: Any) -> Any:
        return value

    def fail(self, value: Any) -> Invalid:
        return Invalid(f"expected {self.expected}, got {show_value(value)}")


class AnyValue(Type):
    expected = "any value"


class Bool(Type):
    expected = "true or false"

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise self.fail(value)
        return value


def range_text(lo, hi, lo_open: bool, hi_open: bool) -> str:
    """``>= lo and < hi`` style text of a numeric range (``None``: no bound on that side)."""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi}")
    return " and ".join(parts)


@dataclass
class Int(Type):
    min: int | None = None
    max: int | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        rng = range_text(self.min, self.max, False, False)
        return "an integer" + (f" {rng}" if rng else "")

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(value)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise self.fail(value)
        return value


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class Float(Type):
    """A finite number; YAML 1.1 reads ``1e-3`` as text, so numeric text is accepted and converted."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    @property
    def expected(self) -> str:  # type: ignore[override]
        rng = range_text(self.min, self.max, self.min_open, self.max_open)
        return "a number" + (f" {rng}" if rng else "")

    def check(self, value: Any) -> Any:
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(value)
        lo_bad = self.min is not None and (value <= self.min if self.min_open else value < self.min)
        hi_bad = self.max is not None and (value >= self.max if self.max_open else value > self.max)
        if lo_bad or hi_bad:
            raise self.fail(value)
        return value


@dataclass
class Str(Type):
    pattern: str | None = None
    described: str = "a text"

    @property
    def expected(self) -> str:  # type: ignore[override]
        return self.described

    def check(self, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(value)
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise self.fail(value)
        return value


class Choice(Type):
    def __init__(self, *choices: Any):
        self.choices = choices

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(show_value(c) for c in self.choices)

    def check(self, value: Any) -> Any:
        for choice in self.choices:
            if value == choice and type(value) is type(choice):
                return value
        raise self.fail(value)


class Optional(Type):
    """``None`` (YAML ``null``) or the inner type."""

    def __init__(self, inner: Type):
        self.inner = inner

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"{self.inner.expected} or null"

    def check(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.inner.check(value)
        except Invalid as exc:
            if str(exc).startswith("expected "):
                raise self.fail(value) from None
            raise


class OneOf(Type):
    def __init__(self, *types: Type):
        self.types = types

    @property
    def expected(self) -> str:  # type: ignore[override]
        return " or ".join(t.expected for t in self.types)

    def check(self, value: Any) -> Any:
        for t in self.types:
            try:
                return t.check(value)
            except Invalid:
                continue
        raise self.fail(value)


class ListOf(Type):
    def __init__(self, item: Type, min_len: int = 0, max_len: int | None = None):
        self.item, self.min_len, self.max_len = item, min_len, max_len

    @property
    def expected(self) -> str:  # type: ignore[override]
        size = f"{self.min_len}+" if self.max_len is None else (
            str(self.min_len) if self.min_len == self.max_len else f"{self.min_len}-{self.max_len}")
        return f"a list of {size} items, each {self.item.expected}"

    def check(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise self.fail(value)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            raise self.fail(value)
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self.item.check(item))
            except Invalid as exc:
                raise Invalid(f"item {i}: {exc}") from None
        return out


class FreeMapping(Type):
    """A mapping whose keys the loader does not know (passed to a reader, checked there)."""

    expected = "a mapping"

    def check(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise self.fail(value)
        return plain_values(dict(value))


def _iso(value: Any) -> str:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


class Date(Type):
    expected = "a date (YYYY-MM-DD or an ISO date-time)"

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, _dt.date)):
            raise self.fail(value)
        text = _iso(value)
        try:
            pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError) as exc:
            # pandas says why (``day is out of range for month: 1979-02-30``); the value is shown already
            why = str(exc).split(":")[0].strip()
            raise Invalid(f"{self.fail(value)}{f' ({why})' if why else ''}") from None
        return text


class Period(Type):
    """``[start, end]`` dates, start not after end; stored as ISO text."""

    expected = "[start, end] dates"

    def check(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise self.fail(value)
        dates = []
        for i, item in enumerate(value):
            try:
                dates.append(Date().check(item))
            except Invalid as exc:  # which end, and why: not just "expected [start, end] dates"
                raise Invalid(f"item {i}: {exc}") from None
        start, end = dates
        if pd.Timestamp(start) > pd.Timestamp(end):
            raise Invalid(f"starts {start} after it ends {end}")
        return [start, end]


class Device(Str):
    def __init__(self):
        super().__init__(pattern=r"auto|cpu|cuda(:\d+)?", described="auto, cpu or cuda[:N]")


class DataPath(Type):
    """A data source: ``demo``, a source name, or a path (relative paths: to the working directory)."""

    expected = "a data source name or path"

    def check(self, value: Any) -> Any:
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            raise self.fail(value)
        return resolve_data_path(str(value))


def resolve_data_path(source: str) -> str:
    """The shared rule for relative data paths: an existing path relative to the working directory
    becomes absolute; anything else (``demo``, a source name, a missing path) is kept as written."""
    if source == "demo":
        return source
    path = Path(source).expanduser()
    if not path.is_absolute() and path.exists():
        return str(path.resolve())
    return str(path) if path.is_absolute() else source


def plain_values(value: Any) -> Any:
    """Dates as ISO text, tuples as lists: a config holds only YAML/JSON/checkpoint-safe values."""
    if isinstance(value, dict):
        return {k: plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_values(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return _iso(value)
    return value
