"""LSTMs of the hydrology side, sequence-first ``[time, batch, feature]`` as in the seed.

``ParameterLSTM`` generates the 15 normalised XAJ parameters (Linear + ReLU -> LSTM -> Linear ->
sigmoid); ``StreamflowLSTM`` is the plain baseline that predicts streamflow directly.
"""

from __future__ import annotations

import torch
from torch import nn

from core.hydro.lstm_backprop import BackpropDepth, lstm_vanishing_backprop

STRATEGIES = ("last", "mean_time", "mean_basin")


class _SeedLSTM(nn.Module):
    """Linear(in -> hidden) + ReLU, one LSTM layer, Linear(hidden -> out), as in the seed's SimpleLSTM."""

    def __init__(self, n_inputs: int, n_outputs: int, hidden: int = 64, dropout: float = 0.0):
        super().__init__()
        if n_inputs < 1 or n_outputs < 1 or hidden < 1:
            raise ValueError(f"LSTM sizes must be positive: inputs {n_inputs}, outputs {n_outputs}, hidden {hidden}")
        self.linear_in = nn.Linear(n_inputs, hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=1)
        # dropout on the LSTM output only: the seed's single layer has no inter-layer dropout to set
        self.dropout = nn.Dropout(dropout)
        self.linear_out = nn.Linear(hidden, n_outputs)

    def hidden_states(
        self, z: torch.Tensor, bptt_steps: int | None = None, depth: BackpropDepth | None = None
    ) -> torch.Tensor:
        """z ``[T, B, n_inputs]`` -> LSTM hidden states ``[T, B, hidden]``.

        ``bptt_steps`` k (training only): truncated back-propagation through time. The first T - k
        steps run without gradient and hand their (h, c) to the last k steps, which are
        differentiated. Outputs are identical; only gradient paths longer than k steps are cut.

        ``depth`` (training only, for losses on the last steps): the backward pass stops where the
        gradient has vanished to below rounding (``core.hydro.lstm_backprop``), while the depth
        measured by ``depth`` says that is cheaper; values and gradients are those of the full pass
        either way.
        """
        if z.dim() != 3:
            raise ValueError(f"LSTM input must be [time, batch, feature], got shape {tuple(z.shape)}")
        n_steps = z.shape[0]
        if bptt_steps and torch.is_grad_enabled() and n_steps > bptt_steps:
            cut = n_steps - int(bptt_steps)
            with torch.no_grad():
                head, state = self.lstm(torch.relu(self.linear_in(z[:cut])))
            tail, _ = self.lstm(torch.relu(self.linear_in(z[cut:])), state)
            return torch.cat([head, tail])
        features = torch.relu(self.linear_in(z))
        if depth is not None and torch.is_grad_enabled() and depth.use_walk():
            return lstm_vanishing_backprop(self.lstm, features, depth=depth)
        return self.lstm(features)[0]

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[..., hidden]`` -> raw outputs ``[..., n_outputs]`` (dropout, then Linear)."""
        return self.linear_out(self.dropout(hidden))

    def forward(self, z: torch.Tensor, bptt_steps: int | None = None) -> torch.Tensor:
        """z ``[T, B, n_inputs]`` -> raw outputs ``[T, B, n_outputs]`` (see :meth:`hidden_states`)."""
        return self.project(self.hidden_states(z, bptt_steps))


class ParameterLSTM(nn.Module):
    """Normalised XAJ parameters in [0, 1] from normalised forcing and static attributes.

    strategy:
      ``last``       the last step's values (the seed's default; the hidden state has seen the window);
      ``mean_time``  mean over the window's steps;
      ``mean_basin`` last-step values averaged over all samples of the same basin in the batch, so
                     every window of a basin shares one parameter set (needs ``basin``).
    """

    def __init__(
        self, n_inputs: int, n_params: int = 15, hidden: int = 64, dropout: float = 0.0, strategy: str = "last",
        bptt_steps: int | None = None,
    ):
        super().__init__()
        # bptt_steps cuts gradient paths longer than k steps (an approximation). Without it, the
        # last-step strategies still skip the steps the gradient has vanished at (exact to rounding)
        self.bptt_steps = int(bptt_steps) if bptt_steps else None
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown parameter strategy {strategy!r}; choose one of {STRATEGIES}")
        self.strategy = strategy
        self.net = _SeedLSTM(n_inputs, n_params, hidden, dropout)
        self.backprop_depth = BackpropDepth()

    def trajectory(self, z: torch.Tensor) -> torch.Tensor:
        """Parameters at every step ``[T, B, n_params]`` in [0, 1]."""
        return torch.sigmoid(self.net(z, self.bptt_steps))

    def forward(self, z: torch.Tensor, basin: torch.Tensor | None = None) -> torch.Tensor:
        """z ``[T, B, n_inputs]`` (and basin index ``[B]``) -> parameters ``[B, n_params]`` in [0, 1]."""
        if self.strategy == "mean_time":
            return self.trajectory(z).mean(dim=0)
        # only the last step's parameters are used: project just that step, and let the backward
        # pass stop where the gradient coming from it has vanished
        hidden = self.net.hidden_states(z, self.bptt_steps, depth=self.backprop_depth)
        last = torch.sigmoid(self.net.project(hidden[-1]))
        if self.strategy == "last":
            return last
        if basin is None:
            return last.mean(dim=0, keepdim=True).expand_as(last)
        # mean of each basin's rows via a one-hot [B, B] matrix: differentiable, no Python loop
        same = (basin[:, None] == basin[None, :]).to(last.dtype)
        return same @ last / same.sum(dim=1, keepdim=True)


class StreamflowLSTM(nn.Module):
    """Plain LSTM baseline: streamflow (mm/step) at every step from normalised inputs.

    ``q = softplus(out) * q_scale`` with ``q_scale`` (mm/step) the training-period streamflow standard
    deviation: the network works at unit scale, the loss sees mm/step, and softplus keeps q >= 0
    without the dead zone a ReLU output would have.
    """

    def __init__(self, n_inputs: int, hidden: int = 64, dropout: float = 0.0, q_scale: float = 1.0):
        super().__init__()
        self.net = _SeedLSTM(n_inputs, 1, hidden, dropout)
        self.register_buffer("q_scale", torch.tensor(float(q_scale)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z ``[T, B, n_inputs]`` -> streamflow ``[T, B]`` in mm/step (non-negative)."""
        return nn.functional.softplus(self.net(z)[..., 0]) * self.q_scale
