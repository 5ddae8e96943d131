"""Sub-daily steps (issue 12, item 7): per-step constants converted from their daily meaning.

Known daily equivalents: without rain or evaporation, free water drains by the factor
``1 - KI - KG`` per day and a reservoir recedes by ``CG`` per day; an hourly run with the converted
constants must land on the daily states at every day boundary, and its unit hydrograph must have
the same time scale in hours.
"""

from __future__ import annotations

import pytest
import torch

from core.hydro.params import PARAM_INDEX, XAJ_PARAMS
from core.hydro.unit_hydrograph import gamma_unit_hydrograph
from core.hydro.xaj import simulate
from core.hydro.xaj_setup import step_constants

DAILY = {"K": 1.0, "B": 0.3, "IM": 0.0, "UM": 20.0, "LM": 80.0, "DM": 100.0, "C": 0.1, "SM": 50.0, "EX": 1.2,
         "KI": 0.35, "KG": 0.25, "A": 1.5, "THETA": 2.0, "CI": 0.7, "CG": 0.95}


def _params(values: dict) -> torch.Tensor:
    return torch.tensor([[values[n] for n in XAJ_PARAMS]], dtype=torch.float64)


def test_daily_step_is_left_unchanged():
    p = _params(DAILY)
    assert torch.equal(step_constants(p, 24.0), p)


def test_hourly_recession_lands_on_the_daily_states_at_every_day_boundary():
    days = 10
    daily = _params(DAILY)
    hourly = step_constants(daily, 1.0)
    dry_daily = torch.zeros(days, 1, 2, dtype=torch.float64)
    dry_hourly = torch.zeros(days * 24, 1, 2, dtype=torch.float64)
    _, _, sd = simulate(dry_daily, daily, return_states=True, backend="reference")
    _, _, sh = simulate(dry_hourly, hourly, return_states=True, backend="reference")
    at_day_end = slice(23, None, 24)
    # free water: S (1 - KI - KG)^n after n days, whatever the step
    assert torch.allclose(sh["S"][at_day_end], sd["S"], rtol=1e-12, atol=0)
    # total drained volume per day (RI + RG over the runoff area) equals the daily drainage
    drained_h = (sh["RI"] + sh["RG"]).view(days, 24).sum(1)
    assert torch.allclose(drained_h, (sd["RI"] + sd["RG"])[:, 0], rtol=1e-12)
    # and the split between interflow and groundwater keeps the daily ratio KI : KG
    ri_h = sh["RI"].view(days, 24).sum(1)
    assert torch.allclose(ri_h, sd["RI"][:, 0], rtol=1e-12)


def test_hourly_reservoir_recedes_as_the_daily_one():
    no_drain = {**DAILY, "KI": 0.0, "KG": 0.0}  # no inflow: the reservoirs only recede from QI = QG = 0.1
    _, _, sd = simulate(torch.zeros(5, 1, 2, dtype=torch.float64), _params(no_drain), return_states=True,
                        backend="reference")
    _, _, sh = simulate(torch.zeros(120, 1, 2, dtype=torch.float64), step_constants(_params(no_drain), 1.0),
                        return_states=True, backend="reference")
    for name in ("QI", "QG"):
        assert torch.allclose(sh[name][23::24], sd[name], rtol=1e-12)


def test_hourly_unit_hydrograph_keeps_the_time_scale_in_hours():
    hourly = step_constants(_params(DAILY), 1.0)[0]
    assert hourly[PARAM_INDEX["THETA"]].item() + 0.5 == pytest.approx((DAILY["THETA"] + 0.5) * 24)
    w_day = gamma_unit_hydrograph(torch.tensor([DAILY["A"]], dtype=torch.float64),
                                  torch.tensor([DAILY["THETA"]], dtype=torch.float64), 15)[0]
    w_hour = gamma_unit_hydrograph(hourly[PARAM_INDEX["A"]].view(1), hourly[PARAM_INDEX["THETA"]].view(1), 15 * 24)[0]
    # hourly weights summed per day approximate the daily weights (midpoint sampling of the same gamma density)
    per_day = w_hour.view(15, 24).sum(1)
    assert torch.allclose(per_day, w_day.to(per_day.dtype), atol=0.015)
    mean_day = (torch.arange(15, dtype=torch.float64) + 0.5) @ w_day
    mean_hour = ((torch.arange(360, dtype=torch.float64) + 0.5) @ w_hour) / 24
    assert mean_hour.item() == pytest.approx(mean_day.item(), rel=0.02)


def test_step_length_must_be_positive():
    with pytest.raises(ValueError, match="step_hours"):
        step_constants(_params(DAILY), 0.0)
