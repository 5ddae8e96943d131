"""Verification scores for streamflow series and rain fields.

All functions take numpy arrays (or anything ``np.asarray`` accepts) of equal shape. Pairs where the
observation (and, for hydrology, the simulation) is NaN are left out, never filled. A score that is
undefined for the data given (no valid pairs, zero observed variance, no events) is NaN.

Hydrology: ``nse``, ``kge``, ``rmse``, ``mae``, ``pbias``, ``peak_error``, ``hydro_scores``.
Categorical (an event is ``value >= threshold``): ``contingency``, ``scores_from_counts``, ``csi``,
``pod``, ``far``, ``frequency_bias``, ``ets``; spatial: ``fss``; uncertainty: ``paired_bootstrap_ci`` and, from
per-case contingency counts (``case_counts``), ``paired_bootstrap_csi``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.ndimage import uniform_filter


def _valid_pairs(sim: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sim = np.asarray(sim, dtype=np.float64)
    obs = np.asarray(obs, dtype=np.float64)
    if sim.shape != obs.shape:
        raise ValueError(f"simulated shape {sim.shape} differs from observed shape {obs.shape}")
    keep = np.isfinite(sim) & np.isfinite(obs)
    return sim[keep], obs[keep]


# --- hydrology ----------------------------------------------------------------------------------


def nse(sim: np.ndarray, obs: np.ndarray) -> float:
    """Nash-Sutcliffe efficiency, 1 - sum((sim - obs)^2) / sum((obs - mean(obs))^2). 1 is perfect."""
    s, o = _valid_pairs(sim, obs)
    if o.size < 2:
        return float("nan")
    denom = np.sum((o - o.mean()) ** 2)
    if denom == 0:
        return float("nan")
    return float(1.0 - np.sum((s - o) ** 2) / denom)


def kge(sim: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """Kling-Gupta efficiency (Gupta et al. 2009) and its components.

    Returns ``{"kge", "r", "alpha", "beta"}`` with r the Pearson correlation, alpha = std(sim)/std(obs)
    and beta = mean(sim)/mean(obs); KGE = 1 - sqrt((r-1)^2 + (alpha-1)^2 + (beta-1)^2).
    """
    s, o = _valid_pairs(sim, obs)
    nan = {"kge": float("nan"), "r": float("nan"), "alpha": float("nan"), "beta": float("nan")}
    if o.size < 2 or o.std() == 0 or o.mean() == 0:
        return nan
    r = float(np.corrcoef(s, o)[0, 1]) if s.std() > 0 else float("nan")
    alpha = float(s.std() / o.std())
    beta = float(s.mean() / o.mean())
    value = float(1.0 - np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2))
    return {"kge": value, "r": r, "alpha": alpha, "beta": beta}


def rmse(sim: np.ndarray, obs: np.ndarray) -> float:
    """Root mean square error, in the units of the inputs."""
    s, o = _valid_pairs(sim, obs)
    return float(np.sqrt(np.mean((s - o) ** 2))) if o.size else float("nan")


def mae(sim: np.ndarray, obs: np.ndarray) -> float:
    """Mean absolute error, in the units of the inputs."""
    s, o = _valid_pairs(sim, obs)
    return float(np.mean(np.abs(s - o))) if o.size else float("nan")


def pbias(sim: np.ndarray, obs: np.ndarray) -> float:
    """Percent bias, 100 * sum(sim - obs) / sum(obs); positive means the simulation is too wet."""
    s, o = _valid_pairs(sim, obs)
    total = o.sum()
    if o.size == 0 or total == 0:
        return float("nan")
    return float(100.0 * (s.sum() - total) / total)


def peak_error(sim: np.ndarray, obs: np.ndarray, quantile: float = 0.98) -> float:
    """Percent error of the mean of peak flows: observed steps at or above the ``quantile`` of obs.

    100 * (mean(sim[peaks]) - mean(obs[peaks])) / mean(obs[peaks]); negative means peaks too low.
    """
    s, o = _valid_pairs(sim, obs)
    if o.size == 0:
        return float("nan")
    peaks = o >= np.quantile(o, quantile)
    obs_peak = o[peaks].mean()
    if obs_peak == 0:
        return float("nan")
    return float(100.0 * (s[peaks].mean() - obs_peak) / obs_peak)


def hydro_scores(sim: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """All streamflow scores of one basin: nse, kge, kge_r, kge_alpha, kge_beta, rmse, pbias, peak_error."""
    k = kge(sim, obs)
    return {
        "nse": nse(sim, obs),
        "kge": k["kge"],
        "kge_r": k["r"],
        "kge_alpha": k["alpha"],
        "kge_beta": k["beta"],
        "rmse": rmse(sim, obs),
        "pbias": pbias(sim, obs),
        "peak_error": peak_error(sim, obs),
    }


# --- categorical ---------------------------------------------------------------------------------


def contingency(pred: np.ndarray, obs: np.ndarray, threshold: float) -> dict[str, int]:
    """2x2 contingency counts for the event ``value >= threshold`` over all pairs where both are finite."""
    p, o = _valid_pairs(pred, obs)
    pe = p >= threshold
    oe = o >= threshold
    return {
        "hits": int(np.sum(pe & oe)),
        "misses": int(np.sum(~pe & oe)),
        "false_alarms": int(np.sum(pe & ~oe)),
        "correct_negatives": int(np.sum(~pe & ~oe)),
    }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def scores_from_counts(counts: dict[str, int]) -> dict[str, float]:
    """CSI, POD, FAR, frequency bias and ETS from contingency counts (NaN where a denominator is 0).

    CSI = H/(H+M+F); POD = H/(H+M); FAR = F/(H+F); bias = (H+F)/(H+M);
    ETS = (H - Hr)/(H + M + F - Hr) with Hr = (H+M)(H+F)/N the hits expected by chance.
    """
    h, m, f = counts["hits"], counts["misses"], counts["false_alarms"]
    n = h + m + f + counts["correct_negatives"]
    hits_random = (h + m) * (h + f) / n if n > 0 else float("nan")
    return {
        "csi": _ratio(h, h + m + f),
        "pod": _ratio(h, h + m),
        "far": _ratio(f, h + f),
        "bias": _ratio(h + f, h + m),
        "ets": _ratio(h - hits_random, h + m + f - hits_random) if n > 0 else float("nan"),
    }


def csi(pred: np.ndarray, obs: np.ndarray, threshold: float) -> float:
    """Critical success index (threat score); NaN when hits + misses + false alarms = 0."""
    return scores_from_counts(contingency(pred, obs, threshold))["csi"]


def pod(pred: np.ndarray, obs: np.ndarray, threshold: float) -> float:
    """Probability of detection; NaN when no event was observed."""
    return scores_from_counts(contingency(pred, obs, threshold))["pod"]


def far(pred: np.ndarray, obs: np.ndarray, threshold: float) -> float:
    """False alarm ratio; NaN when no event was predicted."""
    return scores_from_counts(contingency(pred, obs, threshold))["far"]


def frequency_bias(pred: np.ndarray, obs: np.ndarray, threshold: float) -> float:
    """Frequency bias, predicted events / observed events; NaN when no event was observed."""
    return scores_from_counts(contingency(pred, obs, threshold))["bias"]


def ets(pred: np.ndarray, obs: np.ndarray, threshold: float) -> float:
    """Equitable threat score (Gilbert skill score)."""
    return scores_from_counts(contingency(pred, obs, threshold))["ets"]


def fss(pred: np.ndarray, obs: np.ndarray, threshold: float, scale: int) -> float:
    """Fractions skill score (Roberts and Lean 2008) of fields ``[..., y, x]`` at a square window of ``scale`` pixels.

    Event fractions are averaged over the window (zero outside the domain; NaN pixels count as
    no event in both fields), then FSS = 1 - mean((Fp - Fo)^2) / (mean(Fp^2) + mean(Fo^2)).
    NaN when neither field has an event.
    """
    pred = np.asarray(pred, dtype=np.float64)
    obs = np.asarray(obs, dtype=np.float64)
    if pred.shape != obs.shape:
        raise ValueError(f"predicted shape {pred.shape} differs from observed shape {obs.shape}")
    if scale < 1:
        raise ValueError(f"FSS scale must be >= 1 pixel, got {scale}")
    valid = np.isfinite(pred) & np.isfinite(obs)
    pe = ((pred >= threshold) & valid).astype(np.float64)
    oe = ((obs >= threshold) & valid).astype(np.float64)
    size = [1] * (pe.ndim - 2) + [scale, scale]
    fp = uniform_filter(pe, size=size, mode="constant")
    fo = uniform_filter(oe, size=size, mode="constant")
    reference = np.mean(fp**2) + np.mean(fo**2)
    if reference == 0:
        return float("nan")
    return float(1.0 - np.mean((fp - fo) ** 2) / reference)


# --- uncertainty ---------------------------------------------------------------------------------


def paired_bootstrap_ci(
    stat_fn: Callable[[np.ndarray], float],
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Confidence interval of ``stat_fn(b[idx]) - stat_fn(a[idx])`` by resampling cases (first axis) in pairs.

    ``a`` and ``b`` hold per-case data of two systems verified on the same cases (for example per-time
    predictions of experiment 1 and 2 stacked with the truth); ``stat_fn`` maps an array of cases to a
    score. Returns ``{"diff", "low", "high", "level", "n_boot"}``; ``diff`` uses all cases.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired bootstrap needs the same number of cases, got {a.shape[0]} and {b.shape[0]}")
    n = a.shape[0]
    if n == 0:
        raise ValueError("paired bootstrap needs at least one case")
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, n, size=n)
        diffs[i] = stat_fn(b[idx]) - stat_fn(a[idx])
    diffs = diffs[np.isfinite(diffs)]
    tail = (1.0 - level) / 2.0
    low, high = (np.quantile(diffs, [tail, 1.0 - tail]) if diffs.size else (np.nan, np.nan))
    return {
        "diff": float(stat_fn(b) - stat_fn(a)),
        "low": float(low),
        "high": float(high),
        "level": level,
        "n_boot": n_boot,
    }


def _resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, n]`` case indices drawn with replacement, in the order :func:`paired_bootstrap_ci` draws them."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, n, size=n) for _ in range(n_boot)]) if n_boot else np.zeros((0, n), dtype=np.int64)


def case_counts(pred: np.ndarray, obs: np.ndarray, threshold: float) -> np.ndarray:
    """Hits, misses and false alarms of each case (first axis) of fields ``[N, ...]``: ``[N, 3]`` integers.

    Pairs where either value is NaN are left out, as in :func:`contingency`; summing the rows of any
    set of cases gives that set's contingency counts, so CSI can be bootstrapped without the fields.
    """
    pred = np.asarray(pred, dtype=np.float64)
    obs = np.asarray(obs, dtype=np.float64)
    if pred.shape != obs.shape:
        raise ValueError(f"predicted shape {pred.shape} differs from observed shape {obs.shape}")
    valid = np.isfinite(pred) & np.isfinite(obs)
    pe = (pred >= threshold) & valid
    oe = (obs >= threshold) & valid
    axes = tuple(range(1, pred.ndim))
    return np.stack([np.sum(pe & oe, axis=axes), np.sum(~pe & oe, axis=axes), np.sum(pe & ~oe, axis=axes)],
                    axis=1).astype(np.int64)


def _csi_of_counts(counts: np.ndarray) -> np.ndarray:
    """CSI of summed counts ``[..., 3]`` (hits, misses, false alarms); NaN where all three are 0."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts[..., 0] / np.where(total > 0, total, 1.0), np.nan)


def paired_bootstrap_csi(
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap interval of CSI(b) - CSI(a) from per-case counts ``[N, 3]`` (:func:`case_counts`).

    Each resample draws ``N`` cases with replacement (the same cases for both systems), sums their
    counts and takes the CSI difference; the interval is the central ``level`` of the resampled
    differences (resamples where either CSI is undefined are dropped). The draws are those of
    :func:`paired_bootstrap_ci` with the same ``seed``, so both give the same interval for CSI.
    Returns ``{"diff", "low", "high", "level", "n_boot"}``; ``diff`` uses all cases.
    """
    a = np.asarray(counts_a, dtype=np.int64)
    b = np.asarray(counts_b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"paired bootstrap needs counts [N, 3] of the same cases, got {a.shape} and {b.shape}")
    n = a.shape[0]
    if n == 0:
        raise ValueError("paired bootstrap needs at least one case")
    idx = _resample_indices(n, int(n_boot), seed)
    diffs = _csi_of_counts(b[idx].sum(axis=1)) - _csi_of_counts(a[idx].sum(axis=1))
    diffs = diffs[np.isfinite(diffs)]
    tail = (1.0 - level) / 2.0
    low, high = (np.quantile(diffs, [tail, 1.0 - tail]) if diffs.size else (np.nan, np.nan))
    return {
        "diff": float(_csi_of_counts(b.sum(axis=0)) - _csi_of_counts(a.sum(axis=0))),
        "low": float(low),
        "high": float(high),
        "level": level,
        "n_boot": int(n_boot),
    }
