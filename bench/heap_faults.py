"""Page faults of repeated LSTM training steps with and without ``core.machine.heap.keep_freed_memory``.

The mechanism behind ``core.machine.heap``: glibc maps blocks above its mmap threshold afresh on every
allocation, so each training step faults in (and the kernel zeroes) its large tensors again; with
freed memory kept in the heap the next step reuses the blocks. Counts depend on glibc, the kernel and
transparent huge pages, so they live here, not in a test (tests/machine/test_heap.py checks the behaviour).
Each mode runs in a fresh process (as a training worker is), six steps after two warm-up steps.

    OMP_NUM_THREADS=1 .venv/bin/python bench/heap_faults.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STEPS = """
import json, resource, sys, time
import psutil, torch
from core.machine.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.manual_seed(0)
lstm = torch.nn.LSTM(64, 64)
x = torch.randn(150, 256, 64)  # the saved gates (39 MB) exceed glibc's largest mmap threshold (32 MiB)
def step():
    out, _ = lstm(x)
    out[-1].sum().backward()
for _ in range(2):
    step()
rss, faults = psutil.Process().memory_info().rss, resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t0 = time.perf_counter()
for _ in range(6):
    step()
print(json.dumps({"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
                  "seconds": time.perf_counter() - t0,
                  "rss_growth_mb": (psutil.Process().memory_info().rss - rss) / 2**20}))
"""


def six_steps(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", STEPS, mode], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"libc {' '.join(platform.libc_ver())}, load {os.getloadavg()[0]:.2f}")
    default, kept = six_steps("default"), six_steps("keep")
    for name, r in (("glibc default", default), ("keep_freed_memory", kept)):
        print(f"{name:18s} minor faults {r['faults']:>8d}  six steps {r['seconds']:.2f} s  RSS growth {r['rss_growth_mb']:.0f} MB")
    print(f"faults kept / default: {kept['faults'] / max(default['faults'], 1):.3f} "
          f"(expected well below 1/8 on glibc; about 12,000 faults per step by default for the gates alone)")


if __name__ == "__main__":
    main()
