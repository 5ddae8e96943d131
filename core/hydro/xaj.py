"""Xinanjiang (XAJ) rainfall-runoff model: the readable eager PyTorch reference (docs/design.md, 4. XAJ physics).

Sequence-first and vectorised over basins: ``forcing [T, B, 2]`` (P, PET in mm per step) and
``params [B, 15]`` (static) or ``[T, B, 15]`` (per step, "dynamic parameters") in physical units
(order ``core.hydro.params.XAJ_PARAMS``). The time loop is plain Python, one step of tensor
operations per time step; ``core.hydro.xaj_fused`` computes the same numbers in compiled code and
``simulate(backend="auto")`` uses it.

Where the equations branch (``torch.where``), the branch not taken is evaluated on safe stand-in
values so that neither branch produces inf/NaN: autograd multiplies the unused branch's local
gradient by zero, and ``0 * inf`` would still be NaN. The capacity deficits ``WM - W0`` and
``SM - SS*`` are floored at 1e-5 directly (the same numbers as the spec's ``min(W, WM - 1e-5)``) so
that fractional powers never see a zero base, also in float32 where ``WM - 1e-5`` can round to WM.

Areas (issue 12, item 6). Tension and free water live on the pervious fraction ``1 - IM`` of the
basin and their storages count with that weight in the budget; the impervious fraction evaporates
``min(P, EP)`` and runs off the rest, ``RIM = IM PE`` (``PE = max(P - EP, 0)`` identically, see
``xaj_step``). The reported basin evaporation is ``E = (1 - IM)(EU + EL + min(ED, WD)) + IM min(P, EP)``:
the deep layer cannot evaporate more than it holds. Streamflow is exactly that of docs/design.md,
4. XAJ physics (RIM, R, RS, RI, RG are unchanged); only E and the storage weights differ, and the
budget closes without any "impervious gain" term.
"""

from __future__ import annotations

import torch

from core.hydro import xaj_fused
from core.hydro.unit_hydrograph import gamma_unit_hydrograph, route_surface
from core.hydro.xaj_setup import (CAPACITY_FLOOR, FLUX_NAMES, INITIAL_NAMES, STATE_NAMES, XajParams,
                                  XajState, checked_inputs, initial_state, per_step_params,
                                  periodic_reservoir_start, step_constants, unpack_params)

__all__ = ["FLUX_NAMES", "INITIAL_NAMES", "STATE_NAMES", "XajParams", "XajState", "evaporation",
           "free_water_sources", "initial_state", "runoff_generation", "simulate", "simulate_reference",
           "step_constants", "tension_water_update", "unpack_params", "water_balance", "xaj_step"]

_CAPACITY_FLOOR = CAPACITY_FLOOR
_checked_inputs = checked_inputs  # kept for callers of the former private name


def evaporation(prcp: torch.Tensor, ep: torch.Tensor, wu: torch.Tensor, wl: torch.Tensor,
                lm: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three-layer evapotranspiration (section 4.1), all ``[B]`` in mm per step.

    ``prcp`` rainfall P, ``ep`` potential evapotranspiration K * PET, ``wu``/``wl`` upper/lower tension
    water at the start of the step, ``lm`` lower capacity, ``c`` deep-layer coefficient.
    Returns ``(EU, EL, ED)``.
    """
    zero = torch.zeros_like(prcp)
    upper_enough = wu + prcp >= ep
    eu = torch.where(upper_enough, ep, wu + prcp)
    shortfall = ep - eu  # demand left for the lower layers; 0 when the upper layer suffices
    lower_wet = wl >= c * lm
    el_lower = torch.where(lower_wet, shortfall * wl / lm,
                           torch.where(wl >= c * shortfall, c * shortfall, wl))
    el = torch.where(upper_enough, zero, el_lower)
    deep_used = (wl < c * lm) & (wl < c * shortfall)
    ed = torch.where(deep_used, c * shortfall - wl, zero)
    return eu, el, ed


def runoff_generation(pe: torch.Tensor, w_total: torch.Tensor, p: XajParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Saturation-excess runoff R and impervious runoff RIM (section 4.2), ``[B]`` mm per step.

    ``pe`` net rainfall max(P - E, 0); ``w_total`` tension water WU + WL + WD at the start of the step.
    """
    wm = p.UM + p.LM + p.DM
    wmm = wm * (1.0 + p.B)
    deficit = torch.clamp(wm - w_total, min=_CAPACITY_FLOOR)  # WM - W0 with W0 = min(W, WM - 1e-5)
    a = wmm * (1.0 - (deficit / wm) ** (1.0 / (1.0 + p.B)))
    wet = pe > 0.0
    below = pe + a < wmm
    curve_base = torch.where(wet & below, 1.0 - torch.minimum(a + pe, wmm) / wmm, torch.ones_like(pe))
    r_partial = pe - deficit + wm * curve_base ** (1.0 + p.B)
    r_full = pe - deficit
    r = torch.where(wet, torch.where(below, r_partial, r_full), torch.zeros_like(pe))
    r = torch.clamp(r, min=0.0)
    rim = torch.clamp(pe * p.IM, min=0.0)
    return r, rim


def tension_water_update(d: torch.Tensor, r: torch.Tensor, el: torch.Tensor, ed: torch.Tensor,
                         state: XajState, p: XajParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """New WU, WL, WD (section 4.3), ``[B]`` mm, clamped to ``[0, capacity]``.

    ``d`` = P - E (may be negative), ``r`` runoff, ``el``/``ed`` lower/deep evaporation.
    """
    wu, wl, wd = state.WU, state.WL, state.WD
    wetting = d > 0.0
    total = wu + wl + wd + d - r
    wu_wet = torch.minimum(wu + d - r, p.UM)
    wd_wet = torch.where(wu + wl + d - r > p.UM + p.LM, total - p.UM - p.LM, wd)
    wl_wet = total - wu_wet - wd_wet
    wu_new = torch.where(wetting, wu_wet, torch.clamp(wu + d, min=0.0))
    wl_new = torch.where(wetting, wl_wet, wl - el)
    wd_new = torch.where(wetting, wd_wet, wd - ed)
    zero = torch.zeros_like(wu)
    return (torch.clamp(wu_new, min=zero, max=p.UM), torch.clamp(wl_new, min=zero, max=p.LM),
            torch.clamp(wd_new, min=zero, max=p.DM))


def free_water_sources(pe: torch.Tensor, r: torch.Tensor, s: torch.Tensor, fr_prev: torch.Tensor,
                       p: XajParams) -> tuple[torch.Tensor, ...]:
    """Split R into surface, interflow and groundwater runoff via free water ("HF", section 4.4).

    ``s`` free water depth over the runoff area and ``fr_prev`` that area's fraction, both from the
    previous step. Returns ``(RS, RI, RG, S_next, FR)``, ``[B]``; RS, RI, RG in mm per step over the
    pervious area (multiply by 1 - IM for the basin), ``S_next`` after the KI, KG drainage.
    """
    has_r = r > 0.0
    safe_pe = torch.where(has_r, pe, torch.ones_like(pe))  # PE > 0 wherever R > 0
    fr = torch.where(has_r, r / safe_pe, fr_prev)
    ss = torch.where(has_r, fr_prev * s / fr, s)  # same water volume spread over the new area
    free_deficit = torch.clamp(p.SM - ss, min=_CAPACITY_FLOOR)  # SM - SS* with SS* = min(SS, SM - 1e-5)
    ss_capped = p.SM - free_deficit
    ms = p.SM * (1.0 + p.EX)
    au = ms * (1.0 - (free_deficit / p.SM) ** (1.0 / (1.0 + p.EX)))
    below = pe + au < ms
    curve_base = torch.where(has_r & below, 1.0 - torch.minimum(pe + au, ms) / ms, torch.ones_like(pe))
    rs_partial = fr * (pe - p.SM + ss_capped + p.SM * curve_base ** (1.0 + p.EX))
    rs_full = fr * (pe + ss_capped - p.SM)
    rs = torch.where(has_r, torch.where(below, rs_partial, rs_full), torch.zeros_like(pe))
    rs = torch.minimum(rs, r)
    s_new = torch.where(has_r, ss_capped + (r - rs) / fr, s)
    s_new = torch.minimum(s_new, p.SM)
    ri = p.KI * s_new * fr
    rg = p.KG * s_new * fr
    return rs, ri, rg, s_new * (1.0 - p.KI - p.KG), fr


def xaj_step(prcp: torch.Tensor, pet: torch.Tensor, state: XajState,
             p: XajParams) -> tuple[XajState, dict[str, torch.Tensor]]:
    """One time step for all basins: ``prcp``, ``pet`` ``[B]`` mm per step; ``p`` ``[B]`` columns.

    Returns the end-of-step state and the fluxes ``PE, R, RIM, RS, RI, RG, E`` (mm per step; R, RS,
    RI, RG over the pervious area, the rest over the basin) and ``surface_in`` = RIM + RS (1 - IM),
    the inflow to the unit hydrograph.

    ``E`` is the basin evaporation ``(1 - IM)(EU + EL + min(ED, WD)) + IM min(P, EP)``. The water
    balance of the pervious area uses ``D = P - (EU + EL + ED)`` as in docs/design.md, 4.1 Evaporation; capping ED by WD
    there changes nothing, because D > 0 only when EU = EP covers the demand (then ED = 0) and the
    deep store update already clamps at zero. ``PE = max(D, 0)`` equals ``max(P - EP, 0)`` (E >= P
    whenever P < EP), so the impervious area, which evaporates ``min(P, EP)``, runs off exactly
    ``IM PE``.
    """
    prcp = torch.clamp(prcp, min=0.0)
    ep = torch.clamp(p.K * pet, min=0.0)
    eu, el, ed = evaporation(prcp, ep, state.WU, state.WL, p.LM, p.C)
    e = eu + el + ed
    d = prcp - e
    pe = torch.clamp(d, min=0.0)
    r, rim = runoff_generation(pe, state.WU + state.WL + state.WD, p)
    wu, wl, wd = tension_water_update(d, r, el, ed, state, p)
    rs, ri, rg, s, fr = free_water_sources(pe, r, state.S, state.FR, p)
    pervious = 1.0 - p.IM
    qi = p.CI * state.QI + (1.0 - p.CI) * ri * pervious
    qg = p.CG * state.QG + (1.0 - p.CG) * rg * pervious
    e_pervious = eu + el + torch.where(ed > state.WD, state.WD, ed)
    e_impervious = torch.where(prcp < ep, prcp, ep)
    e_basin = pervious * e_pervious + p.IM * e_impervious
    fluxes = {"PE": pe, "R": r, "RIM": rim, "RS": rs, "RI": ri, "RG": rg, "E": e_basin,
              "surface_in": rim + rs * pervious}
    return XajState(wu, wl, wd, s, fr, qi, qg), fluxes


def _routing_history(inflow_history: torch.Tensor | None, uh_length: int) -> torch.Tensor | None:
    """The last ``uh_length - 1`` warmup steps of surface inflow (all that can still reach the outlet)."""
    if inflow_history is None or uh_length <= 1 or inflow_history.shape[0] == 0:
        return None
    return inflow_history[-(uh_length - 1):].detach()


def simulate_reference(forcing: torch.Tensor, params: torch.Tensor, warmup: int = 0, uh_length: int = 15,
                       return_states: bool = False, warmup_routing: bool = False,
                       reservoir_equilibrium: bool = False):
    """The eager reference of ``simulate`` (same arguments and returns, no backend choice)."""
    forcing, params = checked_inputs(forcing, params, warmup, uh_length)
    steps = forcing.shape[0]
    p_all = unpack_params(per_step_params(params, steps))  # [T, B] columns
    state = cold = initial_state(p_all.at(0))
    history = []
    if warmup > 0:
        with torch.no_grad():
            for t in range(warmup):
                state, flux = xaj_step(forcing[t, :, 0], forcing[t, :, 1], state, p_all.at(t))
                history.append(flux["surface_in"])
            if reservoir_equilibrium:
                state = state._replace(QI=periodic_reservoir_start(state.QI, cold.QI, p_all.CI[:warmup]),
                                       QG=periodic_reservoir_start(state.QG, cold.QG, p_all.CG[:warmup]))
        state = XajState(*(x.detach() for x in state))
    start = state
    states: dict[str, list[torch.Tensor]] = {name: [] for name in STATE_NAMES}
    fluxes: dict[str, list[torch.Tensor]] = {name: [] for name in FLUX_NAMES if name != "QS"}
    surface_in = []
    for t in range(warmup, steps):
        state, flux = xaj_step(forcing[t, :, 0], forcing[t, :, 1], state, p_all.at(t))
        surface_in.append(flux["surface_in"])
        fluxes["E"].append(flux["E"])
        if return_states:
            for name in fluxes:
                if name != "E":
                    fluxes[name].append(flux[name])
        for name in ("QI", "QG") if not return_states else STATE_NAMES:
            states[name].append(getattr(state, name))
    inflow = torch.stack(surface_in)
    # the unit hydrograph of the last step (A, THETA are best kept static; see core.hydro.dpl)
    weights = gamma_unit_hydrograph(p_all.A[-1], p_all.THETA[-1], uh_length)
    hist = _routing_history(torch.stack(history), uh_length) if (warmup_routing and history) else None
    qs, pending, pending0 = route_surface(inflow, weights, hist)
    qi, qg = torch.stack(states["QI"]), torch.stack(states["QG"])
    q = qs + qi + qg
    et = torch.stack(fluxes["E"])
    if not return_states:
        return q, et
    out = {name: torch.stack(states[name]) for name in STATE_NAMES}
    out.update({name: torch.stack(fluxes[name]) for name in fluxes})
    out["QS"] = qs
    out["UH"] = pending
    out.update({f"{name}0": getattr(start, name) for name in STATE_NAMES})
    out["UH0"] = pending0
    return q, et, out


def simulate(forcing: torch.Tensor, params: torch.Tensor, warmup: int = 0, uh_length: int = 15,
             return_states: bool = False, backend: str = "auto", warmup_routing: bool = False,
             reservoir_equilibrium: bool = False):
    """Run XAJ for ``B`` basins over ``T`` steps.

    Parameters
    ----------
    forcing : tensor [T, B, 2]
        Rainfall P and potential evapotranspiration PET, mm per step (negative values count as 0).
    params : tensor [B, 15] or [T, B, 15]
        Physical parameters in the order of ``XAJ_PARAMS``, one set per basin or one per step and
        basin (dynamic parameters; the warmup steps use their own rows too). Gradients flow to it.
        With per-step parameters the unit hydrograph takes A and THETA of the last step.
    warmup : int
        Leading steps run without gradient from the section 4.6 initial states; outputs start after them.
    uh_length : int
        Length L of the gamma unit hydrograph, steps.
    return_states : bool
        Also return a dict of diagnostics (see below).
    backend : {"auto", "reference", "fused"}
        "reference" is this module's eager loop, "fused" the compiled ``core.hydro.xaj_fused`` (numba
        is a requirement); "auto" is the fused one. Both differentiate with respect to ``params`` and,
        when it requires grad, ``forcing`` (P and PET of the main period).
    warmup_routing : bool
        False (docs/design.md, 4.5 Routing): the surface convolution starts with zero history after the
        warmup. True: it starts with the warmup's surface inflow as history, so a storm just before
        the simulated period still reaches the outlet (issue 12, spin-up).
    reservoir_equilibrium : bool
        False (docs/design.md, 4.6 Initial states and warmup): the warmup's end states start the main period. True: the
        interflow and groundwater reservoirs start it in periodic steady state over the warmup
        (``xaj_setup.periodic_reservoir_start``): the outflow they would have after the warmup's
        forcing repeated without end, so a slow reservoir (CG near 1) does not carry the arbitrary
        cold start into the scored steps. Needs ``warmup > 0`` to change anything.

    Returns
    -------
    q, et : tensor [T - warmup, B]
        Streamflow Q = QS + QI + QG and actual evapotranspiration E (basin), mm per step.
    states : dict, only with ``return_states=True``
        ``[T - warmup, B]`` end-of-step states ``WU, WL, WD, S, FR, QI, QG``; fluxes ``PE, R, RIM,
        RS, RI, RG, E, QS`` (R, RS, RI, RG per unit pervious area, the rest per basin area); ``UH`` water
        still inside the unit hydrograph at the end of each step (mm); ``[B]`` start-of-period states
        ``WU0, WL0, WD0, S0, FR0, QI0, QG0, UH0``. ``water_balance`` turns them into a budget.
    """
    if backend not in ("auto", "reference", "fused"):
        raise ValueError(f"simulate: unknown backend {backend!r}; use 'auto', 'reference' or 'fused'")
    if backend == "reference":
        return simulate_reference(forcing, params, warmup, uh_length, return_states, warmup_routing,
                                  reservoir_equilibrium)
    return xaj_fused.simulate_fused(forcing, params, warmup, uh_length, return_states, warmup_routing,
                                    reservoir_equilibrium)


def water_balance(forcing: torch.Tensor, params: torch.Tensor, q: torch.Tensor, et: torch.Tensor,
                  states: dict[str, torch.Tensor], warmup: int = 0) -> dict[str, torch.Tensor]:
    """Water budget of a run from ``simulate(..., return_states=True)``, ``[B]`` totals in mm.

    ``storage`` is the basin-average water held in: tension water ``(1 - IM)(WU + WL + WD)`` and
    free water ``(1 - IM) FR S`` (both live on the pervious area); the interflow and groundwater
    reservoirs ``CI/(1 - CI) QI`` and ``CG/(1 - CG) QG`` (a linear reservoir
    ``Q_t = c Q_{t-1} + (1 - c) I_t`` holds ``c/(1 - c) Q_t``); the unit hydrograph pipeline ``UH``.
    The budget reads

        inflow - evaporation - streamflow = storage_end - storage_start + residual

    and the residual is what the capacity caps of sections 4.3-4.4 discard (positive) or create
    (negative), split into ``tension_clip`` and ``free_water_clip``; routing and reservoirs are exact.
    Both clips are ~1e-9 of the inflow on real forcing in float64. The storage weights are those of
    the last step's parameters, so the budget closes exactly for static IM, CI, CG (the defaults of
    ``dynamic_params`` leave them static).
    """
    steps = forcing.shape[0]
    p = unpack_params(per_step_params(params, steps)).at(-1)
    prcp = torch.clamp(forcing[warmup:, :, 0], min=0.0)
    pervious = 1.0 - p.IM

    def steps_change(series: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        return torch.diff(series, dim=0, prepend=start.unsqueeze(0))

    tension = pervious * (states["WU"] + states["WL"] + states["WD"])
    tension0 = pervious * (states["WU0"] + states["WL0"] + states["WD0"])
    free = pervious * states["FR"] * states["S"]
    free0 = pervious * states["FR0"] * states["S0"]
    interflow_store = p.CI / (1.0 - p.CI)
    baseflow_store = p.CG / (1.0 - p.CG)
    uh0 = states.get("UH0", torch.zeros_like(tension0))
    start = tension0 + free0 + interflow_store * states["QI0"] + baseflow_store * states["QG0"] + uh0
    end = (tension[-1] + free[-1] + interflow_store * states["QI"][-1] + baseflow_store * states["QG"][-1]
           + states["UH"][-1])
    budget = {"inflow": prcp.sum(0), "evaporation": et.sum(0), "streamflow": q.sum(0),
              "storage_start": start, "storage_end": end}
    budget["residual"] = budget["inflow"] - budget["evaporation"] - budget["streamflow"] - (end - start)
    # pervious area: (1 - IM)(P - E_pervious - R) = change of tension water; the impervious area
    # evaporates P - PE and runs off RIM = IM PE, hence (1 - IM)(P - E_pervious) = P - E - RIM
    budget["tension_clip"] = (prcp - states["E"] - states["RIM"] - pervious * states["R"]
                              - steps_change(tension, tension0)).sum(0)
    budget["free_water_clip"] = (pervious * (states["R"] - states["RS"] - states["RI"] - states["RG"])
                                 - steps_change(free, free0)).sum(0)
    return budget
