"""Gradients of the reference XAJ: gradcheck in float64 and finiteness everywhere inside the ranges."""

from __future__ import annotations

import itertools

import pytest
import torch

from core.hydro.params import PARAM_INDEX, XAJ_PARAMS, ParamRanges
from core.hydro.xaj import simulate

pytestmark = pytest.mark.slow

RANGES = ParamRanges()


def _mixed_forcing(steps, basins, dtype, seed):
    """Rain on a third of the days, some 300 mm storms, a dry stretch and varying PET, mm per step."""
    g = torch.Generator().manual_seed(seed)
    wet = torch.rand(steps, basins, generator=g, dtype=dtype) < 0.35
    amount = -8.0 * torch.log(torch.rand(steps, basins, generator=g, dtype=dtype).clamp_min(1e-12))
    prcp = torch.where(wet, amount, torch.zeros_like(amount))
    prcp[steps // 4: steps // 2] = 0.0  # dry spell
    prcp[steps // 2, ::3] = 300.0
    prcp[steps // 2 + 1, ::5] = 300.0
    pet = 0.5 + 6.0 * torch.rand(steps, basins, generator=g, dtype=dtype)
    return torch.stack([prcp, pet], dim=-1)


def _loss(q, et):
    # weights make every output step matter differently, like a real loss would
    w = torch.linspace(0.5, 1.5, q.shape[0], dtype=q.dtype).unsqueeze(1)
    return (w * q).sum() + (w * et).sum() + (q ** 2).mean()


def test_gradcheck_float64_short_series():
    forcing = _mixed_forcing(20, 2, torch.float64, seed=5)
    forcing[:, :, 0] = torch.tensor([[0.0, 4.0], [12.0, 0.0], [30.0, 2.0], [0.0, 0.0]] * 5, dtype=torch.float64)
    # interior parameters, away from the kinks of min/max so finite differences are meaningful
    p01 = torch.tensor([[0.3, 0.6, 0.5, 0.4, 0.5, 0.5, 0.5, 0.3, 0.5, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5],
                        [0.7, 0.3, 0.2, 0.7, 0.2, 0.8, 0.3, 0.6, 0.2, 0.5, 0.2, 0.3, 0.7, 0.3, 0.8]],
                       dtype=torch.float64)
    params = RANGES.denormalise(p01).requires_grad_(True)

    def run(x):
        q, et = simulate(forcing, x, uh_length=5, backend="reference")
        return q, et

    assert torch.autograd.gradcheck(run, (params,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_gradients_for_10000_random_parameter_sets(dtype):
    g = torch.Generator().manual_seed(11)
    basins = 10_000
    params = RANGES.denormalise(torch.rand(basins, 15, generator=g, dtype=dtype)).requires_grad_(True)
    forcing = _mixed_forcing(60, basins, dtype, seed=12)
    q, et = simulate(forcing, params, warmup=5, backend="reference")
    assert torch.isfinite(q).all() and torch.isfinite(et).all()
    _loss(q, et).backward()
    bad = ~torch.isfinite(params.grad).all(dim=1)
    assert not bad.any(), f"non-finite gradient for basins {torch.nonzero(bad)[:5].flatten().tolist()}"
    assert (params.grad.abs().sum(0) > 0).all(), "every parameter should influence the loss"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_gradients_at_all_corners_of_the_ranges(dtype):
    corners = torch.tensor(list(itertools.product([0.0, 1.0], repeat=15)), dtype=dtype)
    params = RANGES.denormalise(corners).requires_grad_(True)  # 32768 basins: UM = 0, KI + KG = 1.4, ...
    forcing = _mixed_forcing(40, corners.shape[0], dtype, seed=13)
    q, et = simulate(forcing, params, backend="reference")
    _loss(q, et).backward()
    assert torch.isfinite(q).all()
    bad = ~torch.isfinite(params.grad).all(dim=1)
    assert not bad.any(), f"non-finite gradient at corners {corners[bad][:3].tolist()}"


EDGE_CASES = {
    "UM = 0": {"UM": 0.0},
    "KI + KG = 1 exactly": {"KI": 0.5, "KG": 0.5},
    "KI + KG just below 1": {"KI": 0.6, "KG": 0.4 - 1e-7},
    "KI + KG = 1.4": {"KI": 0.7, "KG": 0.7},
    "CG = 0.998": {"CG": 0.998},
    "CG = 0.99999": {"CG": 0.99999},
    "C = 0, A = THETA = 0": {"C": 0.0, "A": 0.0, "THETA": 0.0},
    "SM = 1 (tiny free water)": {"SM": 1.0, "EX": 1.5},
    "KI = KG = 0": {"KI": 0.0, "KG": 0.0},
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_finite_gradients_at_edges_and_extreme_forcing(case, dtype):
    steps = 200
    forcings = {
        "zero rain": torch.zeros(steps),
        "long dry spell then storms": torch.cat([torch.zeros(steps - 10), torch.full((10,), 300.0)]),
        "300 mm every day": torch.full((steps,), 300.0),
        "drizzle": torch.full((steps,), 0.01),
    }
    prcp = torch.stack(list(forcings.values()), dim=1).to(dtype)
    forcing = torch.stack([prcp, torch.full_like(prcp, 5.0)], dim=-1)
    mid = RANGES.denormalise(torch.full((15,), 0.5, dtype=dtype))
    for name, value in EDGE_CASES[case].items():
        mid[PARAM_INDEX[name]] = value
    params = mid.expand(len(forcings), 15).clone().requires_grad_(True)
    q, et = simulate(forcing, params, warmup=30, backend="reference")
    assert torch.isfinite(q).all() and torch.isfinite(et).all()
    _loss(q, et).backward()
    for b, label in enumerate(forcings):
        grad = dict(zip(XAJ_PARAMS, params.grad[b].tolist()))
        assert all(torch.isfinite(params.grad[b])), f"{case}, {label}: {grad}"
