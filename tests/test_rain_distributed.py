"""Two-process gloo DDP training of ST-RainNet gives the same weights as one process with the same global batch."""

from __future__ import annotations

import os
import socket

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import xarray as xr

from core.rain import pipeline
from core.rain.train import TrainConfig, train_experiment

CFG = {
    "seed": 5,
    "data": {"steps": 3},
    "regions": {"region1": {"lat": [50, 52], "lon": [2.5, 4.5]}, "upstream_side": "west"},
    "split": {"train_fraction": 0.6, "val_fraction": 0.2},
    "experiments": ["exp2"],
    "model": {"hidden_channels": [3, 4]},
    "train": {"epochs": 2, "batch_size": 4, "amp": "false", "channels_last": "false", "patience": 0, "lr": 0.01},
}


def _world() -> xr.Dataset:
    rng = np.random.default_rng(2)
    nt, ny, nx = 30, 5, 10
    rain = rng.gamma(0.4, 5.0, (nt, ny, nx)) * (rng.random((nt, ny, nx)) > 0.5)
    return xr.Dataset(
        {
            "temperature": (("time", "level", "lat", "lon"), rng.normal(280, 3, (nt, 1, ny, nx))),
            "rain": (("time", "lat", "lon"), rain),
        },
        coords={
            "time": pd.date_range("2020-01-01", periods=nt, freq="12h"),
            "level": [500.0],
            "lat": 50 + 0.5 * np.arange(ny),
            "lon": 0.5 * np.arange(nx),
        },
    )


def _train() -> dict:
    cfg = pipeline.complete_config(CFG)
    prep = pipeline.prepare(cfg, ds=_world())
    assert len(prep.split.train) % 4 == 0  # equal per-rank batches, so the comparison is exact in exact arithmetic
    result = train_experiment(
        prep.experiments["exp2"], prep.split, prep.steps, cfg["model"], TrainConfig.from_config(cfg["train"]),
        torch.device("cpu"), seed=cfg["seed"],
    )
    return result.final_state


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        state = _train()
        if rank == 0:
            torch.save(state, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_two_process_gloo_matches_single_process(tmp_path):
    torch.set_num_threads(1)
    single = _train()
    out = tmp_path / "ddp.pt"
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    for key, value in single.items():
        assert torch.allclose(value, ddp[key], rtol=1e-4, atol=1e-5), key
    # and the weights really moved away from the seeded initialisation
    from core.rain.model import build_model

    torch.manual_seed(CFG["seed"])
    init = build_model(2, CFG["model"]).state_dict()  # temperature@500 + rain
    assert not torch.allclose(init["head.weight"], single["head.weight"])
