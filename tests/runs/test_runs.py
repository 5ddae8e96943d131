"""Run directories: atomic writes never leave partial files, statuses validate, listing and deletion are safe."""

from __future__ import annotations

import json
import math

import pytest
import torch

from core import atomic_io
from core.machine.device import describe_device, resolve_device
from core.runs import catalog, folder


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_io.atomic_write_json(target, {"nse": 0.7})

    def broken_writer(tmp_name: str) -> None:
        with open(tmp_name, "w") as fh:
            fh.write('{"nse": 0.')  # half a file, then the process "dies"
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_io.atomic_write_with(target, broken_writer)
    assert json.loads(target.read_text()) == {"nse": 0.7}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left behind


def test_json_stores_non_finite_as_null(tmp_path):
    atomic_io.atomic_write_json(tmp_path / "m.json", {"a": math.nan, "b": [1.0, math.inf], "c": torch.tensor(2.5)})
    assert atomic_io.read_json(tmp_path / "m.json") == {"a": None, "b": [1.0, None], "c": 2.5}


def test_status_lifecycle_and_validation(tmp_path):
    run = folder.new_run_dir("hydro", "t", root=tmp_path)
    run.write_config({"kind": "hydro", "epochs": 2})
    run.update_status(state="running", progress=0.5)
    status = run.read_status()
    assert status["state"] == "running" and status["progress"] == 0.5 and "started" in status
    run.update_status(state="completed", progress=1.0)
    assert "finished" in run.read_status()
    assert run.duration_seconds() is not None
    with pytest.raises(ValueError, match="unknown run state 'done'"):
        run.update_status(state="done")
    run.append_history({"epoch": 1, "train_loss": 1.0})
    run.append_history({"epoch": 2, "train_loss": 0.5})
    assert [h["epoch"] for h in run.read_history()] == [1, 2]
    assert run.read_config()["epochs"] == 2


def test_new_run_dirs_are_unique_and_listed(tmp_path):
    a = folder.new_run_dir("rain", "x", root=tmp_path)
    b = folder.new_run_dir("rain", "x", root=tmp_path)
    a.update_status(state="pending")
    b.update_status(state="pending")
    c = folder.new_run_dir("hydro", None, root=tmp_path)
    c.write_config({"kind": "hydro"})
    assert a.path != b.path
    assert {r.name for r in catalog.list_runs(tmp_path, kind="rain")} == {a.name, b.name}
    assert [r.name for r in catalog.list_runs(tmp_path, kind="hydro")] == [c.name]


def test_delete_refuses_running_and_outside_runs(tmp_path):
    run = folder.new_run_dir("hydro", None, root=tmp_path / "runs")
    run.update_status(state="running")
    with pytest.raises(ValueError, match="still running"):
        catalog.delete_run(run, root=tmp_path / "runs")
    with pytest.raises(ValueError, match="not inside the runs folder"):
        catalog.delete_run(run, root=tmp_path / "elsewhere")
    run.update_status(state="cancelled")
    catalog.delete_run(run, root=tmp_path / "runs")
    assert not run.path.exists()


def test_corrupt_status_reads_as_damaged_and_is_replaced_by_the_next_write(tmp_path):
    run = folder.RunDir(tmp_path / "r").create()
    run.status_path.write_text("{not json")
    status = run.read_status()
    assert status["state"] == folder.DAMAGED and "status.json is damaged" in status["message"]
    assert run.update_status(state="running")["state"] == "running"
    assert run.read_status()["state"] == "running"


def test_device_resolution_on_cpu_machine():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert describe_device().startswith("CPU")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
