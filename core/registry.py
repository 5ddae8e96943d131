"""Named choices (models, losses, optimizers, baselines, data sources) in the style of pySTEPS'
``get_method(name)``: one mapping per kind of thing, filled where the things are defined, read by
the key tables (the allowed values of a config key) and the pages (the options of a widget).

    OPTIMIZERS = Registry("optimizer")

    @OPTIMIZERS.register("adamw")
    def adamw(params, train): ...

    OPTIMIZERS.get("adam")   # UnknownName: unknown optimizer 'adam'; choose one of: adamw, adadelta

The entries of one registry share one call signature, stated in the head of the module that owns it.
This module imports neither half, so both can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """A name that is not in a registry. A ``KeyError`` for mapping-style callers and a ``ValueError``
    for the config checks, which already report ``ValueError`` as a bad value."""

    def __init__(self, kind: str, name: object, valid: list[str]):
        self.kind, self.name, self.valid = kind, name, list(valid)
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(valid) or '(none registered)'}")

    def __str__(self) -> str:
        # KeyError's own str() would quote the whole message
        return str(self.args[0])


class Registry(Generic[T]):
    """``name -> object`` of one kind, in registration order."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None):
        """Add ``obj`` under ``name``; without ``obj``, a decorator that adds what it decorates."""
        if obj is None:
            def decorate(thing: T) -> T:
                self._add(name, thing)
                return thing

            return decorate
        self._add(name, obj)
        return obj

    def _add(self, name: str, obj: T) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} names are non-empty strings, got {name!r}")
        if name in self._items:
            # a second entry under one name would silently replace the first one's behaviour
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """The entry called ``name``; :class:`UnknownName` listing the valid names otherwise."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownName(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        """The registered names, in registration order (the first is the usual default)."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"
