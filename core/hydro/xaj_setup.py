"""What both XAJ backends share: names of states and fluxes, parameter unpacking, start states,
input checks, and the conversion of per-step constants for steps other than one day.

``core.hydro.xaj`` (eager reference) and ``core.hydro.xaj_fused`` (compiled) both import from here,
so neither imports the other's internals (the former ``xaj`` <-> ``xaj_fused`` import cycle).

Parameters come either static, ``[B, 15]``, or per step, ``[T, B, 15]`` (dynamic parameters: the
parameter LSTM emits a set for every step). The columns follow ``core.hydro.params.XAJ_PARAMS``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.hydro.params import PARAM_INDEX, XAJ_PARAMS

STATE_NAMES: tuple[str, ...] = ("WU", "WL", "WD", "S", "FR", "QI", "QG")
"""End-of-step state variables returned with ``return_states=True``, each ``[T - warmup, B]``."""

FLUX_NAMES: tuple[str, ...] = ("PE", "R", "RIM", "RS", "RI", "RG", "E", "QS")
"""Per-step fluxes returned with ``return_states=True`` (mm per step), each ``[T - warmup, B]``."""

INITIAL_NAMES: tuple[str, ...] = tuple(f"{name}0" for name in STATE_NAMES)
"""States at the start of the simulated (post-warmup) period, each ``[B]``, keys ``WU0`` ... ``QG0``."""

CAPACITY_FLOOR = 1e-5  # mm; the spec's "- 1e-5" margins below WM and SM
KI_KG_MAX = 1.0 - 1e-5  # KI + KG are scaled down to this sum when they reach 1


class XajState(NamedTuple):
    """Model state per basin, each ``[B]``: tension water WU, WL, WD (mm over the pervious area),
    free water S (mm over the runoff area), runoff-area fraction FR (-), interflow and groundwater
    outflows QI, QG (mm/step over the basin)."""

    WU: torch.Tensor
    WL: torch.Tensor
    WD: torch.Tensor
    S: torch.Tensor
    FR: torch.Tensor
    QI: torch.Tensor
    QG: torch.Tensor


class XajParams(NamedTuple):
    """Columns of ``params [..., 15]`` by name, each ``[...]`` (``[B]`` static or ``[T, B]`` per step),
    with KI, KG already scaled so KI + KG < 1."""

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

    def at(self, t: int) -> "XajParams":
        """The ``[B]`` parameters of step ``t`` of a per-step set ``[T, B]``."""
        return XajParams(*(column[t] for column in self))


def unpack_params(params: torch.Tensor) -> XajParams:
    """Split ``params [..., 15]`` into named columns; scale KI, KG by ``(1 - 1e-5)/(KI + KG)`` where
    their sum reaches 1 so that free water never drains more than it holds."""
    # unbind, not one index per column: the backward of 15 indexings zero-fills 15 full-size gradients
    cols = dict(zip(XAJ_PARAMS, params.unbind(-1)))
    total = cols["KI"] + cols["KG"]
    safe_total = torch.where(total >= 1.0, total, torch.ones_like(total))
    scale = torch.where(total >= 1.0, KI_KG_MAX / safe_total, torch.ones_like(total))
    cols["KI"] = cols["KI"] * scale
    cols["KG"] = cols["KG"] * scale
    return XajParams(**cols)


def initial_state(p: XajParams) -> XajState:
    """States without warmup (section 4.6): half-full tension and free water, FR = 0.1, QI = QG = 0.1.
    ``p`` holds ``[B]`` columns (for per-step parameters: those of the first step)."""
    tenth = torch.full_like(p.SM, 0.1)
    return XajState(0.5 * p.UM, 0.5 * p.LM, 0.5 * p.DM, 0.5 * p.SM, tenth, tenth, tenth.clone())


def periodic_reservoir_start(end: torch.Tensor, start: torch.Tensor, recession: torch.Tensor) -> torch.Tensor:
    """Outflow of a linear reservoir in periodic steady state over the warmup, mm per step.

    The reservoir ``q_t = c_t q_{t-1} + (1 - c_t) inflow_t`` run over the warmup from ``start`` ends at
    ``end = (prod c) start + f``, with ``f`` independent of the start. The start to which the warmup
    returns (``q_0 = q_T``) is ``f / (1 - prod c)``: a groundwater reservoir with CG = 0.999 keeps 69 %
    of an arbitrary start over 365 daily steps, this start keeps none.
    ``end``, ``start`` ``[B]``; ``recession`` ``[warmup, B]``, the CI or CG of each warmup step.
    """
    carried = torch.prod(recession, dim=0)
    return (end - carried * start) / torch.clamp(1.0 - carried, min=1e-9)


def per_step_params(params: torch.Tensor, steps: int) -> torch.Tensor:
    """``[B, 15]`` or ``[T, B, 15]`` -> ``[T, B, 15]`` (a static set is broadcast, no copy)."""
    if params.dim() == 2:
        return params.unsqueeze(0).expand(steps, *params.shape)
    return params


def step_constants(params: torch.Tensor, step_hours: float) -> torch.Tensor:
    """Convert the per-step constants of a parameter set given with their daily meaning to a step of
    ``step_hours`` hours. ``params [..., 15]`` physical units; returns a new tensor (differentiable).

    - CI, CG (recession per step): ``c_step = c_day ** (dt / 24)``, so that 24/dt steps recede as one day.
    - KI, KG (fractions of free water drained per step): the water left after one day,
      ``1 - KI - KG``, becomes ``(1 - KI - KG) ** (dt / 24)`` per step and the drained part is split
      in the daily ratio KI : KG, so that free water without input drains exactly as in the daily model.
    - THETA (unit-hydrograph scale, in steps, used as ``THETA + 0.5``): the scale in hours is kept,
      ``THETA_step = (THETA + 0.5) * 24 / dt - 0.5``; give ``uh_length`` in steps as well
      (e.g. 15 days -> 360 hourly steps). A (the shape) needs no conversion.
    - K, B, IM, UM, LM, DM, C, SM, EX are ratios, exponents or storages: unchanged.
    Storages and fluxes in the forcing are per step already (mm per step).
    """
    if step_hours <= 0:
        raise ValueError(f"step_constants: step_hours must be positive, got {step_hours}")
    ratio = float(step_hours) / 24.0
    if ratio == 1.0:
        return params
    out = params.clone()
    idx = PARAM_INDEX
    for name in ("CI", "CG"):
        out[..., idx[name]] = params[..., idx[name]] ** ratio
    ki, kg = params[..., idx["KI"]], params[..., idx["KG"]]
    total = ki + kg
    kept = torch.clamp(1.0 - total, min=0.0) ** ratio
    share = torch.where(total > 0, ki / torch.where(total > 0, total, torch.ones_like(total)),
                        torch.full_like(total, 0.5))
    drained = 1.0 - kept
    out[..., idx["KI"]] = drained * share
    out[..., idx["KG"]] = drained * (1.0 - share)
    theta = torch.clamp(params[..., idx["THETA"]], min=0.0)
    out[..., idx["THETA"]] = (theta + 0.5) / ratio - 0.5
    return out


def checked_inputs(forcing: torch.Tensor, params: torch.Tensor, warmup: int,
                   uh_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``forcing [T, B, 2]`` and ``params [B, 15]`` or ``[T, B, 15]``; errors name the culprit."""
    if forcing.dim() != 3 or forcing.shape[-1] != 2:
        raise ValueError(f"simulate: forcing must be [T, B, 2] (P, PET), got shape {tuple(forcing.shape)}")
    if params.dim() not in (2, 3) or params.shape[-1] != len(XAJ_PARAMS):
        raise ValueError(f"simulate: params must be [B, {len(XAJ_PARAMS)}] or [T, B, {len(XAJ_PARAMS)}] "
                         f"in physical units, got shape {tuple(params.shape)}")
    steps, basins = forcing.shape[0], forcing.shape[1]
    if params.shape[-2] != basins:
        raise ValueError(f"simulate: forcing has {basins} basins but params has {params.shape[-2]}")
    if params.dim() == 3 and params.shape[0] != steps:
        raise ValueError(f"simulate: per-step params have {params.shape[0]} steps but forcing has {steps}")
    if not 0 <= warmup < steps:
        raise ValueError(f"simulate: warmup must be in [0, T) = [0, {steps}), got {warmup}")
    if uh_length < 1:
        raise ValueError(f"simulate: uh_length must be >= 1, got {uh_length}")
    if not params.is_floating_point():
        raise ValueError(f"simulate: params must be a float tensor, got {params.dtype}")
    forcing = forcing.to(params.dtype)
    if _plausibly_valid(forcing, params):
        return forcing, params
    _raise_first_bad("forcing (P, PET)", ~torch.isfinite(forcing), ("step", "basin", "variable"))
    flat = params.reshape(-1, len(XAJ_PARAMS))
    lm = flat[:, PARAM_INDEX["LM"]]
    sm = flat[:, PARAM_INDEX["SM"]]
    bad = ~torch.isfinite(flat).all(-1) | (lm <= 0) | (sm <= 0)
    bad = bad | (flat[:, PARAM_INDEX["CI"]] >= 1) | (flat[:, PARAM_INDEX["CG"]] >= 1)
    if bool(bad.any()):
        row = int(torch.nonzero(bad)[0, 0])
        b, t = row % basins, row // basins
        values = ", ".join(f"{n}={float(v):g}" for n, v in zip(XAJ_PARAMS, flat[row].detach().cpu()))
        where = f"basin index {b}" + (f" at step {t}" if params.dim() == 3 else "")
        raise ValueError(f"simulate: {where} has invalid XAJ parameters (need finite values, LM > 0, "
                         f"SM > 0, CI < 1, CG < 1): {values}")
    return forcing, params


def _plausibly_valid(forcing: torch.Tensor, params: torch.Tensor) -> bool:
    """A cheap screen for :func:`checked_inputs`: True only when every check would pass (a sum is
    finite only when every term is; NaN fails every comparison). False sends the inputs to the
    element-wise checks, which find the culprit (or pass, when only a sum overflowed)."""
    if params.numel() == 0:
        return False
    with torch.no_grad():
        if not bool(torch.isfinite(forcing.sum() + params.sum())):
            return False
        positive = params[..., [PARAM_INDEX["LM"], PARAM_INDEX["SM"]]].amin()
        below_one = params[..., [PARAM_INDEX["CI"], PARAM_INDEX["CG"]]].amax()
        return bool(positive > 0) and bool(below_one < 1)


def _raise_first_bad(what: str, bad: torch.Tensor, dims: tuple[str, ...]) -> None:
    if bool(bad.any()):
        where = torch.nonzero(bad)[0].tolist()
        at = ", ".join(f"{d} index {i}" for d, i in zip(dims, where))
        raise ValueError(f"simulate: non-finite value in {what} at {at}")
