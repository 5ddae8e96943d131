"""Compiled (numba) XAJ state recursion and its hand-derived reverse-mode adjoint.

Only the per-step recursion lives here: evaporation, runoff generation, tension-water update,
free-water sources and the two linear reservoirs (interflow, groundwater), exactly as in
docs/design.md, 4. XAJ physics, and mirroring the eager reference ``core.hydro.xaj`` operation by operation:
the same arithmetic order (so float64 results agree to the last bit where the libm ``pow`` agrees)
and the same gradient conventions: ``torch.where`` sends the gradient down the taken branch only,
``torch.clamp`` passes it to its input when the input lies inside the bounds including equality,
``torch.minimum`` splits it half and half on a tie. The gamma unit
hydrograph and the surface convolution stay in torch (``core.hydro.xaj_fused``).

Layout: forcing ``[B, T]``, parameters ``[B, T, N_PAR]`` per step or ``[B, 1, N_PAR]`` static (one row
for every step, read in place: static parameters pay for no per-step copy and their gradient
is summed per basin inside the adjoint), initial states ``[B, N_INIT]``, recorded
series ``[N_REC, B, T]``; everything float64. Basin-major on purpose: each basin's loop then walks
memory contiguously, whereas ``[T, B]`` with B = 256 strides 2 KB per step and thrashes the cache
(measured 6x slower on case (a) of the benchmark). Each basin is independent: one compiled function runs one
basin, and serial or ``prange`` drivers loop over basins.

Backward strategy: the forward pass records every state at the end of each step; the backward
pass walks the steps in reverse, recomputes the step's intermediates from the recorded start
states (bit-identical to the forward pass, same code) and pulls the adjoints through it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# Kernel parameter columns (KI, KG already rescaled in torch when KI + KG >= 1).
P_K, P_B, P_IM, P_UM, P_LM, P_DM, P_C, P_SM, P_EX, P_KI, P_KG, P_CI, P_CG = range(13)
N_PAR = 13

# Initial-state columns.
I_WU, I_WL, I_WD, I_S, I_FR, I_QI, I_QG = range(7)
N_INIT = 7

# Recorded series (state values at the END of each step, fluxes during the step).
O_WU, O_WL, O_WD, O_S, O_FR, O_QI, O_QG, O_E, O_RS, O_RI, O_RG, O_RIM, O_PE, O_R = range(14)
N_OUT = 14
OUTPUT_NAMES = ("WU", "WL", "WD", "S", "FR", "QI", "QG", "E", "RS", "RI", "RG", "RIM", "PE", "R")
# Recorded for the adjoint only, after the outputs: the four fractional powers of the step (0 where
# the step does not need them), so that the backward pass replays the step without calling pow.
O_P1, O_P2, O_P3, O_P4 = range(N_OUT, N_OUT + 4)
N_REC = N_OUT + 4

DBL_MIN = 2.2250738585072014e-308  # smallest normal float64

# mm: floor of the deficits WM - W and SM - SS (the "- 1e-5" margins of docs/design.md, 4. XAJ physics)
PRECISION = 1e-5
_NO_POWERS = (0.0, 0.0, 0.0, 0.0)  # the forward pass computes its powers


@njit(cache=True, fastmath=False, inline="always")
def _log0(x: float) -> float:
    """log(x) for the exponent derivative of x**y, 0 at x == 0 (torch's convention for pow's backward)."""
    return math.log(x) if x > 0.0 else 0.0


@njit(cache=True, fastmath=False, inline="always")
def _pow_below(x: float, power: float, y_minus_one: float) -> float:
    """``x ** (y - 1)`` given ``power = x ** y`` (the derivative's power): the quotient
    ``power / x`` (within about 1.5 ulp) where ``power`` is a normal number, else the pow itself."""
    if power >= DBL_MIN:
        return power / x
    return x**y_minus_one


@njit(cache=True, fastmath=False, inline="always")
def _grad_of(gout, slot, series, basin, t):
    """dL/d(recorded ``series``) at (``basin``, ``t``): row ``slot[series]`` of ``gout``, 0 where the
    loss does not use the series (``slot`` -1; no zero-filled buffer for it)."""
    row = slot[series]
    return gout[row, basin, t] if row >= 0 else 0.0


@njit(cache=True, fastmath=False, inline="always")
def _step(wu, wl, wd, s, fr, prcp, pet, k, b, im, um, lm, dm, c, sm, ex, ki, kg, replay, powers):
    """One step of the nonlinear XAJ recursion for one basin (all scalars, mm).

    ``replay`` False computes the four fractional powers; True takes them from ``powers`` (p1, p2,
    p3, p4 as the forward pass returned them: the same numbers, without pow).
    Returns the end states and fluxes (positions 0-11), the powers (12-15) and every intermediate
    the adjoint needs.
    """
    p = prcp if prcp > 0.0 else 0.0
    kp = k * pet
    ep = kp if kp > 0.0 else 0.0

    # 1. evaporation
    c1 = wu + p >= ep
    if c1:
        eu = ep
    else:
        eu = wu + p
    dd = ep - eu
    clm = c * lm
    cdd = c * dd
    el_case = 0  # 0: EL = 0, 1: (EP-EU) WL/LM, 2: C (EP-EU), 3: WL
    if c1:
        el = 0.0
    elif wl >= clm:
        el = dd * wl / lm
        el_case = 1
    elif wl >= cdd:
        el = cdd
        el_case = 2
    else:
        el = wl
        el_case = 3
    ced = (wl < clm) and (wl < cdd)
    ed = cdd - wl if ced else 0.0
    e = eu + el + ed  # drives D; ED is capped by the deep store only in the reported E below
    d = p - e
    pe = d if d > 0.0 else 0.0
    # reported (basin) E: the pervious part evaporates EU + EL + min(ED, WD), the impervious part
    # min(P, EP) (it runs off the rest, max(P - EP, 0) = PE); this closes the basin water balance
    ed_capped = ed > wd
    edc = wd if ed_capped else ed
    e_perv = eu + el + edc
    e_imp = p if p < ep else ep
    e_out = (1.0 - im) * e_perv + im * e_imp

    # 2. runoff generation
    wm = um + lm + dm
    wmm = wm * (1.0 + b)
    wsum = wu + wl + wd
    deficit = wm - wsum  # WM - W0, floored (clamp passes the gradient at equality)
    w0_clamped = deficit < PRECISION
    if w0_clamped:
        deficit = PRECISION
    x1 = deficit / wm
    ib = 1.0 / (1.0 + b)
    r_case = 0  # 0: PE == 0, 1: partial area, 2: whole basin saturated
    p1 = 0.0
    a = 0.0
    x2 = 0.0
    p2 = 0.0
    m = 0.0
    if pe > 0.0:
        # A only matters when there is net rainfall: skipping the power on dry steps changes nothing
        p1 = powers[0] if replay else x1**ib
        a = wmm * (1.0 - p1)
        if pe + a < wmm:
            r_case = 1
            m = a + pe
            if m > wmm:
                m = wmm
            x2 = 1.0 - m / wmm
            p2 = powers[1] if replay else x2 ** (1.0 + b)
            rr = pe - deficit + wm * p2
        else:
            r_case = 2
            rr = pe - deficit
    else:
        rr = 0.0
    r = rr if rr > 0.0 else 0.0
    pim = pe * im
    rim = pim if pim > 0.0 else 0.0

    # 3. tension water update
    wet = d > 0.0
    if wet:
        total = wu + wl + wd + d - r
        wu_in = wu + d - r
        wu1_cap = wu_in > um
        wu1_tie = wu_in == um
        wu1 = um if wu1_cap else wu_in
        wd_spill = wu + wl + d - r > um + lm
        if wd_spill:
            wd1 = total - um - lm
        else:
            wd1 = wd
        wl1 = total - wu1 - wd1
    else:
        wu1 = wu + d
        wu1_tie = False
        wu1_cap = wu1 < 0.0  # here: clamped at zero from below
        if wu1_cap:
            wu1 = 0.0
        wd_spill = False
        wl1 = wl - el
        wd1 = wd - ed
    wu2 = min(max(wu1, 0.0), um)
    wl2 = min(max(wl1, 0.0), lm)
    wd2 = min(max(wd1, 0.0), dm)

    # 4. sources
    ms = sm * (1.0 + ex)
    runoff = r > 0.0
    if runoff:
        fr1 = r / pe
        ss = fr * s / fr1
    else:
        fr1 = fr
        ss = s
    free_deficit = sm - ss  # SM - SS*, floored like the tension-water deficit
    ss_clamped = free_deficit < PRECISION
    if ss_clamped:
        free_deficit = PRECISION
    ssc = sm - free_deficit
    x3 = free_deficit / sm
    ie = 1.0 / (1.0 + ex)
    rs_case = 0
    p3 = 0.0
    au = 0.0
    x4 = 0.0
    p4 = 0.0
    m2 = 0.0
    if runoff:
        # AU only matters where R > 0 (same reasoning as A)
        p3 = powers[2] if replay else x3**ie
        au = ms * (1.0 - p3)
        if pe + au < ms:
            rs_case = 1
            m2 = pe + au
            if m2 > ms:
                m2 = ms
            x4 = 1.0 - m2 / ms
            p4 = powers[3] if replay else x4 ** (1.0 + ex)
            rs0 = fr1 * (pe - sm + ssc + sm * p4)
        else:
            rs_case = 2
            rs0 = fr1 * (pe + ssc - sm)
    else:
        rs0 = 0.0
    rs_capped = rs0 > r
    rs_tie = rs0 == r
    rs = r if rs_capped else rs0
    if runoff:
        s1 = ssc + (r - rs) / fr1
    else:
        s1 = s
    s1_capped = s1 > sm
    s1_tie = s1 == sm
    s2 = sm if s1_capped else s1
    ri = ki * s2 * fr1
    rg = kg * s2 * fr1
    s3 = s2 * (1.0 - ki - kg)

    return (
        wu2, wl2, wd2, s3, fr1, e_out, rs, ri, rg, rim, pe, r,  # recorded (positions 0-11)
        p1, p2, p3, p4,  # recorded for the adjoint (12-15)
        # intermediates for the adjoint
        p, kp, ep, c1, eu, dd, cdd, el_case, ced, d, pe,
        wm, wmm, w0_clamped, deficit, x1, ib, a, r_case, x2, m, rr, r, pim,
        wet, wu1, wu1_cap, wu1_tie, wd_spill, wl1, wd1,
        ms, runoff, fr1, ss, ss_clamped, free_deficit, ssc, x3, ie, au, rs_case, x4, m2,
        rs0, rs_capped, rs_tie, s1, s1_capped, s1_tie, s2,
        ed_capped, e_perv, e_imp,
    )


@njit(cache=True, fastmath=False, inline="always")
def _params_at(par, basin, t):
    """The 13 kernel parameters of ``basin`` at row ``t`` of ``par [B, T or 1, N_PAR]``."""
    return (par[basin, t, P_K], par[basin, t, P_B], par[basin, t, P_IM], par[basin, t, P_UM],
            par[basin, t, P_LM], par[basin, t, P_DM], par[basin, t, P_C], par[basin, t, P_SM],
            par[basin, t, P_EX], par[basin, t, P_KI], par[basin, t, P_KG], par[basin, t, P_CI],
            par[basin, t, P_CG])


@njit(cache=True, fastmath=False)
def _forward_basin(ib_, prcp, pet, par, init, out):
    """The recursion of one basin (column ``ib_``) over all steps; see :func:`xaj_forward`."""
    n_time = prcp.shape[1]
    first = n_time - out.shape[2]  # steps before it are run, not recorded
    wu = init[ib_, I_WU]
    wl = init[ib_, I_WL]
    wd = init[ib_, I_WD]
    s = init[ib_, I_S]
    fr = init[ib_, I_FR]
    qi = init[ib_, I_QI]
    qg = init[ib_, I_QG]
    per_step = par.shape[1] > 1
    for t in range(n_time):
        k, b, im, um, lm, dm, c, sm, ex, ki, kg, ci, cg = _params_at(par, ib_, t if per_step else 0)
        res = _step(wu, wl, wd, s, fr, prcp[ib_, t], pet[ib_, t],
                    k, b, im, um, lm, dm, c, sm, ex, ki, kg, False, _NO_POWERS)
        wu, wl, wd, s, fr = res[0], res[1], res[2], res[3], res[4]
        ri = res[7]
        rg = res[8]
        pervious = 1.0 - im
        qi = ci * qi + (1.0 - ci) * ri * pervious
        qg = cg * qg + (1.0 - cg) * rg * pervious
        if t < first:
            continue
        j = t - first
        out[O_WU, ib_, j] = wu
        out[O_WL, ib_, j] = wl
        out[O_WD, ib_, j] = wd
        out[O_S, ib_, j] = s
        out[O_FR, ib_, j] = fr
        out[O_QI, ib_, j] = qi
        out[O_QG, ib_, j] = qg
        out[O_E, ib_, j] = res[5]
        out[O_RS, ib_, j] = res[6]
        out[O_RI, ib_, j] = ri
        out[O_RG, ib_, j] = rg
        out[O_RIM, ib_, j] = res[9]
        out[O_PE, ib_, j] = res[10]
        out[O_R, ib_, j] = res[11]
        out[O_P1, ib_, j] = res[12]
        out[O_P2, ib_, j] = res[13]
        out[O_P3, ib_, j] = res[14]
        out[O_P4, ib_, j] = res[15]


@njit(cache=True, fastmath=False)
def _backward_basin(bi, prcp, pet, par, init, out, gout, slot, gpar, ginit, gprcp, gpet):
    """Adjoint of one basin (column ``bi``); see :func:`xaj_backward`."""
    n_time = prcp.shape[1]
    want_prcp = gprcp.shape[1] > 0  # the forcing adjoints only when asked for (empty arrays otherwise)
    want_pet = gpet.shape[1] > 0
    # adjoints of the states at the end of the current step
    a_wu = 0.0
    a_wl = 0.0
    a_wd = 0.0
    a_s = 0.0
    a_fr = 0.0
    a_qi = 0.0
    a_qg = 0.0
    per_step = par.shape[1] > 1
    for t in range(n_time - 1, -1, -1):
        tp = t if per_step else 0
        k, b, im, um, lm, dm, c, sm, ex, ki, kg, ci, cg = _params_at(par, bi, tp)
        g_k = 0.0
        g_b = 0.0
        g_im = 0.0
        g_um = 0.0
        g_lm = 0.0
        g_dm = 0.0
        g_c = 0.0
        g_sm = 0.0
        g_ex = 0.0
        g_ki = 0.0
        g_kg = 0.0
        g_ci = 0.0
        g_cg = 0.0
        if t > 0:
            wu = out[O_WU, bi, t - 1]
            wl = out[O_WL, bi, t - 1]
            wd = out[O_WD, bi, t - 1]
            s = out[O_S, bi, t - 1]
            fr = out[O_FR, bi, t - 1]
            qi = out[O_QI, bi, t - 1]
            qg = out[O_QG, bi, t - 1]
        else:
            wu = init[bi, I_WU]
            wl = init[bi, I_WL]
            wd = init[bi, I_WD]
            s = init[bi, I_S]
            fr = init[bi, I_FR]
            qi = init[bi, I_QI]
            qg = init[bi, I_QG]
        (
            wu2, wl2, wd2, s3, fr1, e, rs, ri, rg, rim, _pe, _r,
            p1, p2, p3, p4,
            p, kp, ep, c1, eu, dd, cdd, el_case, ced, d, pe,
            wm, wmm, w0_clamped, deficit, x1, ib, a, r_case, x2, m, rr, r, pim,
            wet, wu1, wu1_cap, wu1_tie, wd_spill, wl1, wd1,
            ms, runoff, fr1_, ss, ss_clamped, free_deficit, ssc, x3, ie, au, rs_case, x4, m2,
            rs0, rs_capped, rs_tie, s1, s1_capped, s1_tie, s2,
            ed_capped, e_perv, e_imp,
        ) = _step(wu, wl, wd, s, fr, prcp[bi, t], pet[bi, t],
                  k, b, im, um, lm, dm, c, sm, ex, ki, kg, True,
                  (out[O_P1, bi, t], out[O_P2, bi, t], out[O_P3, bi, t], out[O_P4, bi, t]))

        # adjoints of this step's outputs: carried from step t+1 plus direct loss terms
        g_wu2 = a_wu + _grad_of(gout, slot, O_WU, bi, t)
        g_wl2 = a_wl + _grad_of(gout, slot, O_WL, bi, t)
        g_wd2 = a_wd + _grad_of(gout, slot, O_WD, bi, t)
        g_s3 = a_s + _grad_of(gout, slot, O_S, bi, t)
        g_fr1 = a_fr + _grad_of(gout, slot, O_FR, bi, t)
        g_qi1 = a_qi + _grad_of(gout, slot, O_QI, bi, t)
        g_qg1 = a_qg + _grad_of(gout, slot, O_QG, bi, t)
        g_eo = _grad_of(gout, slot, O_E, bi, t)  # of the reported (basin) E
        g_rs = _grad_of(gout, slot, O_RS, bi, t)
        g_ri = _grad_of(gout, slot, O_RI, bi, t)
        g_rg = _grad_of(gout, slot, O_RG, bi, t)
        g_rim = _grad_of(gout, slot, O_RIM, bi, t)
        g_pe_out = _grad_of(gout, slot, O_PE, bi, t)
        g_r_out = _grad_of(gout, slot, O_R, bi, t)

        # start-of-step adjoints, accumulated below
        g_wu = 0.0
        g_wl = 0.0
        g_wd = 0.0
        g_s = 0.0
        g_fr = 0.0

        # 5. linear reservoirs: q1 = c q + (1 - c) (x (1 - im))
        g_ci += g_qi1 * (qi - ri * (1.0 - im))
        a_qi_prev = g_qi1 * ci
        g_rin = g_qi1 * (1.0 - ci)
        g_ri += g_rin * (1.0 - im)
        g_im -= g_rin * ri
        g_cg += g_qg1 * (qg - rg * (1.0 - im))
        a_qg_prev = g_qg1 * cg
        g_rgn = g_qg1 * (1.0 - cg)
        g_rg += g_rgn * (1.0 - im)
        g_im -= g_rgn * rg

        # drainage s3 = s2 (1 - ki - kg); ri = ki s2 fr1; rg = kg s2 fr1
        g_s2 = g_s3 * (1.0 - ki - kg)
        g_ki -= g_s3 * s2
        g_kg -= g_s3 * s2
        g_ki += g_ri * s2 * fr1
        g_s2 += g_ri * ki * fr1
        g_fr1 += g_ri * ki * s2
        g_kg += g_rg * s2 * fr1
        g_s2 += g_rg * kg * fr1
        g_fr1 += g_rg * kg * s2

        # s2 = min(s1, sm)
        g_s1 = 0.0
        if s1_tie:
            g_sm += 0.5 * g_s2
            g_s1 = 0.5 * g_s2
        elif s1_capped:
            g_sm += g_s2
        else:
            g_s1 = g_s2
        # s1 = ssc + (r - rs) / fr1   (runoff) or s
        g_ssc = 0.0
        g_r = g_r_out
        g_pe = g_pe_out
        if runoff:
            g_ssc += g_s1
            g_r += g_s1 / fr1
            g_rs -= g_s1 / fr1
            g_fr1 -= g_s1 * (r - rs) / (fr1 * fr1)
        else:
            g_s += g_s1
        # rs = min(rs0, r)
        if rs_tie:
            g_r += 0.5 * g_rs
            g_rs0 = 0.5 * g_rs
        elif rs_capped:
            g_r += g_rs
            g_rs0 = 0.0
        else:
            g_rs0 = g_rs
        # rs0
        g_au = 0.0
        g_ms = 0.0
        if rs_case == 1:
            inner = pe - sm + ssc + sm * p4
            g_fr1 += g_rs0 * inner
            gi = g_rs0 * fr1
            g_pe += gi
            g_sm += gi * (p4 - 1.0)
            g_ssc += gi
            g_p4 = gi * sm
            g_x4 = g_p4 * (1.0 + ex) * _pow_below(x4, p4, ex)
            g_ex += g_p4 * p4 * _log0(x4)
            g_m2 = -g_x4 / ms
            g_ms += g_x4 * m2 / (ms * ms)
            if pe + au > ms:  # cannot happen inside this branch; kept for symmetry with clamp
                g_ms += g_m2
            else:
                g_pe += g_m2
                g_au += g_m2
        elif rs_case == 2:
            g_fr1 += g_rs0 * (pe + ssc - sm)
            gi = g_rs0 * fr1
            g_pe += gi
            g_ssc += gi
            g_sm -= gi
        # au = ms (1 - x3**ie), computed only where R > 0
        g_x3 = 0.0
        if runoff:
            g_ms += g_au * (1.0 - p3)
            g_p3 = -g_au * ms
            g_x3 = g_p3 * ie * _pow_below(x3, p3, ie - 1.0)
            g_ie = g_p3 * p3 * _log0(x3)
            g_ex -= g_ie * ie * ie
        # x3 = free_deficit / sm; ssc = sm - free_deficit; free_deficit = max(sm - ss, eps)
        g_fd = g_x3 / sm - g_ssc
        g_sm += g_ssc - g_x3 * free_deficit / (sm * sm)
        g_ss = 0.0
        if not ss_clamped:
            g_sm += g_fd
            g_ss = -g_fd
        # ss, fr1
        if runoff:
            g_fr += g_ss * s / fr1
            g_s += g_ss * fr / fr1
            g_fr1 -= g_ss * fr * s / (fr1 * fr1)
            g_r += g_fr1 / pe
            g_pe -= g_fr1 * r / (pe * pe)
        else:
            g_s += g_ss
            g_fr += g_fr1
        # ms = sm (1 + ex)
        g_sm += g_ms * (1.0 + ex)
        g_ex += g_ms * sm

        # 3. tension water: clamp to [0, capacity]
        g_wu1 = 0.0
        if wu1 > um:
            g_um += g_wu2
        elif wu1 >= 0.0:
            g_wu1 = g_wu2
        g_wl1 = 0.0
        if wl1 > lm:
            g_lm += g_wl2
        elif wl1 >= 0.0:
            g_wl1 = g_wl2
        g_wd1 = 0.0
        if wd1 > dm:
            g_dm += g_wd2
        elif wd1 >= 0.0:
            g_wd1 = g_wd2
        g_d = 0.0
        g_el = 0.0
        g_ed = 0.0
        if wet:
            # wl1 = wu + wl + wd + d - r - wu1 - wd1
            g_wu += g_wl1
            g_wl += g_wl1
            g_wd += g_wl1
            g_d += g_wl1
            g_r -= g_wl1
            g_wu1 -= g_wl1
            g_wd1 -= g_wl1
            if wd_spill:
                g_wu += g_wd1
                g_wl += g_wd1
                g_wd += g_wd1
                g_d += g_wd1
                g_r -= g_wd1
                g_um -= g_wd1
                g_lm -= g_wd1
            else:
                g_wd += g_wd1
            g_in = g_wu1
            if wu1_tie:
                g_um += 0.5 * g_wu1
                g_in = 0.5 * g_wu1
            elif wu1_cap:
                g_um += g_wu1
                g_in = 0.0
            g_wu += g_in
            g_d += g_in
            g_r -= g_in
        else:
            if not wu1_cap:
                g_wu += g_wu1
                g_d += g_wu1
            g_wl += g_wl1
            g_el -= g_wl1
            g_wd += g_wd1
            g_ed -= g_wd1

        # rim = max(pe im, 0)
        if pim >= 0.0:
            g_pe += g_rim * im
            g_im += g_rim * pe
        # r = max(rr, 0)
        g_rr = g_r if rr >= 0.0 else 0.0
        g_wm = 0.0
        g_wmm = 0.0
        g_def = 0.0
        g_a = 0.0
        if r_case == 1:
            g_pe += g_rr
            g_wm += g_rr * p2
            g_def -= g_rr
            g_p2 = g_rr * wm
            g_x2 = g_p2 * (1.0 + b) * _pow_below(x2, p2, b)
            g_b += g_p2 * p2 * _log0(x2)
            g_m = -g_x2 / wmm
            g_wmm += g_x2 * m / (wmm * wmm)
            if a + pe > wmm:  # cannot happen inside this branch
                g_wmm += g_m
            else:
                g_a += g_m
                g_pe += g_m
        elif r_case == 2:
            g_pe += g_rr
            g_def -= g_rr
        # a = wmm (1 - x1**ib), computed only where PE > 0
        g_x1 = 0.0
        if pe > 0.0:
            g_wmm += g_a * (1.0 - p1)
            g_p1 = -g_a * wmm
            g_x1 = g_p1 * ib * _pow_below(x1, p1, ib - 1.0)
            g_ib = g_p1 * p1 * _log0(x1)
            g_b -= g_ib * ib * ib
        # x1 = deficit / wm; deficit = max(wm - (wu + wl + wd), eps)
        g_def += g_x1 / wm
        g_wm -= g_x1 * deficit / (wm * wm)
        if not w0_clamped:
            g_wm += g_def
            g_wu -= g_def
            g_wl -= g_def
            g_wd -= g_def
        # wmm = wm (1 + b); wm = um + lm + dm
        g_wm += g_wmm * (1.0 + b)
        g_b += g_wmm * wm
        g_um += g_wm
        g_lm += g_wm
        g_dm += g_wm

        # 1. evaporation; pe = max(d, 0), d = p - e, e = eu + el + ed
        if d >= 0.0:
            g_d += g_pe
        g_p = g_d  # d = p - e
        # reported E = (1 - im) e_perv + im e_imp, e_perv = eu + el + min(ed, wd), e_imp = min(p, ep)
        g_ev = g_eo * (1.0 - im)
        g_im += g_eo * (e_imp - e_perv)
        if p < ep:
            g_ep_imp = 0.0
            g_p += g_eo * im
        else:
            g_ep_imp = g_eo * im
        g_e = -g_d
        g_eu = g_e + g_ev
        g_el += g_e + g_ev
        g_ed += g_e
        if ed_capped:
            g_wd += g_ev
        else:
            g_ed += g_ev
        g_dd = 0.0
        g_cdd = 0.0
        if ced:
            g_cdd += g_ed
            g_wl -= g_ed
        if el_case == 1:
            g_dd += g_el * wl / lm
            g_wl += g_el * dd / lm
            g_lm -= g_el * dd * wl / (lm * lm)
        elif el_case == 2:
            g_cdd += g_el
        elif el_case == 3:
            g_wl += g_el
        g_c += g_cdd * dd
        g_dd += g_cdd * c
        # dd = ep - eu
        g_ep = g_dd + g_ep_imp
        g_eu -= g_dd
        if c1:
            g_ep += g_eu
        else:
            g_wu += g_eu
            g_p += g_eu
        # ep = max(k pet, 0)
        if kp >= 0.0:
            g_k += g_ep * pet[bi, t]
            if want_pet:
                gpet[bi, t] = g_ep * k
        elif want_pet:
            gpet[bi, t] = 0.0
        # p = max(prcp, 0): the gradient passes at prcp == 0 (torch.clamp's convention), so a dry
        # step still tells how much a drop of rain would change the loss
        if want_prcp:
            gprcp[bi, t] = g_p if prcp[bi, t] >= 0.0 else 0.0

        a_wu = g_wu
        a_wl = g_wl
        a_wd = g_wd
        a_s = g_s
        a_fr = g_fr
        a_qi = a_qi_prev
        a_qg = a_qg_prev
        gpar[bi, tp, P_K] += g_k
        gpar[bi, tp, P_B] += g_b
        gpar[bi, tp, P_IM] += g_im
        gpar[bi, tp, P_UM] += g_um
        gpar[bi, tp, P_LM] += g_lm
        gpar[bi, tp, P_DM] += g_dm
        gpar[bi, tp, P_C] += g_c
        gpar[bi, tp, P_SM] += g_sm
        gpar[bi, tp, P_EX] += g_ex
        gpar[bi, tp, P_KI] += g_ki
        gpar[bi, tp, P_KG] += g_kg
        gpar[bi, tp, P_CI] += g_ci
        gpar[bi, tp, P_CG] += g_cg

    ginit[bi, I_WU] = a_wu
    ginit[bi, I_WL] = a_wl
    ginit[bi, I_WD] = a_wd
    ginit[bi, I_S] = a_s
    ginit[bi, I_FR] = a_fr
    ginit[bi, I_QI] = a_qi
    ginit[bi, I_QG] = a_qg



# Drivers. Basins are independent; the serial drivers are the default (they compile in a few seconds
# and do not compete with torch's threads), the prange ones split wide batches over numba's threads.


@njit(cache=True, fastmath=False)
def xaj_forward(prcp, pet, par, init, out):
    """Run the recursion over ``T`` steps for ``B`` basins and record every series.

    prcp, pet: [B, T] mm/step; par: [B, T, N_PAR] (per step) or [B, 1, N_PAR] (static); init: [B, N_INIT];
    out: [N_REC, B, K] (written): the last K <= T steps (a warmup needs only its end states, K = 1).
    """
    for b in range(prcp.shape[0]):
        _forward_basin(b, prcp, pet, par, init, out)


@njit(cache=True, fastmath=False, parallel=True)
def xaj_forward_parallel(prcp, pet, par, init, out):
    """:func:`xaj_forward` with basins spread over numba's threads."""
    for b in prange(prcp.shape[0]):
        _forward_basin(b, prcp, pet, par, init, out)


@njit(cache=True, fastmath=False)
def xaj_backward(prcp, pet, par, init, out, gout, slot, gpar, ginit, gprcp, gpet):
    """Reverse-mode adjoint of :func:`xaj_forward`.

    out: [N_REC, B, T] as the forward pass wrote it; gout: [G, B, T] dL/d(recorded series), series j
    in row slot[j] (slot: int64 [N_OUT], -1 where the loss does not use series j: its gradient is 0).
    dL/d(par) is ADDED to gpar (shape of par: pass zeros); ginit [B, N_INIT] is overwritten with dL/d(init).
    gprcp, gpet: [B, T] overwritten with dL/d(prcp), dL/d(pet), or [B, 0] (``no_forcing_gradient``) to skip them.
    """
    for b in range(prcp.shape[0]):
        _backward_basin(b, prcp, pet, par, init, out, gout, slot, gpar, ginit, gprcp, gpet)


@njit(cache=True, fastmath=False, parallel=True)
def xaj_backward_parallel(prcp, pet, par, init, out, gout, slot, gpar, ginit, gprcp, gpet):
    """:func:`xaj_backward` with basins spread over numba's threads."""
    for b in prange(prcp.shape[0]):
        _backward_basin(b, prcp, pet, par, init, out, gout, slot, gpar, ginit, gprcp, gpet)


def no_forcing_gradient(n_basin: int) -> np.ndarray:
    """The ``[B, 0]`` stand-in for ``gprcp``/``gpet`` of :func:`xaj_backward`: that adjoint is not wanted."""
    return np.empty((n_basin, 0), dtype=np.float64)


def empty_outputs(n_basin: int, n_time: int) -> np.ndarray:
    """Allocate the recorded-series buffer ``[N_REC, B, T]`` float64 (the outputs, then the powers)."""
    return np.empty((N_REC, n_basin, n_time), dtype=np.float64)


@njit(cache=True, fastmath=False)
def uh_convolve_forward(inflow, weights, out):
    """out[b, t] = sum_k weights[b, k] inflow[b, t - k], zero history; summed in ascending k as the
    reference's ``causal_convolve`` does. inflow, out: [B, T]; weights: [B, L].

    The loop over k is the outer one (each output still sums its terms in ascending k, so the
    result is the same to the bit) and the inner one runs over shifted views from index 0: no
    carried sum and no negative-index check, so it vectorises (3x faster than a sum per output)."""
    n_basin, n_time = inflow.shape
    length = min(weights.shape[1], n_time)
    for b in range(n_basin):
        y = out[b]
        for t in range(n_time):
            y[t] = 0.0
        for k in range(length):
            w = weights[b, k]
            x_from = inflow[b, : n_time - k]
            y_to = y[k:]
            for i in range(x_from.shape[0]):
                y_to[i] = y_to[i] + w * x_from[i]


@njit(cache=True, fastmath=False, inline="always")
def _dot(a, b, lanes):
    """Sum of a * b over two equally long 1-D arrays, in four partial sums kept in ``lanes`` (a
    4-element scratch array, so that they fit one vector register and do not wait on each other)."""
    n = a.shape[0]
    lanes[:] = 0.0
    m = n - n % 4
    for i in range(0, m, 4):
        for j in range(4):
            lanes[j] += a[i + j] * b[i + j]
    tail = 0.0
    for i in range(m, n):
        tail += a[i] * b[i]
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + tail


@njit(cache=True, fastmath=False)
def uh_convolve_backward(inflow, weights, gout, ginflow, gweights):
    """Adjoint of :func:`uh_convolve_forward`: ginflow [B, T] and gweights [B, L] (overwritten).
    Loops ordered as in the forward pass (k outer, shifted views inner) so that they vectorise."""
    n_basin, n_time = inflow.shape
    length = weights.shape[1]
    lanes = np.zeros(4)
    for b in range(n_basin):
        gx = ginflow[b]
        for t in range(n_time):
            gx[t] = 0.0
        for k in range(length):
            if k >= n_time:
                gweights[b, k] = 0.0
                continue
            w = weights[b, k]
            g_from = gout[b, k:]
            gx_to = gx[: n_time - k]
            for i in range(g_from.shape[0]):
                gx_to[i] = gx_to[i] + w * g_from[i]
            gweights[b, k] = _dot(g_from, inflow[b, : n_time - k], lanes)
