"""Thread and wait policy (core.machine.threads): variables set as documented, user overrides kept, workers carry it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.machine import threads
from core.runs import jobs
from core.machine.threads import (MARK, SWITCH, ThreadPolicyError, apply_environment, free_cores, policy_environment,
                          worker_environment)

REPO = Path(__file__).resolve().parents[2]
CORES = threads.usable_cores()
POLICY_NAMES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS",
                SWITCH, MARK)


def two_free() -> int:
    return 2


def one_free() -> int:
    return 1


def test_default_policy_takes_the_free_cores_and_waits_passively_only_beside_other_work():
    quiet = policy_environment({}, free=two_free)
    # every core free: OpenMP's own wait (passive waiting of 2 threads was 5x slower there)
    assert {k: v for k, v in quiet.items() if k != MARK} == {"OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "2"}
    assert policy_environment({SWITCH: "auto"}, free=two_free) == quiet
    busy = policy_environment({}, free=one_free)
    assert {k: v for k, v in busy.items() if k != MARK} == {
        "OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0", "KMP_BLOCKTIME": "0",
        "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    assert policy_environment({SWITCH: "2"}, free=two_free)["OMP_WAIT_POLICY"] == "PASSIVE"  # explicit count


@pytest.mark.parametrize("idle, expected", [(0.0, 1), (0.4, 1), (0.6, min(1, CORES)), (1.3, min(1, CORES)),
                                            (1.6, min(2, CORES)), (64.0, CORES)])
def test_free_cores_rounds_the_idle_cores_within_the_usable_ones(idle, expected):
    assert free_cores(lambda: idle) == expected


def test_free_cores_falls_back_to_the_usable_cores_when_idle_time_is_unknown():
    assert free_cores(lambda: None) == CORES


def test_idle_cores_is_a_number_of_cores_on_linux():
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat on this system")
    idle = threads.idle_cores(0.05)
    assert idle is None or 0.0 <= idle <= (os.cpu_count() or 1) + 1e-9


def test_off_sets_nothing_and_removes_what_the_policy_had_set():
    assert policy_environment({SWITCH: "off"}) == {}
    environ = {SWITCH: "OFF"}
    assert apply_environment(environ) == {} and environ == {SWITCH: "OFF"}
    environ = {"PATH": "/bin", "OMP_NUM_THREADS": "1"}
    apply_environment(environ, free=two_free)
    environ[SWITCH] = "off"
    apply_environment(environ)
    assert environ == {"PATH": "/bin", "OMP_NUM_THREADS": "1", SWITCH: "off"}


def test_variables_the_user_set_are_kept():
    environ = {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1", "NUMBA_THREADING_LAYER": "workqueue"}
    added = apply_environment(environ, free=two_free)
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE" and "OMP_WAIT_POLICY" not in added
    assert environ["OMP_NUM_THREADS"] == "1"
    # the user's thread count also becomes numba's, and the other wait variables are still added
    assert {k: v for k, v in added.items() if k != MARK} == {
        "GOMP_SPINCOUNT": "0", "KMP_BLOCKTIME": "0", "NUMBA_NUM_THREADS": "1"}
    assert environ["NUMBA_THREADING_LAYER"] == "workqueue"


def test_hydrocast_threads_count_wins_over_omp_num_threads():
    env = policy_environment({SWITCH: "3", "OMP_NUM_THREADS": "1"}, free=one_free)
    assert env["OMP_NUM_THREADS"] == "3" and env["NUMBA_NUM_THREADS"] == "3"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_switch_is_an_error_naming_the_variable(bad):
    with pytest.raises(ThreadPolicyError, match=SWITCH):
        policy_environment({SWITCH: bad})


def test_worker_environment_is_a_copy_with_the_policy_chosen_afresh():
    parent = {"PATH": "/bin", "OMP_WAIT_POLICY": "ACTIVE"}
    apply_environment(parent, free=two_free)  # the dashboard at its start: both cores free
    before = dict(parent)
    env = worker_environment(parent, free=one_free)  # a job started later, beside other work
    assert parent == before
    assert env["PATH"] == "/bin" and env["OMP_WAIT_POLICY"] == "ACTIVE"
    assert env["GOMP_SPINCOUNT"] == "0"
    assert env["OMP_NUM_THREADS"] == "1" and env["NUMBA_NUM_THREADS"] == "1"


class _FakeWorker:
    """Stands in for the training subprocess: records the environment it was given."""

    seen: list[dict] = []

    def __init__(self, cmd, **kwargs):
        self.seen.append(kwargs["env"])
        self.pid = os.getpid()

    def poll(self):
        return None


@pytest.mark.parametrize("user, expected", [
    ({}, {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0", "OMP_NUM_THREADS": "1"}),
    ({"OMP_WAIT_POLICY": "ACTIVE", SWITCH: "3"}, {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "3"}),
    ({SWITCH: "off"}, {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None, "OMP_NUM_THREADS": None}),
])
def test_start_job_gives_the_worker_the_policy(tmp_path, monkeypatch, user, expected):
    for name in POLICY_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in user.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.1: 0.2)  # a busy machine: one thread
    _FakeWorker.seen = []
    monkeypatch.setattr(jobs.subprocess, "Popen", _FakeWorker)
    try:
        jobs.start_job("hydro", {"train": {"device": "cpu"}}, tmp_path, name="policy", device="cpu")
    finally:
        jobs._CHILDREN.pop(os.getpid(), None)
    (env,) = _FakeWorker.seen
    assert {name: env.get(name) for name in expected} == expected
    assert env["PYTHONUNBUFFERED"] == "1"


@pytest.mark.slow
def test_importing_core_first_gives_torch_the_policy_threads():
    """In a fresh process, ``import core`` before ``import torch`` must fix torch's thread count."""
    env = {k: v for k, v in os.environ.items() if k not in POLICY_NAMES}
    env[SWITCH] = "1"
    code = "import os, core, torch; print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "PASSIVE"]


def test_torchrun_ranks_share_the_free_cores():
    assert policy_environment({"LOCAL_WORLD_SIZE": "2"}, free=lambda: 4)["OMP_NUM_THREADS"] == "2"
    assert policy_environment({"LOCAL_WORLD_SIZE": "4"}, free=two_free)["OMP_NUM_THREADS"] == "1"
    # torchrun's own OMP_NUM_THREADS=1 (set when the user gave none) is kept
    assert "OMP_NUM_THREADS" not in policy_environment({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"})
