"""Paired per-basin comparison (core.hydro.paired), the scores reader (core.hydro.model_scores) and
scripts/paired_scores.py, against values computed by hand."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from core.hydro.model_scores import basin_groups, median_scores, model_test_blocks, per_basin_scores
from core.hydro.paired import paired_difference, seed_spread

REPO = Path(__file__).resolve().parents[2]


def _scores(**nse):
    return {b: {"nse": v} for b, v in nse.items()}


def test_all_basins_better_gives_the_exact_wilcoxon_p():
    a = _scores(b1=0.5, b2=0.6, b3=0.7, b4=0.8, b5=0.9)
    b = _scores(b1=0.4, b2=0.4, b3=0.4, b4=0.4, b5=0.4)  # differences 0.1 .. 0.5
    r = paired_difference(a, b, "nse")
    assert (r["n"], r["a_better"], r["b_better"], r["ties"]) == (5, 5, 0, 0)
    assert r["median_a"] == pytest.approx(0.7) and r["median_b"] == pytest.approx(0.4)
    assert r["median_difference"] == pytest.approx(0.3)
    # exact signed-rank test, n = 5, all ranks positive: two-sided p = 2 x (1 / 2^5)
    assert r["wilcoxon_p"] == pytest.approx(2 / 32)
    # the same from B's side: the sign of the difference flips, the test does not
    back = paired_difference(b, a, "nse")
    assert back["median_difference"] == pytest.approx(-0.3) and back["b_better"] == 5
    assert back["wilcoxon_p"] == pytest.approx(2 / 32)


def test_mixed_signs_match_the_hand_counted_signed_rank_distribution():
    # differences +1, -2, +3, +4, -5, +6 (x 0.01): W- = 2 + 5 = 7; of the 64 sign patterns of ranks
    # 1..6, 18 have a sum <= 7, so the exact two-sided p is 2 x 18 / 64
    diffs = [0.01, -0.02, 0.03, 0.04, -0.05, 0.06]
    a = _scores(**{f"b{i}": 0.5 + d for i, d in enumerate(diffs)})
    b = _scores(**{f"b{i}": 0.5 for i in range(len(diffs))})
    r = paired_difference(a, b, "nse")
    assert (r["a_better"], r["b_better"]) == (4, 2)
    assert r["median_difference"] == pytest.approx(0.02)
    assert r["wilcoxon_p"] == pytest.approx(36 / 64)


def test_only_basins_both_scored_finitely_count_and_groups_restrict():
    a = _scores(b1=0.5, b2=float("nan"), b3=0.7, b4=0.9, only_a=0.9)
    b = _scores(b1=0.4, b2=0.6, b3=0.7, b4=0.2, only_b=0.1)
    r = paired_difference(a, b, "nse")
    assert r["n"] == 3 and r["ties"] == 1 and r["a_better"] == 2  # b2 NaN, only_a / only_b unpaired
    assert r["median_a"] == pytest.approx(0.7)
    one = paired_difference(a, b, "nse", basins=["b1", "b2"])
    assert one["n"] == 1 and math.isnan(one["wilcoxon_p"])  # fewer than 2 differences: no test


def test_pbias_is_compared_by_its_distance_from_zero():
    a = {"x": {"pbias": 2.0}, "y": {"pbias": -3.0}}
    b = {"x": {"pbias": 5.0}, "y": {"pbias": -1.0}}
    r = paired_difference(a, b, "pbias")
    assert r["median_difference"] == pytest.approx((3.0 + -2.0) / 2)  # |B| - |A| = 3 and -2
    assert (r["a_better"], r["b_better"]) == (1, 1)
    with pytest.raises(ValueError, match="rmse"):
        paired_difference(a, b, "rmse")


def test_seed_spread_is_the_sample_standard_deviation():
    s = seed_spread([0.544, 0.536])
    assert s["mean"] == pytest.approx(0.540) and s["sd"] == pytest.approx(0.008 / math.sqrt(2))
    assert math.isnan(seed_spread([0.5])["sd"])


METRICS = {"model": "dpl", "test": {"median": {"nse": 0.6}, "per_basin": {"A": {"nse": 0.6}, "B": {"nse": 0.2}},
                                    "groups": {"attribute": "frac_snow", "edges": [0.12], "groups": {
                                        "frac_snow < 0.12": {"n_basins": 1, "basins": ["A"], "median": {}},
                                        "frac_snow >= 0.12": {"n_basins": 1, "basins": ["B"], "median": {}}}}},
           "lstm": {"test": {"median": {"nse": 0.4}, "per_basin": {"A": {"nse": 0.5}, "B": {"nse": 0.4}}}},
           "training": {"epochs": 3}}


def test_median_scores_leave_out_basins_without_a_finite_value():
    per_basin = {"a": {"nse": 0.1, "kge": float("nan")}, "b": {"nse": 0.5}, "c": {"nse": float("nan"), "kge": 0.3},
                 "d": {"nse": 0.9, "kge": 0.7}}
    median = median_scores(per_basin, ["nse", "kge", "pbias"])
    assert median["nse"] == pytest.approx(0.5)  # of 0.1, 0.5, 0.9
    assert median["kge"] == pytest.approx(0.5)  # of 0.3, 0.7
    assert math.isnan(median["pbias"])  # no basin has one


def test_the_reader_takes_a_runs_metrics_and_a_kfold_summary():
    assert list(model_test_blocks(METRICS)) == ["dpl", "lstm"]  # main model first, "training" is no model
    assert per_basin_scores(METRICS)["lstm"]["B"] == {"nse": 0.4}
    kfold = {"kind": "kfold_ungauged", "per_basin": {"dpl": {"A": {"nse": 0.1}}},
             "models": {"dpl": {"groups": {"frac_snow < 0.12": {"n_basins": 1, "basins": ["A"]}}}}}
    assert per_basin_scores(kfold) == {"dpl": {"A": {"nse": 0.1}}}
    assert basin_groups(METRICS, "dpl") == {"frac_snow < 0.12": ["A"], "frac_snow >= 0.12": ["B"]}
    assert basin_groups(METRICS, "lstm") == {}  # scored without groups
    assert basin_groups(kfold, "dpl") == {"frac_snow < 0.12": ["A"]}


def test_script_prints_the_paired_table_per_group_and_names_a_missing_model(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    import paired_scores

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(METRICS))
    assert paired_scores.main([f"{run}:dpl", f"{run}:lstm", "--scores", "nse"]) == 0
    out = capsys.readouterr().out
    assert "| nse | all | 2 | 0.400 | 0.450 | -0.050 | 1 | 1 |" in out  # differences +0.1 and -0.2
    assert "| nse | frac_snow >= 0.12 | 1 | 0.200 | 0.400 | -0.200 | 0 | 1 |" in out
    assert paired_scores.main(["--spread", str(run / "metrics.json"), str(run / "metrics.json"), "--scores", "nse"]) == 0
    assert "| nse | 2 | 0.400 | 0.000 | 0.400 / 0.400 |" in capsys.readouterr().out
    assert paired_scores.main([f"{run}:static_xaj", f"{run}:lstm"]) == 2
    err = capsys.readouterr().err
    assert "no model 'static_xaj'" in err and "dpl, lstm" in err
    assert paired_scores.main([str(tmp_path / "nowhere.json"), f"{run}:lstm"]) == 2
    assert "nowhere.json" in capsys.readouterr().err
