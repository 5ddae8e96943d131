"""Paired bootstrap of CSI differences (core.metrics.paired_bootstrap_csi) and the comparison of the
better experiment with the strongest baseline in a run's metrics (core.rain.evaluate.compare_with_baselines)."""

from __future__ import annotations

import numpy as np
import pytest

from core import metrics as M
from core.rain import evaluate as E


def test_interval_by_hand_on_two_cases():
    """Two cases; B hits both events of case 0 (A one of them) and both systems miss case 1.

    Any resample is (0, 0), (1, 1) or one of each. CSI(B) - CSI(A): (0, 0) 4/4 - 2/4 = 0.5;
    (1, 1) 0/4 - 0/4 = 0; mixed 2/4 - 1/4 = 0.25 (also the whole sample). Each extreme has
    probability 1/4, far above the 2.5 % tails, so the 95 % interval is exactly [0, 0.5]. Unpaired
    draws would reach B (0, 0) - A (1, 1) = 1 (probability 1/16).
    """
    a = np.array([[1, 1, 0], [0, 1, 1]])  # hits, misses, false alarms per case
    b = np.array([[2, 0, 0], [0, 2, 0]])
    ci = M.paired_bootstrap_csi(a, b, n_boot=1000, seed=3)
    assert ci["diff"] == pytest.approx(0.25)
    assert ci["low"] == pytest.approx(0.0) and ci["high"] == pytest.approx(0.5)
    assert ci["level"] == 0.95 and ci["n_boot"] == 1000


def test_interval_excludes_zero_when_one_system_is_better_on_every_case():
    rng = np.random.default_rng(1)
    a = np.stack([rng.integers(0, 5, 40), rng.integers(1, 5, 40), rng.integers(0, 5, 40)], axis=1)
    b = a + np.array([1, -1, 0])  # one miss turned into a hit in every case
    ci = M.paired_bootstrap_csi(a, b, n_boot=1000, seed=0)
    assert 0 < ci["low"] <= ci["diff"] <= ci["high"]
    swapped = M.paired_bootstrap_csi(b, a, n_boot=1000, seed=0)
    assert swapped["high"] < 0 and swapped["diff"] == pytest.approx(-ci["diff"])


def test_counts_give_the_interval_of_resampling_the_fields():
    """The same seed draws the same cases as core.metrics.paired_bootstrap_ci on the fields."""
    rng = np.random.default_rng(2)
    obs = rng.gamma(0.6, 3.0, (25, 6, 7))
    obs[0, 0, 0] = np.nan  # unobserved pixels are left out of both
    p1 = obs * rng.uniform(0.3, 1.5, obs.shape)
    p2 = np.roll(obs, 1, axis=2)
    counts = [M.case_counts(p, obs, 2.0) for p in (p1, p2)]
    assert counts[0].shape == (25, 3)
    assert counts[0].sum(axis=0).tolist() == [M.contingency(p1, obs, 2.0)[k] for k in ("hits", "misses", "false_alarms")]
    fast = M.paired_bootstrap_csi(*counts, n_boot=300, seed=7)
    slow = M.paired_bootstrap_ci(lambda c: M.csi(c[:, 0], c[:, 1], 2.0), np.stack([p1, obs], 1), np.stack([p2, obs], 1),
                                 n_boot=300, seed=7)
    for key in ("diff", "low", "high"):
        assert fast[key] == pytest.approx(slow[key])


def test_better_experiment_is_compared_with_the_strongest_baseline():
    rng = np.random.default_rng(4)
    obs = rng.gamma(0.6, 3.0, (30, 8, 8))
    forecasts = {
        "exp1": obs * 0.2,                     # too dry: misses most events
        "exp2": obs.copy(),                    # perfect
        "persistence": np.roll(obs, 1, axis=0),
        "sprog": np.where(rng.random(obs.shape) < 0.8, obs, 0.0),  # drops a fifth of the rain
    }
    out = E.compare_with_baselines(forecasts, obs, [1.0, 5.0], n_boot=200, seed=0)
    ci = out["csi"]["1.0"]
    assert ci["experiment"] == "exp2" and ci["baseline"] == "sprog"
    assert ci["diff"] == pytest.approx(1.0 - M.csi(forecasts["sprog"], obs, 1.0))
    assert ci["low"] > 0
    # without a baseline there is nothing to compare
    assert E.compare_with_baselines({"exp1": obs}, obs, [1.0], 10, 0) == {"csi": {}}
    # a threshold no system reaches (CSI undefined everywhere) is left out
    assert "1000.0" not in E.compare_with_baselines(forecasts, obs, [1000.0], 10, 0)["csi"]


def test_rain_maps_table_and_words_for_the_comparison_with_the_baselines():
    from core.viz.verification import baseline_gain_table, baseline_verdict

    ci = {"experiment": "exp2", "baseline": "anvil", "diff": 0.04, "low": 0.01, "high": 0.07, "level": 0.95,
          "n_boot": 1000}
    metrics = {"units": "mm/h", "comparison": {"best_minus_baseline": {"csi": {"1.0": ci}}},
               "comparison_leads": {"60": {"best_minus_baseline": {"csi": {"1.0": {**ci, "low": -0.02}}}}}}
    table = baseline_gain_table(metrics)
    assert table.iloc[0][["experiment", "strongest baseline", "difference", "low"]].tolist() == [
        "exp2 (+ upstream)", "ANVIL (pySTEPS)", 0.04, 0.01]
    assert baseline_gain_table(metrics, "60").iloc[0]["low"] == -0.02  # the lead's own interval
    assert "beats every reference" in baseline_verdict(metrics, None, "1.0")
    assert "not significant" in baseline_verdict(metrics, "60", "1.0")
    assert baseline_verdict(metrics, None, "5.0") == "" and baseline_gain_table({}).empty
