"""An ordinary PyTorch training process, the competitor of ``bench/shared_cpu.py``.

An LSTM (hidden 64) on random sequences of 365 steps, batch 64, Adam, trained in a loop with
torch's default threads and OpenMP settings, the way a notebook or another project would run
it beside Hydrocast. It never imports ``core``: the thread policy under test must not reach it.

    .venv/bin/python bench/torch_competitor.py [--seconds 600]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600.0, help="stop after this long (a safety bound)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    lstm, head = nn.LSTM(5, 64), nn.Linear(64, 1)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)
    x, y = torch.randn(365, 64, 5), torch.randn(64, 1)
    deadline = time.monotonic() + args.seconds
    steps = 0
    while time.monotonic() < deadline:
        optimizer.zero_grad(set_to_none=True)
        out, _ = lstm(x)
        loss = nn.functional.mse_loss(head(out[-1]), y)
        loss.backward()
        optimizer.step()
        steps += 1
    print(f"torch_competitor: {steps} steps in {args.seconds:.0f} s")


if __name__ == "__main__":
    main()
