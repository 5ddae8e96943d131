"""Speed of the fused snow routine (numba recursion + hand adjoint) against its eager reference, and
what the snow routine adds to XAJ.

Both backends run side by side in one process on the same inputs; every time is the median of
several repeats after one warm-up call (which also loads or compiles the numba kernels).

    .venv/bin/python bench/snow_speed.py              # about a minute on 2 cores
    .venv/bin/python bench/snow_speed.py --repeats 3

Case (a) of bench/xaj_speed.py: 256 basins, 365 warmup + 365 simulated days. Timed:
  snow routine alone, forward and forward + backward (gradient w.r.t. the 4 snow parameters), per backend;
  snow + XAJ forward + backward (``snow_xaj_call``, around ``core.hydro.snow_xaj.simulate_snow_xaj``)
  with the snow routine fused, beside XAJ alone fused, both forward-only and forward + backward. The
  XAJ behind the snow routine stays fused with gradients too (its adjoint passes the gradient on to
  its input P; docs/design.md 4.9). bench/xaj_speed.py case ``a-fb-snow`` times the same against the
  eager reference of both.
Forcing is synthetic (seeded gamma precipitation, seasonal temperature from -12 to +18 degC).
The 1-minute load average is printed before and after: the machine is often shared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_info import load_average  # noqa: E402  (bench/ is on sys.path as the script folder)
from xaj_speed import machine, median_time, random_params, synthetic_forcing  # noqa: E402
from core.hydro import snow, xaj  # noqa: E402
from core.hydro.snow_params import denormalise_snow  # noqa: E402
from core.hydro.snow_xaj import simulate_snow_xaj  # noqa: E402

BACKENDS = ("reference", "fused")


def snowy_forcing(n_time: int, n_basin: int, seed: int = 0) -> torch.Tensor:
    """[T, B, 3]: P and PET (mm/day) of ``xaj_speed.synthetic_forcing`` and a seasonal temperature (degC)."""
    base = synthetic_forcing(n_time, n_basin, seed)
    g = torch.Generator().manual_seed(seed + 7)
    day = torch.arange(n_time, dtype=torch.float32)[:, None]
    temp = 3.0 + 15.0 * torch.sin(2 * torch.pi * (day - 100) / 365.25) + 3.0 * torch.randn(n_time, n_basin, generator=g)
    return torch.cat([base, temp[..., None]], dim=-1)


def snow_call(backend: str, forcing: torch.Tensor, params: torch.Tensor, warmup: int, backward: bool):
    def run() -> None:
        p = params.detach().requires_grad_(backward)
        series, _ = snow.simulate_snow(forcing[..., 0], forcing[..., 2], p, warmup=warmup, backend=backend)
        if backward:
            series["OUTFLOW"][warmup:].square().mean().backward()
    return run


def snow_xaj_call(backend: str, forcing: torch.Tensor, params: torch.Tensor, snow_params: torch.Tensor,
                  warmup: int, backward: bool):
    """One snow + XAJ pass per call (as ``xaj_speed.xaj_call``): ``forcing [T, B, 3]`` (P, PET, degC),
    ``params [B, 15]``, ``snow_params [B, 4]``; with ``backward`` the gradient of a streamflow and
    evaporation loss reaches both parameter sets. ``backend`` picks the snow routine's backend."""
    def run() -> None:
        p = params.detach().requires_grad_(backward)
        s = snow_params.detach().requires_grad_(backward)
        with torch.set_grad_enabled(backward):
            q, et = simulate_snow_xaj(forcing, p, s, warmup=warmup, uh_length=15, backend=backend)
        if backward:
            (q.square().mean() + et.mean()).backward()
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadier on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("machine:", machine())
    print("load average before:", load_average(), flush=True)
    n_basin, warmup, n_sim = 256, 365, 365
    forcing = snowy_forcing(warmup + n_sim, n_basin)
    snow_params = denormalise_snow(torch.rand(n_basin, 4, generator=torch.Generator().manual_seed(3)))
    xaj_params = random_params(n_basin)

    print(f"\ncase (a): {n_basin} basins, {warmup} warmup + {n_sim} simulated days")
    for backward in (False, True):
        times = {b: median_time(snow_call(b, forcing, snow_params, warmup, backward), args.repeats) for b in BACKENDS}
        label = "forward + backward" if backward else "forward"
        print(f"snow routine {label:18s}: reference {1e3 * times['reference']:8.1f} ms, fused "
              f"{1e3 * times['fused']:7.2f} ms, ratio {times['reference'] / times['fused']:6.1f}x", flush=True)

    def xaj_alone(backward: bool):
        def run() -> None:
            p = xaj_params.detach().requires_grad_(backward)
            with torch.set_grad_enabled(backward):
                q, et = xaj.simulate(forcing[..., :2], p, warmup=warmup, backend="fused")
            if backward:
                (q.square().mean() + et.mean()).backward()
        return run

    for backward in (False, True):
        alone = median_time(xaj_alone(backward), args.repeats)
        both = median_time(snow_xaj_call("fused", forcing, xaj_params, snow_params, warmup, backward), args.repeats)
        label = "forward + backward" if backward else "forward (no_grad)"
        print(f"XAJ fused {label:18s}: alone {1e3 * alone:8.1f} ms, snow + XAJ {1e3 * both:8.1f} ms, "
              f"{both / alone:5.1f}x the time of XAJ alone", flush=True)
    print("load average after:", load_average())


if __name__ == "__main__":
    main()
