"""Scores against independent known values (hand computations and published counts)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import metrics

# Known contingency table from issue 5: hits 82, false alarms 38, misses 23, correct negatives 222.
KNOWN_COUNTS = {"hits": 82, "false_alarms": 38, "misses": 23, "correct_negatives": 222}


def _fields_from_counts(counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    pred, obs = [], []
    for (p, o), key in {(1, 1): "hits", (1, 0): "false_alarms", (0, 1): "misses", (0, 0): "correct_negatives"}.items():
        pred += [10.0 * p] * counts[key]
        obs += [10.0 * o] * counts[key]
    return np.array(pred), np.array(obs)


def test_scores_from_known_counts():
    s = metrics.scores_from_counts(KNOWN_COUNTS)
    assert s["csi"] == pytest.approx(0.573426, abs=1e-6)
    assert s["pod"] == pytest.approx(0.780952, abs=1e-6)
    assert s["far"] == pytest.approx(0.316667, abs=1e-6)
    assert s["bias"] == pytest.approx(1.142857, abs=1e-6)
    assert s["ets"] == pytest.approx(0.437682, abs=1e-6)


def test_categorical_functions_count_events_at_threshold_inclusive():
    pred, obs = _fields_from_counts(KNOWN_COUNTS)
    assert metrics.contingency(pred, obs, 10.0) == KNOWN_COUNTS  # value == threshold is an event
    assert metrics.csi(pred, obs, 10.0) == pytest.approx(0.573426, abs=1e-6)
    assert metrics.pod(pred, obs, 10.0) == pytest.approx(0.780952, abs=1e-6)
    assert metrics.far(pred, obs, 10.0) == pytest.approx(0.316667, abs=1e-6)
    assert metrics.frequency_bias(pred, obs, 10.0) == pytest.approx(1.142857, abs=1e-6)
    assert metrics.ets(pred, obs, 10.0) == pytest.approx(0.437682, abs=1e-6)
    assert metrics.contingency(pred, obs, 10.0 + 1e-9)["hits"] == 0


def test_csi_is_nan_without_any_event():
    zeros = np.zeros((4, 5))
    assert math.isnan(metrics.csi(zeros, zeros, 0.1))
    assert math.isnan(metrics.pod(zeros, zeros, 0.1))
    assert math.isnan(metrics.far(zeros, zeros, 0.1))


def test_nan_observations_are_left_out_not_counted():
    pred = np.array([5.0, 5.0, 0.0, 5.0])
    obs = np.array([5.0, np.nan, 0.0, 0.0])
    assert metrics.contingency(pred, obs, 1.0) == {
        "hits": 1, "misses": 0, "false_alarms": 1, "correct_negatives": 1}


def test_nse_hand_values():
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    assert metrics.nse(obs, obs) == 1.0
    assert metrics.nse(np.full(4, obs.mean()), obs) == pytest.approx(0.0)
    # sum sq err = 0.25*4 = 1, sum sq dev = 5 -> 1 - 1/5
    assert metrics.nse(obs + 0.5, obs) == pytest.approx(0.8)
    assert metrics.nse(np.array([1.0, np.nan, 3.0, 4.0, 9.0]), np.array([1.0, 2.0, 3.0, 4.0, np.nan])) == 1.0


def test_kge_components_hand_values():
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    sim = 2.0 * obs  # r = 1, alpha = 2, beta = 2 -> KGE = 1 - sqrt(2)
    k = metrics.kge(sim, obs)
    assert k["r"] == pytest.approx(1.0)
    assert k["alpha"] == pytest.approx(2.0)
    assert k["beta"] == pytest.approx(2.0)
    assert k["kge"] == pytest.approx(1.0 - math.sqrt(2.0))


def test_kge_matches_independent_formula_on_random_series():
    rng = np.random.default_rng(3)
    obs = rng.gamma(2.0, 1.5, 500)
    sim = 0.8 * obs + rng.normal(0, 0.5, 500) + 0.2
    r = np.corrcoef(sim, obs)[0, 1]
    expected = 1 - np.sqrt((r - 1) ** 2 + (sim.std() / obs.std() - 1) ** 2 + (sim.mean() / obs.mean() - 1) ** 2)
    assert metrics.kge(sim, obs)["kge"] == pytest.approx(expected, rel=1e-12)


def test_rmse_mae_pbias_peak_error_hand_values():
    obs = np.array([1.0, 2.0, 3.0, 10.0])
    sim = np.array([2.0, 2.0, 3.0, 8.0])
    assert metrics.rmse(sim, obs) == pytest.approx(math.sqrt((1 + 0 + 0 + 4) / 4))
    assert metrics.mae(sim, obs) == pytest.approx(3 / 4)
    assert metrics.pbias(sim, obs) == pytest.approx(100 * (15 - 16) / 16)
    assert metrics.peak_error(sim, obs, quantile=0.9) == pytest.approx(-20.0)


def test_hydro_scores_all_nan_obs_gives_nan_not_error():
    scores = metrics.hydro_scores(np.ones(5), np.full(5, np.nan))
    assert all(math.isnan(v) for v in scores.values())


def test_fss_perfect_and_disjoint():
    field = np.zeros((10, 10))
    field[2:4, 2:4] = 5.0
    assert metrics.fss(field, field, 1.0, 3) == pytest.approx(1.0)
    shifted = np.roll(field, 5, axis=1)
    assert metrics.fss(shifted, field, 1.0, 1) == pytest.approx(0.0)
    # a larger window forgives displacement
    assert metrics.fss(shifted, field, 1.0, 9) > metrics.fss(shifted, field, 1.0, 3)
    assert math.isnan(metrics.fss(np.zeros((5, 5)), np.zeros((5, 5)), 1.0, 3))


def test_paired_bootstrap_ci_contains_true_difference():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=400)
    a = truth + rng.normal(0, 1.0, 400)
    b = truth + rng.normal(0, 0.5, 400)

    def neg_mse(cases: np.ndarray) -> float:
        return -float(np.mean((cases[:, 0] - cases[:, 1]) ** 2))

    ci = metrics.paired_bootstrap_ci(neg_mse, np.stack([a, truth], 1), np.stack([b, truth], 1), n_boot=300)
    assert ci["low"] <= ci["diff"] <= ci["high"]
    assert ci["low"] > 0  # b is clearly better
    with pytest.raises(ValueError, match="same number of cases"):
        metrics.paired_bootstrap_ci(neg_mse, np.zeros((3, 2)), np.zeros((4, 2)))


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        metrics.nse(np.zeros(3), np.zeros(4))
