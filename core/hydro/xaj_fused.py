"""Fused XAJ: compiled time loop with a hand-derived adjoint, behind the reference's contract.

``simulate_fused`` computes exactly what ``core.hydro.xaj.simulate`` computes (DESIGN.md
section 4) but runs the per-step recursion in numba (``core.hydro.xaj_kernels``) over all basins
at once and back-propagates through it with a reverse-mode adjoint instead of a per-step autograd
graph. The parts that are cheap and vectorised already stay in torch with ordinary autograd:
parameter preparation (KI/KG rescaling, initial states), the gamma unit hydrograph weights and the
causal surface convolution (``conv1d``).

The recursion runs on the host in float64 whatever the input dtype and device; results are cast
back to the dtype and device of ``params``. Gradients flow to ``params`` only; forcing is data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.hydro import xaj_kernels as kern

# Parameter columns of the [B, 15] physical parameter tensor (DESIGN.md section 4 order).
_K, _B, _IM, _UM, _LM, _DM, _C, _SM, _EX, _KI, _KG, _A, _THETA, _CI, _CG = range(15)
N_PARAMS = 15

STATE_NAMES = ("WU", "WL", "WD", "S", "FR", "QI", "QG", "RS", "RI", "RG", "RIM", "E", "QS")


def is_available() -> bool:
    """True when the compiled kernels can run (numba imports and compiles on this machine)."""
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a hard requirement of the project
        return False
    return True


class _XajRecursion(torch.autograd.Function):
    """Autograd wrapper of the compiled recursion.

    Inputs: prcp, pet ``[B, T]`` float64 host tensors (data, no gradient); par ``[B, 13]`` and
    init ``[B, 7]`` float64 host tensors (kernel order of ``xaj_kernels``).
    Output: the recorded series ``[N_OUT, B, T]`` (see ``xaj_kernels.OUTPUT_NAMES``).
    """

    @staticmethod
    def forward(ctx, prcp, pet, par, init):  # type: ignore[override]
        p_np = prcp.detach().numpy()
        e_np = pet.detach().numpy()
        par_np = par.detach().contiguous().numpy()
        init_np = init.detach().contiguous().numpy()
        out = kern.empty_outputs(*p_np.shape)
        kern.xaj_forward(p_np, e_np, par_np, init_np, out)
        out_t = torch.from_numpy(out)
        ctx.save_for_backward(prcp, pet, par, init, out_t)
        return out_t

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        prcp, pet, par, init, out_t = ctx.saved_tensors
        gout = grad_out.detach().to(torch.float64).contiguous().numpy()
        gpar = torch.zeros_like(par)
        ginit = torch.zeros_like(init)
        kern.xaj_backward(
            prcp.numpy(), pet.numpy(), par.detach().contiguous().numpy(),
            init.detach().contiguous().numpy(), out_t.numpy(), gout, gpar.numpy(), ginit.numpy(),
        )
        return None, None, gpar, ginit


def _kernel_parameters(params: torch.Tensor) -> torch.Tensor:
    """[B, 15] physical parameters -> [B, 13] kernel parameters (differentiable, float64).

    KI and KG are rescaled by (1 - 1e-5) / (KI + KG) where KI + KG >= 1 (DESIGN.md section 4).
    """
    p = params
    ki, kg = p[:, _KI], p[:, _KG]
    total = ki + kg
    over = total >= 1.0
    # the unused branch must stay finite (KI = KG = 0 would give inf, and where's gradient 0 * inf = NaN)
    safe_total = torch.where(over, total, torch.ones_like(total))
    scale = torch.where(over, (1.0 - kern.PRECISION) / safe_total, torch.ones_like(total))
    ki = torch.where(over, ki * scale, ki)
    kg = torch.where(over, kg * scale, kg)
    cols = [p[:, _K], p[:, _B], p[:, _IM], p[:, _UM], p[:, _LM], p[:, _DM], p[:, _C],
            p[:, _SM], p[:, _EX], ki, kg, p[:, _CI], p[:, _CG]]
    return torch.stack(cols, dim=1)


def _initial_states(params: torch.Tensor) -> torch.Tensor:
    """Cold-start states [B, 7] (WU, WL, WD, S, FR, QI, QG) of DESIGN.md section 4.6, as constants."""
    p = params.detach()
    fr = torch.full_like(p[:, 0], 0.1)
    q0 = torch.full_like(p[:, 0], 0.1)
    return torch.stack([0.5 * p[:, _UM], 0.5 * p[:, _LM], 0.5 * p[:, _DM], 0.5 * p[:, _SM],
                        fr, q0, q0.clone()], dim=1)


def _unit_hydrograph(params: torch.Tensor, uh_length: int) -> torch.Tensor:
    """Gamma unit hydrograph weights [B, L] (sum 1) from A and THETA, differentiable."""
    from core.hydro.unit_hydrograph import gamma_unit_hydrograph

    return gamma_unit_hydrograph(params[:, _A], params[:, _THETA], uh_length)


def _causal_convolution(inflow: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """out[b, t] = sum_k weights[b, k] inflow[b, t - k] with zero history; inflow [B, T], weights [B, L]."""
    n_basin, n_time = inflow.shape
    length = weights.shape[1]
    x = F.pad(inflow, (length - 1, 0)).unsqueeze(0)  # [1, B, T + L - 1]
    kernel = torch.flip(weights, dims=[1]).unsqueeze(1)  # [B, 1, L]
    return F.conv1d(x, kernel, groups=n_basin).squeeze(0)


def _check_inputs(forcing: torch.Tensor, params: torch.Tensor, warmup: int, uh_length: int) -> None:
    if forcing.dim() != 3 or forcing.shape[2] != 2:
        raise ValueError(f"xaj_fused.simulate_fused: forcing must be [T, B, 2] (P, PET), got {tuple(forcing.shape)}")
    if params.dim() != 2 or params.shape[1] != N_PARAMS:
        raise ValueError(f"xaj_fused.simulate_fused: params must be [B, {N_PARAMS}], got {tuple(params.shape)}")
    if forcing.shape[1] != params.shape[0]:
        raise ValueError(
            f"xaj_fused.simulate_fused: forcing has {forcing.shape[1]} basins but params has {params.shape[0]}")
    if not 0 <= warmup < forcing.shape[0]:
        raise ValueError(f"xaj_fused.simulate_fused: warmup={warmup} must be in [0, T={forcing.shape[0]})")
    if uh_length < 1:
        raise ValueError(f"xaj_fused.simulate_fused: uh_length={uh_length} must be >= 1")
    if forcing.requires_grad:
        raise ValueError("xaj_fused.simulate_fused: forcing requires grad, but the fused adjoint only "
                         "differentiates with respect to params; use backend='reference'")


def simulate_fused(
    forcing: torch.Tensor,
    params: torch.Tensor,
    warmup: int = 0,
    uh_length: int = 15,
    return_states: bool = False,
):
    """Run XAJ with the compiled recursion; same contract as ``core.hydro.xaj.simulate``.

    Parameters
    ----------
    forcing : torch.Tensor
        ``[T, B, 2]`` precipitation and potential evapotranspiration, mm per step.
    params : torch.Tensor
        ``[B, 15]`` physical parameters in the order K, B, IM, UM, LM, DM, C, SM, EX, KI, KG, A,
        THETA, CI, CG. Gradients flow to it through the main (post-warmup) period only.
    warmup : int
        Steps run without gradient from the cold-start states; their end states start the main period.
    uh_length : int
        Length L of the gamma unit hydrograph, steps.
    return_states : bool
        Also return a dict of ``[T - warmup, B]`` series: WU, WL, WD, S, FR, QI, QG (states at the
        end of each step), RS, RI, RG, RIM, E, QS (fluxes in mm per step).

    Returns
    -------
    (q, et) or (q, et, states): streamflow and actual evapotranspiration ``[T - warmup, B]``, mm per
    step, dtype and device of ``params``.
    """
    _check_inputs(forcing, params, warmup, uh_length)
    dtype, device = params.dtype, params.device
    host = torch.device("cpu")
    f64 = forcing.detach().to(device=host, dtype=torch.float64)
    prcp = f64[:, :, 0].T.contiguous()  # [B, T]
    pet = f64[:, :, 1].T.contiguous()
    p64 = params.to(device=host, dtype=torch.float64)
    par = _kernel_parameters(p64)
    init = _initial_states(p64)

    if warmup > 0:
        with torch.no_grad():
            warm = _XajRecursion.apply(prcp[:, :warmup].contiguous(), pet[:, :warmup].contiguous(),
                                       par.detach(), init)
            init = torch.stack([warm[kern.O_WU, :, -1], warm[kern.O_WL, :, -1], warm[kern.O_WD, :, -1],
                                warm[kern.O_S, :, -1], warm[kern.O_FR, :, -1], warm[kern.O_QI, :, -1],
                                warm[kern.O_QG, :, -1]], dim=1).contiguous()
        prcp = prcp[:, warmup:].contiguous()
        pet = pet[:, warmup:].contiguous()

    series = _XajRecursion.apply(prcp, pet, par, init)  # [N_OUT, B, T]
    im = p64[:, _IM].unsqueeze(1)
    surface_inflow = series[kern.O_RIM] + series[kern.O_RS] * (1.0 - im)
    qs = _causal_convolution(surface_inflow, _unit_hydrograph(p64, uh_length))
    q = qs + series[kern.O_QI] + series[kern.O_QG]

    def back(x: torch.Tensor) -> torch.Tensor:  # [B, T] float64 host -> [T, B] caller dtype/device
        return x.T.to(device=device, dtype=dtype)

    q_out, et_out = back(q), back(series[kern.O_E])
    if not return_states:
        return q_out, et_out
    states = {name: back(series[i]) for i, name in enumerate(kern.OUTPUT_NAMES)}
    states["QS"] = back(qs)
    return q_out, et_out, {name: states[name] for name in STATE_NAMES}
