"""Reservoirs started in periodic steady state over the warmup (issue 12, item 4, equilibrium starts):
the start is the one the warmup returns to, both backends agree in float64, gradients stay finite."""

from __future__ import annotations

import torch

from core.hydro.config import load_config
from core.hydro.dpl import DPLModel
from core.hydro.params import PARAM_INDEX, ParamRanges
from core.hydro.xaj import simulate, unpack_params
from core.hydro.xaj_setup import periodic_reservoir_start

CAMELS = ParamRanges.from_preset("camels_us")
WARMUP = 365


def _forcing(steps: int, basins: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    wet = torch.rand(steps, basins, generator=g, dtype=torch.float64) < 0.35
    prcp = torch.where(wet, 20.0 * torch.rand(steps, basins, generator=g, dtype=torch.float64), torch.zeros(()))
    pet = 1.0 + 3.0 * torch.rand(steps, basins, generator=g, dtype=torch.float64)
    return torch.stack([prcp, pet], dim=-1)


def _slow_params(steps: int, basins: int, seed: int) -> torch.Tensor:
    """Per-step parameters with CG in the top of its range, where a cold start lingers longest."""
    g = torch.Generator().manual_seed(seed)
    p01 = torch.rand(steps, basins, 15, generator=g, dtype=torch.float64)
    p01[..., PARAM_INDEX["CG"]] = 0.9 + 0.1 * p01[..., PARAM_INDEX["CG"]]
    p01[..., PARAM_INDEX["KG"]] = 0.5 + 0.5 * p01[..., PARAM_INDEX["KG"]]
    return CAMELS.denormalise(p01)


def _reservoir_run(start: torch.Tensor, recession: torch.Tensor, inflow: torch.Tensor) -> torch.Tensor:
    q = start
    for c, x in zip(recession, inflow):
        q = c * q + (1.0 - c) * x
    return q


def test_reservoirs_start_where_the_warmup_returns_them():
    forcing = _forcing(WARMUP + 60, 4, seed=1)
    params = _slow_params(WARMUP + 60, 4, seed=2)
    _, _, states = simulate(forcing, params, warmup=WARMUP, return_states=True, backend="reference",
                            reservoir_equilibrium=True)
    # the warmup again, as a main period of its own, for its reservoir inflows
    _, _, warm = simulate(forcing[:WARMUP], params[:WARMUP], return_states=True, backend="reference")
    p = unpack_params(params[:WARMUP])
    pervious = 1.0 - p.IM
    for start, recession, inflow in ((states["QG0"], p.CG, warm["RG"] * pervious),
                                     (states["QI0"], p.CI, warm["RI"] * pervious)):
        assert torch.allclose(_reservoir_run(start, recession, inflow), start, rtol=1e-10, atol=1e-12)
    # a cold start (0.1 mm/day) is not such a start: with CG near 0.999 the warmup keeps much of it
    _, _, cold = simulate(forcing, params, warmup=WARMUP, return_states=True, backend="reference")
    assert (cold["QG0"] - states["QG0"]).abs().max() > 1e-3
    assert torch.equal(cold["WU0"], states["WU0"]) and torch.equal(cold["S0"], states["S0"])


def test_periodic_start_has_the_closed_form_of_a_constant_inflow():
    # constant inflow x and recession c over n steps: the periodic start is x itself, whatever the start
    recession = torch.full((200, 3), 0.995, dtype=torch.float64)
    inflow = torch.tensor([0.0, 0.7, 2.5], dtype=torch.float64)
    start = torch.tensor([0.1, 5.0, 0.0], dtype=torch.float64)
    end = _reservoir_run(start, recession, inflow.expand(200, 3))
    assert torch.allclose(periodic_reservoir_start(end, start, recession), inflow, rtol=0, atol=1e-12)


def test_equilibrium_start_fused_equals_reference_in_float64_with_gradients():
    forcing = _forcing(WARMUP + 90, 3, seed=3)
    base = _slow_params(WARMUP + 90, 3, seed=4)
    outs, grads = [], []
    for backend in ("reference", "fused"):
        params = base.clone().requires_grad_(True)
        q, et, states = simulate(forcing, params, warmup=WARMUP, return_states=True, backend=backend,
                                 warmup_routing=True, reservoir_equilibrium=True)
        (q.square().sum() + 0.3 * et.sum()).backward()
        outs.append((q.detach(), states))
        grads.append(params.grad)
    assert torch.allclose(outs[0][0], outs[1][0], rtol=0, atol=1e-12)
    for name in ("QI0", "QG0", "QG"):
        assert torch.allclose(outs[0][1][name], outs[1][1][name], rtol=0, atol=1e-12), name
    assert torch.isfinite(grads[0]).all() and torch.allclose(grads[0], grads[1], rtol=1e-8, atol=1e-10)


def test_gradients_stay_finite_at_the_bounds_with_an_equilibrium_start():
    forcing = _forcing(WARMUP + 40, 4, seed=5)
    g = torch.Generator().manual_seed(6)
    corners = (torch.rand(WARMUP + 40, 4, 15, generator=g, dtype=torch.float64) > 0.5).to(torch.float64)
    corners[..., PARAM_INDEX["CG"]] = 1.0  # CG = 0.999 throughout: the slowest reservoir of the preset
    params = CAMELS.denormalise(corners).requires_grad_(True)
    q, et = simulate(forcing, params, warmup=WARMUP, backend="fused", reservoir_equilibrium=True)
    (q.sum() + et.sum()).backward()
    assert torch.isfinite(q).all() and torch.isfinite(params.grad).all()


def test_the_config_key_reaches_the_dxaj_physics():
    base = {"data": {"train_period": ["2000-01-01", "2000-12-31"], "test_period": ["2001-01-01", "2001-12-31"]}}
    assert load_config(None, base)["xaj"]["reservoir_equilibrium"] is False  # docs/design.md, 4.6 Initial states and warmup
    assert load_config(None, {**base, "xaj": {"reservoir_equilibrium": True}})["xaj"]["reservoir_equilibrium"]
    torch.manual_seed(0)
    models = [DPLModel(n_inputs=2, ranges=CAMELS, hidden=8, dynamic_params=["CG"], reservoir_equilibrium=flag).double()
              for flag in (False, True)]
    models[1].load_state_dict(models[0].state_dict())
    forcing = _forcing(WARMUP + 30, 3, seed=7)
    z = torch.randn(WARMUP + 30, 3, 2, dtype=torch.float64)
    q_cold, q_periodic = (m(forcing, z, warmup=WARMUP)["q"] for m in models)
    assert not torch.allclose(q_cold, q_periodic)
