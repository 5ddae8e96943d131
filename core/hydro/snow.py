"""HBV snow routine before XAJ: the readable eager PyTorch reference (docs/design.md, 4.9 Snow routine).

After HBV (Bergström 1976; HBV-light, Seibert & Vis 2012) as used by δHBV (Feng et al. 2022):
precipitation falls as snow below the threshold temperature TT (linearly mixed over
``TT -/+ PARTITION_INTERVAL/2``), the solid pack melts by degree days ``CFMAX (T - TT)``, its melt
water is held in the pack up to ``CWH`` times the solid water and refreezes at ``CFR CFMAX (TT - T)``;
what the pack releases plus the rain is the water that reaches the ground, XAJ's P.

Sequence-first like ``core.hydro.xaj``: ``prcp``, ``temp`` ``[T, B]`` (mm per step, degC),
``params [B, 4]`` (TT, CFMAX per step, CFR, CWH; ``core.hydro.snow_params``). Every operation is
piecewise linear (clamp, minimum): gradients are finite everywhere, no smoothing is needed.
``core.hydro.snow_fused`` computes the same numbers in compiled code with a hand-derived adjoint.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.hydro.snow_params import N_SNOW_PARAMS, PARTITION_INTERVAL

SNOW_SERIES: tuple[str, ...] = ("SNOWPACK", "LIQUID", "OUTFLOW", "MELT")
"""Recorded per-step series ``[T, B]``: solid pack and liquid water at the end of the step (mm),
the water reaching the ground (rain + release, mm/step) and the gross melt (mm/step)."""


class SnowState(NamedTuple):
    """Snow stores per basin ``[B]``, mm over the basin: solid pack and liquid water held in it."""

    SNOWPACK: torch.Tensor
    LIQUID: torch.Tensor


class SnowParams(NamedTuple):
    """Columns of ``params [B, 4]``, each ``[B]``: TT degC, CFMAX mm/degC/step, CFR -, CWH -."""

    TT: torch.Tensor
    CFMAX: torch.Tensor
    CFR: torch.Tensor
    CWH: torch.Tensor


def snow_step(prcp: torch.Tensor, temp: torch.Tensor, state: SnowState,
              p: SnowParams) -> tuple[SnowState, dict[str, torch.Tensor]]:
    """One step for all basins: ``prcp`` mm/step and ``temp`` degC ``[B]``.

    Returns the end-of-step stores and ``OUTFLOW`` (rain + water released by the pack) and ``MELT``.
    Rain passes the pack (as in δHBV); only melt water is held, so OUTFLOW = P on snow-free warm days.
    """
    prcp = torch.clamp(prcp, min=0.0)
    snow_share = torch.clamp((p.TT + 0.5 * PARTITION_INTERVAL - temp) / PARTITION_INTERVAL, min=0.0, max=1.0)
    snowfall = prcp * snow_share
    rain = prcp - snowfall
    pack = state.SNOWPACK + snowfall
    potential_melt = torch.clamp(p.CFMAX * (temp - p.TT), min=0.0)
    melt = torch.minimum(potential_melt, pack)
    pack = pack - melt
    liquid = state.LIQUID + melt
    potential_refreeze = torch.clamp(p.CFR * p.CFMAX * (p.TT - temp), min=0.0)
    refreeze = torch.minimum(potential_refreeze, liquid)
    pack = pack + refreeze
    liquid = liquid - refreeze
    release = torch.clamp(liquid - p.CWH * pack, min=0.0)
    liquid = liquid - release
    return SnowState(pack, liquid), {"OUTFLOW": rain + release, "MELT": melt}


def unpack_snow(params: torch.Tensor) -> SnowParams:
    """Split ``params [B, 4]`` into named columns."""
    return SnowParams(*params.unbind(-1))


def cold_snow_state(like: torch.Tensor) -> SnowState:
    """No snow at the start of a window (the warmup builds the pack); ``like`` ``[B]`` gives shape and dtype."""
    return SnowState(torch.zeros_like(like), torch.zeros_like(like))


def check_snow_inputs(prcp: torch.Tensor, temp: torch.Tensor, params: torch.Tensor, warmup: int) -> None:
    """Shapes, warmup and finiteness; errors name the culprit (basin and step indices)."""
    if prcp.dim() != 2 or temp.shape != prcp.shape:
        raise ValueError(f"snow: prcp and temp must both be [T, B], got {tuple(prcp.shape)} and {tuple(temp.shape)}")
    if params.dim() != 2 or params.shape != (prcp.shape[1], N_SNOW_PARAMS):
        raise ValueError(f"snow: params must be [B, {N_SNOW_PARAMS}] (TT, CFMAX, CFR, CWH) for "
                         f"{prcp.shape[1]} basins, got shape {tuple(params.shape)}")
    if not 0 <= warmup < prcp.shape[0]:
        raise ValueError(f"snow: warmup must be in [0, T) = [0, {prcp.shape[0]}), got {warmup}")
    with torch.no_grad():
        bad = ~torch.isfinite(temp)
        if bool(bad.any()):
            t, b = (int(i) for i in torch.nonzero(bad)[0])
            raise ValueError(f"snow: temperature of basin index {b} is missing (non-finite) at step {t}")
        if not bool(torch.isfinite(params).all()):
            b = int(torch.nonzero(~torch.isfinite(params).all(-1))[0, 0])
            raise ValueError(f"snow: basin index {b} has non-finite snow parameters {params[b].tolist()}")


def simulate_snow_reference(prcp: torch.Tensor, temp: torch.Tensor, params: torch.Tensor, warmup: int = 0
                            ) -> tuple[dict[str, torch.Tensor], SnowState]:
    """The eager reference of ``simulate_snow`` (same arguments and returns)."""
    check_snow_inputs(prcp, temp, params, warmup)
    p = unpack_snow(params.to(prcp.dtype) if params.dtype != prcp.dtype else params)
    state = cold_snow_state(prcp[0])
    series: dict[str, list[torch.Tensor]] = {name: [] for name in SNOW_SERIES}

    def record(state: SnowState, flux: dict[str, torch.Tensor]) -> None:
        series["SNOWPACK"].append(state.SNOWPACK)
        series["LIQUID"].append(state.LIQUID)
        series["OUTFLOW"].append(flux["OUTFLOW"])
        series["MELT"].append(flux["MELT"])

    if warmup > 0:
        with torch.no_grad():
            for t in range(warmup):
                state, flux = snow_step(prcp[t], temp[t], state, p)
                record(state, flux)
    start = SnowState(*(x.detach() for x in state))
    state = start
    for t in range(warmup, prcp.shape[0]):
        state, flux = snow_step(prcp[t], temp[t], state, p)
        record(state, flux)
    return {name: torch.stack(values) for name, values in series.items()}, start


def simulate_snow(prcp: torch.Tensor, temp: torch.Tensor, params: torch.Tensor, warmup: int = 0,
                  backend: str = "auto") -> tuple[dict[str, torch.Tensor], SnowState]:
    """Run the snow routine for ``B`` basins over ``T`` steps from an empty pack.

    Parameters
    ----------
    prcp, temp : tensor [T, B]
        Precipitation (mm per step, negative counts as 0) and daily mean air temperature (degC). Data:
        no gradient flows to them.
    params : tensor [B, 4]
        TT (degC), CFMAX (mm/degC per STEP: ``snow_params.snow_step_constants``), CFR, CWH. Gradients flow to it.
    warmup : int
        Leading steps run without gradient; their end stores start the rest as constants (as XAJ's warmup).
    backend : {"auto", "reference", "fused"}
        "reference": this module's eager loop; "fused"/"auto": ``core.hydro.snow_fused`` (numba).

    Returns
    -------
    series : dict of tensor [T, B]
        ``SNOWPACK``, ``LIQUID`` (end of step, mm), ``OUTFLOW`` (rain + release), ``MELT`` (mm/step),
        over all T steps (the warmup's part carries no gradient).
    start : SnowState
        The stores ``[B]`` at the end of the warmup (empty without warmup).
    """
    if backend not in ("auto", "reference", "fused"):
        raise ValueError(f"simulate_snow: unknown backend {backend!r}; use 'auto', 'reference' or 'fused'")
    if backend == "reference":
        return simulate_snow_reference(prcp, temp, params, warmup)
    from core.hydro import snow_fused  # the compiled kernels load only when used

    return snow_fused.simulate_snow_fused(prcp, temp, params, warmup)


def snow_balance(prcp: torch.Tensor, series: dict[str, torch.Tensor], start: SnowState,
                 warmup: int = 0) -> dict[str, torch.Tensor]:
    """Budget of the pack over the steps after ``warmup``, ``[B]`` totals in mm:
    ``precipitation - outflow = storage_end - storage_start + residual``, storage = SNOWPACK + LIQUID.
    The residual is rounding only (every flux leaves one store and enters another)."""
    p = torch.clamp(prcp[warmup:], min=0.0).sum(0)
    out = series["OUTFLOW"][warmup:].sum(0)
    end = series["SNOWPACK"][-1] + series["LIQUID"][-1]
    begin = start.SNOWPACK + start.LIQUID
    return {"precipitation": p, "outflow": out, "storage_start": begin, "storage_end": end,
            "residual": p - out - (end - begin)}
