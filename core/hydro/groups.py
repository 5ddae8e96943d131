"""Scores per basin group: the median of each group of basins split by a basin attribute.

A regional run mixes basins whose behaviour differs (snow-poor and snowy basins, wet and dry ones);
one median over all of them hides a group where the model fails. ``evaluate.group_by`` names a
numeric basin attribute (e.g. ``frac_snow``, the fraction of precipitation falling as snow, 0..1)
and ``evaluate.group_edges`` the values splitting it: edges ``[0.12]`` give the groups
``frac_snow < 0.12`` and ``frac_snow >= 0.12`` (the CAMELS snow-poor / snowy split of issue 31).
Basins whose attribute is missing form a group of their own, never guessed into one.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from core.hydro.model_scores import median_scores

GROUP_SCORES = ("nse", "kge", "pbias", "kge_r", "kge_alpha", "kge_beta", "rmse", "peak_error")


def group_labels(values: Mapping[str, float], attribute: str, edges: Sequence[float]) -> dict[str, str]:
    """The group label of each basin: ``"<attribute> < e0"``, ``"e0 <= <attribute> < e1"``, ...,
    ``"<attribute> >= e_last"``, or ``"<attribute> unknown"`` for a missing (NaN) value.

    ``values``: attribute value of each basin id (the attribute's own units).
    """
    edges = sorted(float(e) for e in edges)
    out: dict[str, str] = {}
    for basin, value in values.items():
        v = float(value) if value is not None else float("nan")
        if not np.isfinite(v):
            out[basin] = f"{attribute} unknown"
            continue
        k = int(np.searchsorted(edges, v, side="right"))  # number of edges <= v
        if not edges:
            out[basin] = "all basins"
        elif k == 0:
            out[basin] = f"{attribute} < {edges[0]:g}"
        elif k == len(edges):
            out[basin] = f"{attribute} >= {edges[-1]:g}"
        else:
            out[basin] = f"{edges[k - 1]:g} <= {attribute} < {edges[k]:g}"
    return out


def group_summary(per_basin: Mapping[str, Mapping[str, float]], values: Mapping[str, float],
                  attribute: str, edges: Sequence[float]) -> dict[str, Any]:
    """``{"attribute", "edges", "groups": {label: {"n_basins", "basins", "median": {score: value}}}}``.

    ``per_basin``: ``{basin: hydro_scores}`` (metrics.json ``test.per_basin``); ``values``: the
    attribute of each basin. A basin scored but without a value lands in the ``unknown`` group.
    """
    labels = group_labels({b: values.get(b, float("nan")) for b in per_basin}, attribute, edges)
    groups: dict[str, Any] = {}
    for label in sorted(set(labels.values()), key=lambda s: (s.endswith("unknown"), _lower_edge(s, edges))):
        members = [b for b in per_basin if labels[b] == label]
        median = median_scores({b: per_basin[b] for b in members}, GROUP_SCORES)
        groups[label] = {"n_basins": len(members), "basins": members, "median": median}
    return {"attribute": attribute, "edges": sorted(float(e) for e in edges), "groups": groups}


def _lower_edge(label: str, edges: Sequence[float]) -> float:
    # order groups from the lowest values up: the label's lower edge, -inf for the first group
    for e in sorted(edges, reverse=True):
        if f"{e:g} <=" in label or f">= {e:g}" in label:
            return float(e)
    return float("-inf")
