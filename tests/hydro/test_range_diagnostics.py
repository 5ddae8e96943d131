"""Range diagnostics: a parameter held at a bound is flagged, one in the middle is not, shares are counted
over finite steps only, widening stops at the literature limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.hydro.params import DEFAULT_RANGES, LITERATURE_RANGES, XAJ_PARAMS
from core.hydro.range_diagnostics import (FLAG_SHARE, NEAR_BOUND, bound_shares, diagnose, diagnose_predictions,
                                          diagnosis_table, flag_message, widened_ranges)

LOWER = np.array([lo for lo, _ in DEFAULT_RANGES.values()])
UPPER = np.array([hi for _, hi in DEFAULT_RANGES.values()])


def middle_params(n_basins: int = 3, n_time: int = 100) -> np.ndarray:
    """Every parameter in the middle of its range, with a little spread."""
    rng = np.random.default_rng(0)
    pos = 0.5 + 0.2 * (rng.random((n_basins, n_time, 15)) - 0.5)
    return LOWER + pos * (UPPER - LOWER)


def test_a_parameter_at_its_upper_bound_is_flagged_and_one_in_the_middle_is_not():
    params = middle_params()
    c = XAJ_PARAMS.index("C")
    params[:, :, c] = UPPER[c]  # C held at 0.2 everywhere
    by_name = {d.name: d for d in diagnose(params, XAJ_PARAMS, LOWER, UPPER)}
    assert by_name["C"].flagged == ("upper",)
    assert by_name["C"].share_upper == pytest.approx(1.0)
    assert by_name["C"].basins_upper == 3
    for name in XAJ_PARAMS:
        if name != "C":
            assert by_name[name].flagged == (), name
            assert by_name[name].share_lower == 0.0 and by_name[name].share_upper == 0.0


def test_lower_bound_band_is_two_percent_of_the_width_and_shares_skip_missing_steps():
    params = middle_params(n_basins=2, n_time=10)
    k = XAJ_PARAMS.index("IM")
    width = UPPER[k] - LOWER[k]
    # basin 0: 3 steps just inside the band, 1 just outside; basin 1: 5 missing steps, 1 inside the band
    params[0, :3, k] = LOWER[k] + 0.9 * NEAR_BOUND * width
    params[0, 3, k] = LOWER[k] + 1.5 * NEAR_BOUND * width
    params[1, :5, k] = np.nan
    params[1, 5, k] = LOWER[k]
    share_lo, share_hi, basin_lo, _, n = bound_shares(params, LOWER, UPPER)
    assert n[k] == 15
    assert share_lo[k] == pytest.approx(4 / 15)
    assert share_hi[k] == 0.0
    assert basin_lo[0, k] == pytest.approx(0.3) and basin_lo[1, k] == pytest.approx(0.2)
    (im,) = [d for d in diagnose(params, XAJ_PARAMS, LOWER, UPPER) if d.name == "IM"]
    assert im.flagged == ("lower",)  # 27 % >= 25 %
    assert im.basins_lower == 1  # basin 1 holds it 20 % of its steps: below the threshold


def test_share_just_below_the_threshold_is_not_flagged():
    params = middle_params(n_basins=1, n_time=100)
    b = XAJ_PARAMS.index("B")
    params[0, : int(FLAG_SHARE * 100) - 1, b] = LOWER[b]
    (diag,) = [d for d in diagnose(params, XAJ_PARAMS, LOWER, UPPER) if d.name == "B"]
    assert diag.flagged == ()


def test_widening_doubles_the_range_on_the_flagged_side_up_to_the_literature_limit():
    params = middle_params()
    by_name = {d.name: d for d in diagnose(params, XAJ_PARAMS, LOWER, UPPER)}
    assert by_name["C"].widened("upper") == (0.0, pytest.approx(0.4))  # 0-0.2 -> 0-0.4
    assert by_name["K"].widened("upper") == (0.1, LITERATURE_RANGES["K"][1])  # 1.9 capped at 1.6
    assert by_name["LM"].widened("lower") == (30.0, 90.0)
    assert by_name["C"].widened("lower") is None  # 0 is already the literature limit
    ranges = widened_ranges(DEFAULT_RANGES, "C", by_name["C"].widened("upper"))
    assert ranges["C"] == [0.0, pytest.approx(0.4)] and ranges["K"] == list(DEFAULT_RANGES["K"])
    assert "0.4" in flag_message(by_name["C"], "upper")
    assert "already reaches the literature limit" in flag_message(by_name["C"], "lower")


def test_diagnosis_of_saved_predictions_and_table():
    params = middle_params(n_basins=2, n_time=30)
    params[:, :20, XAJ_PARAMS.index("THETA")] = LOWER[XAJ_PARAMS.index("THETA")]
    ds = xr.Dataset({"params": (("basin", "time", "param"), params), "param_lower": ("param", LOWER),
                     "param_upper": ("param", UPPER)},
                    coords={"basin": ["a", "b"], "time": pd.date_range("2000-01-01", periods=30),
                            "param": list(XAJ_PARAMS)})
    table = diagnosis_table(diagnose_predictions(ds))
    row = table.set_index("parameter").loc["THETA"]
    assert row["at lower bound (%)"] == pytest.approx(100 * 20 / 30)
    assert row["flag"] == "held at lower bound" and row["basins at lower"] == "2 of 2"
    assert row["literature range"] == "0 – 20"
    assert diagnose_predictions(ds.drop_vars(["params"])) == []


def test_readable_errors():
    with pytest.raises(ValueError, match=r"\[basin, time, param\]"):
        bound_shares(np.zeros((3, 15)), LOWER, UPPER)
    with pytest.raises(ValueError, match="unknown XAJ parameter"):
        diagnose(np.zeros((1, 2, 1)), ["ZZ"], [0.0], [1.0])
