"""Per-step (dynamic) parameters and parallel components (issue 12, items 2-3): the compiled backend
equals the eager reference in float64, gradients pass gradcheck and stay finite at the bounds."""

from __future__ import annotations

import pytest
import torch

from core.hydro.dpl import DPLModel
from core.hydro.params import PARAM_INDEX, ParamRanges
from core.hydro.xaj import simulate
from core.hydro.xaj_fused import simulate_fused

CAMELS = ParamRanges.from_preset("camels_us")


def _forcing(steps: int, basins: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    wet = torch.rand(steps, basins, generator=g, dtype=torch.float64) < 0.4
    prcp = torch.where(wet, 25.0 * torch.rand(steps, basins, generator=g, dtype=torch.float64), torch.zeros(()))
    prcp[steps // 2, 0] = 250.0  # a storm that saturates everything
    pet = 1.0 + 4.0 * torch.rand(steps, basins, generator=g, dtype=torch.float64)
    return torch.stack([prcp, pet], dim=-1)


def _per_step_params(steps: int, basins: int, seed: int, corners: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p01 = torch.rand(steps, basins, 15, generator=g, dtype=torch.float64)
    if corners:  # every parameter jumps between its bounds from step to step
        p01 = (p01 > 0.5).to(torch.float64)
    return CAMELS.denormalise(p01)


def test_per_step_parameters_fused_equals_reference_in_float64():
    forcing = _forcing(400, 5, seed=1)
    params = _per_step_params(400, 5, seed=2)
    for warmup, routing in ((0, False), (60, True)):
        ref = simulate(forcing, params, warmup=warmup, return_states=True, backend="reference", warmup_routing=routing)
        fus = simulate(forcing, params, warmup=warmup, return_states=True, backend="fused", warmup_routing=routing)
        assert torch.equal(ref[0], fus[0]) and torch.equal(ref[1], fus[1])
        for name, value in ref[2].items():
            assert torch.allclose(value, fus[2][name], rtol=0, atol=1e-12), name


def test_static_parameters_equal_the_same_set_repeated_at_every_step():
    forcing = _forcing(200, 3, seed=3)
    static = _per_step_params(1, 3, seed=4)[0]
    q_static, _ = simulate(forcing, static, warmup=30, backend="fused")
    q_steps, _ = simulate(forcing, static.expand(200, -1, -1), warmup=30, backend="reference")
    assert torch.equal(q_static, q_steps)


def test_per_step_gradients_fused_equal_reference():
    forcing = _forcing(120, 3, seed=5)
    base = _per_step_params(120, 3, seed=6)
    grads = []
    for backend in ("reference", "fused"):
        params = base.clone().requires_grad_(True)
        q, et = simulate(forcing, params, warmup=20, backend=backend, warmup_routing=True)
        (q.square().sum() + 0.3 * et.sum()).backward()
        grads.append(params.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-9, atol=1e-11)
    assert grads[0][:20].abs().sum() == 0  # warmup steps get no gradient
    assert grads[0][20:].abs().sum() > 0


@pytest.mark.slow
def test_gradcheck_with_dynamic_parameters_and_several_components():
    """gradcheck of the fused path through a three-component average with per-step K, B, C."""
    steps, basins, m = 14, 2, 3
    forcing = _forcing(steps, basins, seed=7).repeat_interleave(m, dim=1)
    g = torch.Generator().manual_seed(8)
    p01 = (0.15 + 0.7 * torch.rand(steps, basins * m, 15, generator=g, dtype=torch.float64))
    dynamic = [PARAM_INDEX[n] for n in ("K", "B", "C")]
    static_cols = [i for i in range(15) if i not in dynamic]

    def averaged(dyn: torch.Tensor, stat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        full = p01.clone()
        full[:, :, dynamic] = dyn
        full[:, :, static_cols] = stat.expand(steps, -1, -1)
        q, et = simulate_fused(forcing, CAMELS.denormalise(full))  # warmup steps get no gradient by design
        return q.view(-1, basins, m).mean(-1), et.view(-1, basins, m).mean(-1)

    dyn = p01[:, :, dynamic].clone().requires_grad_(True)
    stat = p01[-1:, :, static_cols].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(averaged, (dyn, stat), eps=1e-7, atol=1e-5, rtol=1e-4)


def test_gradients_finite_at_the_bounds_with_dynamic_parameters_and_components():
    torch.manual_seed(0)
    model = DPLModel(n_inputs=3, ranges=CAMELS, hidden=8, dynamic_params=["K", "B", "UM", "CG"], n_components=4,
                     warmup_routing=True).double()
    with torch.no_grad():  # saturate the sigmoid: every parameter at (numerically) one of its bounds
        model.param_lstm.net.linear_out.weight.mul_(1e-3)
        model.param_lstm.net.linear_out.bias.copy_(torch.sign(torch.randn(60)) * 40.0)
    forcing = _forcing(90, 4, seed=9)
    forcing[:45, :, 0] = 0.0  # a long drought before storms
    z = torch.randn(90, 4, 3, dtype=torch.float64)
    out = model(forcing, z, warmup=30)
    assert out["params"].shape == (60, 4, 15)
    lower, upper = CAMELS.bounds_tensors(torch.float64)
    comp = model.component_params(z)  # [T, B, m, 15]; out["params"] holds their means
    at_bound = ((comp - lower).abs() < 1e-6) | ((comp - upper).abs() < 1e-6)
    assert at_bound.all()
    out["q"].sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_gradients_finite_when_per_step_parameters_jump_between_their_bounds():
    forcing = _forcing(150, 6, seed=10)
    forcing[:60, :, 0] = 0.0
    for backend in ("reference", "fused"):
        params = _per_step_params(150, 6, seed=11, corners=True).requires_grad_(True)
        q, et = simulate(forcing, params, warmup=10, backend=backend, warmup_routing=True)
        (q.view(-1, 2, 3).mean(-1).sum() + et.sum()).backward()  # two basins x three components
        assert torch.isfinite(params.grad).all(), backend


def test_dynamic_parameters_change_from_step_to_step_and_static_ones_do_not():
    torch.manual_seed(1)
    model = DPLModel(n_inputs=2, ranges=CAMELS, hidden=8, dynamic_params=["K", "B"], n_components=2)
    z = torch.randn(50, 3, 2)
    params = model.physical_params(z)
    assert params.shape == (50, 3, 15)
    k, um = params[..., PARAM_INDEX["K"]], params[..., PARAM_INDEX["UM"]]
    assert (k.std(0) > 0).all()
    assert torch.equal(um, um[-1:].expand_as(um))


@pytest.mark.parametrize("warmup, routing, equilibrium", [(0, False, False), (40, True, True), (40, False, False)])
def test_static_kernel_path_equals_the_per_step_path_with_constant_parameters(warmup, routing, equilibrium):
    """Static [B, 15] parameters run the kernels on [B, 1, 13] rows with the gradient summed per basin
    inside the adjoint; the same set given at every step ([T, B, 15]) runs the per-step path. Values
    agree to the bit, gradients to rounding (the two sum the per-step terms in different orders)."""
    forcing = _forcing(160, 4, seed=12)
    static = _per_step_params(1, 4, seed=13)[0]
    results = []
    for params in (static, static.expand(160, -1, -1)):
        p = params.clone().requires_grad_(True)
        q, et, states = simulate_fused(forcing, p, warmup=warmup, return_states=True, warmup_routing=routing,
                                       reservoir_equilibrium=equilibrium)
        (q.square().sum() + 0.3 * et.sum() + states["S"].sum()).backward()
        grad = p.grad if p.grad.dim() == 2 else p.grad.sum(0)
        results.append((q.detach(), et.detach(), {k: v.detach() for k, v in states.items()}, grad))
    (q_s, et_s, st_s, g_s), (q_d, et_d, st_d, g_d) = results
    assert torch.equal(q_s, q_d) and torch.equal(et_s, et_d)
    for name, value in st_s.items():
        assert torch.equal(value, st_d[name]), name
    assert g_s.abs().sum() > 0
    assert torch.allclose(g_s, g_d, rtol=1e-10, atol=1e-12)
