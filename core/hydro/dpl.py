"""Differentiable parameter learning (dPL): LSTM -> XAJ parameters -> XAJ -> streamflow.

After the seed's ``lstm_pbm``: the parameter LSTM reads the normalised inputs ``z`` of a window,
its sigmoid outputs are mapped onto the physical ranges (``ParamRanges.denormalise``) and the XAJ
runs on the un-normalised forcing ``x`` with those parameters. Gradients of a streamflow loss flow
back through the physics into the LSTM weights.

Issue 12 additions, after δHBV (Feng et al. 2022, WRR):

- ``dynamic_params`` (e.g. ``["K", "B"]``): those parameters take the LSTM's value at every step
  (steps before the LSTM's span, i.e. the early warmup, take its first value); the others come from
  the last step as in the seed. A and THETA should stay static: the unit hydrograph uses the last
  step's values.
- ``n_components`` m: the LSTM emits m parameter sets, m complete XAJ models run side by side and
  their streamflow and evaporation are averaged **after routing**. Each component keeps its own
  unit hydrograph and reservoirs, so each is a complete, readable XAJ whose budget closes, and the
  average of closed budgets is closed. (δHBV averages before its routing step and routes once; for
  XAJ the interflow and groundwater reservoirs are part of each component's state, so there is no
  single routing to share.) The reported parameters are the component mean.
- ``warmup_routing``: the surface convolution starts with the warmup's inflow history.
- ``reservoir_equilibrium``: the interflow and groundwater reservoirs start the scored steps in
  periodic steady state over the warmup (``xaj.simulate``).

Issue 31, ``snow``: an HBV snow routine runs before XAJ (``core.hydro.snow_xaj``; x then carries the
air temperature as a third channel). The LSTM head grows by the 4 snow parameters (TT, CFMAX, CFR,
CWH; ``core.hydro.snow_params``), one static set per basin taken like the static XAJ parameters
and shared by the parallel components (the pack is one per basin; the components differ in how the
ground handles its water). Without snow the model is exactly what it was: same head, same outputs.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.hydro import xaj
from core.hydro.lstm import ParameterLSTM
from core.hydro.params import PARAM_INDEX, XAJ_PARAMS, ParamRanges
from core.hydro.snow_params import N_SNOW_PARAMS, denormalise_snow, snow_step_constants
from core.hydro.snow_xaj import snow_ground_input, xaj_backend_after_snow
from core.hydro.xaj_setup import step_constants

N_PARAMS = len(XAJ_PARAMS)


def check_dynamic_params(names: Sequence[str] | None) -> tuple[str, ...]:
    """Validate the ``dynamic_params`` names (a tuple in parameter order; raises naming the culprit)."""
    names = tuple(names or ())
    unknown = [n for n in names if n not in PARAM_INDEX]
    if unknown:
        raise ValueError(f"config key 'model_args.dynamic_params' names unknown XAJ parameter(s) {unknown}; "
                         f"known: {', '.join(XAJ_PARAMS)}")
    return tuple(n for n in XAJ_PARAMS if n in names)


class DPLModel(nn.Module):
    """dXAJ: ``forward(x, z, warmup, basin) -> {"q", "et", "params"}``.

    x: P and PET, mm/step ``[warmup + n, B, 2]`` (with ``snow``: P, PET, air temperature degC
    ``[warmup + n, B, 3]``); z: normalised inputs ``[warmup + n, B, F]``;
    basin: basin index ``[B]`` (used by the ``mean_basin`` strategy).
    Returns q and et ``[n, B]`` mm/step and the physical parameters: ``[B, 15]`` without dynamic
    parameters, else ``[n, B, 15]`` (component means). With ``snow`` also ``snow_params`` ``[B, 4]``
    (CFMAX per day) and the end-of-step ``snow_pack`` (solid + liquid, mm) and ``snow_melt`` (mm/step) ``[n, B]``.
    """

    kind = "dpl"

    def __init__(
        self,
        n_inputs: int,
        ranges: ParamRanges,
        hidden: int = 64,
        dropout: float = 0.0,
        strategy: str = "last",
        uh_length: int = 15,
        backend: str = "auto",
        lstm_steps: int | None = None,
        bptt_steps: int | None = None,
        dynamic_params: Sequence[str] | None = None,
        n_components: int = 1,
        warmup_routing: bool = False,
        step_hours: float = 24.0,
        reservoir_equilibrium: bool = False,
        snow: bool = False,
    ):
        super().__init__()
        # the LSTM may read only the last ``lstm_steps`` of each window: its cost grows with the
        # window length while the physics (compiled) is cheap, so long warmups stay affordable
        self.lstm_steps = int(lstm_steps) if lstm_steps else None
        self.ranges = ranges
        self.uh_length = int(uh_length)
        self.backend = backend
        self.dynamic_params = check_dynamic_params(dynamic_params)
        if int(n_components) < 1:
            raise ValueError(f"config key 'model_args.n_components' must be >= 1, got {n_components}")
        self.n_components = int(n_components)
        self.warmup_routing = bool(warmup_routing)
        self.reservoir_equilibrium = bool(reservoir_equilibrium)
        self.step_hours = float(step_hours)
        if self.dynamic_params and strategy != "last":
            raise ValueError("config key 'model_args.dynamic_params' needs strategy 'last' (the static "
                             f"parameters come from the last step), got {strategy!r}")
        self.snow = bool(snow)
        n_outputs = N_PARAMS * self.n_components + (N_SNOW_PARAMS if self.snow else 0)
        self.param_lstm = ParameterLSTM(n_inputs, n_outputs, hidden, dropout, strategy, bptt_steps)
        self.register_buffer("dynamic_index", torch.tensor([PARAM_INDEX[n] for n in self.dynamic_params],
                                                           dtype=torch.long), persistent=False)

    def _lstm_input(self, z: torch.Tensor) -> torch.Tensor:
        return z[-self.lstm_steps :] if self.lstm_steps is not None else z

    def component_params(self, z: torch.Tensor, basin: torch.Tensor | None = None) -> torch.Tensor:
        """Physical parameters of every component: ``[B, m, 15]`` (static) or ``[T, B, m, 15]`` with
        dynamic parameters, T = the window length of ``z`` ``[T, B, F]``."""
        return self.parameter_sets(z, basin)[0]

    def parameter_sets(self, z: torch.Tensor, basin: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(component_params, snow01)``: the XAJ parameters as ``component_params`` and, with
        ``snow``, the normalised snow parameters ``[B, 4]`` in [0, 1] (else None)."""
        steps, batch = z.shape[0], z.shape[1]
        zin = self._lstm_input(z)
        width = N_PARAMS * self.n_components
        if not self.dynamic_params:
            out = self.param_lstm(zin, basin)
            snow01 = None
            if self.snow:
                out, snow01 = out[:, :width], out[:, width:]
            p01 = out.reshape(batch, self.n_components, N_PARAMS)
            return self.ranges.denormalise(p01), snow01
        traj = self.param_lstm.trajectory(zin)
        snow01 = None
        if self.snow:
            traj, snow01 = traj[..., :width], traj[-1, :, width:]
        traj = traj.reshape(zin.shape[0], batch, self.n_components, N_PARAMS)
        # Assembled from the small pieces (the last step's set, the dynamic columns) rather than by
        # masking the whole trajectory: the backward pass then touches [T, B, m, 15] only once.
        static = self.ranges.denormalise(traj[-1])  # [B, m, 15]
        cols = self.dynamic_index
        dynamic = self.ranges.denormalise(traj.index_select(-1, cols), columns=cols)  # [S, B, m, k]
        if dynamic.shape[0] < steps:  # the LSTM's span starts inside the warmup: hold its first value before
            dynamic = torch.cat([dynamic[:1].expand(steps - dynamic.shape[0], -1, -1, -1), dynamic])
        return static.expand(steps, *static.shape).index_copy(-1, cols, dynamic), snow01

    def physical_params(self, z: torch.Tensor, basin: torch.Tensor | None = None) -> torch.Tensor:
        """Physical XAJ parameters for the windows ``z`` ``[T, B, F]``: ``[B, 15]`` or per step
        ``[T, B, 15]`` (dynamic), averaged over the components."""
        return self.component_params(z, basin).mean(dim=-2)

    def forward(
        self, x: torch.Tensor, z: torch.Tensor, warmup: int, basin: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        comp, snow01 = self.parameter_sets(z, basin)  # [B, m, 15] or [T, B, m, 15]; [B, 4] or None
        m = self.n_components
        batch = x.shape[1]
        params = comp.reshape(*comp.shape[:-3], batch * m, N_PARAMS)
        params = step_constants(params, self.step_hours)
        extra: dict[str, torch.Tensor] = {}
        backend = self.backend
        if self.snow:
            snow_params = denormalise_snow(snow01)
            forcing, series, _ = snow_ground_input(x, snow_step_constants(snow_params, self.step_hours), warmup,
                                                   backend=self.backend, repeat=m)
            backend = xaj_backend_after_snow(self.backend, forcing.requires_grad)
            extra = {"snow_params": snow_params, "snow_pack": (series["SNOWPACK"] + series["LIQUID"])[warmup:],
                     "snow_melt": series["MELT"][warmup:]}
        else:
            forcing = x.repeat_interleave(m, dim=1) if m > 1 else x
        q, et = xaj.simulate(forcing, params, warmup=warmup, uh_length=self.uh_length, backend=backend,
                             warmup_routing=self.warmup_routing, reservoir_equilibrium=self.reservoir_equilibrium)
        q = q.view(q.shape[0], batch, m).mean(-1)
        et = et.view(et.shape[0], batch, m).mean(-1)
        reported = comp.mean(dim=-2)
        if reported.dim() == 3:
            reported = reported[warmup:]
        return {"q": q, "et": et, "params": reported, **extra}
