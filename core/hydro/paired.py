"""Paired comparison of two models (or two variants, two seeds) over the same basins.

The median of 25 or 150 basins moves with the basin sample and the seed by about as much as many
variants differ, so a difference is judged basin by basin: per basin the difference of the two
scores (A - B), how many basins each side wins, the median difference and the two-sided Wilcoxon
signed-rank test of the differences (scipy; exact for small samples, ties at zero dropped). Only
basins scored finitely by both sides count. Used for the README's and docs' paired statements
(docs/hydro_predict.md) through ``scripts/paired_scores.py``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
from scipy.stats import wilcoxon

# scores where a larger value is better; PBIAS (%) is compared by its distance from zero
HIGHER_IS_BETTER = ("nse", "kge", "kge_r")
CLOSER_TO_ZERO = ("pbias",)


def paired_difference(a: Mapping[str, Mapping[str, float]], b: Mapping[str, Mapping[str, float]],
                      score: str = "nse", basins: Iterable[str] | None = None) -> dict[str, Any]:
    """Compare per-basin ``score`` of A against B (``{basin: {score: value}}`` each).

    Returns ``{"score", "n", "median_a", "median_b", "median_difference", "a_better", "b_better",
    "ties", "wilcoxon_p"}``: the differences are A - B (for PBIAS: |B| - |A|, so positive still means
    A is better); ``wilcoxon_p`` is NaN when fewer than 2 basins differ. ``basins`` restricts the
    comparison (e.g. one snow group).
    """
    if score not in HIGHER_IS_BETTER + CLOSER_TO_ZERO:
        raise ValueError(f"cannot tell better from worse for score {score!r}; "
                         f"choose one of {HIGHER_IS_BETTER + CLOSER_TO_ZERO}")
    wanted = set(a) & set(b) if basins is None else set(a) & set(b) & {str(x) for x in basins}
    ids = sorted(i for i in wanted if np.isfinite(_value(a[i], score)) and np.isfinite(_value(b[i], score)))
    va = np.array([_value(a[i], score) for i in ids], dtype=float)
    vb = np.array([_value(b[i], score) for i in ids], dtype=float)
    diff = np.abs(vb) - np.abs(va) if score in CLOSER_TO_ZERO else va - vb
    nonzero = int(np.count_nonzero(diff))
    p = float(wilcoxon(diff, zero_method="wilcox").pvalue) if nonzero >= 2 else float("nan")
    nan = float("nan")
    return {
        "score": score, "n": len(ids),
        "median_a": float(np.median(va)) if ids else nan, "median_b": float(np.median(vb)) if ids else nan,
        "median_difference": float(np.median(diff)) if ids else nan,
        "a_better": int((diff > 0).sum()), "b_better": int((diff < 0).sum()), "ties": len(ids) - nonzero,
        "wilcoxon_p": p,
    }


def _value(scores: Mapping[str, float], score: str) -> float:
    value = scores.get(score)
    return float(value) if value is not None else float("nan")


def seed_spread(medians: Iterable[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof 1) of one score's median over runs differing only by seed."""
    values = np.array([float(m) for m in medians], dtype=float)
    if values.size == 0:
        raise ValueError("seed_spread needs at least one median")
    sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
    return {"n_seeds": int(values.size), "mean": float(values.mean()), "sd": sd}
