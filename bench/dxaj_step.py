"""Speed of one dXAJ training step with the CAMELS recipe, against the former parameter plumbing.

The step of the second round's CAMELS recipe (``configs/hydro_camels.yaml`` at the time): 64
windows of 365 warmup + 366 target days, 11 inputs, ParameterLSTM hidden 64 reading the last 365
days, dynamic K and B, 4 components (256 XAJ runs, fused backend), NSE-like loss, backward, AdamW
step. Synthetic inputs, so no data folder is needed.

Baseline, measured in the same process on the same inputs: the two formulations this change
replaced, patched back in:

- ``unpack_params`` taking each of the 15 columns by indexing (its backward zero-fills a
  full-size gradient per column) instead of ``unbind``;
- dynamic parameters built by padding the whole ``[T, B, m, 15]`` trajectory and masking it
  with ``torch.where`` against the last step, instead of from the last step and the dynamic columns;
- the XAJ input checks element-wise on every call instead of screened by sums first.

Both variants must give the same loss and gradients (checked to 1e-6 relative) before timing.

    .venv/bin/python bench/dxaj_step.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core  # noqa: E402,F401  (thread policy)
from core.hydro import dpl, xaj_setup  # noqa: E402
from core.hydro.dpl import DPLModel  # noqa: E402
from core.hydro.params import PARAM_INDEX, XAJ_PARAMS, ParamRanges  # noqa: E402
from machine_info import cpu_name, load_average  # noqa: E402

WARMUP, TARGET, BATCH, INPUTS = 365, 366, 64, 11


def _indexed_unpack(params: torch.Tensor) -> xaj_setup.XajParams:
    cols = {name: params[..., PARAM_INDEX[name]] for name in XAJ_PARAMS}
    total = cols["KI"] + cols["KG"]
    safe_total = torch.where(total >= 1.0, total, torch.ones_like(total))
    scale = torch.where(total >= 1.0, xaj_setup.KI_KG_MAX / safe_total, torch.ones_like(total))
    cols["KI"] = cols["KI"] * scale
    cols["KG"] = cols["KG"] * scale
    return xaj_setup.XajParams(**cols)


def _masked_component_params(self: DPLModel, z: torch.Tensor, basin=None) -> torch.Tensor:
    steps, batch = z.shape[0], z.shape[1]
    zin = self._lstm_input(z)
    traj = self.param_lstm.trajectory(zin).view(zin.shape[0], batch, self.n_components, len(XAJ_PARAMS))
    if traj.shape[0] < steps:
        traj = torch.cat([traj[:1].expand(steps - traj.shape[0], -1, -1, -1), traj])
    mask = torch.zeros(len(XAJ_PARAMS), dtype=torch.bool)
    mask[self.dynamic_index] = True
    return self.ranges.denormalise(torch.where(mask, traj, traj[-1:]))


@contextlib.contextmanager
def former_plumbing():
    """Patch the replaced formulations back in (see the module docstring)."""
    saved = (xaj_setup.unpack_params, DPLModel.component_params, xaj_setup._plausibly_valid)
    from core.hydro import xaj, xaj_fused

    xaj_setup.unpack_params = xaj_fused.unpack_params = xaj.unpack_params = _indexed_unpack
    DPLModel.component_params = _masked_component_params
    xaj_setup._plausibly_valid = lambda forcing, params: False
    try:
        yield
    finally:
        xaj_setup.unpack_params = xaj_fused.unpack_params = xaj.unpack_params = saved[0]
        DPLModel.component_params, xaj_setup._plausibly_valid = saved[1], saved[2]


def make_case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    steps = WARMUP + TARGET
    rain = torch.distributions.Gamma(0.4, 0.08).sample((steps, BATCH)) * (torch.rand(steps, BATCH, generator=g) < 0.4)
    day = torch.arange(steps, dtype=torch.float32)[:, None]
    pet = (2.5 + 2.0 * torch.sin(2 * torch.pi * day / 365.25)).expand(steps, BATCH)
    x = torch.stack([rain, pet], dim=-1)
    z = torch.randn(steps, BATCH, INPUTS, generator=g)
    y = x[WARMUP:, :, 0] * 0.3 + 0.5
    return x, z, y


def make_model(seed: int = 0) -> DPLModel:
    torch.manual_seed(seed)
    return DPLModel(INPUTS, ParamRanges(preset="camels_us"), hidden=64, lstm_steps=365, backend="fused",
                    dynamic_params=["K", "B"], n_components=4, warmup_routing=True)


def step(model: DPLModel, optimizer: torch.optim.Optimizer, x, z, y) -> float:
    optimizer.zero_grad(set_to_none=True)
    q = model(x, z, WARMUP)["q"]
    loss = ((q - y) ** 2).mean() / y.var()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def gradients(x, z, y) -> tuple[float, list[torch.Tensor]]:
    model = make_model()
    q = model(x, z, WARMUP)["q"]
    loss = ((q - y) ** 2).mean() / y.var()
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in model.parameters()]


def timed(x, z, y, repeats: int) -> float:
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.005)
    step(model, optimizer, x, z, y)  # warm-up (numba kernels)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step(model, optimizer, x, z, y)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    torch.set_flush_denormal(True)
    x, z, y = make_case()

    loss_new, grads_new = gradients(x, z, y)
    with former_plumbing():
        loss_old, grads_old = gradients(x, z, y)
    assert abs(loss_new - loss_old) <= 1e-6 * abs(loss_old), (loss_new, loss_old)
    for a, b in zip(grads_new, grads_old):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)

    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch threads; load average {load_average()}")
    print(f"case: batch {BATCH} windows x 4 components, {WARMUP} + {TARGET} days, dynamic K, B, "
          f"median of {args.repeats} steps")
    with former_plumbing():
        before = timed(x, z, y, args.repeats)
    after = timed(x, z, y, args.repeats)
    print(f"former plumbing: {before * 1e3:.0f} ms per step")
    print(f"current:         {after * 1e3:.0f} ms per step")
    print(f"speed-up: {before / after:.2f}x; load average after {load_average()}")


if __name__ == "__main__":
    main()
