"""Compiled (numba) HBV snow recursion and its hand-derived reverse-mode adjoint.

Mirrors ``core.hydro.snow.snow_step`` operation by operation, with torch's gradient conventions:
``clamp`` passes the gradient to its input when the input lies inside the bounds including
equality, ``minimum`` splits it half and half on a tie (ties are common here: an empty pack and no
melt, ``min(0, 0)``). Layout as ``core.hydro.xaj_kernels``: basin-major forcing ``[B, T]``, static
parameters ``[B, N_PAR]``, start stores ``[B, N_INIT]``, recorded series ``[N_OUT, B, T]``, float64.

Backward: the forward pass records the stores at the end of every step; the backward pass walks
the steps in reverse, recomputes the step from the recorded start stores and pulls the adjoints through.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

P_TT, P_CFMAX, P_CFR, P_CWH = range(4)
N_PAR = 4
I_PACK, I_LIQUID = range(2)
N_INIT = 2
O_PACK, O_LIQUID, O_OUTFLOW, O_MELT = range(4)
N_OUT = 4
OUTPUT_NAMES = ("SNOWPACK", "LIQUID", "OUTFLOW", "MELT")


@njit(cache=True, fastmath=False, inline="always")
def _step(pack0, liquid0, prcp, temp, tt, cfmax, cfr, cwh, half, width):
    """One step for one basin; returns the end stores, fluxes and the intermediates the adjoint needs."""
    p = prcp if prcp > 0.0 else 0.0
    share_raw = (tt + half - temp) / width
    share = share_raw
    if share < 0.0:
        share = 0.0
    elif share > 1.0:
        share = 1.0
    snowfall = p * share
    rain = p - snowfall
    pack1 = pack0 + snowfall
    melt_raw = cfmax * (temp - tt)
    pot_melt = melt_raw if melt_raw > 0.0 else 0.0
    melt = pot_melt if pot_melt < pack1 else pack1
    pack2 = pack1 - melt
    liquid1 = liquid0 + melt
    refreeze_raw = cfr * cfmax * (tt - temp)
    pot_refreeze = refreeze_raw if refreeze_raw > 0.0 else 0.0
    refreeze = pot_refreeze if pot_refreeze < liquid1 else liquid1
    pack3 = pack2 + refreeze
    liquid2 = liquid1 - refreeze
    excess = liquid2 - cwh * pack3
    release = excess if excess > 0.0 else 0.0
    liquid3 = liquid2 - release
    return (pack3, liquid3, rain + release, melt, p, share_raw, melt_raw, pot_melt, pack1,
            refreeze_raw, pot_refreeze, liquid1, excess)


@njit(cache=True, fastmath=False)
def _forward_basin(b, prcp, temp, par, init, out, half, width):
    pack, liquid = init[b, I_PACK], init[b, I_LIQUID]
    tt, cfmax, cfr, cwh = par[b, P_TT], par[b, P_CFMAX], par[b, P_CFR], par[b, P_CWH]
    for t in range(prcp.shape[1]):
        res = _step(pack, liquid, prcp[b, t], temp[b, t], tt, cfmax, cfr, cwh, half, width)
        pack, liquid = res[0], res[1]
        out[O_PACK, b, t] = pack
        out[O_LIQUID, b, t] = liquid
        out[O_OUTFLOW, b, t] = res[2]
        out[O_MELT, b, t] = res[3]


@njit(cache=True, fastmath=False, inline="always")
def _min_split(a, b, g):
    """Adjoint of ``minimum(a, b)``: (grad to a, grad to b), half each on a tie (torch's rule)."""
    if a < b:
        return g, 0.0
    if a > b:
        return 0.0, g
    return 0.5 * g, 0.5 * g


@njit(cache=True, fastmath=False)
def _backward_basin(b, prcp, temp, par, init, out, gout, gpar, ginit, half, width):
    tt, cfmax, cfr, cwh = par[b, P_TT], par[b, P_CFMAX], par[b, P_CFR], par[b, P_CWH]
    g_tt = 0.0
    g_cfmax = 0.0
    g_cfr = 0.0
    g_cwh = 0.0
    g_pack = 0.0  # adjoint of the store at the END of step t (from step t + 1)
    g_liquid = 0.0
    for t in range(prcp.shape[1] - 1, -1, -1):
        if t > 0:
            pack0, liquid0 = out[O_PACK, b, t - 1], out[O_LIQUID, b, t - 1]
        else:
            pack0, liquid0 = init[b, I_PACK], init[b, I_LIQUID]
        temp_t = temp[b, t]
        (pack3, liquid3, outflow, melt, p, share_raw, melt_raw, pot_melt, pack1, refreeze_raw,
         pot_refreeze, liquid1, excess) = _step(pack0, liquid0, prcp[b, t], temp_t, tt, cfmax, cfr, cwh, half, width)
        g_pack3 = g_pack + gout[O_PACK, b, t]
        g_liquid3 = g_liquid + gout[O_LIQUID, b, t]
        g_out = gout[O_OUTFLOW, b, t]
        g_melt = gout[O_MELT, b, t]
        # outflow = rain + release; liquid3 = liquid2 - release
        g_rain = g_out
        g_release = g_out - g_liquid3
        g_liquid2 = g_liquid3
        # release = clamp(excess, min=0); excess = liquid2 - cwh * pack3
        g_excess = g_release if excess >= 0.0 else 0.0
        g_liquid2 += g_excess
        g_cwh -= g_excess * pack3
        g_pack3 -= g_excess * cwh
        # pack3 = pack2 + refreeze; liquid2 = liquid1 - refreeze
        g_pack2 = g_pack3
        g_refreeze = g_pack3 - g_liquid2
        g_liquid1 = g_liquid2
        # refreeze = minimum(pot_refreeze, liquid1)
        g_pot_refreeze, g_l = _min_split(pot_refreeze, liquid1, g_refreeze)
        g_liquid1 += g_l
        # pot_refreeze = clamp(cfr * cfmax * (tt - temp), min=0)
        if refreeze_raw >= 0.0:
            g_cfr += g_pot_refreeze * cfmax * (tt - temp_t)
            g_cfmax += g_pot_refreeze * cfr * (tt - temp_t)
            g_tt += g_pot_refreeze * cfr * cfmax
        # liquid1 = liquid0 + melt; pack2 = pack1 - melt
        g_liquid0 = g_liquid1
        g_melt_total = g_melt + g_liquid1 - g_pack2
        g_pack1 = g_pack2
        # melt = minimum(pot_melt, pack1)
        g_pot_melt, g_p1 = _min_split(pot_melt, pack1, g_melt_total)
        g_pack1 += g_p1
        # pot_melt = clamp(cfmax * (temp - tt), min=0)
        if melt_raw >= 0.0:
            g_cfmax += g_pot_melt * (temp_t - tt)
            g_tt -= g_pot_melt * cfmax
        # pack1 = pack0 + snowfall; rain = p - snowfall; snowfall = p * share
        g_pack0 = g_pack1
        g_snowfall = g_pack1 - g_rain
        if 0.0 <= share_raw <= 1.0:
            g_tt += g_snowfall * p / width
        g_pack = g_pack0
        g_liquid = g_liquid0
    gpar[b, P_TT] += g_tt
    gpar[b, P_CFMAX] += g_cfmax
    gpar[b, P_CFR] += g_cfr
    gpar[b, P_CWH] += g_cwh
    ginit[b, I_PACK] += g_pack
    ginit[b, I_LIQUID] += g_liquid


@njit(cache=True, fastmath=False)
def snow_forward(prcp, temp, par, init, out, half, width):
    """prcp, temp ``[B, T]``; par ``[B, N_PAR]``; init ``[B, N_INIT]``; out ``[N_OUT, B, T]`` (written)."""
    for b in range(prcp.shape[0]):
        _forward_basin(b, prcp, temp, par, init, out, half, width)


@njit(cache=True, fastmath=False, parallel=True)
def snow_forward_parallel(prcp, temp, par, init, out, half, width):
    """``snow_forward`` with basins split over numba's threads."""
    for b in prange(prcp.shape[0]):
        _forward_basin(b, prcp, temp, par, init, out, half, width)


@njit(cache=True, fastmath=False)
def snow_backward(prcp, temp, par, init, out, gout, gpar, ginit, half, width):
    """Adjoint: ``gout [N_OUT, B, T]`` -> accumulates into ``gpar [B, N_PAR]`` and ``ginit [B, N_INIT]``."""
    for b in range(prcp.shape[0]):
        _backward_basin(b, prcp, temp, par, init, out, gout, gpar, ginit, half, width)


@njit(cache=True, fastmath=False, parallel=True)
def snow_backward_parallel(prcp, temp, par, init, out, gout, gpar, ginit, half, width):
    """``snow_backward`` with basins split over numba's threads."""
    for b in prange(prcp.shape[0]):
        _backward_basin(b, prcp, temp, par, init, out, gout, gpar, ginit, half, width)


def empty_outputs(n_basin: int, n_time: int) -> np.ndarray:
    """The recorded-series buffer ``[N_OUT, B, T]`` float64."""
    return np.empty((N_OUT, n_basin, n_time), dtype=np.float64)
