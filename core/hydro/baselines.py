"""Baselines trained and evaluated in the same run format as dXAJ.

``StaticXAJ``: one XAJ parameter set per basin, calibrated by gradient descent through the same
physics (the classic calibration, done with the dPL machinery). ``LSTMBaseline``: the plain LSTM
predicting streamflow directly. Both share ``forward(x, z, warmup, basin) -> {"q", ...}``.
"""

from __future__ import annotations

import torch
from torch import nn

from core.hydro import xaj
from core.hydro.lstm import StreamflowLSTM
from core.hydro.params import XAJ_PARAMS, ParamRanges
from core.hydro.snow_params import N_SNOW_PARAMS, denormalise_snow, snow_step_constants
from core.hydro.snow_xaj import snow_ground_input, xaj_backend_after_snow
from core.hydro.xaj_setup import step_constants


class StaticXAJ(nn.Module):
    """Per-basin constant parameters: ``sigmoid(logits[basin])`` mapped onto the ranges.

    Logits start at 0, i.e. every parameter at the middle of its range. ``snow``: an HBV snow
    routine runs before XAJ (``core.hydro.snow_xaj``) with its own per-basin ``snow_logits [n, 4]``
    (created only then, so a run without snow keeps its weights and checkpoints).
    """

    kind = "static_xaj"

    def __init__(self, n_basins: int, ranges: ParamRanges, uh_length: int = 15, backend: str = "auto",
                 warmup_routing: bool = False, step_hours: float = 24.0, reservoir_equilibrium: bool = False,
                 snow: bool = False):
        super().__init__()
        self.warmup_routing = bool(warmup_routing)
        self.reservoir_equilibrium = bool(reservoir_equilibrium)
        self.step_hours = float(step_hours)
        if n_basins < 1:
            raise ValueError(f"static XAJ needs at least one basin, got n_basins={n_basins}")
        self.ranges = ranges
        self.uh_length = int(uh_length)
        self.backend = backend
        self.logits = nn.Parameter(torch.zeros(n_basins, len(XAJ_PARAMS)))
        self.snow = bool(snow)
        if self.snow:
            self.snow_logits = nn.Parameter(torch.zeros(n_basins, N_SNOW_PARAMS))

    def physical_params(self, z: torch.Tensor | None = None, basin: torch.Tensor | None = None) -> torch.Tensor:
        """Physical parameters ``[B, 15]`` of the basins ``basin`` (all basins when None)."""
        logits = self.logits if basin is None else self.logits[basin]
        return self.ranges.denormalise(torch.sigmoid(logits))

    def forward(
        self, x: torch.Tensor, z: torch.Tensor, warmup: int, basin: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        if basin is None:
            raise ValueError("StaticXAJ.forward needs the basin index of every sample")
        return self.simulate(x, warmup, basin)

    def simulate(self, x: torch.Tensor, warmup: int, basin: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Run the basins ``basin`` (all when None) on forcing ``x [T, B, 2]`` (``[T, B, 3]`` with snow):
        ``{"q", "et" [T - warmup, B], "params" [B, 15]}`` plus, with snow, ``snow_params [B, 4]``,
        ``snow_pack`` and ``snow_melt`` ``[T - warmup, B]``."""
        params = self.physical_params(None, basin)
        extra: dict[str, torch.Tensor] = {}
        backend = self.backend
        if self.snow:
            logits = self.snow_logits if basin is None else self.snow_logits[basin]
            snow_params = denormalise_snow(torch.sigmoid(logits))
            x, series, _ = snow_ground_input(x, snow_step_constants(snow_params, self.step_hours), warmup,
                                             backend=self.backend)
            backend = xaj_backend_after_snow(self.backend, x.requires_grad)
            extra = {"snow_params": snow_params, "snow_pack": (series["SNOWPACK"] + series["LIQUID"])[warmup:],
                     "snow_melt": series["MELT"][warmup:]}
        q, et = xaj.simulate(x, step_constants(params, self.step_hours), warmup=warmup, uh_length=self.uh_length,
                             backend=backend, warmup_routing=self.warmup_routing,
                             reservoir_equilibrium=self.reservoir_equilibrium)
        return {"q": q, "et": et, "params": params, **extra}


class LSTMBaseline(nn.Module):
    """Plain LSTM: streamflow from the window's normalised inputs; the warmup steps only spin it up."""

    kind = "lstm"

    def __init__(self, n_inputs: int, hidden: int = 64, dropout: float = 0.0, q_scale: float = 1.0):
        super().__init__()
        self.lstm = StreamflowLSTM(n_inputs, hidden, dropout, q_scale)

    def forward(
        self, x: torch.Tensor, z: torch.Tensor, warmup: int, basin: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        return {"q": self.lstm(z)[warmup:]}
