"""Gamma unit hydrograph and causal convolution for XAJ surface routing (docs/design.md, 4.5 Routing).

Known value (checked in the tests): A = 2.5, THETA = 3.5, L = 15 gives weights starting
0.0069, 0.0314, 0.0553, 0.0738, 0.0860 and ending 0.0597, 0.0525, 0.0459. These numbers assume
the offsets of section 4.5 (shape ``a = max(A, 0) + 0.1``, scale ``theta = max(THETA, 0) + 0.5``);
without the offsets the same A, THETA give 0.0115, 0.0450, ... and end 0.0329.
"""

from __future__ import annotations

from typing import Callable

import torch


def gamma_unit_hydrograph(a: torch.Tensor, theta: torch.Tensor, length: int = 15) -> torch.Tensor:
    """Unit-hydrograph weights from the XAJ parameters A and THETA.

    Parameters
    ----------
    a, theta : tensor [B]
        XAJ parameters A (shape, -) and THETA (scale, time steps), physical units.
    length : int
        Number of steps L of the kernel.

    Returns
    -------
    tensor [B, L]
        ``w_k`` proportional to the gamma density at ``t_k = k + 0.5`` with shape ``max(A, 0) + 0.1``
        and scale ``max(THETA, 0) + 0.5``, normalised to sum 1 over k (dimensionless).
    """
    if length < 1:
        raise ValueError(f"unit hydrograph length must be >= 1 step, got {length}")
    shape = torch.clamp(a, min=0.0) + 0.1
    scale = torch.clamp(theta, min=0.0) + 0.5
    t = torch.arange(length, dtype=a.dtype, device=a.device) + 0.5
    shape_, scale_ = shape.unsqueeze(-1), scale.unsqueeze(-1)
    # Log density keeps large shapes / tiny scales finite; normalising by logsumexp instead of
    # dividing by the sum is the same formula without underflow.
    log_density = ((shape_ - 1.0) * torch.log(t) - t / scale_
                   - torch.lgamma(shape_) - shape_ * torch.log(scale_))
    return torch.exp(log_density - torch.logsumexp(log_density, dim=-1, keepdim=True))


def causal_convolve(inflow: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Route ``inflow [T, B]`` through per-basin kernels ``weights [B, L]`` with zero history.

    ``out_t = sum_k weights_k inflow_{t-k}`` over ``0 <= k < L`` and ``t - k >= 0``; same units as inflow.
    Returns ``[T, B]``.
    """
    steps, length = inflow.shape[0], weights.shape[-1]
    history = inflow.new_zeros((length - 1,) + tuple(inflow.shape[1:]))
    padded = torch.cat([history, inflow], dim=0)
    out = inflow.new_zeros(inflow.shape)
    for k in range(length):
        start = length - 1 - k
        out = out + weights[..., k] * padded[start:start + steps]
    return out


def pending_volume(inflow: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Water still inside the unit-hydrograph pipeline at the end of each step, ``[T, B]``.

    Inflow ``j`` steps ago has released ``sum_{k<=j} w_k`` of itself, so the rest is
    ``sum_j inflow_{t-j} (1 - cumsum(w)_j)``. Together with ``causal_convolve`` this closes the
    surface-routing water balance: ``sum inflow - sum out = pending_volume[-1]``.
    """
    remaining = torch.clamp(1.0 - torch.cumsum(weights, dim=-1), min=0.0)
    return causal_convolve(inflow, remaining)


def route_surface(inflow: torch.Tensor, weights: torch.Tensor, history: torch.Tensor | None,
                  convolve: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = causal_convolve,
                  pending: bool = True) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Surface routing of ``inflow [T, B]`` with kernels ``weights [B, L]`` after ``history [H, B]``
    (warmup inflow, or None for the zero history of docs/design.md, 4.5 Routing). Returns the routed
    flow ``[T, B]``, the water pending in the unit hydrograph after each step ``[T, B]`` and before the first ``[B]``
    (both None with ``pending=False``: a caller that only needs the flow skips their convolution)."""
    if history is None:
        if not pending:
            return convolve(inflow, weights), None, None
        zero = inflow.new_zeros(inflow.shape[1:])
        return convolve(inflow, weights), pending_volume(inflow, weights), zero
    h = history.shape[0]
    full = torch.cat([history, inflow])
    if not pending:
        return convolve(full, weights)[h:], None, None
    in_pipe = pending_volume(full, weights)
    return convolve(full, weights)[h:], in_pipe[h:], in_pipe[h - 1]
