"""Two-process gloo training (torchrun) matches a single process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from core.hydro.config import load_config
from core.hydro.train import load_checkpoint, train_model
from core.runs import RunDir

REPO = Path(__file__).resolve().parents[1]

CONFIG = {
    "model": "dpl",
    "data": {"source": "demo", "train_period": ["1984-01-01", "1985-12-31"], "valid_fraction": 0.25,
             "test_period": ["1986-01-01", "1986-01-31"], "dynamic_inputs": ["prcp", "pet"]},
    "window": {"warmup": 20, "rho": 20, "horizon": 1},
    "model_args": {"hidden": 8},
    "xaj": {"backend": "reference"},
    # mse/nse average over equally many points per rank, so DDP's gradient mean equals the global one
    "train": {"epochs": 2, "batch_size": 8, "iterations_per_epoch": 3, "lr": 0.01, "loss": "nse", "seed": 5,
              "device": "cpu"},
    "evaluate": {"batch_size": 64},
}


def test_two_process_gloo_matches_single_process(tmp_path):
    single = RunDir(tmp_path / "single").create()
    train_model(load_config(None, CONFIG), single, progress_bar=False)

    config_path = tmp_path / "ddp.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
           "-m", "core", "hydro", "train", "--config", str(config_path), "--run-dir", str(tmp_path / "ddp"),
           "--no-progress"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    a = load_checkpoint(single.checkpoint_dir / "last.pt")
    b = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    for key in a["model"]:
        assert torch.allclose(a["model"][key], b["model"][key], atol=1e-5), key
    for ra, rb in zip(a["history"], b["history"]):
        assert abs(ra["train_loss"] - rb["train_loss"]) < 1e-5 and abs(ra["val_loss"] - rb["val_loss"]) < 1e-5
    assert RunDir(tmp_path / "ddp").read_status()["state"] == "completed"
