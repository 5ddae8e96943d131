"""XAJ equations (docs/design.md, 4. XAJ physics) checked step by step against plain-float arithmetic, plus the
behaviour of ``simulate``: shapes, dtypes, warmup, extremes, input errors and backend choice."""

from __future__ import annotations

import math

import pytest
import torch

from core.hydro.params import PARAM_INDEX, XAJ_PARAMS, ParamRanges
from core.hydro.unit_hydrograph import causal_convolve, gamma_unit_hydrograph
from core.hydro.xaj import (FLUX_NAMES, INITIAL_NAMES, STATE_NAMES, XajState, simulate, unpack_params,
                            xaj_step)

BASE = {"K": 0.9, "B": 0.3, "IM": 0.05, "UM": 10.0, "LM": 70.0, "DM": 80.0, "C": 0.1, "SM": 30.0,
        "EX": 1.2, "KI": 0.4, "KG": 0.3, "A": 2.5, "THETA": 3.5, "CI": 0.8, "CG": 0.99}


def scalar_step(prcp, pet, state, prm, branches):
    """One XAJ step in plain floats, written from the text of docs/design.md, 4. XAJ physics; records branches."""
    k, b, im, um, lm, dm, c, sm, ex, ki, kg = (prm[n] for n in XAJ_PARAMS[:11])
    ci, cg = prm["CI"], prm["CG"]
    if ki + kg >= 1:
        ki, kg = ki * (1 - 1e-5) / (ki + kg), kg * (1 - 1e-5) / (ki + kg)
    wu, wl, wd, s, fr_prev, qi, qg = state
    p, ep = max(prcp, 0.0), max(k * pet, 0.0)
    # 1. evaporation
    if wu + p >= ep:
        eu, el = ep, 0.0
        branches.add("evap:upper")
    else:
        eu = wu + p
        if wl >= c * lm:
            el = (ep - eu) * wl / lm
            branches.add("evap:lower-proportional")
        elif wl >= c * (ep - eu):
            el = c * (ep - eu)
            branches.add("evap:lower-c")
        else:
            el = wl
            branches.add("evap:deep")
    ed = c * (ep - eu) - wl if (wl < c * lm and wl < c * (ep - eu)) else 0.0
    e = eu + el + ed
    d = p - e
    pe = max(d, 0.0)
    # 2. runoff generation
    wm = um + lm + dm
    wmm = wm * (1 + b)
    w0 = min(wu + wl + wd, wm - 1e-5)
    a = wmm * (1 - (1 - w0 / wm) ** (1 / (1 + b)))
    if pe > 0:
        if pe + a < wmm:
            r = pe - (wm - w0) + wm * (1 - min(a + pe, wmm) / wmm) ** (1 + b)
            branches.add("runoff:partial")
        else:
            r = pe - (wm - w0)
            branches.add("runoff:full")
    else:
        r = 0.0
    r = max(r, 0.0)
    rim = max(pe * im, 0.0)
    # 3. tension water
    if d > 0:
        wu_n = min(wu + d - r, um)
        if wu + wl + d - r > um + lm:
            wd_n = wu + wl + wd + d - r - um - lm
            branches.add("tension:fills-deep")
        else:
            wd_n = wd
        wl_n = wu + wl + wd + d - r - wu_n - wd_n
    else:
        wu_n, wl_n, wd_n = max(wu + d, 0.0), wl - el, wd - ed
    wu_n, wl_n, wd_n = (min(max(x, 0.0), cap) for x, cap in ((wu_n, um), (wl_n, lm), (wd_n, dm)))
    # 4. sources
    ms = sm * (1 + ex)
    if r > 0:
        fr = r / pe
        ss = fr_prev * s / fr
    else:
        fr, ss = fr_prev, s
    ss_star = min(ss, sm - 1e-5)
    au = ms * (1 - (1 - ss_star / sm) ** (1 / (1 + ex)))
    if r > 0:
        if pe + au < ms:
            rs = fr * (pe - sm + ss_star + sm * (1 - min(pe + au, ms) / ms) ** (1 + ex))
            branches.add("sources:partial")
        else:
            rs = fr * (pe + ss_star - sm)
            branches.add("sources:full")
        rs = min(rs, r)
        s = ss_star + (r - rs) / fr
    else:
        rs = 0.0
    s = min(s, sm)
    ri, rg = ki * s * fr, kg * s * fr
    s = s * (1 - ki - kg)
    # 5. reservoirs
    qi = ci * qi + (1 - ci) * ri * (1 - im)
    qg = cg * qg + (1 - cg) * rg * (1 - im)
    # basin evaporation (issue 12): the pervious area evaporates EU + EL + min(ED, WD), the impervious min(P, EP)
    e_basin = (1 - im) * (eu + el + min(ed, wd)) + im * min(p, ep)
    return {"WU": wu_n, "WL": wl_n, "WD": wd_n, "S": s, "FR": fr, "QI": qi, "QG": qg, "PE": pe, "R": r,
            "RIM": rim, "RS": rs, "RI": ri, "RG": rg, "E": e_basin}


SCENARIOS = [
    # (P, PET, state WU, WL, WD, S, FR, QI, QG, parameter overrides)
    (12.0, 3.0, (5.0, 50.0, 40.0, 10.0, 0.2, 0.5, 1.0), {}),
    (1.0, 10.0, (5.0, 70.0, 40.0, 10.0, 0.2, 0.5, 1.0), {"K": 1.0}),
    (1.0, 10.0, (5.0, 5.0, 40.0, 10.0, 0.2, 0.5, 1.0), {"K": 1.0}),
    (1.0, 10.0, (5.0, 0.2, 40.0, 10.0, 0.2, 0.5, 1.0), {"K": 1.0}),
    (300.0, 2.0, (9.0, 68.0, 75.0, 25.0, 0.6, 2.0, 3.0), {}),
    (40.0, 1.0, (10.0, 70.0, 80.0, 29.0, 0.9, 2.0, 3.0), {}),
    (3.0, 0.5, (1.0, 20.0, 10.0, 5.0, 0.05, 0.1, 0.1), {"UM": 0.0}),
    (25.0, 2.0, (8.0, 60.0, 70.0, 40.0, 0.8, 1.0, 1.0), {"SM": 45.0, "KI": 0.7, "KG": 0.7}),
    (0.0, 4.0, (0.0, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0), {}),
]


def _torch_step(prcp, pet, state, prm):
    params = torch.tensor([[prm[n] for n in XAJ_PARAMS]], dtype=torch.float64)
    st = XajState(*(torch.tensor([x], dtype=torch.float64) for x in state))
    new, flux = xaj_step(torch.tensor([prcp], dtype=torch.float64), torch.tensor([pet], dtype=torch.float64),
                         st, unpack_params(params))
    return {**{n: getattr(new, n).item() for n in STATE_NAMES}, **{n: flux[n].item() for n in flux}}


def test_single_steps_match_plain_float_equations_in_every_branch():
    branches: set[str] = set()
    for prcp, pet, state, overrides in SCENARIOS:
        prm = {**BASE, **overrides}
        expected = scalar_step(prcp, pet, state, prm, branches)
        got = _torch_step(prcp, pet, state, prm)
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-10, abs=1e-10), (prcp, pet, state, name)
    assert branches == {"evap:upper", "evap:lower-proportional", "evap:lower-c", "evap:deep",
                        "runoff:partial", "runoff:full", "tension:fills-deep", "sources:partial", "sources:full"}


def test_evaporation_hand_numbers():
    prm = {**BASE, "K": 1.0, "LM": 80.0, "C": 0.1, "IM": 0.0}  # IM = 0: basin E = pervious E
    state = (5.0, 70.0, 40.0, 10.0, 0.2, 0.5, 1.0)
    # WU + P = 6 < EP = 10: EU = 6; WL = 70 >= C LM = 8: EL = (10 - 6) 70 / 80 = 3.5; ED = 0
    assert _torch_step(1.0, 10.0, state, prm)["E"] == pytest.approx(6.0 + 3.5)
    # WL = 5 < 8 but >= C (EP - EU) = 0.4: EL = 0.4, ED = 0
    assert _torch_step(1.0, 10.0, (5.0, 5.0) + state[2:], prm)["E"] == pytest.approx(6.4)
    # WL = 0.2 < 0.4: EL = 0.2, ED = 0.4 - 0.2 = 0.2; WL' = 0, WD' = 40 - 0.2
    out = _torch_step(1.0, 10.0, (5.0, 0.2) + state[2:], prm)
    assert out["E"] == pytest.approx(6.4) and out["WU"] == 0.0 and out["WL"] == pytest.approx(0.0, abs=1e-12)
    assert out["WD"] == pytest.approx(39.8)
    # enough water in the upper layer: E = EP = K PET
    assert _torch_step(12.0, 3.0, state, {**prm, "K": 0.9})["E"] == pytest.approx(2.7)
    # IM = 0.1: the impervious tenth evaporates min(P, EP) = 1, the pervious part 9.5 as above
    assert _torch_step(1.0, 10.0, state, {**prm, "IM": 0.1})["E"] == pytest.approx(0.9 * 9.5 + 0.1 * 1.0)
    # the deep layer cannot give more than it holds: WD = 0.05 < ED = 0.2
    out = _torch_step(1.0, 10.0, (5.0, 0.2, 0.05) + state[3:], prm)
    assert out["E"] == pytest.approx(6.0 + 0.2 + 0.05) and out["WD"] == 0.0


def test_runoff_generation_hand_numbers():
    # WM = 160, WMM = 208, W0 = 80, A = 208 (1 - 0.5^(1/1.3)); PE = P - EP = 20 - 1 = 19
    prm = {**BASE, "K": 1.0, "UM": 10.0, "LM": 70.0, "DM": 80.0, "B": 0.3, "IM": 0.05}
    out = _torch_step(20.0, 1.0, (10.0, 40.0, 30.0, 10.0, 0.2, 0.5, 1.0), prm)
    a = 208.0 * (1.0 - 0.5 ** (1.0 / 1.3))
    r = 19.0 - 80.0 + 160.0 * (1.0 - (a + 19.0) / 208.0) ** 1.3
    assert out["PE"] == pytest.approx(19.0)
    assert out["R"] == pytest.approx(r, rel=1e-12)
    assert 0.0 < out["R"] < 19.0
    assert out["RIM"] == pytest.approx(0.95)
    # tension water gains D - R: WU full (10), the rest to WL as WU + WL + D - R <= UM + LM
    assert out["WU"] == pytest.approx(10.0)
    assert out["WL"] == pytest.approx(40.0 + 19.0 - r)
    assert out["FR"] == pytest.approx(r / 19.0)


def _forcing(steps, basins, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    wet = torch.rand(steps, basins, generator=g, dtype=dtype) < 0.35
    prcp = torch.where(wet, torch.distributions.Exponential(0.12).sample((steps, basins)).to(dtype),
                       torch.zeros(steps, basins, dtype=dtype))
    day = torch.arange(steps, dtype=dtype).unsqueeze(1)
    pet = 2.5 + 2.0 * torch.sin(2 * math.pi * day / 365.25) + 0.0 * prcp
    return torch.stack([prcp, pet], dim=-1)


def _params(basins, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ParamRanges().denormalise(torch.rand(basins, 15, generator=g, dtype=dtype))


def test_shapes_dtypes_and_states_layout():
    forcing, params = _forcing(50, 3), _params(3)
    for dtype in (torch.float32, torch.float64):
        q, et = simulate(forcing.to(dtype), params.to(dtype), warmup=10, backend="reference")
        assert q.shape == et.shape == (40, 3) and q.dtype == et.dtype == dtype
    q, et, states = simulate(forcing, params, warmup=10, return_states=True, backend="reference")
    for name in STATE_NAMES + FLUX_NAMES + ("UH",):
        assert states[name].shape == (40, 3), name
    for name in INITIAL_NAMES:
        assert states[name].shape == (3,), name
    assert torch.allclose(q, states["QS"] + states["QI"] + states["QG"])
    assert torch.equal(et, states["E"])


@pytest.mark.slow
def test_float32_agrees_with_float64():
    forcing, params = _forcing(730, 4), _params(4)
    q64, et64 = simulate(forcing, params, warmup=100, backend="reference")
    q32, et32 = simulate(forcing.float(), params.float(), warmup=100, backend="reference")
    assert torch.allclose(q32.double(), q64, rtol=1e-3, atol=1e-3)
    assert torch.allclose(et32.double(), et64, rtol=1e-3, atol=1e-3)


def test_warmup_starts_from_the_warmup_end_states_and_restarts_the_unit_hydrograph():
    forcing, params = _forcing(120, 3), _params(3)
    _, _, full = simulate(forcing, params, return_states=True, backend="reference")
    q, et, part = simulate(forcing, params.clone().requires_grad_(True), warmup=30, return_states=True,
                           backend="reference")
    for name in STATE_NAMES:
        assert torch.allclose(part[name], full[name][30:]), name
        assert torch.allclose(part[f"{name}0"], full[name][29]), name
        assert not part[f"{name}0"].requires_grad
    assert torch.allclose(et, full["E"][30:])
    p = unpack_params(params)
    inflow = full["RIM"][30:] + full["RS"][30:] * (1 - p.IM)
    qs = causal_convolve(inflow, gamma_unit_hydrograph(p.A, p.THETA, 15))
    assert torch.allclose(part["QS"], qs)
    assert torch.allclose(q, qs + full["QI"][30:] + full["QG"][30:])
    assert q.requires_grad


def test_initial_states_without_warmup():
    params = _params(2)
    _, _, st = simulate(torch.zeros(3, 2, 2, dtype=torch.float64), params, return_states=True, backend="reference")
    col = {n: params[:, PARAM_INDEX[n]] for n in XAJ_PARAMS}
    assert torch.allclose(st["WU0"], 0.5 * col["UM"]) and torch.allclose(st["WD0"], 0.5 * col["DM"])
    assert torch.allclose(st["S0"], 0.5 * col["SM"])
    assert torch.allclose(st["FR0"], torch.full((2,), 0.1, dtype=torch.float64))
    assert torch.allclose(st["QG0"], torch.full((2,), 0.1, dtype=torch.float64))


def _check_physical_bounds(states, params):
    p = unpack_params(params)
    tol = 1e-9
    for name, cap in (("WU", p.UM), ("WL", p.LM), ("WD", p.DM), ("S", p.SM)):
        assert (states[name] >= -tol).all() and (states[name] <= cap + tol).all(), name
    assert (states["FR"] > 0).all() and (states["FR"] <= 1 + 1e-9).all()
    assert (states["R"] <= states["PE"] + tol).all() and (states["R"] >= 0).all()
    assert (states["RS"] <= states["R"] + tol).all()
    for name in ("QI", "QG", "QS", "E", "RI", "RG"):
        assert (states[name] >= -tol).all() and torch.isfinite(states[name]).all(), name


def test_extremes_zero_rain_long_drought_and_300mm_storms():
    basins, steps = 64, 900
    params = _params(basins, seed=3)
    forcing = torch.zeros(steps, basins, 2, dtype=torch.float64)
    forcing[:, :, 1] = 6.0
    forcing[:, : basins // 2, 0][200:203] = 300.0  # storms after a 200-day drought, then 700 dry days
    q, et, st = simulate(forcing, params, return_states=True, backend="reference")
    _check_physical_bounds(st, params)
    pot = params[:, PARAM_INDEX["K"]] * 6.0
    assert (et <= pot + 1e-9).all()
    dry = slice(basins // 2, basins)
    assert (st["R"][:, dry] == 0).all() and (st["RS"][:, dry] == 0).all()
    assert (q[-1, dry] < q[100, dry]).all() and (q[:, dry] > 0).all()  # recession of the initial free water
    stormy = slice(0, basins // 2)
    assert (q[200:215, stormy].sum(0) > 300.0).all()  # most of 900 mm on wet soils runs off quickly


def test_input_errors_name_the_culprit():
    forcing, params = _forcing(10, 2), _params(2)
    with pytest.raises(ValueError, match=r"forcing must be \[T, B, 2\]"):
        simulate(forcing[..., :1], params)
    with pytest.raises(ValueError, match="3 basins but params has 2"):
        simulate(_forcing(10, 3), params)
    bad = forcing.clone()
    bad[4, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="step index 4, basin index 1, variable index 0"):
        simulate(bad, params, backend="reference")
    bad_params = params.clone()
    bad_params[1, PARAM_INDEX["LM"]] = 0.0
    with pytest.raises(ValueError, match="basin index 1 has invalid XAJ parameters.*LM=0"):
        simulate(forcing, bad_params, backend="reference")
    # the sum screen in front of the element-wise checks: +inf and -inf (a NaN sum), CG = 1, and a
    # sum that overflows although every value is finite (passes)
    for name, value in (("UM", float("inf")), ("CG", 1.0)):
        bad_params = params.clone()
        bad_params[0, PARAM_INDEX[name]] = value
        bad_params[1, PARAM_INDEX["DM"]] = -value if value == float("inf") else bad_params[1, PARAM_INDEX["DM"]]
        with pytest.raises(ValueError, match=f"basin index 0 has invalid XAJ parameters.*{name}="):
            simulate(forcing, bad_params, backend="fused")
    huge = forcing.clone().float()
    huge[:, :, 0] = 3e37  # finite in float32, the sum is not
    q, _ = simulate(huge, params.float(), backend="reference")
    assert q.shape == (10, 2)
    with pytest.raises(ValueError, match="warmup"):
        simulate(forcing, params, warmup=10)
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        simulate(forcing, params, backend="gpu")


def test_backends_agree():
    forcing, params = _forcing(60, 3), _params(3)
    q_ref, et_ref = simulate(forcing, params, warmup=10, backend="reference")
    for backend in ("auto", "fused"):
        q, et = simulate(forcing, params, warmup=10, backend=backend)
        assert torch.allclose(q, q_ref, rtol=1e-5, atol=1e-8)
        assert torch.allclose(et, et_ref, rtol=1e-5, atol=1e-8)
