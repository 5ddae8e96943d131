"""Xinanjiang (XAJ) rainfall-runoff model: the readable eager PyTorch reference (DESIGN.md section 4).

Sequence-first and vectorised over basins: ``forcing [T, B, 2]`` (P, PET in mm per step) and
``params [B, 15]`` in physical units (order ``core.hydro.params.XAJ_PARAMS``). The time loop is plain
Python, one step of tensor operations per time step; ``core.hydro.xaj_fused`` (when present) computes
the same numbers in compiled code and ``simulate(backend="auto")`` prefers it.

Where the equations branch (``torch.where``), the branch not taken is evaluated on safe stand-in
values so that neither branch produces inf/NaN: autograd multiplies the unused branch's local
gradient by zero, and ``0 * inf`` would still be NaN. The capacity deficits ``WM - W0`` and
``SM - SS*`` are floored at 1e-5 directly (the same numbers as the spec's ``min(W, WM - 1e-5)``) so
that fractional powers never see a zero base, also in float32 where ``WM - 1e-5`` can round to WM.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.hydro.params import PARAM_INDEX, XAJ_PARAMS
from core.hydro.unit_hydrograph import causal_convolve, gamma_unit_hydrograph, pending_volume

STATE_NAMES: tuple[str, ...] = ("WU", "WL", "WD", "S", "FR", "QI", "QG")
"""End-of-step state variables returned with ``return_states=True``, each ``[T - warmup, B]``."""

FLUX_NAMES: tuple[str, ...] = ("PE", "R", "RIM", "RS", "RI", "RG", "E", "QS")
"""Per-step fluxes returned with ``return_states=True`` (mm per step), each ``[T - warmup, B]``."""

INITIAL_NAMES: tuple[str, ...] = tuple(f"{name}0" for name in STATE_NAMES)
"""States at the start of the simulated (post-warmup) period, each ``[B]``, keys ``WU0`` ... ``QG0``."""

_CAPACITY_FLOOR = 1e-5  # mm; the spec's "- 1e-5" margins below WM and SM
_KI_KG_MAX = 1.0 - 1e-5  # KI + KG are scaled down to this sum when they reach 1


class XajState(NamedTuple):
    """Model state per basin, each ``[B]``: tension water WU, WL, WD (mm), free water S (mm over the
    runoff area), runoff-area fraction FR (-), interflow and groundwater outflows QI, QG (mm/step)."""

    WU: torch.Tensor
    WL: torch.Tensor
    WD: torch.Tensor
    S: torch.Tensor
    FR: torch.Tensor
    QI: torch.Tensor
    QG: torch.Tensor


class XajParams(NamedTuple):
    """Columns of ``params [B, 15]`` by name, each ``[B]``, with KI, KG already scaled so KI + KG < 1."""

    K: torch.Tensor
    B: torch.Tensor
    IM: torch.Tensor
    UM: torch.Tensor
    LM: torch.Tensor
    DM: torch.Tensor
    C: torch.Tensor
    SM: torch.Tensor
    EX: torch.Tensor
    KI: torch.Tensor
    KG: torch.Tensor
    A: torch.Tensor
    THETA: torch.Tensor
    CI: torch.Tensor
    CG: torch.Tensor


def unpack_params(params: torch.Tensor) -> XajParams:
    """Split ``params [B, 15]`` into named ``[B]`` columns; scale KI, KG by ``(1 - 1e-5)/(KI + KG)``
    where their sum reaches 1 so that free water never drains more than it holds."""
    cols = {name: params[..., PARAM_INDEX[name]] for name in XAJ_PARAMS}
    total = cols["KI"] + cols["KG"]
    safe_total = torch.where(total >= 1.0, total, torch.ones_like(total))
    scale = torch.where(total >= 1.0, _KI_KG_MAX / safe_total, torch.ones_like(total))
    cols["KI"] = cols["KI"] * scale
    cols["KG"] = cols["KG"] * scale
    return XajParams(**cols)


def initial_state(p: XajParams) -> XajState:
    """States without warmup (section 4.6): half-full tension and free water, FR = 0.1, QI = QG = 0.1."""
    tenth = torch.full_like(p.SM, 0.1)
    return XajState(0.5 * p.UM, 0.5 * p.LM, 0.5 * p.DM, 0.5 * p.SM, tenth, tenth, tenth.clone())


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
    """One time step for all basins: ``prcp``, ``pet`` ``[B]`` mm per step.

    Returns the end-of-step state and the fluxes ``PE, R, RIM, RS, RI, RG, E`` (mm per step; RS, RI,
    RG over the pervious area) and ``surface_in`` = RIM + RS (1 - IM), the inflow to the unit hydrograph.
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
    fluxes = {"PE": pe, "R": r, "RIM": rim, "RS": rs, "RI": ri, "RG": rg, "E": e,
              "surface_in": rim + rs * pervious}
    return XajState(wu, wl, wd, s, fr, qi, qg), fluxes


def simulate_reference(forcing: torch.Tensor, params: torch.Tensor, warmup: int = 0, uh_length: int = 15,
                       return_states: bool = False):
    """The eager reference of ``simulate`` (same arguments and returns, no backend choice)."""
    forcing, params = _checked_inputs(forcing, params, warmup, uh_length)
    p = unpack_params(params)
    state = initial_state(p)
    if warmup > 0:
        with torch.no_grad():
            for t in range(warmup):
                state, _ = xaj_step(forcing[t, :, 0], forcing[t, :, 1], state, p)
        state = XajState(*(x.detach() for x in state))
    start = state
    states: dict[str, list[torch.Tensor]] = {name: [] for name in STATE_NAMES}
    fluxes: dict[str, list[torch.Tensor]] = {name: [] for name in FLUX_NAMES if name != "QS"}
    surface_in = []
    for t in range(warmup, forcing.shape[0]):
        state, flux = xaj_step(forcing[t, :, 0], forcing[t, :, 1], state, p)
        surface_in.append(flux["surface_in"])
        fluxes["E"].append(flux["E"])
        if return_states:
            for name in fluxes:
                if name != "E":
                    fluxes[name].append(flux[name])
        for name in ("QI", "QG") if not return_states else STATE_NAMES:
            states[name].append(getattr(state, name))
    inflow = torch.stack(surface_in)
    weights = gamma_unit_hydrograph(p.A, p.THETA, uh_length)
    qs = causal_convolve(inflow, weights)
    qi, qg = torch.stack(states["QI"]), torch.stack(states["QG"])
    q = qs + qi + qg
    et = torch.stack(fluxes["E"])
    if not return_states:
        return q, et
    out = {name: torch.stack(states[name]) for name in STATE_NAMES}
    out.update({name: torch.stack(fluxes[name]) for name in fluxes})
    out["QS"] = qs
    out["UH"] = pending_volume(inflow, weights)
    out.update({f"{name}0": getattr(start, name) for name in STATE_NAMES})
    return q, et, out


def simulate(forcing: torch.Tensor, params: torch.Tensor, warmup: int = 0, uh_length: int = 15,
             return_states: bool = False, backend: str = "auto"):
    """Run XAJ for ``B`` basins over ``T`` steps.

    Parameters
    ----------
    forcing : tensor [T, B, 2]
        Rainfall P and potential evapotranspiration PET, mm per step (negative values count as 0).
    params : tensor [B, 15]
        Physical parameters in the order of ``XAJ_PARAMS``; gradients flow to it.
    warmup : int
        Leading steps run without gradient from the section 4.6 initial states; outputs start after them.
    uh_length : int
        Length L of the gamma unit hydrograph, steps.
    return_states : bool
        Also return a dict of diagnostics (see below).
    backend : {"auto", "reference", "fused"}
        "reference" is this module's eager loop; "fused" requires ``core.hydro.xaj_fused``;
        "auto" uses the fused one when it imports and reports ``is_available()``, except when
        ``forcing`` itself requires a gradient (the fused adjoint differentiates parameters only).

    Returns
    -------
    q, et : tensor [T - warmup, B]
        Streamflow Q = QS + QI + QG and actual evapotranspiration E, mm per step.
    states : dict, only with ``return_states=True``
        ``[T - warmup, B]`` end-of-step states ``WU, WL, WD, S, FR, QI, QG``; fluxes ``PE, R, RIM,
        RS, RI, RG, E, QS`` (RS, RI, RG per unit pervious area, the rest per basin area); ``UH`` water
        still inside the unit hydrograph at the end of each step (mm); ``[B]`` start-of-period states
        ``WU0, WL0, WD0, S0, FR0, QI0, QG0``. ``water_balance`` turns them into a budget.
    """
    if backend == "reference":
        return simulate_reference(forcing, params, warmup, uh_length, return_states)
    if backend not in ("auto", "fused"):
        raise ValueError(f"simulate: unknown backend {backend!r}; use 'auto', 'reference' or 'fused'")
    if backend == "auto" and forcing.requires_grad:
        return simulate_reference(forcing, params, warmup, uh_length, return_states)
    fused = _fused_simulate(required=backend == "fused")
    if fused is None:
        return simulate_reference(forcing, params, warmup, uh_length, return_states)
    return fused(forcing, params, warmup, uh_length, return_states)


def _fused_simulate(required: bool):
    """``core.hydro.xaj_fused.simulate_fused`` if importable and available, else None (or raise if required)."""
    try:
        from core.hydro import xaj_fused
        available = bool(xaj_fused.is_available())
    except Exception as exc:  # a missing or broken optional backend must not break the reference
        if required:
            raise RuntimeError(f"simulate(backend='fused'): core/hydro/xaj_fused.py is unusable: {exc!r}") from exc
        return None
    if not available:
        if required:
            raise RuntimeError("simulate(backend='fused'): core.hydro.xaj_fused.is_available() returned False")
        return None
    return xaj_fused.simulate_fused


def water_balance(forcing: torch.Tensor, params: torch.Tensor, q: torch.Tensor, et: torch.Tensor,
                  states: dict[str, torch.Tensor], warmup: int = 0) -> dict[str, torch.Tensor]:
    """Water budget of a run from ``simulate(..., return_states=True)``, ``[B]`` totals in mm.

    ``storage`` is the basin-average water held in: tension water ``WU + WL + WD``; free water
    ``(1 - IM) FR S``; the interflow and groundwater reservoirs ``CI/(1 - CI) QI`` and ``CG/(1 - CG) QG``
    (a linear reservoir ``Q_t = c Q_{t-1} + (1 - c) I_t`` holds ``c/(1 - c) Q_t``); the unit hydrograph
    pipeline ``UH``. ``impervious_gain`` = sum ``IM (PE - R)``: the formulation lets the impervious
    fraction run off ``IM PE`` while the tension water also takes ``PE - R`` over the whole basin, so
    this much water appears. The budget reads

        inflow - evaporation - streamflow + impervious_gain = storage_end - storage_start + residual

    and the residual is what the capacity caps of sections 4.3-4.4 discard (positive) or create
    (negative), split into ``tension_clip`` = sum (P - E - R - change of WU + WL + WD) and
    ``free_water_clip`` = sum ((1 - IM)(R - RS - RI - RG) - change of (1 - IM) FR S); routing and
    reservoirs are exact. Both clips are ~1e-7 of the inflow on real forcing; they grow where the
    equations ask more than the stores hold: ED > WD in droughts (E keeps drawing C EP from an empty
    deep layer) and SS = FR_prev S / FR > SM when the runoff area shrinks after a large storm.
    """
    p = unpack_params(params)
    prcp = torch.clamp(forcing[warmup:, :, 0], min=0.0)
    pervious = 1.0 - p.IM

    def steps_change(series: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        return torch.diff(series, dim=0, prepend=start.unsqueeze(0))

    tension = states["WU"] + states["WL"] + states["WD"]
    tension0 = states["WU0"] + states["WL0"] + states["WD0"]
    free = pervious * states["FR"] * states["S"]
    free0 = pervious * states["FR0"] * states["S0"]
    interflow_store = p.CI / (1.0 - p.CI)
    baseflow_store = p.CG / (1.0 - p.CG)
    start = tension0 + free0 + interflow_store * states["QI0"] + baseflow_store * states["QG0"]
    end = (tension[-1] + free[-1] + interflow_store * states["QI"][-1] + baseflow_store * states["QG"][-1]
           + states["UH"][-1])
    gain = (p.IM * (states["PE"] - states["R"])).sum(0)
    budget = {"inflow": prcp.sum(0), "evaporation": et.sum(0), "streamflow": q.sum(0),
              "impervious_gain": gain, "storage_start": start, "storage_end": end}
    budget["residual"] = (budget["inflow"] - budget["evaporation"] - budget["streamflow"] + gain
                          - (end - start))
    budget["tension_clip"] = (prcp - states["E"] - states["R"] - steps_change(tension, tension0)).sum(0)
    budget["free_water_clip"] = (pervious * (states["R"] - states["RS"] - states["RI"] - states["RG"])
                                 - steps_change(free, free0)).sum(0)
    return budget


def _checked_inputs(forcing: torch.Tensor, params: torch.Tensor, warmup: int,
                    uh_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    if forcing.dim() != 3 or forcing.shape[-1] != 2:
        raise ValueError(f"simulate: forcing must be [T, B, 2] (P, PET), got shape {tuple(forcing.shape)}")
    if params.dim() != 2 or params.shape[-1] != len(XAJ_PARAMS):
        raise ValueError(f"simulate: params must be [B, {len(XAJ_PARAMS)}] in physical units, "
                         f"got shape {tuple(params.shape)}")
    steps, basins = forcing.shape[0], forcing.shape[1]
    if params.shape[0] != basins:
        raise ValueError(f"simulate: forcing has {basins} basins but params has {params.shape[0]}")
    if not 0 <= warmup < steps:
        raise ValueError(f"simulate: warmup must be in [0, T) = [0, {steps}), got {warmup}")
    if uh_length < 1:
        raise ValueError(f"simulate: uh_length must be >= 1, got {uh_length}")
    if not params.is_floating_point():
        raise ValueError(f"simulate: params must be a float tensor, got {params.dtype}")
    forcing = forcing.to(params.dtype)
    _raise_first_bad("forcing (P, PET)", ~torch.isfinite(forcing), ("step", "basin", "variable"))
    lm = params[:, PARAM_INDEX["LM"]]
    sm = params[:, PARAM_INDEX["SM"]]
    bad = ~torch.isfinite(params).all(-1) | (lm <= 0) | (sm <= 0)
    bad = bad | (params[:, PARAM_INDEX["CI"]] >= 1) | (params[:, PARAM_INDEX["CG"]] >= 1)
    if bool(bad.any()):
        b = int(torch.nonzero(bad)[0, 0])
        values = ", ".join(f"{n}={float(v):g}" for n, v in zip(XAJ_PARAMS, params[b].detach().cpu()))
        raise ValueError(f"simulate: basin index {b} has invalid XAJ parameters (need finite values, LM > 0, "
                         f"SM > 0, CI < 1, CG < 1): {values}")
    return forcing, params


def _raise_first_bad(what: str, bad: torch.Tensor, dims: tuple[str, ...]) -> None:
    if bool(bad.any()):
        where = torch.nonzero(bad)[0].tolist()
        at = ", ".join(f"{d} index {i}" for d, i in zip(dims, where))
        raise ValueError(f"simulate: non-finite value in {what} at {at}")
