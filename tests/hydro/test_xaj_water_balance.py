"""Water balance of the reference XAJ over 10 years in float64, on real CAMELS-US forcing and on
synthetic extremes. Storage terms (basin-average mm):

    tension water  (1 - IM)(WU + WL + WD)   (tension and free water live on the pervious area)
    free water     (1 - IM) FR S
    reservoirs     CI/(1 - CI) QI + CG/(1 - CG) QG
    routing        UH (surface inflow not yet released by the unit hydrograph)

and ``sum P - sum E - sum Q = storage change`` with no other term: the impervious fraction evaporates
``min(P, EP)`` and runs off ``IM PE`` (issue 12, item 6). Streamflow is the same as in the former
formulation (its "impervious gain" was bookkeeping: storages counted over the whole basin).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from core.hydro.params import PARAM_INDEX, ParamRanges
from core.hydro.unit_hydrograph import gamma_unit_hydrograph
from core.hydro.xaj import simulate, unpack_params, water_balance

pytestmark = pytest.mark.slow

TEN_YEARS = 3653
RANGES = ParamRanges()


def _hargreaves_pet(frame: pd.DataFrame, lat_deg: float) -> np.ndarray:
    """Hargreaves-Samani PET (mm/day) from tmin/tmax and FAO-56 extraterrestrial radiation."""
    doy = pd.to_datetime(frame["date"]).dt.dayofyear.to_numpy()
    lat = math.radians(lat_deg)
    dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365)
    decl = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(lat) * np.tan(decl), -1, 1))
    ra = 24 * 60 / np.pi * 0.0820 * dr * (ws * np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.sin(ws))
    tmin, tmax = frame["tmin_c"].to_numpy(), frame["tmax_c"].to_numpy()
    pet = 0.0023 * 0.408 * ra * ((tmin + tmax) / 2 + 17.8) * np.sqrt(np.clip(tmax - tmin, 0, None))
    return np.clip(pet, 0, None)


@pytest.fixture(scope="module")
def camels_forcing(shared_data) -> torch.Tensor:
    folder = shared_data / "camels_us_daily"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    meta = pd.read_csv(folder / "basins.csv", dtype={"gauge_id": str}).set_index("gauge_id")
    columns = []
    for basin in meta.index[:4]:
        frame = pd.read_csv(folder / f"{basin}.csv").iloc[:TEN_YEARS]
        assert len(frame) == TEN_YEARS, f"{basin}.csv shorter than 10 years"
        columns.append(np.stack([frame["prcp_mm"].to_numpy(), _hargreaves_pet(frame, meta.loc[basin, "lat"])], -1))
    return torch.tensor(np.stack(columns, axis=1), dtype=torch.float64)


def _budget(forcing, params, warmup=0):
    q, et, states = simulate(forcing, params, warmup=warmup, return_states=True, backend="reference")
    return water_balance(forcing, params, q, et, states, warmup=warmup), states


def _params(basins, seed, impervious=None):
    g = torch.Generator().manual_seed(seed)
    params = RANGES.denormalise(torch.rand(basins, 15, generator=g, dtype=torch.float64))
    if impervious is not None:
        params[:, PARAM_INDEX["IM"]] = impervious
    return params


def test_balance_closes_to_1e6_of_rain_with_impervious_area_and_no_extra_term(camels_forcing):
    basins = camels_forcing.shape[1]
    params = _params(basins, seed=2, impervious=0.1)  # the largest IM of both presets
    for warmup, routing, equilibrium in ((0, False, False), (365, False, False), (365, True, False), (365, True, True)):
        q, et, states = simulate(camels_forcing, params, warmup=warmup, return_states=True, backend="reference",
                                 warmup_routing=routing, reservoir_equilibrium=equilibrium)
        budget = water_balance(camels_forcing, params, q, et, states, warmup=warmup)
        assert "impervious_gain" not in budget
        flux = budget["inflow"] - budget["evaporation"] - budget["streamflow"]
        change = budget["storage_end"] - budget["storage_start"]
        assert ((flux - change).abs() < 1e-6 * budget["inflow"]).all(), (flux - change) / budget["inflow"]
        # the residual is exactly the documented caps (tension-water and free-water clips), nothing else
        clips = budget["tension_clip"] + budget["free_water_clip"]
        assert torch.allclose(flux - change, clips, rtol=0, atol=1e-12 * budget["inflow"].min().item())
        assert (budget["streamflow"] > 0.05 * budget["inflow"]).all()  # a non-trivial run
    # storages computed independently from the returned states
    p = unpack_params(params)
    free = (1 - p.IM) * states["FR"][-1] * states["S"][-1]
    reservoirs = p.CI / (1 - p.CI) * states["QI"][-1] + p.CG / (1 - p.CG) * states["QG"][-1]
    tension = (1 - p.IM) * (states["WU"][-1] + states["WL"][-1] + states["WD"][-1])
    assert torch.allclose(budget["storage_end"], tension + free + reservoirs + states["UH"][-1])
    assert (states["UH0"] > 0).all()  # the routing started with the warmup's inflow


def test_impervious_area_evaporates_min_p_ep_and_runs_off_im_pe(camels_forcing):
    """Why no "impervious gain" is needed: PE = max(P - EP, 0) identically, so RIM = IM PE is exactly
    what an impervious surface that evaporates min(P, EP) sheds; the pervious E recovered from the
    basin E lies between 0 and EP."""
    basins = camels_forcing.shape[1]
    params = _params(basins, seed=5, impervious=0.1)
    q, et, states = simulate(camels_forcing, params, return_states=True, backend="reference")
    p = unpack_params(params)
    prcp = camels_forcing[:, :, 0]
    ep = p.K * camels_forcing[:, :, 1]
    e_imp = torch.minimum(prcp, ep)
    assert torch.allclose(states["PE"], torch.clamp(prcp - ep, min=0.0), atol=1e-12)  # PE = max(P - EP, 0)
    assert torch.allclose(states["RIM"], p.IM * states["PE"])
    assert torch.isfinite(q).all() and (et <= ep + 1e-12).all()
    e_perv = (et - p.IM * e_imp) / (1 - p.IM)
    assert (e_perv >= -1e-12).all() and (e_perv <= ep + 1e-12).all()


def test_unit_hydrograph_pipeline_holds_the_last_storm(camels_forcing):
    params = _params(camels_forcing.shape[1], seed=3)
    params[:, PARAM_INDEX["THETA"]] = 6.5  # slow routing: much water still in the pipeline at the end
    forcing = camels_forcing.clone()
    forcing[-3, :, 0] = 150.0
    _, states = _budget(forcing, params)
    p = unpack_params(params)
    inflow = states["RIM"] + states["RS"] * (1 - p.IM)
    w = gamma_unit_hydrograph(p.A, p.THETA, 15)
    by_hand = sum(inflow[-1 - j] * (1 - w[:, : j + 1].sum(-1)) for j in range(15))
    assert torch.allclose(states["UH"][-1], by_hand)
    assert (states["UH"][-1] > 10).all()


def test_balance_on_synthetic_extremes():
    """Droughts, 300 mm storms and basins without any rain, parameters near the corners of the ranges.

    The caps of the equations show up here and only here: routing and reservoirs stay exact, the
    residual is exactly the tension and free-water clips, which stay below 1e-3 of the inflow where it
    rains; where it never rains the budget closes on storages alone.
    """
    steps, basins = TEN_YEARS, 48
    g = torch.Generator().manual_seed(4)
    day = torch.arange(steps, dtype=torch.float64).unsqueeze(1)
    wet = torch.rand(steps, basins, generator=g, dtype=torch.float64) < 0.3
    amount = -10.0 * torch.log(torch.rand(steps, basins, generator=g, dtype=torch.float64).clamp_min(1e-12))
    prcp = torch.where(wet, amount, torch.zeros_like(amount))
    prcp[400:700, ::2] = 0.0  # 300-day drought in half of the basins
    prcp[705:708, ::3] = 300.0  # followed by 300 mm/day storms
    prcp[:, -4:] = 0.0  # four basins never get rain
    pet = (3.0 + 2.5 * torch.sin(2 * math.pi * day / 365.25)).expand(steps, basins)
    forcing = torch.stack([prcp, pet], dim=-1)
    corners = torch.tensor([[0.0, 1.0][(b >> i) & 1] for b in range(basins) for i in range(15)],
                           dtype=torch.float64).reshape(basins, 15)
    params = RANGES.denormalise(0.5 * corners + 0.5 * torch.rand(basins, 15, generator=g, dtype=torch.float64))
    budget, states = _budget(forcing, params)
    clips = budget["tension_clip"] + budget["free_water_clip"]
    assert torch.allclose(budget["residual"], clips, rtol=0, atol=1e-8 * budget["storage_start"].min().item())
    rainy = slice(0, basins - 4)
    assert (budget["residual"][rainy].abs() < 2e-3 * budget["inflow"][rainy]).all()
    assert (budget["tension_clip"][rainy].abs() < 1e-6 * budget["inflow"][rainy]).all()
    # never-rain basins: once the tension water is empty, nothing evaporates any more (the deep layer's
    # evaporation is capped by the deep store) and the budget closes on storages alone
    dry = slice(basins - 4, basins)
    empty = (states["WU"] + states["WL"] + states["WD"])[-1, dry]
    assert torch.all(empty == 0)
    assert torch.all(states["E"][-1, dry] == 0)
    assert (budget["residual"][dry].abs() < 1e-9 * budget["storage_start"][dry]).all()
