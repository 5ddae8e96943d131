"""Back-propagation through an ``nn.LSTM`` that stops where the gradient has vanished.

The parameter LSTM of the dXAJ reads a window of several hundred days, but with the ``last`` and
``mean_basin`` strategies the loss sees only its final step. Going back in time, the gradient that
reaches the hidden and cell states shrinks by the forget gates at every step: for a freshly
initialised network it is below 1e-6 of its size after 30 steps and exactly zero after about 300.
A full backward pass still runs every one of the 730 steps, at about three times the cost of the
forward pass, and spends most of it multiplying zeros and denormals.

:func:`lstm_vanishing_backprop` gives the same outputs and the same gradients to rounding, cheaper:
the forward pass runs without autograd and keeps the ``(h, c)`` states at every ``chunk``-th step.
The backward pass walks the chunks from the last to the first, re-runs each chunk's forward with
autograd from its saved state and back-propagates through it, and stops once no earlier step has an
output gradient and the gradient carried into the states has fallen below ``tolerance`` times
the largest output gradient (by default a tenth of the dtype's machine epsilon, so whatever it
skips is below the rounding error of the sums it would have been added to). A network whose
gradient does not vanish (forget gates near 1) is simply walked further back, down to step 0,
where the result is the exact full back-propagation.

The walk costs a forward pass without autograd plus, for the chunks it visits, a forward pass
with autograd and a backward pass; full back-propagation costs the last two over every step. So
the walk wins while it visits fewer than about 60 % of the chunks (measured on 730 steps x 256
sequences x hidden 64: no-grad forward 1.3 F, backward 2.7 F, for a forward with autograd F)
and loses about 35 % when it visits them all, as it does once training has taught the network long
memory. :class:`BackpropDepth` keeps the measured depth between training steps and switches to
full back-propagation while the walk would not pay, re-measuring every ``probe_every`` steps.
"""

from __future__ import annotations

import torch
from torch import nn


class BackpropDepth(nn.Module):
    """Chooses between the vanishing walk and full back-propagation from the depth last measured.

    ``fraction`` is the share of chunks the last walk re-ran. The walk is used while that share is
    below ``threshold``; above it, full back-propagation is used, except every ``probe_every``-th
    step, which walks again to see whether the gradient has started to vanish sooner.

    The state is kept in buffers, so it is saved with the model (a resumed run makes the choices an
    uninterrupted one would) and, under DistributedDataParallel, broadcast from rank 0 before each
    forward pass (every rank makes the same choice).
    """

    def __init__(self, threshold: float = 0.6, probe_every: int = 20) -> None:
        super().__init__()
        if not 0.0 < threshold <= 1.0 or probe_every < 1:
            raise ValueError(f"BackpropDepth needs 0 < threshold <= 1 and probe_every >= 1, got {threshold}, {probe_every}")
        self.threshold = threshold
        self.probe_every = probe_every
        self.register_buffer("fraction", torch.zeros((), dtype=torch.float64))
        self.register_buffer("steps_since_walk", torch.zeros((), dtype=torch.int64))

    def use_walk(self) -> bool:
        """Whether the next training step should use the vanishing walk."""
        steps = int(self.steps_since_walk) + 1
        walk = float(self.fraction) < self.threshold or steps >= self.probe_every
        self.steps_since_walk.fill_(0 if walk else steps)
        return walk

    def record(self, chunks_run: int, chunks_total: int) -> None:
        self.fraction.fill_(chunks_run / max(chunks_total, 1))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        # models saved before this policy existed lack its buffers: they start from a fresh state
        for name in ("fraction", "steps_since_walk"):
            if prefix + name in missing_keys:
                missing_keys.remove(prefix + name)


class _VanishingBackprop(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, lstm: nn.LSTM, chunk: int, tolerance: float, depth: BackpropDepth | None, x: torch.Tensor,
        *weights: torch.Tensor,
    ):
        n_steps, batch = x.shape[0], x.shape[1]
        shape = (lstm.num_layers, batch, lstm.hidden_size)
        state = (x.new_zeros(shape), x.new_zeros(shape))
        starts = list(range(0, n_steps, chunk))
        saved_states, outputs = [], []
        for start in starts:
            saved_states.append(state)
            out, state = lstm(x[start : start + chunk], state)
            outputs.append(out)
        ctx.lstm, ctx.chunk, ctx.tolerance, ctx.depth = lstm, chunk, tolerance, depth
        ctx.starts, ctx.saved_states = starts, saved_states
        ctx.save_for_backward(x)
        return torch.cat(outputs)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        lstm, chunk = ctx.lstm, ctx.chunk
        weights = list(lstm.parameters())
        grad_x = torch.zeros_like(x)
        grad_weights = [torch.zeros_like(w) for w in weights]
        step_size = grad_out.abs().flatten(1).amax(dim=1)  # [T]: largest output gradient per step
        nonzero = torch.nonzero(step_size).flatten()
        if nonzero.numel() == 0:
            return (None, None, None, None, grad_x, *grad_weights)
        first_with_grad = int(nonzero[0])
        threshold = ctx.tolerance * float(step_size.max())
        carried: tuple[torch.Tensor, torch.Tensor] | None = None
        chunks_run = 0
        for start, (h0, c0) in zip(reversed(ctx.starts), reversed(ctx.saved_states)):
            end = min(start + chunk, x.shape[0])
            if end <= first_with_grad and carried is not None:
                if max(float(carried[0].abs().max()), float(carried[1].abs().max())) <= threshold:
                    break
            with torch.enable_grad():
                x_chunk = x[start:end].detach().requires_grad_()
                h_start, c_start = h0.detach().requires_grad_(), c0.detach().requires_grad_()
                out, (h_end, c_end) = lstm(x_chunk, (h_start, c_start))
                roots, root_grads = [out], [grad_out[start:end]]
                if carried is not None:
                    roots += [h_end, c_end]
                    root_grads += list(carried)
                grads = torch.autograd.grad(roots, [x_chunk, h_start, c_start, *weights], root_grads)
            chunks_run += 1
            grad_x[start:end] = grads[0]
            carried = (grads[1], grads[2])
            for total, part in zip(grad_weights, grads[3:]):
                total += part
        if ctx.depth is not None:
            ctx.depth.record(chunks_run, len(ctx.starts))
        return (None, None, None, None, grad_x, *grad_weights)


def lstm_vanishing_backprop(
    lstm: nn.LSTM, x: torch.Tensor, chunk: int = 64, tolerance: float | None = None,
    depth: BackpropDepth | None = None,
) -> torch.Tensor:
    """Outputs ``[T, B, hidden]`` of ``lstm`` on ``x`` ``[T, B, input]`` from zero states.

    Same values as ``lstm(x)[0]``; the backward pass stops early where the gradient has vanished
    (module docstring). ``chunk`` steps are re-run per piece of the backward pass; ``tolerance``
    defaults to a tenth of the machine epsilon of ``x``'s dtype. ``depth``, if given, receives the
    share of chunks the backward pass re-ran. Needs a sequence-first, unidirectional ``nn.LSTM``
    without projections.
    """
    if lstm.batch_first or lstm.bidirectional or lstm.proj_size:
        raise ValueError("lstm_vanishing_backprop needs a sequence-first, unidirectional nn.LSTM without proj_size")
    if lstm.dropout > 0 and lstm.num_layers > 1 and lstm.training:
        # the backward pass re-runs chunks, which would draw new inter-layer dropout masks
        raise ValueError("lstm_vanishing_backprop cannot re-run an nn.LSTM with inter-layer dropout in training mode")
    if chunk < 1:
        raise ValueError(f"lstm_vanishing_backprop chunk must be >= 1, got {chunk}")
    if tolerance is None:
        tolerance = 0.1 * torch.finfo(x.dtype).eps
    return _VanishingBackprop.apply(lstm, int(chunk), float(tolerance), depth, x, *lstm.parameters())
