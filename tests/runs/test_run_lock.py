"""One worker per run directory (real processes), and stale runs of SIGKILLed workers."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runs import jobs
from core.runs import lock as run_lock
from core.runs.catalog import delete_run, list_runs
from core.runs.folder import RunDir
from tests.training_launch import child_env, write_hydro_config

REPO = Path(__file__).resolve().parents[2]


def core_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=REPO, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash and modification time."""
    return {str(p.relative_to(folder)): f"{hashlib.sha256(p.read_bytes()).hexdigest()} {p.stat().st_mtime_ns}"
            for p in sorted(folder.rglob("*")) if p.is_file()}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_second_worker_on_a_held_run_dir_exits_without_touching_it(tmp_path):
    run_dir = tmp_path / "run"
    config = write_hydro_config(tmp_path / "tiny.yaml", epochs=1, iterations=2)
    RunDir(run_dir).create().update_status(state="completed", progress=1.0, message="an earlier run")
    (run_dir / "history.json").write_text('[{"epoch": 1, "train_loss": 0.5}]')
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from core.runs.lock import acquire; "
                               f"acquire({str(run_dir)!r}); print('held', flush=True); time.sleep(120)"],
                              cwd=REPO, env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_dir)
        for args in (["hydro", "train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress"],
                     ["hydro", "evaluate", f"--run-dir={run_dir}"],
                     ["rain", "train", "--config", str(config), "--run-dir", str(run_dir), "--resume"]):
            second = core_cli(*args)
            out, err = second.communicate(timeout=120)
            assert second.returncode == 3, (out, err)
            assert str(run_dir) in err and f"process {holder.pid}" in err, err
            assert snapshot(run_dir) == before, f"{args[:2]} changed the run directory"
        assert run_lock.holder(run_dir) == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert run_lock.holder(run_dir) is None  # the kernel released it with the process


@pytest.mark.slow
def test_two_real_workers_started_together_on_one_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    config = write_hydro_config(tmp_path / "tiny.yaml", epochs=2, iterations=2)
    args = ["hydro", "train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress"]
    workers = [core_cli(*args), core_cli(*args)]
    results = [w.communicate(timeout=600) + (w.returncode,) for w in workers]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 3], results
    refused = next(err for _, err, code in results if code == 3)
    assert "is in use by process" in refused and str(run_dir) in refused
    run = RunDir(run_dir)
    assert run.read_status()["state"] == "completed"
    assert [r["epoch"] for r in run.read_history()] == [1, 2], "history written by one worker only"


@pytest.mark.slow
def test_sigkilled_worker_becomes_failed_with_a_reason_and_is_deletable(tmp_path):
    root = tmp_path / "runs"
    run_dir = root / "hydro-killed"
    config = write_hydro_config(tmp_path / "long.yaml", epochs=200, iterations=50)
    worker = core_cli("hydro", "train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress")
    try:
        run = RunDir(run_dir)
        wait_for(lambda: run.read_status().get("state") == "running", 240, "the worker to start training")
        assert run_lock.holder(run_dir) == worker.pid
        [listed] = list_runs(root)
        assert listed.read_status()["state"] == "running", "a live worker is never settled"
        with pytest.raises(ValueError, match="live worker"):
            delete_run(run, root)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # no chance to write status.json
        worker.communicate()
    assert run.read_status()["state"] == "running"  # what the killed worker left behind
    [listed] = list_runs(root)
    status = listed.read_status()
    assert status["state"] == "failed", status
    assert "no process holds the run directory's lock" in status["message"]
    assert jobs.poll_job(run)["state"] == "failed"
    delete_run(run, root)
    assert not run_dir.exists()


def test_cancel_stops_a_worker_started_outside_the_dashboard(tmp_path):
    run_dir = tmp_path / "runs" / "hydro-cli"
    config = write_hydro_config(tmp_path / "long.yaml", epochs=200, iterations=50)
    worker = core_cli("hydro", "train", "--config", str(config), "--run-dir", str(run_dir), "--no-progress")
    try:
        run = RunDir(run_dir)
        wait_for(lambda: run_lock.holder(run_dir) == worker.pid, 120, "the worker to take the run lock")
        status = jobs.cancel_job(run, grace_seconds=20)
        assert status["state"] == "cancelled", status
        worker.communicate(timeout=30)
        assert run_lock.holder(run_dir) is None
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.communicate()


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_stale_rules_without_a_real_worker(tmp_path):
    import datetime as dt
    import json as _json

    from core.runs import stale as stale_runs

    def running(name: str, **fields) -> RunDir:
        run = RunDir(tmp_path / name).create()
        run.update_status(state="running", progress=0.2, message="epoch 1", **fields)
        return run

    running("hydro-fresh")  # no pid, no lock, just updated: a start in progress
    running("hydro-deadpid", pid=_dead_pid())
    old = running("hydro-old")
    status = _json.loads(old.status_path.read_text())
    status["updated"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).isoformat(timespec="seconds")
    old.status_path.write_text(_json.dumps(status))
    held = running("hydro-held")
    run_lock.acquire(held.path)  # a live holder (this process): alive however old its status
    held.status_path.write_text(_json.dumps(status))
    try:
        states = {r.name: r.read_status() for r in list_runs(tmp_path)}
    finally:
        run_lock.release(held.path)
    assert states["hydro-fresh"]["state"] == "running"
    assert states["hydro-held"]["state"] == "running"
    assert states["hydro-deadpid"]["state"] == "failed" and "pid" in states["hydro-deadpid"]["message"]
    assert states["hydro-old"]["state"] == "failed" and "last updated 120 min ago" in states["hydro-old"]["message"]
    # released now: the lock file exists and nobody holds it, so the worker is known to be gone
    assert "no process holds" in stale_runs.settle(held)["message"]
