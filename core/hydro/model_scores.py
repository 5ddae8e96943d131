"""Each model's test scores in a hydro scores document (a run's or a prediction's ``metrics.json``, a
k-fold's ``kfold.json``), under one reading.

A run's ``metrics.json`` keeps the main model's block at the top (``model``, ``test``) and each
baseline's under its name (``lstm: {test: ...}``); ``kfold.json`` pools held-out basins as
``per_basin: {model: {basin: scores}}``. Scores per basin are ``core.hydro.evaluate.SCORE_KEYS``
(NSE, KGE, PBIAS %, ...).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np


def model_test_blocks(metrics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``{model: test block}`` of a run's or a prediction's ``metrics.json`` (main model first)."""
    blocks: dict[str, Mapping[str, Any]] = {}
    if isinstance(metrics.get("test"), Mapping):
        blocks[str(metrics.get("model", "dpl"))] = metrics["test"]
    for name, value in metrics.items():
        if name != "test" and isinstance(value, Mapping) and isinstance(value.get("test"), Mapping):
            blocks[str(name)] = value["test"]
    return blocks


def median_scores(per_basin: Mapping[str, Mapping[str, float]], keys: Iterable[str]) -> dict[str, float]:
    """``{score: median over basins}`` of ``per_basin`` (``{basin: {score: value}}``) for each of ``keys``:
    basins without a finite value are left out; NaN when no basin has one."""
    out = {}
    for key in keys:
        values = np.array([scores.get(key, np.nan) for scores in per_basin.values()], dtype=float)
        out[key] = float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")
    return out


def per_basin_scores(document: Mapping[str, Any]) -> dict[str, dict[str, Mapping[str, float]]]:
    """``{model: {basin: scores}}`` of a ``kfold.json`` or a ``metrics.json`` document."""
    if document.get("kind") == "kfold_ungauged":
        return {str(m): dict(pb) for m, pb in (document.get("per_basin") or {}).items()}
    return {m: dict(block.get("per_basin") or {}) for m, block in model_test_blocks(document).items()}


def basin_groups(document: Mapping[str, Any], model: str) -> dict[str, list[str]]:
    """``{group label: basin ids}`` of ``model`` in a ``kfold.json`` or ``metrics.json`` (``evaluate.group_by``;
    empty without groups). A run's ``test.groups`` is :func:`core.hydro.groups.group_summary`'s
    ``{attribute, edges, groups}``; a k-fold keeps the groups themselves under ``models.<model>.groups``."""
    if document.get("kind") == "kfold_ungauged":
        groups = ((document.get("models") or {}).get(model) or {}).get("groups") or {}
    else:
        groups = ((model_test_blocks(document).get(model) or {}).get("groups") or {}).get("groups") or {}
    return {str(label): list(g.get("basins") or []) for label, g in groups.items()}
