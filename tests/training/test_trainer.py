"""The shared trainer (core.training.trainer) on a toy task: what both halves now get from one loop."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

from core.runs.folder import RunDir
from core.training.checkpoint import load_checkpoint
from core.training.lifecycle import Cancelled
from core.training.trainer import TrainingTask, TrainSettings, fit


class LineTask(TrainingTask):
    """Fit ``y = 3 x - 1`` with one linear unit; validation on held-out points."""

    name = "line"

    def __init__(self, n: int = 32, nan_at: int | None = None, valid: bool = True):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 1, generator=g)
        self.y = 3 * self.x - 1
        self.xv = torch.linspace(0, 1, 8)[:, None]
        self.yv = 3 * self.xv - 1
        self.n_train, self.nan_at, self.valid, self.calls = n, nan_at, valid, 0
        self.seen: list[list[int]] = []

    def build_model(self) -> nn.Module:
        return nn.Linear(1, 1)

    def train_batch(self, indices, device):
        self.seen.append([int(i) for i in indices])
        return self.x[indices].to(device), self.y[indices].to(device), indices

    def forward(self, net, batch):
        return net(batch[0])

    def loss(self, out, batch):
        self.calls += 1
        loss = ((out - batch[1]) ** 2).mean()
        return loss * float("nan") if self.calls == self.nan_at else loss

    def describe_batch(self, batch):
        return f"samples {sorted(int(i) for i in batch[2])[:3]}"

    @torch.no_grad()
    def validate(self, model, autocast):
        if not self.valid:
            return None
        return {"val_loss": float(((model(self.xv) - self.yv) ** 2).mean())}

    def checkpoint_meta(self):
        return {"task": "line"}


def settings(**kw) -> TrainSettings:
    return TrainSettings(**{"epochs": 4, "batch_size": 8, "seed": 1, "lr": 0.05, **kw})


def test_training_fits_writes_history_and_checkpoints(tmp_path):
    run = RunDir(tmp_path / "run").create()
    result = fit(LineTask(), settings(epochs=6), torch.device("cpu"), run)
    history = run.read_history()
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6] and result.epochs_run == 6
    assert 0 < result.minutes < 5 and "minutes" in result.summary()  # the time is reported beside the fixed epochs
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert {"train_loss", "val_loss", "best_val_loss", "lr", "seconds"} <= set(history[0])
    best = load_checkpoint(run.checkpoint_dir / "best.pt")
    assert best["task"] == "line" and best["epoch"] == result.best_epoch
    last = load_checkpoint(run.checkpoint_dir / "last.pt")
    assert last["epoch"] == 6 and "optimizer" in last and "rng" in last


def test_each_epoch_sees_every_sample_once_in_a_new_order(tmp_path):
    task = LineTask(n=32)
    fit(task, settings(epochs=2, batch_size=8), torch.device("cpu"), None)
    first, second = sum(task.seen[:4], []), sum(task.seen[4:], [])
    assert sorted(first) == sorted(second) == list(range(32))
    assert first != second
    capped = LineTask(n=32)
    fit(capped, settings(epochs=1, batch_size=8, iterations_per_epoch=2), torch.device("cpu"), None)
    assert len(capped.seen) == 2


def test_non_finite_loss_names_model_epoch_iteration_and_data(tmp_path):
    with pytest.raises(FloatingPointError, match=r"line: loss became nan in epoch 2, iteration 1 \(samples \["):
        fit(LineTask(nan_at=6), settings(), torch.device("cpu"), RunDir(tmp_path / "r").create())


def test_gradient_clipping_bounds_the_first_step(tmp_path):
    def first_step(clip: float) -> float:
        task = LineTask()
        torch.manual_seed(1)
        before = task.build_model().weight.detach().clone()
        fit(task, settings(epochs=1, iterations_per_epoch=1, optimizer="adadelta", lr=1.0,
                           grad_clip=clip), torch.device("cpu"), RunDir(tmp_path / f"c{clip}").create())
        after = load_checkpoint(tmp_path / f"c{clip}" / "checkpoints" / "last.pt")["model"]["weight"]
        return float((after - before).abs().max())

    # Adadelta's first step scales with the gradient: a tiny clip norm makes it much smaller
    assert first_step(1e-4) < 0.1 * first_step(0.0)


def test_accumulating_two_half_batches_equals_one_batch(tmp_path):
    whole = fit(LineTask(), settings(epochs=2, batch_size=8), torch.device("cpu"), RunDir(tmp_path / "a").create())
    assert whole.epochs_run == 2
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["model"]
    # the same 8 samples per step, given as 2 micro-batches of 4: the same mean gradient
    task = LineTask()
    fit(task, settings(epochs=2, batch_size=4, grad_accum=2, lr=0.05), torch.device("cpu"),
        RunDir(tmp_path / "b").create())
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


class ScriptedValidation(LineTask):
    def __init__(self, losses):
        super().__init__()
        self.losses = iter(losses)

    def validate(self, model, autocast):
        return {"val_loss": next(self.losses)}


def test_early_stopping_and_time_cap(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "stop").create()
    result = fit(ScriptedValidation([1.0, 0.5, 0.6, 0.5, 0.4]), settings(epochs=5, patience=2),
                 torch.device("cpu"), run)
    assert result.stopped_early and result.epochs_run == 4 and result.best_epoch == 2
    # a resumed run does not restart the patience it ran out of
    again = fit(ScriptedValidation([]), settings(epochs=8, patience=2), torch.device("cpu"), run, resume=True)
    assert again.epochs_run == 4

    lrs = fit(ScriptedValidation([1.0, 1.0, 1.0, 0.5]), settings(epochs=4, lr_decay=0.5, lr_decay_patience=1),
              torch.device("cpu"), RunDir(tmp_path / "decay").create())
    assert lrs.epochs_run == 4
    assert [r["lr"] for r in RunDir(tmp_path / "decay").read_history()] == pytest.approx([0.05, 0.05, 0.025, 0.0125])

    clock = iter(np.arange(0.0, 1e6, 50.0))  # each reading 50 s later than the one before
    monkeypatch.setattr("core.training.trainer.time.monotonic", lambda: float(next(clock)))
    capped = fit(LineTask(), settings(epochs=50, max_minutes=2.0), torch.device("cpu"),
                 RunDir(tmp_path / "cap").create())
    assert capped.stopped_by_time and capped.epochs_run < 50


def test_no_validation_keeps_every_epoch_as_best(tmp_path):
    result = fit(LineTask(valid=False), settings(epochs=3, patience=1), torch.device("cpu"),
                 RunDir(tmp_path / "nv").create())
    assert result.best_epoch == 3 and result.epochs_run == 3
    assert all(r["val_loss"] is None for r in RunDir(tmp_path / "nv").read_history())  # JSON has no NaN: null


@pytest.mark.parametrize("average", [0.0, 0.9])
def test_cancel_then_resume_equals_uninterrupted(tmp_path, average):
    s = settings(epochs=4, lr_decay=0.5, lr_decay_patience=1, weight_average=average)
    fit(LineTask(), s, torch.device("cpu"), RunDir(tmp_path / "straight").create())
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 4 * 2 + 1  # two whole epochs of 4 iterations, then one more

    broken = RunDir(tmp_path / "broken").create()
    with pytest.raises(Cancelled):
        fit(LineTask(), s, torch.device("cpu"), broken, should_stop=stop)
    assert load_checkpoint(broken.checkpoint_dir / "last.pt")["epoch"] == 2
    fit(LineTask(), s, torch.device("cpu"), broken, resume=True)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(broken.checkpoint_dir / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    ha, hb = RunDir(tmp_path / "straight").read_history(), broken.read_history()
    assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]


def test_fresh_start_replaces_the_folders_history(tmp_path):
    run = RunDir(tmp_path / "again").create()
    fit(LineTask(), settings(epochs=2), torch.device("cpu"), run)
    fit(LineTask(), settings(epochs=1), torch.device("cpu"), run)
    assert [r["epoch"] for r in run.read_history()] == [1]


def test_unknown_optimizer_lists_the_valid_names():
    task = LineTask()
    with pytest.raises(ValueError, match="unknown optimizer 'sgdx'; choose one of"):
        fit(task, settings(optimizer="sgdx"), torch.device("cpu"), None)


def test_training_state_reads_how_far_training_got(tmp_path, monkeypatch):
    """Issue 33.3: finished is decided by last.pt (epochs, early stopping, time cap), never by metrics.json."""
    from core.training.trainer import training_done, training_state

    cpu = torch.device("cpu")
    fresh = RunDir(tmp_path / "fresh").create()
    assert not training_done(fresh, settings()) and training_state(fresh, settings()).describe() == "epoch 0 of 4"

    killed = RunDir(tmp_path / "killed").create()
    calls = {"n": 0}

    def stop_in_epoch_3() -> bool:
        calls["n"] += 1
        return calls["n"] > 2 * 4  # 32 samples, batch 8: 4 iterations an epoch
    with pytest.raises(Cancelled):
        fit(LineTask(), settings(), cpu, killed, should_stop=stop_in_epoch_3)
    killed.write_metrics({"test": {"score": 1.0}})  # an evaluation after the kill changes nothing
    state = training_state(killed, settings())
    assert not state.done and state.describe() == "epoch 2 of 4"
    fit(LineTask(), settings(), cpu, killed, resume=True)
    assert training_done(killed, settings()) and not training_done(killed, settings(epochs=6))

    stopped = RunDir(tmp_path / "stop").create()
    fit(ScriptedValidation([1.0, 0.5, 0.6, 0.5, 0.4]), settings(epochs=5, patience=2), cpu, stopped)
    assert training_state(stopped, settings(epochs=5, patience=2)).early_stopped
    assert training_done(stopped, settings(epochs=50, patience=2))

    clock = iter(np.arange(0.0, 1e6, 50.0))  # each reading 50 s later than the one before
    monkeypatch.setattr("core.training.trainer.time.monotonic", lambda: float(next(clock)))
    capped = RunDir(tmp_path / "cap").create()
    first = fit(LineTask(), settings(epochs=50, max_minutes=2.0), cpu, capped)
    assert first.stopped_by_time and training_done(capped, settings(epochs=50, max_minutes=2.0))
    # the same cap: a resume trains nothing more; another cap continues
    again = fit(LineTask(), settings(epochs=50, max_minutes=2.0), cpu, capped, resume=True)
    assert again.epochs_run == first.epochs_run and again.stopped_by_time
    assert not training_done(capped, settings(epochs=50, max_minutes=4.0))
    more = fit(LineTask(), settings(epochs=50, max_minutes=4.0), cpu, capped, resume=True)
    assert more.epochs_run > first.epochs_run

    (killed.checkpoint_dir / "last.pt").write_bytes(b"not a checkpoint")
    broken = training_state(killed, settings())
    assert not broken.done and "last.pt" in broken.describe()
