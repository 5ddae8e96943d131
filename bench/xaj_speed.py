"""Speed of the fused XAJ (numba recursion + hand adjoint) against the eager PyTorch reference.

Both run side by side in one process on the same inputs; every time is the median of several
repeats after one warm-up call (which also loads or compiles the numba kernels).

    .venv/bin/python bench/xaj_speed.py            # full run (a few minutes on 2 shared cores)
    .venv/bin/python bench/xaj_speed.py --repeats 3 --markdown
    .venv/bin/python bench/xaj_speed.py --only a-fb --rounds 3   # the headline case, three times

Cases (``CASES``, one row each; ``--list`` prints their keys):
  (a) 256 basins, 365 warmup + 365 simulated days, unit hydrograph 15 steps
  (b) 16 basins, 730 simulated days (no warmup)
  forward only and forward + backward (gradient w.r.t. params), per backend; case (a) forward +
  backward also with per-step parameters (the same set repeated, ``[T, B, 15]``: the dynamic-parameter
  path, which static parameters no longer pay for);
  a whole dPL training step (ParameterLSTM hidden 64, 5 inputs -> sigmoid -> params -> XAJ ->
  RMSE -> backward -> AdamW step) on case (a), per backend, with a fresh LSTM (its gradient
  vanishes within a few dozen steps) and with a long-memory one (it reaches the first step);
  forward of one basin over 30 years of daily data (dashboard sliders; target < 20 ms);
  case (a) with snow: the HBV snow routine in front of XAJ (temperature from ``snow_speed.snowy_forcing``,
  the same P and PET), forward + backward w.r.t. the XAJ and the snow parameters
  (``core.hydro.snow_xaj.simulate_snow_xaj``): fused snow + fused XAJ against the eager
  reference of both (the fused XAJ passes the gradient on to its input P, docs/design.md 4.9).
"fused" uses the default driver choice (``core.hydro.xaj_fused.use_parallel``: prange kernels for
batches of >= 64 basins when numba has > 1 thread); case (a) is also timed with the serial kernels
(``HYDROCAST_XAJ_PARALLEL=0``) after checking that both give bit-identical results.
Forcing is synthetic (seeded gamma rain, seasonal PET) so the script needs no data folder.
The machine is often shared: the 1-minute load average is printed before and after.

A new model variant (e.g. XAJ with a snow routine in front) is one more ``Case`` whose ``make``
builds the call for a backend, like ``xaj_call``; its reference and fused rows then print and
enter the markdown table like the others.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.machine.device import flush_denormals_for_all_threads  # noqa: E402
from machine_info import cpu_name, load_average  # noqa: E402  (bench/ is on sys.path as the script folder)
from core.machine.heap import keep_freed_memory  # noqa: E402
from core.hydro import xaj, xaj_fused  # noqa: E402
from core.hydro.lstm import ParameterLSTM  # noqa: E402
from core.hydro.params import DEFAULT_RANGES, XAJ_PARAMS  # noqa: E402

BACKENDS = ("reference", "fused")


class serial_kernels:
    """Context manager: force the serial numba kernels (HYDROCAST_XAJ_PARALLEL=0) inside the block."""

    def __enter__(self):
        self.saved = os.environ.get("HYDROCAST_XAJ_PARALLEL")
        os.environ["HYDROCAST_XAJ_PARALLEL"] = "0"

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop("HYDROCAST_XAJ_PARALLEL", None)
        else:
            os.environ["HYDROCAST_XAJ_PARALLEL"] = self.saved


def synthetic_forcing(n_time: int, n_basin: int, seed: int = 0) -> torch.Tensor:
    """[T, B, 2] daily P (gamma showers on ~40 % of days) and seasonal PET, mm/day."""
    g = torch.Generator().manual_seed(seed)
    wet = torch.rand(n_time, n_basin, generator=g) < 0.4
    rain = torch.distributions.Gamma(0.7, 0.08).sample((n_time, n_basin)) * wet
    day = torch.arange(n_time, dtype=torch.float32)[:, None]
    pet = 2.5 + 2.0 * torch.sin(2 * torch.pi * (day - 100) / 365.25) + 0.3 * torch.rand(n_time, n_basin, generator=g)
    return torch.stack([rain, pet.clamp(min=0.0)], dim=-1)


def parameter_bounds() -> tuple[torch.Tensor, torch.Tensor]:
    """Default (lower, upper) of the 15 parameters, [15] each."""
    lower = torch.tensor([DEFAULT_RANGES[name][0] for name in XAJ_PARAMS], dtype=torch.float32)
    upper = torch.tensor([DEFAULT_RANGES[name][1] for name in XAJ_PARAMS], dtype=torch.float32)
    return lower, upper


def random_params(n_basin: int, seed: int = 1) -> torch.Tensor:
    lower, upper = parameter_bounds()
    g = torch.Generator().manual_seed(seed)
    return lower + torch.rand(n_basin, 15, generator=g) * (upper - lower)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time (s) of ``fn`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def xaj_call(backend: str, forcing: torch.Tensor, params: torch.Tensor, warmup: int, backward: bool):
    def run() -> None:
        p = params.detach().requires_grad_(backward)
        q, et = xaj.simulate(forcing, p, warmup=warmup, uh_length=15, backend=backend)
        if backward:
            (q.square().mean() + et.mean()).backward()
    return run


def snow_xaj_call(backend: str, forcing: torch.Tensor, params: torch.Tensor, snow_params: torch.Tensor,
                  warmup: int):
    """Snow routine + XAJ, forward + backward of a streamflow and evaporation loss, on one backend for both
    (``core.hydro.snow_xaj.simulate_snow_xaj``: XAJ follows the snow routine's backend)."""
    from core.hydro.snow_xaj import simulate_snow_xaj

    def run() -> None:
        p = params.detach().requires_grad_(True)
        s = snow_params.detach().requires_grad_(True)
        q, et = simulate_snow_xaj(forcing, p, s, warmup=warmup, uh_length=15, backend=backend)
        (q.square().mean() + et.mean()).backward()
    return run


def training_step(backend: str, forcing: torch.Tensor, warmup: int, seed: int = 0, long_memory: bool = False):
    """One dPL step per call: LSTM -> params -> XAJ -> NaN-masked RMSE -> backward -> AdamW.

    ``long_memory`` raises the LSTM's forget-gate bias by 8, as training can teach it: the gradient
    from the last step then reaches the first, and the LSTM falls back to full back-propagation
    (``core.hydro.lstm_backprop.BackpropDepth``) instead of stopping early.
    """
    torch.manual_seed(seed)
    n_time, n_basin, _ = forcing.shape
    model = ParameterLSTM(n_inputs=5, hidden=64)
    if long_memory:
        with torch.no_grad():
            model.net.lstm.bias_ih_l0[64:128] += 8.0
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    z = torch.randn(n_time, n_basin, 5)
    obs = torch.rand(n_time - warmup, n_basin)
    obs[::7] = float("nan")
    lower, upper = parameter_bounds()

    def run() -> None:
        optimiser.zero_grad()
        params = lower + model(z) * (upper - lower)
        q, _ = xaj.simulate(forcing, params, warmup=warmup, uh_length=15, backend=backend)
        mask = ~torch.isnan(obs)
        loss = torch.sqrt(torch.mean((q[mask] - obs[mask]) ** 2))
        loss.backward()
        optimiser.step()
    return run




def machine() -> str:
    import numba

    return (f"{platform.platform()} | {cpu_name()} | "
            f"{os.cpu_count()} cores | torch {torch.__version__} ({torch.get_num_threads()} threads) | "
            f"numba {numba.__version__} ({numba.get_num_threads()} threads) | python {platform.python_version()}")


@dataclass(frozen=True)
class Case:
    """One row of the table: ``make(backend)`` returns the call to time (reference and fused)."""

    key: str
    label: str
    make: Callable[[str], Callable[[], object]]


class Inputs:
    """The synthetic inputs of the cases, built once."""

    def __init__(self) -> None:
        self.f_a, self.p_a = synthetic_forcing(730, 256), random_params(256)
        self.p_a_steps = self.p_a.expand(730, -1, -1)  # per-step parameters, the same set every step
        self.f_b, self.p_b = synthetic_forcing(730, 16, seed=2), random_params(16, seed=3)
        from snow_speed import snowy_forcing  # imported here: snow_speed imports this module
        from core.hydro.snow_params import denormalise_snow

        self.f_a_snow = snowy_forcing(730, 256)  # the P and PET of case (a) plus a temperature
        self.snow_a = denormalise_snow(torch.rand(256, 4, generator=torch.Generator().manual_seed(3)))


def case_table(data: Inputs) -> list[Case]:
    """Every case, in printing order (``--only`` selects by key)."""
    d = data
    return [
        Case("a-f", "(a) 256 basins, 365+365 d: forward", lambda b: xaj_call(b, d.f_a, d.p_a, 365, False)),
        Case("a-fb", "(a) 256 basins, 365+365 d: forward+backward", lambda b: xaj_call(b, d.f_a, d.p_a, 365, True)),
        Case("a-fb-steps", "(a) forward+backward, per-step params [T, B, 15]",
             lambda b: xaj_call(b, d.f_a, d.p_a_steps, 365, True)),
        Case("a-fb-snow", "(a) with snow: snow + XAJ forward+backward",
             lambda b: snow_xaj_call(b, d.f_a_snow, d.p_a, d.snow_a, 365)),
        Case("b-f", "(b) 16 basins, 730 d: forward", lambda b: xaj_call(b, d.f_b, d.p_b, 0, False)),
        Case("b-fb", "(b) 16 basins, 730 d: forward+backward", lambda b: xaj_call(b, d.f_b, d.p_b, 0, True)),
        Case("dpl", "dPL training step on (a) (LSTM 64 + XAJ + AdamW)", lambda b: training_step(b, d.f_a, 365)),
        Case("dpl-long", "same, LSTM with long memory (full backprop)",
             lambda b: training_step(b, d.f_a, 365, long_memory=True)),
    ]


def main(argv: list[str] | None = None) -> None:
    flush_denormals_for_all_threads()  # as the training CLI does, before any parallel torch op
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of the reference (fused: 4x)")
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch and numba threads (default: leave torch's and numba's defaults); "
                         "1 is steadier on a machine shared with other jobs")
    ap.add_argument("--no-keep-freed-memory", action="store_true",
                    help="leave glibc's malloc settings alone (the training CLI keeps freed memory, core.machine.heap)")
    ap.add_argument("--only", action="append", default=[], metavar="KEY",
                    help="run only these cases (repeatable; keys from --list); default: all")
    ap.add_argument("--rounds", type=int, default=1, help="run the selected cases this many times, one table each")
    ap.add_argument("--list", action="store_true", help="print the case keys and exit")
    args = ap.parse_args(argv)
    data = Inputs()
    table = case_table(data)
    keys = [case.key for case in table] + ["a-fb-serial", "30y"]
    if args.list:
        print("\n".join(keys))
        return
    unknown = sorted(set(args.only) - set(keys))
    if unknown:
        raise SystemExit(f"bench/xaj_speed.py: unknown case(s) {unknown}; known: {', '.join(keys)}")
    wanted = set(args.only) or set(keys)
    if "a-fb-serial" in wanted:  # timed right after case a-fb, against its reference
        wanted.add("a-fb")
    if not args.no_keep_freed_memory:
        keep_freed_memory()  # as the training CLI does
    if args.threads > 0:
        import numba

        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    rep_ref, rep_fused = args.repeats, 4 * args.repeats

    print("machine:", machine(), flush=True)
    print("freed memory kept in the heap (core.machine.heap, as in training):", not args.no_keep_freed_memory)
    parallel = xaj_fused.use_parallel(256)
    if parallel and wanted & {"a-fb", "a-fb-serial"}:
        q_par = xaj.simulate(data.f_a, data.p_a, warmup=365, backend="fused")[0]
        with serial_kernels():
            q_ser = xaj.simulate(data.f_a, data.p_a, warmup=365, backend="fused")[0]
        if not torch.equal(q_par, q_ser):
            raise SystemExit("bench/xaj_speed.py: parallel and serial fused kernels disagree on case (a)")
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(f"round {round_ + 1} of {args.rounds}", flush=True)
        rows, load_before = run_round(table, wanted, parallel, data, rep_ref, rep_fused)
        if args.markdown:
            print_markdown(rows, rep_ref, rep_fused, load_before, load_average())


def run_round(table: list[Case], wanted: set[str], parallel: bool, data: Inputs, rep_ref: int,
              rep_fused: int) -> tuple[list[tuple[str, float | None, float]], str]:
    """Time the wanted cases once; rows (label, reference s or None, fused s). Prints as it goes."""
    load_before = load_average()
    print("load average (1 min):", load_before)
    rows: list[tuple[str, float | None, float]] = []
    for case in table:
        if case.key not in wanted:
            continue
        t_ref = median_time(case.make("reference"), rep_ref)
        t_fused = median_time(case.make("fused"), rep_fused)
        rows.append((case.label, t_ref, t_fused))
        print(f"  {case.label:<48s} reference {t_ref * 1e3:9.1f} ms   fused {t_fused * 1e3:8.1f} ms   "
              f"ratio {t_ref / t_fused:6.1f}x", flush=True)
        if case.key == "a-fb" and parallel and "a-fb-serial" in wanted:
            with serial_kernels():
                t_ser = median_time(case.make("fused"), rep_fused)
            rows.append(("(a) forward+backward, fused with serial kernels", t_ref, t_ser))
            print(f"  {rows[-1][0]:<48s} (reference as above)      fused {t_ser * 1e3:8.1f} ms   "
                  f"ratio {t_ref / t_ser:6.1f}x", flush=True)
    if "30y" in wanted:
        f_30, p_30 = synthetic_forcing(10958, 1, seed=4), random_params(1, seed=5)
        t_30 = median_time(lambda: xaj.simulate(f_30, p_30, warmup=0, uh_length=15, backend="fused"), rep_fused)
        rows.append(("1 basin, 30 years daily, forward", None, t_30))
        print(f"  1 basin, 30 years daily, forward (fused): {t_30 * 1e3:.1f} ms (target < 20 ms)")
    print("load average (1 min):", load_average())
    return rows, load_before


def print_markdown(rows: list[tuple[str, float | None, float]], rep_ref: int, rep_fused: int,
                   load_before: str, load_after: str) -> None:
    print()
    print(f"Machine: {machine()}  ")
    print(f"Median of {rep_ref} (reference) / {rep_fused} (fused) repeats after a warm-up call; "
          f"1-minute load average {load_before} before, {load_after} after.")
    print()
    print("| case | eager reference | fused (numba) | speed-up |")
    print("|---|---:|---:|---:|")
    for label, t_ref, t_fused in rows:
        if t_ref is None:
            print(f"| {label} | | {t_fused * 1e3:.1f} ms | target < 20 ms |")
        else:
            print(f"| {label} | {t_ref * 1e3:.0f} ms | {t_fused * 1e3:.1f} ms | {t_ref / t_fused:.1f}x |")


if __name__ == "__main__":
    main()
