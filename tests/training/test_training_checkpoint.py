"""Checkpoints: safe loading (a crafted file runs no code), errors that name the file, RNG state round trip.

Defect 2 of issue 11 (a crafted ``best.pt`` / ``last.pt`` executed code on ``evaluate`` and
``--resume``) and the last part of defect 7 (a truncated ``last.pt`` on resume gave ``EOFError``
without the file's name), for both halves, through the real CLIs.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from core.runs.folder import RunDir
from core.training import rng
from core.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tests import training_launch as L


class _Exploit:
    """Pickles to a call of ``os.system``: unpickling it with ``weights_only=False`` runs the command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _craft(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {}, "epoch": 1, "payload": _Exploit(marker)}, path)


# --- the module ---------------------------------------------------------------------------------


def test_round_trip_and_rng_state_are_weights_only_safe(tmp_path):
    rng.seed_everything(11)
    state = rng.capture()
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "epoch": 2, "rng": state, "history": [{"epoch": 1, "x": 0.5}]})
    loaded = torch.load(path, weights_only=True)  # what load_checkpoint does; must not need unsafe globals
    first = (random.random(), float(np.random.rand()), float(torch.rand(1)), np.random.randn())
    rng.restore(loaded["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1)), np.random.randn()) == first
    assert load_checkpoint(path, required=("model", "epoch"))["epoch"] == 2
    assert not list(tmp_path.glob(".*"))  # no temporary file left by the atomic write


def test_cuda_rng_state_is_saved_and_restored_when_a_gpu_is_present(monkeypatch):
    saved = [torch.tensor([1, 2, 3], dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: saved)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(states))
    state = rng.capture()
    assert state["cuda"] == saved
    rng.restore(state)
    assert restored == [saved]


def test_crafted_truncated_and_garbage_files_raise_naming_the_file(tmp_path):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.pt"
    _craft(crafted, marker)
    with pytest.raises(CheckpointError, match="crafted.pt.*refused for safety"):
        load_checkpoint(crafted)
    assert not marker.exists()

    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(100)}, "epoch": 1})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="missing.pt.*does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="good.pt.*'normalization'"):
        load_checkpoint(good, required=("model", "normalization"))


# --- through the CLIs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A finished one-epoch run of each half (tiny configs of tests/training_launch.py)."""
    root = tmp_path_factory.mktemp("ckpt")
    folder = root / "configs"
    folder.mkdir()
    hydro_cfg = L.write_hydro_config(folder / "hydro.yaml", epochs=1, iterations=1)
    rain_cfg = L.write_rain_config(folder / "rain.yaml", L.write_rain_data(folder / "rain.nc"), epochs=1)
    runs = {}
    for kind, cfg in (("hydro", hydro_cfg), ("rain", rain_cfg)):
        run_dir = root / kind
        done = L.run_cli(L.train_args(kind, cfg, run_dir))
        assert done.returncode == 0, L.explain(done)
        runs[kind] = run_dir
    return runs


def _copy_run(src: Path, dst: Path) -> Path:
    """A copy of a finished run made to look interrupted (no metrics yet), so ``--resume`` trains on."""
    import shutil

    shutil.copytree(src, dst)
    (dst / "metrics.json").unlink()
    return dst


CHECKPOINTS = {"hydro": ("checkpoints/best.pt", "checkpoints/last.pt"),
               "rain": ("models/exp1/checkpoints/best.pt", "models/exp1/checkpoints/last.pt")}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hydro", "rain"])
@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_crafted_checkpoint_runs_no_code(kind, command, trained, tmp_path):
    run_dir = _copy_run(trained[kind], tmp_path / "run")
    marker = tmp_path / "pwned"
    best, last = CHECKPOINTS[kind]
    target = run_dir / (best if command == "evaluate" else last)
    _craft(target, marker)
    if command == "evaluate":
        args = [kind, "evaluate", "--run-dir", str(run_dir)]
    else:
        args = [kind, "train", "--run-dir", str(run_dir), "--resume", "--epochs", "2", "--no-progress"]
    done = L.run_cli(args)
    assert not marker.exists(), "the crafted checkpoint ran code"
    assert done.returncode == 1, L.explain(done)
    status = RunDir(run_dir).read_status()
    assert status["state"] == "failed" and target.name in status["message"] and "refused for safety" in status["message"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_truncated_last_checkpoint_on_resume_names_the_file(kind, trained, tmp_path):
    run_dir = _copy_run(trained[kind], tmp_path / "run")
    last = run_dir / CHECKPOINTS[kind][1]
    last.write_bytes(last.read_bytes()[:1000])
    done = L.run_cli([kind, "train", "--run-dir", str(run_dir), "--resume", "--epochs", "2", "--no-progress"])
    assert done.returncode == 1, L.explain(done)
    message = RunDir(run_dir).read_status()["message"]
    assert "CheckpointError" in message and str(last) in message and "truncated" in message
    assert str(last) in done.stderr


@pytest.mark.slow
def test_resumed_config_is_the_runs_own(trained):
    """The stored config is plain YAML (dates as text), readable by any YAML reader."""
    for run_dir in trained.values():
        stored = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert isinstance(stored, dict) and stored["kind"] in ("hydro", "rain")


@pytest.mark.slow
def test_both_halves_number_epochs_from_1(trained):
    """One epoch convention (core.training.lifecycle): history and checkpoints count epochs from 1."""
    hydro = RunDir(trained["hydro"])
    assert [r["epoch"] for r in hydro.read_history()] == [1]
    assert load_checkpoint(hydro.checkpoint_dir / "last.pt")["epoch"] == 1
    rain = RunDir(trained["rain"])
    assert [(r["experiment"], r["epoch"]) for r in rain.read_all_history()] == [("exp1", 1), ("exp2", 1)]
    for exp in ("exp1", "exp2"):
        last = load_checkpoint(rain.model_dir(exp).checkpoint_dir / "last.pt")
        assert last["epoch"] == 1 and last["best_epoch"] == 1
