"""The HBV snow routine (core.hydro.snow, docs/design.md 4.9): hand-computed steps, both backends
equal in float64 (values and gradients), gradcheck, finite gradients at the range bounds, and the
water budget of snow + XAJ closing to 1e-6 of P."""

from __future__ import annotations

import pytest
import torch

from core.hydro.params import ParamRanges
from core.hydro.snow import SnowParams, SnowState, simulate_snow, snow_balance, snow_step
from core.hydro.snow_params import SNOW_LOWER, SNOW_UPPER, denormalise_snow
from core.hydro.snow_xaj import simulate_snow_xaj, water_balance_with_snow

F64 = torch.float64


def _one(v: float) -> torch.Tensor:
    return torch.tensor([v], dtype=F64)


def _step(prcp, temp, pack, liquid, tt=0.0, cfmax=3.0, cfr=0.05, cwh=0.1):
    state, flux = snow_step(_one(prcp), _one(temp), SnowState(_one(pack), _one(liquid)),
                            SnowParams(_one(tt), _one(cfmax), _one(cfr), _one(cwh)))
    return float(state.SNOWPACK), float(state.LIQUID), float(flux["OUTFLOW"]), float(flux["MELT"])


def test_all_snow_below_the_partition_interval():
    # T = -5 degC, TT = 0: all 10 mm go to the pack; no melt; refreezing has no liquid to freeze
    assert _step(10.0, -5.0, 0.0, 0.0) == pytest.approx((10.0, 0.0, 0.0, 0.0))


def test_all_rain_above_the_partition_interval_passes_the_pack():
    # T = 1.5 degC > TT + 1: 8 mm rain straight to the ground; no pack, so no melt
    assert _step(8.0, 1.5, 0.0, 0.0) == pytest.approx((0.0, 0.0, 8.0, 0.0))


def test_mixed_precipitation_inside_the_interval():
    # T = 0.5, TT = 0: snow share (0 + 1 - 0.5) / 2 = 0.25 -> 1 mm snow, 3 mm rain; potential melt
    # 3 * 0.5 = 1.5 mm > the 1 mm pack -> all melts (melt-limited); liquid 1 mm held up to 0.1 * 0 -> released
    assert _step(4.0, 0.5, 0.0, 0.0) == pytest.approx((0.0, 0.0, 4.0, 1.0))


def test_energy_limited_melt():
    # pack 50 mm, T = 4 degC, CFMAX 3: melt 12 mm (energy-limited); pack 38 mm holds 3.8 mm liquid,
    # 8.2 mm released; no refreezing above TT
    assert _step(0.0, 4.0, 50.0, 0.0) == pytest.approx((38.0, 3.8, 8.2, 12.0))


def test_melt_limited_by_the_pack():
    # pack 5 mm, liquid 0.2 mm, T = 10 degC: potential 30 mm, all 5 mm melt; nothing left to hold
    # the 5.2 mm of liquid, all released
    assert _step(0.0, 10.0, 5.0, 0.2) == pytest.approx((0.0, 0.0, 5.2, 5.0))


def test_refreezing_below_the_threshold():
    # pack 20 mm, liquid 1 mm, T = -4 degC, CFMAX 3, CFR 0.05: refreeze 0.05 * 3 * 4 = 0.6 mm
    assert _step(0.0, -4.0, 20.0, 1.0) == pytest.approx((20.6, 0.4, 0.0, 0.0))


def _forcing(steps: int = 160, basins: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    wet = torch.rand(steps, basins, generator=g, dtype=F64) > 0.4
    prcp = torch.rand(steps, basins, generator=g, dtype=F64) * 12 * wet
    season = -torch.cos(torch.arange(steps, dtype=F64) * 6.2832 / steps)[:, None]  # winter in the middle
    temp = 6 * season - 2 + 2 * torch.randn(steps, basins, generator=g, dtype=F64)
    return prcp, temp


def _params(basins: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return denormalise_snow(torch.rand(basins, 4, generator=g, dtype=F64))


def _loss(series: dict[str, torch.Tensor], warmup: int, seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return sum((torch.randn(series[n][warmup:].shape, generator=g, dtype=F64) * series[n][warmup:]).sum()
               for n in ("SNOWPACK", "LIQUID", "OUTFLOW", "MELT"))


def test_fused_equals_reference_in_float64():
    prcp, temp = _forcing()
    params = _params(4).requires_grad_()
    results = {}
    for backend in ("reference", "fused"):
        series, start = simulate_snow(prcp, temp, params, warmup=30, backend=backend)
        assert float(series["SNOWPACK"].detach().max()) > 20.0  # the test exercises a real pack
        grad, = torch.autograd.grad(_loss(series, 30), params)
        results[backend] = (series, start, grad)
    ref, fused = results["reference"], results["fused"]
    for name in ref[0]:
        torch.testing.assert_close(fused[0][name], ref[0][name], rtol=0, atol=1e-12)
    torch.testing.assert_close(fused[1].SNOWPACK, ref[1].SNOWPACK, rtol=0, atol=1e-12)
    torch.testing.assert_close(fused[2], ref[2], rtol=1e-10, atol=1e-10)
    assert float(ref[2].abs().min()) > 0.0  # every parameter receives a gradient


def test_gradcheck_float64():
    prcp, temp = _forcing(steps=40, basins=2)
    params = _params(2, seed=3).requires_grad_()
    for backend in ("reference", "fused"):
        def outflow(p: torch.Tensor, backend: str = backend) -> torch.Tensor:
            series, _ = simulate_snow(prcp, temp, p, warmup=5, backend=backend)
            return torch.stack([series["OUTFLOW"][5:], series["SNOWPACK"][5:]])
        assert torch.autograd.gradcheck(outflow, (params,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("corner", ["lower", "upper"])
def test_gradients_finite_at_the_range_bounds(corner):
    prcp, temp = _forcing(basins=3)
    value = SNOW_LOWER if corner == "lower" else SNOW_UPPER
    params = torch.tensor([value] * 3, dtype=F64, requires_grad=True)
    for backend in ("reference", "fused"):
        series, _ = simulate_snow(prcp, temp, params, warmup=10, backend=backend)
        grad, = torch.autograd.grad(_loss(series, 10), params)
        assert torch.isfinite(grad).all(), f"{backend}: {grad}"


def test_snow_budget_closes():
    prcp, temp = _forcing(steps=400, basins=3)
    series, start = simulate_snow(prcp, temp, _params(3), warmup=50, backend="fused")
    budget = snow_balance(prcp, series, start, warmup=50)
    assert torch.all(budget["residual"].abs() <= 1e-9 * budget["precipitation"])
    assert float(budget["storage_start"].max()) > 0.0  # the warmup left a pack


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_snow_and_xaj_water_balance_closes(backend):
    prcp, temp = _forcing(steps=500, basins=3, seed=5)
    pet = torch.full_like(prcp, 1.5)
    forcing = torch.stack([prcp, pet, temp], dim=-1)
    params = ParamRanges().denormalise(torch.full((3, 15), 0.5, dtype=F64))
    q, et, states = simulate_snow_xaj(forcing, params, _params(3, seed=6), warmup=60, backend=backend,
                                      return_states=True)
    budget = water_balance_with_snow(forcing, params, q, et, states, warmup=60)
    inflow = budget["inflow"]
    assert float((budget["snow_storage_end"] - budget["snow_storage_start"]).abs().max()) > 1.0
    clips = budget["tension_clip"] + budget["free_water_clip"]
    assert torch.all((budget["residual"] - clips).abs() <= 1e-6 * inflow), budget
    assert torch.all(budget["residual"].abs() <= 1e-6 * inflow), budget
