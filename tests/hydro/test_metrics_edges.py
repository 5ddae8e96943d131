"""Edges of core.metrics that decide between a number and NaN, thresholds hit exactly, and the paired
bootstrap by hand (cases the mutation check of ``bench/mutation.py`` found untested)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import metrics as M
from core.hydro.windows import WindowSpec, window_starts


def test_two_valid_pairs_are_enough_for_nse_and_kge():
    assert M.nse([1.0, 3.0], [1.0, 2.0]) == pytest.approx(1 - 1 / 0.5)
    k = M.kge([1.0, 3.0], [1.0, 2.0])
    assert math.isfinite(k["kge"]) and k["r"] == pytest.approx(1.0) and k["alpha"] == pytest.approx(2.0)
    assert math.isnan(M.nse([1.0], [1.0]))


def test_kge_is_nan_for_a_constant_or_zero_mean_observation():
    assert math.isnan(M.kge([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])["kge"])  # std 0
    assert math.isnan(M.kge([1.0, 2.0, 3.0], [-1.0, 0.0, 1.0])["kge"])  # mean 0
    assert math.isnan(M.kge([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])["r"])  # constant simulation: no correlation


def test_pbias_by_hand_and_nan_without_flow():
    assert M.pbias([2.0, 4.0, 6.0], [1.0, 4.0, 5.0]) == pytest.approx(20.0)
    assert M.pbias([1.0, 2.0, 1.0], [2.0, 2.0, 2.0]) == pytest.approx(-100 * 2 / 6)
    assert math.isnan(M.pbias([1.0, 2.0], [0.0, 0.0]))
    assert math.isnan(M.pbias([np.nan], [1.0]))


def test_peak_error_counts_steps_at_the_quantile():
    obs = np.array([1.0] * 50 + [5.0] * 50)  # the 0.98 quantile is 5 itself: all 50 peaks count
    assert M.peak_error(1.1 * obs, obs) == pytest.approx(10.0)
    assert M.peak_error(obs - (obs == 5) * 1.0, obs) == pytest.approx(-20.0)


def test_no_pairs_at_all_give_nan_scores_not_an_error():
    counts = {"hits": 0, "misses": 0, "false_alarms": 0, "correct_negatives": 0}
    scores = M.scores_from_counts(counts)
    assert all(math.isnan(v) for v in scores.values())
    # only correct negatives: CSI undefined, ETS undefined (no event anywhere)
    only_negatives = M.scores_from_counts({**counts, "correct_negatives": 10})
    assert math.isnan(only_negatives["csi"]) and math.isnan(only_negatives["ets"])


def test_fss_counts_values_equal_to_the_threshold_and_ignores_unpaired_pixels():
    obs = np.zeros((1, 5, 5))
    obs[0, 2, 2] = 5.0  # exactly the threshold: an event
    assert M.fss(obs.copy(), obs, 5.0, 1) == 1.0
    pred = np.zeros((1, 5, 5))
    pred[0, 2, 3] = 5.0
    assert M.fss(pred, obs, 5.0, 1) == 0.0  # two events, one pixel apart, scale 1: no overlap
    assert M.fss(pred, obs, 5.0, 3) > 0.5
    # an observed event where the forecast is missing counts in neither field
    gap = obs.copy()
    gap[0, 0, 0] = 9.0
    pred_gap = obs.copy()
    pred_gap[0, 0, 0] = np.nan
    assert M.fss(pred_gap, gap, 5.0, 1) == 1.0


def _bootstrap_by_hand(stat, a, b, n_boot, seed, level):
    rng = np.random.default_rng(seed)
    n = a.shape[0]
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        diffs.append(stat(b[idx]) - stat(a[idx]))
    diffs = np.array(diffs)
    diffs = diffs[np.isfinite(diffs)]
    tail = (1 - level) / 2
    return np.quantile(diffs, [tail, 1 - tail])


def test_paired_bootstrap_interval_by_hand():
    rng = np.random.default_rng(3)
    obs = rng.gamma(1.0, 3.0, 30)
    a = np.stack([obs + rng.normal(0, 1, 30), obs], axis=1)
    b = np.stack([obs + rng.normal(0, 0.3, 30), obs], axis=1)
    stat = lambda c: M.rmse(c[:, 0], c[:, 1])  # noqa: E731
    out = M.paired_bootstrap_ci(stat, a, b, n_boot=300, seed=7, level=0.9)
    low, high = _bootstrap_by_hand(stat, a, b, 300, 7, 0.9)
    assert out["low"] == pytest.approx(low) and out["high"] == pytest.approx(high)
    assert out["diff"] == pytest.approx(stat(b) - stat(a)) and out["level"] == 0.9 and out["n_boot"] == 300
    # identical systems: every paired resample differs by exactly 0
    same = M.paired_bootstrap_ci(stat, a, a.copy(), n_boot=100, seed=1)
    assert same["low"] == 0.0 and same["high"] == 0.0


def test_paired_bootstrap_skips_undefined_resamples():
    obs = np.zeros(12)
    obs[0] = 10.0  # one event: most resamples miss it and CSI is NaN there
    a = np.stack([np.zeros(12), obs], axis=1)
    b = np.stack([obs, obs], axis=1)
    stat = lambda c: M.csi(c[:, 0], c[:, 1], 5.0)  # noqa: E731
    out = M.paired_bootstrap_ci(stat, a, b, n_boot=200, seed=0)
    assert out["low"] == 1.0 and out["high"] == 1.0 and out["diff"] == 1.0


def test_window_spec_allows_zero_warmup_and_rho():
    spec = WindowSpec(warmup=0, rho=0, horizon=1)
    assert spec.length == 1 and list(window_starts(3, spec)) == [0, 1, 2]
    with pytest.raises(ValueError, match="warmup"):
        WindowSpec(warmup=-1, rho=3)


def test_a_series_just_long_enough_holds_exactly_one_window():
    spec = WindowSpec(warmup=5, rho=3, horizon=1)
    assert list(window_starts(9, spec)) == [5]  # forcing 0..8, targets 5..8
    assert window_starts(8, spec).size == 0
    with pytest.raises(ValueError, match="target part would be empty"):
        WindowSpec(warmup=5, rho=0, horizon=0)
