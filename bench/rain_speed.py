"""ST-RainNet training speed: as shipped (amp auto + channels_last) vs plain float32, side by side.

    OMP_NUM_THREADS=2 .venv/bin/python bench/rain_speed.py [--steps 4] [--rounds 3] [--skip-csi] [--csi-seeds 4]

For each grid (64 x 64 = experiment 1 size, 64 x 128 = experiment 2 width) and each variant, a
freshly spawned child process builds the same model (56 channels, T = 6, hidden [32, 64], batch 4), runs a
warm-up step and then ``--steps`` timed AdamW steps, and reports samples/s and its peak resident
memory (``ru_maxrss``) above the level before training. Variants alternate over ``--rounds``
rounds so that machine load hits both alike; the median is reported. "Shipped" is what ``amp: auto``
picks on this machine: bf16 autocast where the CPU has AMX (``core.training.precision.cpu_bf16_fast``), float32
elsewhere. The last part trains the quick demo config in float32 and in bf16 over several seeds
and compares test CSI at 5 mm.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import resource
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402
import torch  # noqa: E402

from core.machine.heap import keep_freed_memory  # noqa: E402
from core.rain.model import STRainNet  # noqa: E402
from core.training.precision import cpu_bf16_fast  # noqa: E402

VARIANTS = {
    "float32 (plain)": {"amp": False, "channels_last": False},
    "shipped (amp auto + channels_last)": {"amp": cpu_bf16_fast(), "channels_last": True},
    "bf16 only": {"amp": True, "channels_last": False},
    "channels_last only": {"amp": False, "channels_last": True},
}


def _measure(height: int, width: int, amp: bool, channels_last: bool, steps: int, queue) -> None:
    keep_freed_memory()  # as the training CLI does, for every variant alike
    torch.manual_seed(0)
    proc = psutil.Process()
    model = STRainNet(56, [32, 64]).use_channels_last(channels_last)
    x = torch.randn(4, 6, 56, height, width)
    y = torch.rand(4, 1, height, width)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            pred = model(x, clip=False)
        loss = ((pred.float() - y) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    # peak memory = the process's high-water mark (ru_maxrss) above the level once model and data exist;
    # no sampling thread, which would compete for the GIL with the many small ops of the recurrence
    base = proc.memory_info().rss
    step()  # warm-up: oneDNN primitive creation
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - t0
    peak = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024]
    queue.put((steps * 4 / elapsed, (peak[0] - base) / 2**20))


def measure(height, width, variant, steps):
    ctx = mp.get_context("spawn")  # fork after OpenMP has started can hang the child
    queue = ctx.Queue()
    p = ctx.Process(target=_measure, args=(height, width, variant["amp"], variant["channels_last"], steps, queue))
    p.start()
    result = queue.get()
    p.join()
    return result


def csi_check(seeds: int) -> dict[str, list[tuple[float, float]]]:
    """Train the quick demo config in float32 and in bf16 for ``seeds`` seeds; test CSI@5 mm of exp1 and exp2.

    One seed says little: on this small world the exp1 CSI of a single run moves by 0.05-0.2 between
    seeds, so the check compares the spread over seeds rather than two single runs.
    """
    import tempfile

    import yaml

    from core.rain import pipeline
    from core.runs.folder import RunDir

    cfg_path = Path(__file__).resolve().parents[1] / "configs" / "rain_quick.yaml"
    raw = yaml.safe_load(cfg_path.read_text())
    rows: dict[str, list[tuple[float, float]]] = {}
    for label, amp, channels_last in (("float32 (plain)", "false", "false"), ("bf16 + channels_last", "true", "true")):
        for seed in range(seeds):
            cfg = pipeline.complete_config({**raw, "seed": seed, "train": {**raw.get("train", {}), "amp": amp,
                                                                           "channels_last": channels_last}})
            prepared = pipeline.prepare(cfg, cfg_path.parent)
            with tempfile.TemporaryDirectory() as tmp:
                run = RunDir(tmp).create()
                pipeline.train_all(cfg, prepared, run, torch.device("cpu"))
                m = pipeline.evaluate_run(cfg, prepared, run, torch.device("cpu"))
            rows.setdefault(label, []).append((m["test"]["exp1"]["csi"]["5.0"], m["test"]["exp2"]["csi"]["5.0"]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-csi", action="store_true")
    ap.add_argument("--csi-seeds", type=int, default=4)
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, AMX bf16 (amp auto -> bf16): {cpu_bf16_fast()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"ST-RainNet: C=56, T=6, hidden [32, 64], batch 4, AdamW; median of {args.rounds} rounds x {args.steps} steps\n")
    print("| grid | variant | samples/s | x plain fp32 | peak extra memory (MiB) |")
    print("|---|---|---|---|---|")
    for h, w in ((64, 64), (64, 128)):
        speeds = {k: [] for k in VARIANTS}
        mems = {k: [] for k in VARIANTS}
        for _ in range(args.rounds):
            for name, variant in VARIANTS.items():
                s, m = measure(h, w, variant, args.steps)
                speeds[name].append(s)
                mems[name].append(m)
        ref = statistics.median(speeds["float32 (plain)"])
        for name in VARIANTS:
            s = statistics.median(speeds[name])
            print(f"| {h}x{w} | {name} | {s:.2f} | {s / ref:.2f}x | {statistics.median(mems[name]):.0f} |")
        sys.stdout.flush()
    if not args.skip_csi:
        print(f"\nTest CSI at 5 mm of configs/rain_quick.yaml, seeds 0-{args.csi_seeds - 1}:\n")
        print("| variant | exp1 CSI@5 mean (sd) | exp2 CSI@5 mean (sd) | per seed (exp1 / exp2) |")
        print("|---|---|---|---|")
        for label, runs in csi_check(args.csi_seeds).items():
            cols = []
            for i in (0, 1):
                values = [r[i] for r in runs]
                spread = statistics.stdev(values) if len(values) > 1 else float("nan")
                cols.append(f"{statistics.mean(values):.3f} ({spread:.3f})")
            per_seed = ", ".join(f"{a:.2f} / {b:.2f}" for a, b in runs)
            print(f"| {label} | {cols[0]} | {cols[1]} | {per_seed} |")


if __name__ == "__main__":
    main()
