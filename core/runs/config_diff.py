"""Differences between two run configs, as dotted keys (``regions.region1.lat``), for "compare two runs"."""

from __future__ import annotations

from typing import Any, Mapping

IGNORED = ("name",)
"""Keys that differ between any two runs and say nothing about what was trained."""


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": value}`` of a nested mapping; keys starting with ``_`` (internal bookkeeping such as
    ``_config_dir``) are left out; lists stay whole values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if str(key).startswith("_"):
            continue
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without internal keys (those starting with ``_``), at every level."""
    return {k: public_config(v) if isinstance(v, Mapping) else v for k, v in config.items() if not str(k).startswith("_")}


def public_config_text(config: Mapping[str, Any]) -> str:
    """:func:`public_config` as YAML text in the key order of the config, for display."""
    import yaml

    return yaml.safe_dump(public_config(config), sort_keys=False)


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any], ignore: tuple[str, ...] = IGNORED
                       ) -> list[tuple[str, Any, Any]]:
    """``[(dotted key, value in a, value in b)]`` for every setting that differs, sorted by key; a
    setting missing on one side shows as None there. Empty when the runs were set up alike."""
    fa, fb = flatten(a), flatten(b)
    keys = sorted((set(fa) | set(fb)) - set(ignore))
    return [(k, fa.get(k), fb.get(k)) for k in keys if fa.get(k) != fb.get(k)]


def settings_table(configs: Mapping[str, Mapping[str, Any]], ignore: tuple[str, ...] = IGNORED) -> list[dict[str, Any]]:
    """The settings that differ among several runs: one row ``{"setting": dotted key, <run>: value, ...}``
    per key whose value is not the same in every run (a key missing from a run shows None there),
    sorted by key; empty when all runs were set up alike. Values are shown as text (lists whole)."""
    flat = {run: flatten(config) for run, config in configs.items()}
    keys = sorted(set().union(*(f.keys() for f in flat.values())) - set(ignore)) if flat else []
    rows = []
    for key in keys:
        values = [f.get(key) for f in flat.values()]
        if any(v != values[0] for v in values[1:]):
            rows.append({"setting": key, **{run: None if v is None else str(v) for run, v in zip(flat, values)}})
    return rows
