"""Fused snow routine: the compiled recursion of ``core.hydro.snow_kernels`` behind the contract of
``core.hydro.snow.simulate_snow`` (same numbers as the eager reference, a hand-derived adjoint).

Runs on the host in float64 whatever the input dtype and device; results come back in the dtype and
device of ``params``. Gradients flow to ``params`` only (forcing is data). The warmup runs without
gradient and its end stores are constants, as in the reference.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from core.hydro import snow_kernels as kern
from core.hydro.snow import SNOW_SERIES, SnowState, check_snow_inputs
from core.hydro.snow_params import PARTITION_INTERVAL

_HALF, _WIDTH = 0.5 * PARTITION_INTERVAL, float(PARTITION_INTERVAL)
PARALLEL_MIN_BASINS = 64
"""Batches at least this wide split basins over numba's threads (same rule and switch,
``HYDROCAST_XAJ_PARALLEL=0``, as the fused XAJ)."""


def use_parallel(n_basin: int) -> bool:
    """Whether ``n_basin`` basins run on the ``prange`` kernels."""
    if os.environ.get("HYDROCAST_XAJ_PARALLEL", "1") == "0":
        return False
    import numba

    return n_basin >= PARALLEL_MIN_BASINS and numba.get_num_threads() > 1


class _SnowRecursion(torch.autograd.Function):
    """prcp, temp ``[B, T]`` (data), par ``[B, 4]``, init ``[B, 2]`` float64 host tensors ->
    the ``N_OUT`` recorded series, each a ``[T, B]`` view (order ``snow_kernels.OUTPUT_NAMES``)."""

    @staticmethod
    def forward(ctx, prcp, temp, par, init):  # type: ignore[override]
        par_np = par.detach().contiguous().numpy()
        init_np = init.detach().contiguous().numpy()
        out = kern.empty_outputs(*prcp.shape)
        forward = kern.snow_forward_parallel if use_parallel(prcp.shape[0]) else kern.snow_forward
        forward(prcp.numpy(), temp.numpy(), par_np, init_np, out, _HALF, _WIDTH)
        out_t = torch.from_numpy(out)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(prcp, temp, par, init, out_t)
        return tuple(out_t.transpose(1, 2).unbind(0))

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        prcp, temp, par, init, out_t = ctx.saved_tensors
        out = out_t.numpy()
        gout = np.zeros_like(out)
        for i, g in enumerate(grads):
            if g is not None:
                gout[i] = g.detach().to(torch.float64).numpy().T
        gpar = torch.zeros_like(par)
        ginit = torch.zeros_like(init)
        backward = kern.snow_backward_parallel if use_parallel(prcp.shape[0]) else kern.snow_backward
        backward(prcp.numpy(), temp.numpy(), par.detach().contiguous().numpy(), init.detach().contiguous().numpy(),
                 out, gout, gpar.numpy(), ginit.numpy(), _HALF, _WIDTH)
        return None, None, gpar, ginit


def simulate_snow_fused(prcp: torch.Tensor, temp: torch.Tensor, params: torch.Tensor, warmup: int = 0
                        ) -> tuple[dict[str, torch.Tensor], SnowState]:
    """``core.hydro.snow.simulate_snow`` on the compiled kernels (same arguments and returns)."""
    if prcp.requires_grad or temp.requires_grad:
        raise ValueError("snow_fused.simulate_snow_fused: forcing requires grad, but the fused adjoint only "
                         "differentiates with respect to params; use simulate_snow(..., backend='reference')")
    check_snow_inputs(prcp, temp, params, warmup)
    dtype, device = params.dtype, params.device
    host = torch.device("cpu")
    p64 = prcp.detach().to(device=host, dtype=dtype).to(torch.float64).T.contiguous()  # [B, T], rounded like the reference
    t64 = temp.detach().to(device=host, dtype=dtype).to(torch.float64).T.contiguous()
    par = params.to(device=host, dtype=torch.float64)
    init = torch.zeros(par.shape[0], kern.N_INIT, dtype=torch.float64)
    parts = []
    if warmup > 0:
        with torch.no_grad():
            warm = _SnowRecursion.apply(p64[:, :warmup].contiguous(), t64[:, :warmup].contiguous(), par.detach(), init)
        init = torch.stack([warm[kern.O_PACK][-1], warm[kern.O_LIQUID][-1]], dim=1)
        parts.append(warm)
    main = _SnowRecursion.apply(p64[:, warmup:].contiguous(), t64[:, warmup:].contiguous(), par, init)
    parts.append(main)

    def back(x: torch.Tensor) -> torch.Tensor:
        return x.to(device=device, dtype=dtype)

    series = {name: back(torch.cat([part[i] for part in parts])) if len(parts) > 1 else back(main[i])
              for i, name in enumerate(SNOW_SERIES)}
    start = SnowState(back(init[:, kern.I_PACK]), back(init[:, kern.I_LIQUID]))
    return series, start
