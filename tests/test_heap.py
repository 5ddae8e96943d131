"""core.heap: with freed memory kept, repeated training steps stop faulting in fresh pages."""

from __future__ import annotations

import resource
import sys

import psutil
import pytest
import torch

from core.heap import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_repeated_lstm_steps_reuse_the_heap():
    assert keep_freed_memory() is True
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(64, 64)
    # 200 steps x 256 sequences: the saved gates (52 MB) exceed glibc's largest mmap threshold (32 MiB)
    x = torch.randn(200, 256, 64)

    def step() -> None:
        out, _ = lstm(x)
        out[-1].sum().backward()

    for _ in range(2):
        step()
    rss_before = psutil.Process().memory_info().rss
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    # mmap'd blocks would be faulted in again every step: > 12,000 pages for the gates alone
    assert faults < 1_000
    assert psutil.Process().memory_info().rss - rss_before < 16 * 2**20
