"""core.runs.state: one reading of a run's state for Home's table, its demo lines and Runs; core.demo finds demo runs on disk."""

from __future__ import annotations

import os
import subprocess
import sys

from core.demo import is_demo_run, latest_demo_runs
from core.runs.folder import RunDir
from core.runs.state import latest_run_states, run_state, status_message
from ui.run_tables import runs_frame


def _run(root, name: str, **status) -> RunDir:
    run = RunDir(root / name).create()
    run.write_config({"kind": name.split("-")[0], "name": name})
    if status:
        run.update_status(**status)
    return run


def test_a_run_read_while_pending_then_completed(tmp_path):
    # a live worker: this test's own process stands in for it
    run = _run(tmp_path, "hydro-20250101-000000-demo", state="pending", progress=0.0, message="starting worker",
               pid=os.getpid())
    pending = run_state(run)
    assert (pending.state, pending.progress, pending.message, pending.live) == ("pending", 0.0, "starting worker", True)
    run.update_status(state="completed", progress=1.0, message="completed, NSE 0.705")
    done = run_state(run)
    assert (done.state, done.progress, done.message, done.live) == ("completed", 1.0, "completed, NSE 0.705", False)
    # the table rows come from the same reading
    row = latest_run_states(tmp_path)[0].row()
    assert (row["run"], row["state"], row["message"]) == (run.name, "completed", "completed, NSE 0.705")
    frame = runs_frame([run])
    assert frame.loc[0, "state"] == "completed" and frame.loc[0, "message"] == "completed, NSE 0.705"


def test_a_run_whose_worker_is_gone_reads_failed_everywhere(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = _run(tmp_path, "rain-20250101-000000", state="running", progress=0.4, message="epoch 2", pid=dead.pid)
    state = run_state(run)
    assert state.state == "failed" and "stopped without finishing" in state.message
    assert runs_frame([run]).loc[0, "state"] == "failed"
    assert RunDir(run.path).read_status()["state"] == "failed"  # written, so every later reader agrees


def test_cancelled_runs_say_so_and_odd_progress_reads_zero(tmp_path):
    assert status_message({"state": "cancelled", "message": "received signal 15"}) == "Cancelled by user"
    stopped = _run(tmp_path, "rain-20250101-000000", state="cancelled", message="received signal 15")
    assert run_state(stopped).message == "Cancelled by user"
    run = _run(tmp_path, "hydro-20250101-000000", state="completed", progress=1.0, message="done")
    (run.path / "status.json").write_text('{"state": "completed", "progress": "most of it"}')
    state = run_state(run)
    assert state.progress == 0.0


def test_latest_demo_runs_are_the_newest_demo_folders_of_each_kind(tmp_path):
    older = _run(tmp_path, "hydro-20250101-000000-demo", state="completed")
    newer = _run(tmp_path, "hydro-20250102-000000-demo-1", state="completed")
    _run(tmp_path, "hydro-20250103-000000-demonstration", state="completed")  # a user's own name
    rain = _run(tmp_path, "rain-20250101-000000-demo", state="completed")
    os.utime(older.path, (1, 1))
    os.utime(newer.path, (100, 100))
    found = latest_demo_runs(tmp_path)
    assert found["hydro"].name == newer.name and found["rain"].name == rain.name
    assert not is_demo_run(RunDir(tmp_path / "rain-20250101-000000-demo"), "hydro")
    assert latest_demo_runs(tmp_path / "absent") == {}
