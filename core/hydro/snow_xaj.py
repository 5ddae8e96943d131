"""Snow routine, then XAJ: the physics of dXAJ and the static XAJ with ``model_args.snow`` on.

``forcing [T, B, 3]`` holds P, PET (mm per step) and the daily mean air temperature (degC). The snow
routine (``core.hydro.snow``) turns P into the water reaching the ground (rain + what the pack
releases), which replaces P as XAJ's input; PET is unchanged.

Backends. The snow routine runs on its own fused kernel (``backend`` "auto"/"fused") or the eager
reference, and XAJ on the same backend. Training needs XAJ's gradient with respect to its input P
(the snow outflow); the fused XAJ adjoint (``core.hydro.xaj_kernels``) provides it, so the fused
backend is kept with gradients too. ``simulate_snow_xaj`` is what the benchmarks time
(``bench/snow_speed.py`` ``snow_xaj_call``, ``bench/xaj_speed.py`` case ``a-fb-snow``).
"""

from __future__ import annotations

import torch

from core.hydro import snow, xaj


def xaj_backend_after_snow(backend: str, needs_gradient: bool) -> str:
    """XAJ's backend behind the snow routine: ``backend``, with or without a gradient for XAJ's input
    (``needs_gradient``): both XAJ backends differentiate with respect to their forcing P. Kept as
    the one place that decides, for the models that call it (``dpl``, ``baselines``)."""
    return backend


def snow_ground_input(forcing: torch.Tensor, snow_params: torch.Tensor, warmup: int = 0, backend: str = "auto",
                      repeat: int = 1) -> tuple[torch.Tensor, dict[str, torch.Tensor], snow.SnowState]:
    """Run the snow routine on ``forcing [T, B, 3]`` (P, PET mm/step, temperature degC) with
    ``snow_params [B, 4]`` (CFMAX per step) and return XAJ's forcing ``[T, B * repeat, 2]`` (the water
    reaching the ground, PET; each basin ``repeat`` times side by side), the snow series ``[T, B]``
    and the stores at the end of the warmup (``snow.simulate_snow``)."""
    if forcing.dim() != 3 or forcing.shape[-1] != 3:
        raise ValueError(f"snow routine: forcing must be [T, B, 3] (P, PET, temperature), "
                         f"got shape {tuple(forcing.shape)}")
    prcp, pet, temp = forcing.unbind(-1)
    series, start = snow.simulate_snow(prcp, temp, snow_params, warmup=warmup, backend=backend)
    ground = series["OUTFLOW"]
    if repeat > 1:
        ground, pet = ground.repeat_interleave(repeat, dim=1), pet.repeat_interleave(repeat, dim=1)
    return torch.stack([ground, pet.to(ground.dtype)], dim=-1), series, start


def simulate_snow_xaj(forcing: torch.Tensor, params: torch.Tensor, snow_params: torch.Tensor, warmup: int = 0,
                      uh_length: int = 15, return_states: bool = False, backend: str = "auto",
                      warmup_routing: bool = False, reservoir_equilibrium: bool = False, repeat: int = 1):
    """Run the snow routine then XAJ.

    Parameters
    ----------
    forcing : tensor [T, B, 3]
        P and PET (mm per step) and air temperature (degC), data.
    params : tensor [B * repeat, 15] or [T, B * repeat, 15]
        XAJ parameters (``xaj.simulate``), ``repeat`` sets per basin side by side (basin-major, as
        ``repeat_interleave``): dXAJ's parallel components share one snow routine per basin.
    snow_params : tensor [B, 4]
        TT, CFMAX (per step), CFR, CWH (``core.hydro.snow_params``).
    warmup, uh_length, backend, warmup_routing, reservoir_equilibrium
        As ``xaj.simulate``; ``backend`` picks the snow routine's backend, XAJ's follows
        ``xaj_backend_after_snow``.

    Returns
    -------
    q, et : tensor [T - warmup, B * repeat], mm per step.
    states : dict, only with ``return_states=True``
        XAJ's diagnostics (``xaj.simulate``) plus the snow series ``SNOWPACK, LIQUID, OUTFLOW, MELT``
        ``[T - warmup, B]`` and the start stores ``SNOWPACK0, LIQUID0`` ``[B]``.
    """
    xaj_forcing, series, start = snow_ground_input(forcing, snow_params, warmup, backend, repeat)
    xaj_backend = xaj_backend_after_snow(backend, xaj_forcing.requires_grad)
    result = xaj.simulate(xaj_forcing, params, warmup=warmup, uh_length=uh_length, return_states=return_states,
                          backend=xaj_backend, warmup_routing=warmup_routing,
                          reservoir_equilibrium=reservoir_equilibrium)
    if not return_states:
        return result
    q, et, states = result
    for name, values in series.items():
        states[name] = values[warmup:]
    states["SNOWPACK0"], states["LIQUID0"] = start.SNOWPACK, start.LIQUID
    states["GROUND_INPUT"] = xaj_forcing[warmup:, :, 0]  # [T - warmup, B * repeat]
    return q, et, states


def water_balance_with_snow(forcing: torch.Tensor, params: torch.Tensor, q: torch.Tensor, et: torch.Tensor,
                            states: dict[str, torch.Tensor], warmup: int = 0) -> dict[str, torch.Tensor]:
    """Budget of snow + XAJ from ``simulate_snow_xaj(..., return_states=True)`` (``repeat`` 1), ``[B]`` mm.

    ``P - E - Q = (storage_end - storage_start) + residual`` where storage is XAJ's
    (``xaj.water_balance``) plus the snow pack and its liquid water; the residual is XAJ's capacity
    clips (``tension_clip``, ``free_water_clip``) plus the snow budget's rounding (``snow_residual``).
    """
    ground = states["GROUND_INPUT"]
    xaj_forcing = torch.cat([torch.zeros_like(forcing[:warmup, :, :2]),
                             torch.stack([ground, forcing[warmup:, :, 1]], dim=-1)])
    budget = xaj.water_balance(xaj_forcing, params, q, et, states, warmup=warmup)
    snow_series = {name: states[name] for name in snow.SNOW_SERIES}
    snow_budget = snow.snow_balance(forcing[warmup:, :, 0], snow_series,
                                    snow.SnowState(states["SNOWPACK0"], states["LIQUID0"]))
    out = dict(budget)
    out["inflow"] = snow_budget["precipitation"]
    out["storage_start"] = budget["storage_start"] + snow_budget["storage_start"]
    out["storage_end"] = budget["storage_end"] + snow_budget["storage_end"]
    out["snow_storage_start"], out["snow_storage_end"] = snow_budget["storage_start"], snow_budget["storage_end"]
    out["snow_residual"] = snow_budget["residual"]
    out["residual"] = out["inflow"] - out["evaporation"] - out["streamflow"] - (out["storage_end"] - out["storage_start"])
    return out
