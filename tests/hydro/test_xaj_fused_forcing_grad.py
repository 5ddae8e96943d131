"""The fused XAJ's adjoint for its forcing (P, and PET with it) equals the eager reference's autograd,
and snow + XAJ trains through the fused XAJ with the same gradients as the all-reference chain
(docs/design.md, 4.9 Snow routine)."""

from __future__ import annotations

import pytest
import torch

from core.hydro import xaj
from core.hydro import xaj_fused
from core.hydro.params import DEFAULT_RANGES, XAJ_PARAMS
from core.hydro.snow_params import denormalise_snow
from core.hydro.snow_xaj import simulate_snow_xaj
from core.hydro.xaj_fused import _XajRecursion, simulate_fused

F64 = torch.float64
LOWER = torch.tensor([DEFAULT_RANGES[name][0] for name in XAJ_PARAMS], dtype=F64)
UPPER = torch.tensor([DEFAULT_RANGES[name][1] for name in XAJ_PARAMS], dtype=F64)


def parameter_sets(n_random: int, seed: int) -> torch.Tensor:
    """[n_random + 4, 15]: random sets inside the ranges, then all-lower (UM = C = KI = KG = 0),
    all-upper (KI + KG >= 1, CG at its bound), KI + KG exactly 1, and a tiny free-water capacity."""
    g = torch.Generator().manual_seed(seed)
    random = LOWER + torch.rand(n_random, 15, generator=g, dtype=F64) * (UPPER - LOWER)
    mid = (LOWER + UPPER) / 2
    kk, small_sm = mid.clone(), mid.clone()
    kk[9], kk[10] = 0.55, 0.45
    small_sm[7], small_sm[13] = 1.0, 0.9
    return torch.cat([random, torch.stack([LOWER, UPPER, kk, small_sm])])


def mixed_forcing(n_time: int, n_basin: int, seed: int) -> torch.Tensor:
    """[T, B, 2] float64: exactly dry days (P = 0), drizzle below PET, showers and a few storms;
    a negative gauge artefact; PET 0 on some days."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n_time, n_basin, generator=g, dtype=F64)
    amount = torch.rand(n_time, n_basin, generator=g, dtype=F64)
    prcp = torch.where(u < 0.4, torch.zeros_like(u), torch.where(u < 0.6, 2.0 * amount, 40.0 * amount))
    prcp[n_time // 3] = 150.0  # a storm that fills the stores
    prcp[n_time // 2, 0] = -1.0  # negative artefact: counts as 0 and passes no gradient
    pet = 5.0 * torch.rand(n_time, n_basin, generator=g, dtype=F64)
    pet[-10:] = 0.0
    return torch.stack([prcp, pet], dim=-1)


def forcing_and_param_gradients(backend: str, forcing: torch.Tensor, params: torch.Tensor, warmup: int,
                                **options) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/d(forcing) [T, B, 2] and dL/d(params) of a loss weighting Q, E and every state and flux."""
    f = forcing.detach().clone().requires_grad_(True)
    p = params.detach().clone().requires_grad_(True)
    q, et, states = xaj.simulate(f, p, warmup=warmup, uh_length=15, return_states=True, backend=backend, **options)
    g = torch.Generator().manual_seed(7)
    loss = (q * torch.rand(q.shape, generator=g, dtype=F64)).sum() + et.sum()
    for name in sorted(states):
        loss = loss + (states[name] * torch.rand(states[name].shape, generator=g, dtype=F64)).sum()
    return torch.autograd.grad(loss, (f, p))


def assert_close_on_scale(fused: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    scale = max(float(ref.abs().max()), 1e-12)
    torch.testing.assert_close(fused, ref, rtol=1e-9, atol=1e-9 * scale, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("per_step", [False, True], ids=["static", "per-step"])
@pytest.mark.parametrize("options", [{}, {"warmup_routing": True, "reservoir_equilibrium": True}],
                         ids=["plain", "spin-up"])
def test_forcing_gradient_equals_reference_float64(per_step, options):
    params = parameter_sets(4, seed=9)
    n_basin, n_time, warmup = params.shape[0], 120, 20
    forcing = mixed_forcing(n_time, n_basin, seed=1)
    if per_step:  # a different set at every step, inside the ranges
        g = torch.Generator().manual_seed(2)
        factor = 0.95 + 0.05 * torch.rand(n_time, n_basin, 15, generator=g, dtype=F64)
        params = LOWER + (params - LOWER) * factor
    g_ref, p_ref = forcing_and_param_gradients("reference", forcing, params, warmup, **options)
    g_fused, p_fused = forcing_and_param_gradients("fused", forcing, params, warmup, **options)
    assert_close_on_scale(g_fused[..., 0], g_ref[..., 0], "dL/dP")
    assert_close_on_scale(g_fused[..., 1], g_ref[..., 1], "dL/dPET")
    assert_close_on_scale(p_fused, p_ref, "dL/dparams")
    assert torch.all(g_fused[:warmup] == 0.0)  # the warmup runs without gradient, as the reference's
    dry = forcing[warmup:, :, 0] == 0.0
    assert bool((g_fused[warmup:, :, 0][dry] != 0.0).any())  # P = 0 passes the gradient (clamp at equality)
    assert float(g_fused[n_time // 2, 0, 0]) == 0.0  # negative P does not


def test_gradcheck_of_the_recursion_in_its_forcing():
    """Finite differences vs the hand adjoint for P and PET (no step exactly at a kink: P > 0)."""
    g = torch.Generator().manual_seed(3)
    n_basin, n_time = 3, 30
    prcp = torch.rand(n_basin, n_time, generator=g, dtype=F64) * 30.0
    prcp[:, ::3] = 0.05 + 0.5 * torch.rand(n_basin, (n_time + 2) // 3, generator=g, dtype=F64)  # drizzle < PET
    pet = 0.8 + torch.rand(n_basin, n_time, generator=g, dtype=F64) * 4.0
    phys = LOWER + (0.2 + 0.6 * torch.rand(n_basin, 15, generator=g, dtype=F64)) * (UPPER - LOWER)
    named = xaj.unpack_params(phys)
    par = xaj_fused._kernel_parameters(named)
    init = torch.stack(list(xaj.initial_state(named)), dim=1)
    prcp.requires_grad_(True)
    pet.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: _XajRecursion.apply(a, b, par, init), (prcp, pet),
                                    eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_gradcheck_of_simulate_in_its_forcing():
    """End to end through the unit-hydrograph convolution, forcing and parameters together. No warmup:
    by contract the warmup forcing gets no gradient (finite differences would see its effect); the
    comparison with the reference covers that."""
    g = torch.Generator().manual_seed(4)
    forcing = torch.stack([1.0 + torch.rand(24, 2, generator=g, dtype=F64) * 40.0,
                           0.5 + torch.rand(24, 2, generator=g, dtype=F64) * 4.0], dim=-1).requires_grad_(True)
    params = (LOWER + (0.2 + 0.6 * torch.rand(2, 15, generator=g, dtype=F64)) * (UPPER - LOWER)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, p: simulate_fused(f, p, warmup=0, uh_length=6), (forcing, params),
                                    eps=1e-6, atol=1e-6, rtol=1e-4)


def test_parameter_only_backward_leaves_the_forcing_adjoint_out(monkeypatch):
    """Without a forcing that requires grad the kernel gets the empty stand-ins (no extra work)."""
    seen = []
    real = xaj_fused.kern.xaj_backward

    def spy(*args):
        seen.append((args[-2].shape, args[-1].shape))
        return real(*args)

    monkeypatch.setattr(xaj_fused.kern, "xaj_backward", spy)
    monkeypatch.setattr(xaj_fused, "use_parallel", lambda n: False)
    params = parameter_sets(1, seed=0).requires_grad_(True)
    forcing = mixed_forcing(40, params.shape[0], seed=3)
    xaj.simulate(forcing, params, warmup=5, backend="fused")[0].sum().backward()
    assert seen == [((params.shape[0], 0), (params.shape[0], 0))]
    xaj.simulate(forcing.clone().requires_grad_(True), params, warmup=5, backend="fused")[0].sum().backward()
    assert seen[-1] == ((params.shape[0], 35), (params.shape[0], 35))


def _snowy(n_time: int, n_basin: int, seed: int) -> torch.Tensor:
    """[T, B, 3] P, PET (mm/day) and a temperature (degC) with a winter in the middle: a real pack."""
    g = torch.Generator().manual_seed(seed)
    wet = torch.rand(n_time, n_basin, generator=g, dtype=F64) > 0.4
    prcp = torch.rand(n_time, n_basin, generator=g, dtype=F64) * 15.0 * wet
    season = -torch.cos(torch.arange(n_time, dtype=F64) * 6.2832 / n_time)[:, None]
    temp = 6.0 * season - 1.0 + 2.0 * torch.randn(n_time, n_basin, generator=g, dtype=F64)
    pet = (1.0 + 0.3 * temp).clamp(min=0.0)
    return torch.stack([prcp, pet, temp], dim=-1)


def test_snow_then_xaj_trains_through_the_fused_xaj_like_the_reference_chain(monkeypatch):
    n_basin, warmup = 5, 30
    forcing = _snowy(200, n_basin, seed=5)
    xaj_params = parameter_sets(1, seed=6)
    snow_params = denormalise_snow(torch.rand(n_basin, 4, generator=torch.Generator().manual_seed(8), dtype=F64))
    obs = torch.rand(200 - warmup, n_basin, generator=torch.Generator().manual_seed(9), dtype=F64)
    grads = {}
    for backend in ("reference", "fused"):
        p = xaj_params.detach().clone().requires_grad_(True)
        s = snow_params.detach().clone().requires_grad_(True)
        q, et = simulate_snow_xaj(forcing, p, s, warmup=warmup, backend=backend)
        loss = ((q - obs) ** 2).mean() + 0.1 * et.mean()
        grads[backend] = torch.autograd.grad(loss, (p, s))
        if backend == "reference":  # the fused chain must not fall back to the eager XAJ
            monkeypatch.setattr(xaj, "simulate_reference", lambda *a, **k: pytest.fail("eager XAJ used"))
    assert float(grads["reference"][1].abs().min()) > 0.0  # every snow parameter gets a gradient through XAJ
    assert_close_on_scale(grads["fused"][0], grads["reference"][0], "dL/d(XAJ params)")
    assert_close_on_scale(grads["fused"][1], grads["reference"][1], "dL/d(snow params)")
