"""Background jobs: real ``python -m core hydro train`` workers started, polled, refused, cancelled, killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runs import jobs
from core.runs.folder import RunDir

REPO = Path(__file__).resolve().parents[2]


def tiny_hydro_config(epochs: int = 1, iterations: int = 2) -> dict:
    """The quick config shrunk to seconds: one basin of the embedded demo, short windows, no baselines."""
    from core.hydro.config import load_config

    return load_config(REPO / "configs" / "hydro_quick.yaml", {
        "baselines": [],
        "data": {"train_period": ["1983-01-01", "1985-12-31"], "test_period": ["1986-01-01", "1986-12-31"]},
        "window": {"warmup": 30, "rho": 30},
        "model_args": {"hidden": 8},
        "train": {"epochs": epochs, "batch_size": 8, "iterations_per_epoch": iterations, "device": "cpu",
                  "num_threads": 1},
    })


def wait_final(run: RunDir, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.poll_job(run)
        if status.get("state") in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run.name} did not finish in {timeout} s; log:\n{run.tail_log(30)}")


def wait_running(run: RunDir, timeout: float = 60.0) -> None:
    """Return once the worker reports ``running``; fail on a timeout or a job that ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = run.read_status().get("state")
        if state == "running":
            return
        if state in ("completed", "failed", "cancelled"):
            raise AssertionError(f"run {run.name} ended ({state}) before it was seen running; log:\n{run.tail_log(30)}")
        time.sleep(0.2)
    raise AssertionError(f"run {run.name} was not running after {timeout} s (state "
                         f"{run.read_status().get('state')!r}); log:\n{run.tail_log(30)}")


@pytest.mark.slow
def test_job_runs_to_completion_and_releases_the_lock(tmp_path):
    run = jobs.start_job("hydro", tiny_hydro_config(), tmp_path, name="tiny", device="cpu")
    assert jobs.active_job(tmp_path, "cpu").path == run.path
    status = wait_final(run)
    assert status["state"] == "completed", run.tail_log(30)
    assert status["progress"] == 1.0
    assert run.metrics_path.exists() and run.predictions_path.exists()
    assert "nse" in run.read_metrics()["test"]["median"]
    assert run.read_history(), "history.json must hold the epoch"
    assert (run.path / jobs.REQUEST_NAME).exists()
    assert jobs.active_job(tmp_path) is None
    assert not list(tmp_path.glob(".job-*.lock"))


@pytest.mark.slow
def test_second_job_on_the_same_device_is_refused_then_cancel_stops_the_first(tmp_path):
    first = jobs.start_job("hydro", tiny_hydro_config(epochs=50, iterations=50), tmp_path, device="cpu")
    with pytest.raises(jobs.JobError, match=f"already running on cpu: run {first.name}"):
        jobs.start_job("hydro", tiny_hydro_config(), tmp_path, device="cpu")
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1, "a refused start must not leave a run folder"
    wait_running(first)
    pid = first.read_status()["pid"]
    status = jobs.cancel_job(first, grace_seconds=5)
    assert status["state"] == "cancelled"
    assert not jobs.process_alive(pid)
    assert jobs.active_job(tmp_path) is None
    # the device is free again: a new start is accepted (and cancelled straight away)
    again = jobs.start_job("hydro", tiny_hydro_config(), tmp_path, device="cpu")
    assert jobs.cancel_job(again, grace_seconds=5)["state"] == "cancelled"


@pytest.mark.slow
def test_a_worker_that_dies_is_marked_failed_with_its_last_log_lines(tmp_path):
    run = jobs.start_job("hydro", tiny_hydro_config(epochs=50, iterations=50), tmp_path, device="cpu")
    wait_running(run)
    pid = run.read_status()["pid"]
    run.log_path.open("a").write("last words of the worker\n")
    os.killpg(pid, signal.SIGKILL)  # as the OOM killer would: no chance to write status.json
    deadline = time.monotonic() + 10
    while jobs.process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    status = jobs.poll_job(run)
    assert status["state"] == "failed"
    assert f"pid {pid}" in status["message"] and "exit code -9" in status["message"]
    assert "last words of the worker" in status["log_tail"]
    assert jobs.active_job(tmp_path) is None


def test_stale_lock_of_a_vanished_process_is_cleared(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(done.stdout)
    run = RunDir(tmp_path / "hydro-stale").create()
    run.update_status(state="running", progress=0.3, message="epoch 1", pid=dead_pid)
    jobs.lock_path(tmp_path, "cpu").write_text(json.dumps({"pid": dead_pid, "run": str(run.path), "device": "cpu"}))
    assert jobs.active_job(tmp_path, "cpu") is None
    assert not jobs.lock_path(tmp_path, "cpu").exists()
    assert run.read_status()["state"] == "failed"


def test_unknown_kind_is_refused(tmp_path):
    with pytest.raises(jobs.JobError, match="unknown job kind 'snow'"):
        jobs.start_job("snow", {}, tmp_path, device="cpu")


def test_cancel_of_a_finished_run_keeps_its_state(tmp_path):
    run = RunDir(tmp_path / "hydro-done").create()
    run.update_status(state="completed", progress=1.0, message="done")
    assert jobs.cancel_job(run)["state"] == "completed"
