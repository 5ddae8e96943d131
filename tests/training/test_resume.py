"""A training process killed with SIGKILL, at a random step or halfway through a checkpoint write, resumes
with ``--resume`` to exactly the metrics of an uninterrupted run, and its run directory is never corrupted.

The kills come from ``tests/training_launch.py`` hooks inside the real CLI process (``python -m core``):
right after a seeded-random optimiser step, or inside ``torch.save`` after half of a ``last``
checkpoint's bytes reached its temp file. SIGKILL cannot be caught, so the process dies exactly as
under an outside ``kill -9``. After every kill: every JSON and config parses, every checkpoint loads
(or is absent), the torn temp file sits under a dot-name that no reader takes for a checkpoint, and
the resumed run takes only the optimiser steps after the last complete checkpoint.
"""

from __future__ import annotations

import random
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from tests import training_launch as L

pytestmark = pytest.mark.slow

SEED = 20261122
N_EXPERIMENTS = {"hydro": 1, "rain": 2}
EPOCHS = {"hydro": L.HYDRO_EPOCHS, "rain": L.RAIN_EPOCHS}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp() / "training"
    # the uninterrupted runs to compare with are independent: train them side by side
    L.references(root, [("hydro", 1), ("rain", 1), ("rain", 2)])
    return root


def _epochs_done(kind: str, state: dict) -> int:
    """Epochs covered by the ``last`` checkpoints (both halves number epochs from 1: a checkpoint's
    ``epoch`` is the number of epochs it completed)."""
    return sum(e for name, e in state["checkpoints"].items() if name.endswith("last.pt"))


def _steps_per_epoch(ref: "L.Reference") -> int:
    epochs = EPOCHS[ref.kind] * N_EXPERIMENTS[ref.kind]
    assert ref.steps % epochs == 0, f"{ref.kind}: {ref.steps} steps do not split into {epochs} equal epochs"
    return ref.steps // epochs


def _assert_same_result(run_dir: Path, ref: "L.Reference") -> None:
    """Final metrics, history and checkpoints equal the uninterrupted run's (same seed, same machine)."""
    n = L.assert_same_numbers(L.read_json(run_dir / "metrics.json"), L.read_json(ref.run_dir / "metrics.json"),
                              rel=1e-9, what=f"{run_dir.name}/metrics.json vs uninterrupted",
                              skip=("minutes",))  # wall time, like the history's seconds
    assert n > 10, f"{run_dir / 'metrics.json'} holds only {n} numbers"
    L.assert_same_numbers(L.RunDir(run_dir).read_all_history(), L.RunDir(ref.run_dir).read_all_history(),
                          rel=1e-9, what=f"{run_dir.name}/history.json vs uninterrupted", skip=("seconds",))
    state, ref_state = L.check_run_dir(run_dir), L.check_run_dir(ref.run_dir)
    assert state["checkpoints"] == ref_state["checkpoints"]
    for name in state["checkpoints"]:
        a, b = L.load_checkpoint(run_dir / name)["model"], L.load_checkpoint(ref.run_dir / name)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name}: parameters differ from the uninterrupted run"
    assert L.read_json(run_dir / "status.json")["state"] == "completed"


def _kill_twice_then_resume(kind: str, work: Path) -> None:
    """Single process: SIGKILL after a random step, resume and SIGKILL mid-checkpoint, resume to the end."""
    ref = L.reference(kind, work, nproc=1)
    per_epoch = _steps_per_epoch(ref)
    total_epochs = EPOCHS[kind] * N_EXPERIMENTS[kind]
    rng = random.Random(f"{SEED}-{kind}")
    run_dir, logs = work / f"killed-{kind}", work / "logs"

    # 1. SIGKILL right after a random optimiser step
    k = rng.randint(1, ref.steps - 1)
    marker = logs / f"killed-{kind}-1.json"
    p1 = L.run_cli(ref.args(run_dir), env={"HC_KILL_AT_STEP": k, "HC_MARKER": marker})
    assert p1.returncode == -signal.SIGKILL, L.explain(p1)
    assert L.read_json(marker)["step"] == k
    state1 = L.check_run_dir(run_dir)
    assert not (run_dir / "metrics.json").exists(), "a killed run must not have final metrics"
    done1 = _epochs_done(kind, state1)
    # a checkpoint follows each epoch's validation, so a kill after step k keeps (k - 1) // per_epoch epochs
    assert done1 == (k - 1) // per_epoch, f"killed after step {k}: checkpoints {state1['checkpoints']}"

    # 2. resume, and SIGKILL halfway through writing the n-th 'last' checkpoint
    n = rng.randint(1, total_epochs - done1)
    marker = logs / f"killed-{kind}-2.json"
    p2 = L.run_cli(ref.args(run_dir, resume=True), env={"HC_KILL_IN_SAVE": n, "HC_MARKER": marker})
    assert p2.returncode == -signal.SIGKILL, L.explain(p2)
    event = L.read_json(marker)
    torn = Path(event["file"])
    assert event["event"] == "save" and torn.parent.name == "checkpoints" and run_dir in torn.parents, event
    assert torn.name.startswith("."), event
    assert torn.stat().st_size == event["bytes_written"] < event["bytes_total"]
    with pytest.raises(Exception):
        L.load_checkpoint(torn)  # the torn file really is unreadable: only atomicity saves the run
    state2 = L.check_run_dir(run_dir)
    assert str(torn.relative_to(run_dir)) in state2["temp"]
    done2 = _epochs_done(kind, state2)
    assert done2 == done1 + n - 1, f"the checkpoint being written replaced its predecessor: {state2['checkpoints']}"

    # 3. resume to the end: from the last complete checkpoint, ignoring the torn temp file
    count = logs / f"killed-{kind}-3.steps"
    p3 = L.run_cli(ref.args(run_dir, resume=True), env={"HC_STEP_COUNT": count})
    assert p3.returncode == 0, L.explain(p3)
    assert int(Path(f"{count}.0").read_text()) == ref.steps - done2 * per_epoch
    _assert_same_result(run_dir, ref)


def _kill_rank_then_resume(work: Path) -> None:
    """Rank 1 of a 2-process gloo run dies; torchrun stops the job; ``--resume`` on 2 processes finishes it."""
    ref = L.reference("rain", work, nproc=2)
    per_epoch = _steps_per_epoch(ref)
    rng = random.Random(f"{SEED}-torchrun")
    run_dir, logs = work / "killed-rain-torchrun", work / "logs"

    k = rng.randint(1, ref.steps - 1)
    marker = logs / "killed-rain-torchrun.json"
    p1 = L.run_cli(ref.args(run_dir), nproc=2,
                   env={"HC_KILL_RANK": 1, "HC_KILL_AT_STEP": k, "HC_MARKER": marker})
    assert p1.returncode != 0, L.explain(p1)
    event = L.read_json(marker)
    assert (event["rank"], event["step"]) == (1, k)
    state1 = L.check_run_dir(run_dir)
    assert not (run_dir / "metrics.json").exists()
    done1 = _epochs_done("rain", state1)
    assert done1 == (k - 1) // per_epoch, f"rank 1 killed after step {k}: checkpoints {state1['checkpoints']}"

    count = logs / "killed-rain-torchrun.steps"
    p2 = L.run_cli(ref.args(run_dir, resume=True), nproc=2, env={"HC_STEP_COUNT": count})
    assert p2.returncode == 0, L.explain(p2)
    for rank in (0, 1):
        assert int(Path(f"{count}.{rank}").read_text()) == ref.steps - done1 * per_epoch
    _assert_same_result(run_dir, ref)


@pytest.fixture(scope="module")
def sequences(work: Path):
    """The three kill-and-resume sequences, independent of each other, run side by side in threads."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        yield {
            "hydro": pool.submit(_kill_twice_then_resume, "hydro", work),
            "rain": pool.submit(_kill_twice_then_resume, "rain", work),
            "torchrun": pool.submit(_kill_rank_then_resume, work),
        }


@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_sigkill_at_random_step_then_mid_checkpoint_resumes_to_same_metrics(kind: str, sequences) -> None:
    sequences[kind].result()  # re-raises the sequence's assertion error, if any


def test_rank_killed_under_torchrun_resumes_to_same_metrics(sequences) -> None:
    sequences["torchrun"].result()

