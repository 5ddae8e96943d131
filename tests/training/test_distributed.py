"""Two-process (torchrun, gloo, CPU) training gives the same model as one process with the same global batch.

Each trainer is launched as a real CLI process, once alone and once under
``python -m torch.distributed.run --standalone --nproc_per_node=2`` (through ``tests/training_launch.py``, which
runs ``python -m core`` unchanged and only watches what rank 1 writes). The checkpoints' parameters and
optimiser moments, the per-epoch losses (validation losses are sums reduced across ranks) and the
continuous test scores must agree to float32 tolerance; rank 1 must not write into the run directory.

Why exact parity is expected: the DistributedSampler permutation is seeded, rank r takes every
world-th window of it, so the two per-rank batches of step i together are exactly the single
process's batch i; the losses are means over equally sized batches, so DDP's gradient average equals
the full-batch gradient. The remaining differences are float32 summation order (about 1e-7), which
Adam can amplify over many steps through XAJ's thresholds; the configs keep the runs short.
"""

from __future__ import annotations

import pytest
import torch

from tests import training_launch as L

pytestmark = pytest.mark.slow

PARITY = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> "L.Path":
    root = tmp_path_factory.getbasetemp() / "training"
    # the four uninterrupted runs are independent: train them side by side
    L.references(root, [("hydro", 1), ("hydro", 2), ("rain", 1), ("rain", 2)])
    return root


def _initial_model(kind: str, ckpt: dict, config: "L.Path") -> dict[str, torch.Tensor]:
    """The parameters each trainer starts from (same seeding as the trainers), to show training moved them."""
    from core.training.rng import seed_everything

    if kind == "hydro":
        from core.hydro import train as T
        from core.hydro.config import load_config

        cfg = load_config(config)
        prepared = T.prepare(cfg)
        seed_everything(int(cfg["train"]["seed"]))
        return T.build_model(cfg, prepared).state_dict()
    from core.rain.model import build_model

    seed_everything(int(ckpt["settings"]["seed"]))
    return build_model(ckpt["in_channels"], ckpt["model_cfg"]).state_dict()


def _last_checkpoints(run_dir: "L.Path") -> list[str]:
    """The ``last.pt`` of every model of the run, relative to the run folder."""
    names = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("last.pt"))
    assert names, f"no last checkpoint under {run_dir}"
    return names


@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_two_processes_match_one_process(kind: str, work) -> None:
    single = L.reference(kind, work, nproc=1)
    multi = L.reference(kind, work, nproc=2)
    assert single.steps == multi.steps > 0, "each rank must take as many optimiser steps as the single process"
    for run in (single, multi):
        state = L.check_run_dir(run.run_dir)
        assert state["temp"] == [], f"{run.run_dir}: temp files left by a clean run: {state['temp']}"
    assert multi.watch == [], f"rank 1 wrote into the run directory: {multi.watch}"

    for name in _last_checkpoints(single.run_dir):
        a = L.load_checkpoint(single.run_dir / name)
        b = L.load_checkpoint(multi.run_dir / name)
        assert a["epoch"] == b["epoch"], f"{name}: epochs {a['epoch']} vs {b['epoch']}"
        assert a["model"].keys() == b["model"].keys()
        for key in a["model"]:
            torch.testing.assert_close(b["model"][key], a["model"][key], **PARITY,
                                       msg=lambda m, key=key: f"{kind} {name} parameter {key}: {m}")
        # Adam's moments too: the same gradients went in at every step
        for pid, sa in a["optimizer"]["state"].items():
            for slot in ("exp_avg", "exp_avg_sq"):
                torch.testing.assert_close(b["optimizer"]["state"][pid][slot], sa[slot], rtol=1e-3, atol=1e-7,
                                           msg=lambda m, pid=pid, slot=slot: f"{kind} {name} optimizer {pid}.{slot}: {m}")
        # not vacuous: training moved the parameters far beyond the tolerance
        init = _initial_model(kind, a, single.config)
        moved = max(float((a["model"][k].float() - init[k].float()).abs().max()) for k in init)
        assert moved > 100 * PARITY["atol"], f"{kind} {name}: parameters moved only {moved} from their initial values"

    h1, h2 = L.RunDir(single.run_dir).read_all_history(), L.RunDir(multi.run_dir).read_all_history()
    assert len(h1) == len(h2) > 0
    for r1, r2 in zip(h1, h2):
        for key in ("epoch", "train_loss", "val_loss", "val_nse"):
            if key in r1:
                assert r2[key] == pytest.approx(r1[key], rel=1e-4, abs=1e-6), f"{kind} history {key}: {r1} vs {r2}"

    m1, m2 = L.read_json(single.run_dir / "metrics.json"), L.read_json(multi.run_dir / "metrics.json")
    continuous = ("nse", "kge", "rmse", "mae") if kind == "hydro" else ("rmse", "mae")
    n1 = {k: v for k, v in L.numbers(m1["test"]).items() if k.rsplit(".", 1)[-1] in continuous}
    n2 = L.numbers(m2["test"])
    assert n1, f"no continuous test scores in {single.run_dir / 'metrics.json'}"
    for key, value in n1.items():
        assert n2[key] == pytest.approx(value, rel=1e-4, abs=1e-6), f"{kind} metrics {key}: {value} vs {n2[key]}"


@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_ranks_leave_no_process_group_threads_at_exit(kind: str, work) -> None:
    """After a finished 2-process run each rank has left its process group for real: gloo's worker and
    I/O threads are joined before the interpreter tears down, not left to race it (a rank that exited
    with them alive once aborted: "terminate called without an active exception")."""
    if not L.Path("/proc/self/task").is_dir():
        pytest.skip("native thread names come from /proc (Linux only)")
    multi = L.reference(kind, work, nproc=2)
    assert len(multi.threads_at_exit) == 2 and all(multi.threads_at_exit), "no thread list recorded per rank"
    for rank, names in enumerate(multi.threads_at_exit):
        left = [n for n in names if "gloo" in n or "nccl" in n]
        assert not left, f"{kind} rank {rank}: process-group threads still running at exit: {left}"


def test_thread_listing_survives_threads_that_end_while_it_reads() -> None:
    """The at-exit thread list is taken while threads may still be ending (a loaded machine once lost
    ``rain-1.threads.0`` this way: a ``comm`` file vanished between the listing and its read, and the
    at-exit hook died). Threads that start and end all the time must never make the listing raise."""
    import threading

    if not L.Path("/proc/self/task").is_dir():
        pytest.skip("native thread names come from /proc (Linux only)")
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()

    workers = [threading.Thread(target=churn) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        for _ in range(2000):  # about 3 s; the unguarded read failed in 1-2 % of the calls
            assert L.native_threads(), "the calling thread itself is missing from the list"
    finally:
        stop.set()
        for w in workers:
            w.join()
