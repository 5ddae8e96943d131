"""The worker lifecycle shared by both CLIs: signal -> cancelled, error -> failed, success -> completed."""

from __future__ import annotations

import os
import signal

import pytest

from core.runs.folder import RunDir
from core.training import lifecycle


def test_cancelled_is_not_swallowed_by_a_generic_handler():
    def careless() -> None:
        try:
            raise lifecycle.Cancelled("received signal SIGTERM")
        except Exception:  # noqa: BLE001 - what a data reader or a retry loop might do
            pytest.fail("a generic except Exception caught the cancel request")

    with pytest.raises(lifecycle.Cancelled):
        careless()


def test_sigterm_marks_the_run_cancelled_and_restores_the_handlers(tmp_path):
    run = RunDir(tmp_path / "run")
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    def body() -> str:
        lifecycle.start(run, "train", "training")
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10**7):  # the handler raises at the next bytecode
                pass
        except Exception:  # noqa: BLE001 - must not catch it
            pytest.fail("Cancelled was caught as an Exception")
        return "never"

    assert lifecycle.run_worker(run, body) == lifecycle.EXIT_CANCELLED
    status = run.read_status()
    assert status["state"] == "cancelled" and "SIGTERM" in status["message"] and status["finished"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_sigint_cancels_too(tmp_path):
    run = RunDir(tmp_path / "run")

    def body() -> str:
        lifecycle.start(run, "train", "training")
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10**7):
            pass
        return "never"

    assert lifecycle.run_worker(run, body) == lifecycle.EXIT_CANCELLED
    assert "SIGINT" in run.read_status()["message"]


def test_error_marks_failed_with_the_message_and_success_completed(tmp_path, capsys):
    run = RunDir(tmp_path / "run")

    def failing() -> str:
        lifecycle.start(run, "train", "training")
        raise ValueError("basin 01013500: prcp is NaN on 1990-01-02")

    assert lifecycle.run_worker(run, failing) == lifecycle.EXIT_FAILED
    status = run.read_status()
    assert status["state"] == "failed"
    assert status["message"] == "ValueError: basin 01013500: prcp is NaN on 1990-01-02"
    assert "Traceback" in capsys.readouterr().err

    def fine() -> str:
        lifecycle.start(run, "train", "training")
        return "median test NSE 0.7"

    assert lifecycle.run_worker(run, fine) == lifecycle.EXIT_OK
    status = run.read_status()
    assert status["state"] == "completed" and status["progress"] == 1.0 and status["message"] == "median test NSE 0.7"


def test_progress_is_throttled(tmp_path):
    run = RunDir(tmp_path / "run").create()
    progress = lifecycle.Progress(run, every=3600)
    progress.update(progress=0.1, message="a")
    progress.update(progress=0.2, message="b")
    assert run.read_status()["message"] == "a"
    progress.update(force=True, progress=0.3, message="c")
    assert run.read_status()["progress"] == 0.3
