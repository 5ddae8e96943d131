"""core.heap: with freed memory kept, repeated training steps stop faulting in fresh pages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Six LSTM training steps after two warm-up steps, in a fresh process (as a training worker is):
# prints the minor page faults and the resident-memory growth of the six steps.
STEPS = """
import json, resource, sys
import psutil, torch
from core.heap import keep_freed_memory
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
for _ in range(6):
    step()
print(json.dumps({"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
                  "rss_growth": psutil.Process().memory_info().rss - rss}))
"""


def _six_steps(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", STEPS, mode], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_kept_heap_removes_the_page_faults_of_repeated_steps():
    default, kept = _six_steps("default"), _six_steps("keep")
    assert kept["kept"] is True
    # glibc's default maps the large blocks afresh each step: > 12,000 pages for the gates alone
    assert default["faults"] > 6 * 12_000
    # usually 0; the heap may still grow once (16,000 faults) when the threads' allocations interleave
    assert kept["faults"] < default["faults"] / 8
    # no growth per step (a heap that failed to reuse its blocks would grow by ~50 MB a step)
    assert kept["rss_growth"] < 128 * 2**20
