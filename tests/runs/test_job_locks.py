"""One job per device under concurrent starts (threads and processes), device aliases, stale locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from core.runs import jobs
from core.runs.folder import RunDir

REPO = Path(__file__).resolve().parents[2]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
"""Stands in for the training worker: the lock protocol is under test, not training."""


@pytest.fixture
def sleeper_workers(monkeypatch):
    monkeypatch.setattr(jobs, "worker_command", lambda kind, config, run_dir: list(SLEEPER))


def _cancel_all(root: Path) -> None:
    for path in root.iterdir():
        if path.is_dir() and (path / "status.json").exists():
            jobs.cancel_job(RunDir(path), grace_seconds=2)


def _started(root: Path) -> list[RunDir]:
    """Runs that got a worker process (a pid in status.json)."""
    return [RunDir(p) for p in root.iterdir() if p.is_dir() and RunDir(p).read_status().get("pid")]


@pytest.mark.parametrize("devices", [["cpu"] * 6, ["cpu", "cpu:0", "CPU", "cpu:1", "cpu", "cpu:0"]])
def test_simultaneous_starts_in_threads_start_one_worker(tmp_path, sleeper_workers, devices):
    barrier = threading.Barrier(len(devices))
    outcomes: list[object] = [None] * len(devices)

    def start(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = jobs.start_job("hydro", {}, tmp_path, device=devices[i])
        except jobs.JobError as exc:
            outcomes[i] = exc

    # a page render polling the lock at the same time must not delete a lock that is being started
    stop = threading.Event()

    def render() -> None:
        while not stop.is_set():
            jobs.active_job(tmp_path)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(devices))]
    pollers = [threading.Thread(target=render) for _ in range(2)]
    try:
        for t in pollers + threads:
            t.start()
        for t in threads:
            t.join(60)
        stop.set()
        for t in pollers:
            t.join(10)
        runs = [o for o in outcomes if isinstance(o, RunDir)]
        refused = [o for o in outcomes if isinstance(o, jobs.JobError)]
        assert len(runs) == 1, outcomes
        assert len(refused) == len(devices) - 1 and all("already running on cpu" in str(e) for e in refused), refused
        assert len(_started(tmp_path)) == 1
        assert jobs.active_job(tmp_path, "cpu:0").path == runs[0].path
        assert [p.name for p in tmp_path.glob(".job-*.lock")] == [".job-cpu.lock"]
    finally:
        stop.set()
        _cancel_all(tmp_path)


@pytest.mark.slow
def test_simultaneous_starts_in_processes_start_one_worker(tmp_path):
    """Four server processes (e.g. two dashboards on one runs folder) start at the same instant."""
    go = tmp_path / "go"
    root = tmp_path / "runs"
    root.mkdir()
    script = textwrap.dedent(f"""
        import json, os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from core.runs import jobs
        jobs.worker_command = lambda kind, config, run_dir: {SLEEPER!r}
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        try:
            run = jobs.start_job("hydro", {{}}, {str(root)!r}, device=sys.argv[1])
            print(json.dumps({{"run": str(run.path)}}))
        except jobs.JobError as exc:
            print(json.dumps({{"refused": str(exc)}}))
    """)
    devices = ["cpu", "cpu:0", "cpu", "cpu:0"]
    procs = [subprocess.Popen([sys.executable, "-c", script, d], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for d in devices]
    try:
        time.sleep(3.0)  # every process imported core.runs.jobs and waits for the signal
        go.touch()
        results = [json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in procs]
        started = [r for r in results if "run" in r]
        assert len(started) == 1, results
        assert len(_started(root)) == 1
        assert sum("already running on cpu" in r.get("refused", "") for r in results) == 3, results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        _cancel_all(root)


def test_device_aliases_fold_to_one_lock():
    assert jobs.device_key("cpu") == jobs.device_key("cpu:0") == jobs.device_key(" CPU ") == "cpu"
    assert jobs.device_key("cuda") == jobs.device_key("cuda:0") == "cuda"
    assert jobs.device_key("cuda:1") == "cuda:1"
    assert jobs.lock_path(Path("/r"), "cpu:0") == jobs.lock_path(Path("/r"), "cpu")
    assert jobs.lock_path(Path("/r"), "cuda:0") == jobs.lock_path(Path("/r"), "cuda")


def test_a_starting_lock_is_not_judged_dead_while_its_owner_lives(tmp_path):
    """The window between claim and spawn: the lock names the starting process, not yet a worker."""
    run = RunDir(tmp_path / "hydro-starting").create()
    run.update_status(state="pending", message="starting worker")
    lock = jobs.lock_path(tmp_path, "cpu")
    lock.write_text(json.dumps({"phase": "starting", "owner": os.getpid(), "pid": None, "run": str(run.path),
                                "device": "cpu", "claimed": time.time()}))
    assert jobs.active_job(tmp_path).path == run.path
    assert lock.exists()
    assert jobs.poll_job(run)["state"] == "pending"
    # after the grace period a starting lock of a hung start is cleared
    lock.write_text(json.dumps({"phase": "starting", "owner": os.getpid(), "pid": None, "run": str(run.path),
                                "device": "cpu", "claimed": time.time() - jobs.START_GRACE_SECONDS - 1}))
    assert jobs.active_job(tmp_path) is None
    assert not lock.exists()
