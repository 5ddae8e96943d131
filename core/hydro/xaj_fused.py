"""Fused XAJ: compiled time loop with a hand-derived adjoint, behind the reference's contract.

``simulate_fused`` computes exactly what ``core.hydro.xaj.simulate`` computes (docs/design.md,
4. XAJ physics) but runs the per-step recursion in numba (``core.hydro.xaj_kernels``) over all basins
at once and back-propagates through it with a reverse-mode adjoint instead of a per-step autograd
graph. The parts that are cheap and vectorised already stay in torch with ordinary autograd:
parameter preparation (KI/KG rescaling, initial states), the gamma unit hydrograph weights, the
causal surface convolution and the water-balance diagnostics, all through the reference's own
functions so that both paths share them.

The recursion runs on the host in float64 whatever the input dtype and device (on CUDA the inputs
are copied to the host and the results back: a few MB); results are cast back to the dtype and
device of ``params``. Gradients flow to ``params`` and, when ``forcing`` requires grad (the snow
routine's outflow is XAJ's P), to the forcing of the main period as well; the adjoint then also
writes dL/dP and dL/dPET. Warmup runs without gradient and its end states are constants, as in the
reference (the warmup forcing gets a zero gradient there too).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from core.hydro import xaj_kernels as kern
from core.hydro.unit_hydrograph import gamma_unit_hydrograph, route_surface
from core.hydro.xaj_setup import (FLUX_NAMES, INITIAL_NAMES, STATE_NAMES, XajParams, checked_inputs,
                                  initial_state, periodic_reservoir_start, unpack_params)

_KERNEL_STATE_COLUMNS = (kern.O_WU, kern.O_WL, kern.O_WD, kern.O_S, kern.O_FR, kern.O_QI, kern.O_QG)

PARALLEL_MIN_BASINS = 64
"""Batches at least this wide use the ``prange`` kernels (basins split over numba's threads) when
numba has more than one thread and ``HYDROCAST_XAJ_PARALLEL`` is not ``0``. Measured on 2 cores:
1.7x faster when the machine is idle, slower when other processes already load both cores."""


def use_parallel(n_basin: int) -> bool:
    """Whether a batch of ``n_basin`` basins runs on the parallel kernels (see ``PARALLEL_MIN_BASINS``)."""
    if os.environ.get("HYDROCAST_XAJ_PARALLEL", "1") == "0":
        return False
    import numba

    return n_basin >= PARALLEL_MIN_BASINS and numba.get_num_threads() > 1


class _XajRecursion(torch.autograd.Function):
    """Autograd wrapper of the compiled recursion.

    Inputs: prcp, pet ``[B, T]``, par ``[B, T, 13]`` per step or ``[B, 1, 13]`` static, and init ``[B, 7]``,
    float64 host tensors (kernel order of ``xaj_kernels``). prcp and pet get a gradient only when they
    require one (otherwise the kernel skips those adjoints: parameter-only training pays nothing).
    Outputs: the ``N_OUT`` recorded series, each a ``[T, B]`` view of the basin-major buffer
    (order ``xaj_kernels.OUTPUT_NAMES``).
    Series the loss does not use get no gradient buffer (``set_materialize_grads(False)``).
    """

    @staticmethod
    def forward(ctx, prcp, pet, par, init):  # type: ignore[override]
        par_np = par.detach().contiguous().numpy()
        init_np = init.detach().contiguous().numpy()
        out = kern.empty_outputs(*prcp.shape)
        forward = kern.xaj_forward_parallel if use_parallel(prcp.shape[0]) else kern.xaj_forward
        forward(prcp.detach().numpy(), pet.detach().numpy(), par_np, init_np, out)
        out_t = torch.from_numpy(out)
        ctx.set_materialize_grads(False)
        # the trajectory the adjoint replays; saved through autograd so that an in-place edit of an
        # output (a view of it) is caught by the version counter instead of corrupting the gradient
        ctx.save_for_backward(prcp, pet, par, init, out_t)
        return tuple(out_t[:kern.N_OUT].transpose(1, 2).unbind(0))

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        prcp, pet, par, init, out_t = ctx.saved_tensors
        # only the series the loss uses get a gradient row (the kernel reads 0 for the others)
        used = [i for i, g in enumerate(grads) if g is not None]
        slot = np.full(kern.N_OUT, -1, dtype=np.int64)
        slot[used] = np.arange(len(used))
        gout = np.empty((len(used),) + tuple(prcp.shape))
        for row, i in enumerate(used):
            gout[row] = grads[i].detach().numpy().T
        gpar = torch.zeros_like(par)
        ginit = torch.zeros_like(init)
        n_basin = prcp.shape[0]
        gprcp = torch.empty_like(prcp) if ctx.needs_input_grad[0] else None
        gpet = torch.empty_like(pet) if ctx.needs_input_grad[1] else None
        backward = kern.xaj_backward_parallel if use_parallel(n_basin) else kern.xaj_backward
        backward(prcp.detach().numpy(), pet.detach().numpy(), par.detach().contiguous().numpy(),
                 init.detach().contiguous().numpy(), out_t.numpy(), gout, slot, gpar.numpy(), ginit.numpy(),
                 kern.no_forcing_gradient(n_basin) if gprcp is None else gprcp.numpy(),
                 kern.no_forcing_gradient(n_basin) if gpet is None else gpet.numpy())
        return gprcp, gpet, gpar, ginit


class _UnitHydrographConvolution(torch.autograd.Function):
    """``causal_convolve`` of the reference (same sums in the same order) with a compiled adjoint.

    inflow ``[T, B]`` and weights ``[B, L]`` float64 host tensors -> routed flow ``[T, B]``
    (computed basin-major inside).
    """

    @staticmethod
    def forward(ctx, inflow, weights):  # type: ignore[override]
        x = inflow.detach().T.contiguous()  # [B, T]
        w = weights.detach().contiguous()
        out = torch.empty_like(x)
        kern.uh_convolve_forward(x.numpy(), w.numpy(), out.numpy())
        ctx.save_for_backward(x, w)
        return out.T

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, w = ctx.saved_tensors
        g_in = torch.empty_like(x)
        g_w = torch.empty_like(w)
        kern.uh_convolve_backward(x.numpy(), w.numpy(), grad.detach().to(torch.float64).T.contiguous().numpy(),
                                  g_in.numpy(), g_w.numpy())
        return g_in.T, g_w


def _kernel_parameters(p: XajParams) -> torch.Tensor:
    """Named parameter columns (KI, KG already rescaled by ``unpack_params``) -> kernel order,
    contiguous: ``[T, B]`` per-step columns -> ``[B, T, 13]``; ``[B]`` static ones -> ``[B, 1, 13]``."""
    stacked = torch.stack([p.K, p.B, p.IM, p.UM, p.LM, p.DM, p.C, p.SM, p.EX, p.KI, p.KG, p.CI, p.CG], dim=-1)
    if stacked.dim() == 2:
        return stacked.unsqueeze(1)
    return stacked.transpose(0, 1).contiguous()


def _steps(column: torch.Tensor, start: int | None = None, stop: int | None = None) -> torch.Tensor:
    """Rows ``start:stop`` of a per-step ``[T, B]`` parameter column; a static ``[B]`` one as it is
    (it broadcasts against ``[T, B]`` series)."""
    return column if column.dim() == 1 else column[start:stop]


def _warmup_rows(column: torch.Tensor, warmup: int) -> torch.Tensor:
    """``[warmup, B]`` rows of a parameter column; a static one expanded (no copy), so that products
    over the warmup run in the same order as the reference's."""
    return column.expand(warmup, -1) if column.dim() == 1 else column[:warmup]


def _at(p: XajParams, t: int) -> XajParams:
    """``[B]`` parameters of step ``t`` (static parameters are the same at every step)."""
    return p if p.K.dim() == 1 else p.at(t)


_HOST = torch.device("cpu")


def _basin_major(forcing: torch.Tensor, variable: int, start: int, stop: int) -> torch.Tensor:
    """Steps ``start:stop`` of one forcing variable of ``forcing [T, B, 2]`` (any dtype and device)
    as the kernels' ``[B, stop - start]`` float64 host layout, in one copy; differentiable (through
    autograd's copy) when ``forcing`` requires grad, a plain detached copy otherwise."""
    steps = forcing[start:stop, :, variable]
    if forcing.requires_grad and torch.is_grad_enabled():
        return steps.T.to(device=_HOST, dtype=torch.float64).contiguous()
    out = torch.empty((forcing.shape[1], stop - start), dtype=torch.float64)
    out.copy_(steps.detach().T)
    return out


def _warmup_end(prcp: torch.Tensor, pet: torch.Tensor, par: torch.Tensor, init: torch.Tensor,
                keep: int) -> tuple[torch.Tensor, ...]:
    """Run the warmup (no gradient) and record only its last ``keep`` steps: the ``N_OUT`` series,
    each ``[keep, B]`` (its end states, and the surface inflow the routing history needs)."""
    out = kern.empty_outputs(prcp.shape[0], keep)
    forward = kern.xaj_forward_parallel if use_parallel(prcp.shape[0]) else kern.xaj_forward
    forward(prcp.numpy(), pet.numpy(), par.detach().numpy(), init.detach().numpy(), out)
    return tuple(torch.from_numpy(out[:kern.N_OUT]).transpose(1, 2).unbind(0))


def _convolve(inflow: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return _UnitHydrographConvolution.apply(inflow, weights)


def simulate_fused(
    forcing: torch.Tensor,
    params: torch.Tensor,
    warmup: int = 0,
    uh_length: int = 15,
    return_states: bool = False,
    warmup_routing: bool = False,
    reservoir_equilibrium: bool = False,
):
    """Run XAJ with the compiled recursion; same contract as ``core.hydro.xaj.simulate``.

    Parameters
    ----------
    forcing : torch.Tensor
        ``[T, B, 2]`` precipitation and potential evapotranspiration, mm per step. May require grad
        (e.g. P from the snow routine): its main-period steps then get the exact gradient, the
        warmup steps zero, as in the reference.
    params : torch.Tensor
        ``[B, 15]`` or per step ``[T, B, 15]`` physical parameters in the order K, B, IM, UM, LM, DM,
        C, SM, EX, KI, KG, A, THETA, CI, CG. Gradients flow to it through the main (post-warmup)
        period only.
    warmup : int
        Steps run without gradient from the cold-start states; their end states start the main period.
    uh_length : int
        Length L of the gamma unit hydrograph, steps.
    return_states : bool
        Also return the reference's diagnostics dict (see ``core.hydro.xaj.simulate``).
    warmup_routing : bool
        Start the surface convolution with the warmup's inflow as history (see ``xaj.simulate``).
    reservoir_equilibrium : bool
        Start the interflow and groundwater reservoirs in periodic steady state over the warmup
        (see ``xaj.simulate``).

    Returns
    -------
    (q, et) or (q, et, states): streamflow and actual evapotranspiration ``[T - warmup, B]``, mm per
    step, dtype and device of ``params``.
    """
    forcing, params = checked_inputs(forcing, params, warmup, uh_length)  # same errors as the reference
    dtype, device = params.dtype, params.device
    # static [B, 15] stays static ([B] columns, kernel rows [B, 1, 13]): no [T, B] copies, no
    # [T, B, 13] gradient; per-step [T, B, 15] gives [T, B] columns and kernel rows [B, T, 13]
    p = unpack_params(params.to(device=_HOST, dtype=torch.float64))
    par = _kernel_parameters(p)
    init = torch.stack(list(initial_state(_at(p, 0))), dim=1)  # [B, 7], differentiable like the reference's

    history = None
    if warmup > 0:
        keep = min(uh_length - 1, warmup) if warmup_routing and uh_length > 1 else 1
        with torch.no_grad():
            warm = _warmup_end(_basin_major(forcing, 0, 0, warmup), _basin_major(forcing, 1, 0, warmup),
                               par if par.shape[1] == 1 else par[:, :warmup].contiguous(), init, keep)
            cold = init.detach()
            init = torch.stack([warm[i][-1] for i in _KERNEL_STATE_COLUMNS], dim=1)
            if reservoir_equilibrium:
                qi, qg = STATE_NAMES.index("QI"), STATE_NAMES.index("QG")
                init[:, qi] = periodic_reservoir_start(init[:, qi], cold[:, qi], _warmup_rows(p.CI, warmup))
                init[:, qg] = periodic_reservoir_start(init[:, qg], cold[:, qg], _warmup_rows(p.CG, warmup))
            if warmup_routing and uh_length > 1:
                history = warm[kern.O_RIM] + warm[kern.O_RS] * (1.0 - _steps(p.IM, warmup - keep, warmup))
        if par.shape[1] > 1:
            par = par[:, warmup:].contiguous()
    steps = forcing.shape[0]
    series = _XajRecursion.apply(_basin_major(forcing, 0, warmup, steps), _basin_major(forcing, 1, warmup, steps),
                                 par, init)  # N_OUT x [T - warmup, B]
    inflow = series[kern.O_RIM] + series[kern.O_RS] * (1.0 - _steps(p.IM, warmup))
    last = _at(p, -1)  # the unit hydrograph of the last step, as in the reference
    weights = gamma_unit_hydrograph(last.A, last.THETA, uh_length)
    qs, pending, pending0 = route_surface(inflow, weights, history, convolve=_convolve, pending=return_states)
    q = qs + series[kern.O_QI] + series[kern.O_QG]

    def back(x: torch.Tensor) -> torch.Tensor:  # float64 host -> caller dtype and device
        return x.to(device=device, dtype=dtype).contiguous()

    q_out, et_out = back(q), back(series[kern.O_E])
    if not return_states:
        return q_out, et_out
    out = {name: back(series[kern.OUTPUT_NAMES.index(name)]) for name in STATE_NAMES + FLUX_NAMES if name != "QS"}
    out["QS"] = back(qs)
    out["UH"] = back(pending)
    out.update({name: back(init[:, i]) for i, name in enumerate(INITIAL_NAMES)})
    out["UH0"] = back(pending0)
    return q_out, et_out, out
