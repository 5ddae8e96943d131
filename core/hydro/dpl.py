"""Differentiable parameter learning (dPL): LSTM -> XAJ parameters -> XAJ -> streamflow.

After the seed's ``lstm_pbm``: the parameter LSTM reads the normalised inputs ``z`` of a window,
its sigmoid outputs are mapped onto the physical ranges (``ParamRanges.denormalise``) and the XAJ
runs on the un-normalised forcing ``x`` with those parameters. Gradients of a streamflow loss flow
back through the physics into the LSTM weights.
"""

from __future__ import annotations

import torch
from torch import nn

from core.hydro import xaj
from core.hydro.lstm import ParameterLSTM
from core.hydro.params import XAJ_PARAMS, ParamRanges


class DPLModel(nn.Module):
    """dXAJ: ``forward(x, z, warmup, basin) -> {"q", "et", "params"}``.

    x: P and PET, mm/step ``[warmup + n, B, 2]``; z: normalised inputs ``[warmup + n, B, F]``;
    basin: basin index ``[B]`` (used by the ``mean_basin`` strategy).
    Returns q and et ``[n, B]`` mm/step and the physical parameters ``[B, 15]``.
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
    ):
        super().__init__()
        # the LSTM may read only the last ``lstm_steps`` of each window: its cost grows with the
        # window length while the physics (compiled) is cheap, so long warmups stay affordable
        self.lstm_steps = int(lstm_steps) if lstm_steps else None
        self.ranges = ranges
        self.uh_length = int(uh_length)
        self.backend = backend
        self.param_lstm = ParameterLSTM(n_inputs, len(XAJ_PARAMS), hidden, dropout, strategy, bptt_steps)

    def physical_params(self, z: torch.Tensor, basin: torch.Tensor | None = None) -> torch.Tensor:
        """Physical XAJ parameters ``[B, 15]`` for the windows ``z`` ``[T, B, F]``."""
        if self.lstm_steps is not None:
            z = z[-self.lstm_steps :]
        return self.ranges.denormalise(self.param_lstm(z, basin))

    def forward(
        self, x: torch.Tensor, z: torch.Tensor, warmup: int, basin: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        params = self.physical_params(z, basin)
        q, et = xaj.simulate(x, params, warmup=warmup, uh_length=self.uh_length, backend=self.backend)
        return {"q": q, "et": et, "params": params}
