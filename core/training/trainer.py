"""The one training loop of both halves: epochs, DDP, resume, early stopping, checkpoints, history.

Each half describes what it trains by a :class:`TrainingTask` (build the model, cut a batch, the
forward pass and the loss, validation, what a checkpoint carries besides the weights); :func:`fit`
does everything else, the same way for dXAJ and ST-RainNet:

- **Epochs** are numbered from 1 (:data:`core.training.lifecycle.FIRST_EPOCH`). Each epoch draws a
  new order of the training samples from a ``DistributedSampler`` seeded with ``seed``, so a run
  sees the same samples in the same order on any number of processes; ``batch_size`` is the global
  batch, split between ranks (it must divide evenly).
- **Optimiser step**: autocast when ``amp`` asks for it (:mod:`core.training.precision`), a
  ``GradScaler`` on CUDA float16, ``grad_accum`` micro-batches per step, gradient-norm clipping
  (``grad_clip``), an exponential weight average (``weight_average``) that validation, ``best.pt``
  and evaluation use.
- **NaN guard**: a non-finite loss stops the run with an error naming the model, epoch, iteration
  and the batch's data (the task says what that is).
- **Validation, early stopping, schedule**: the task's validation loss decides the best epoch;
  ``patience`` epochs without improvement end the run for good (a resumed run does not restart
  them), ``lr_decay`` < 1 lowers the learning rate on a plateau of the same loss.
- **Time cap**: ``max_minutes`` stops after the epoch in which it is reached; every rank stops at
  the same epoch (the decision is all-reduced). It is a safety cap, not a budget: results are
  decided by epochs. ``last.pt`` records that the cap ended the run: a resume with the same cap
  trains no further, one with another ``max_minutes`` continues.
- **Finished or not** is read from ``last.pt`` by :func:`training_state` (epochs done against the
  settings' epochs, early stopping, the time cap), never from metrics.json: the CLIs use it to
  resume only what is left and to never call an evaluated but unfinished run completed.
- **Files** (rank 0 only; the run folder of the model): ``checkpoints/best.pt`` (best weights and
  the task's metadata), ``checkpoints/last.pt`` (adds the optimiser, scaler, schedule, counters,
  history and every RNG state, so ``resume=True`` continues to the same result as an uninterrupted
  run), ``history.json`` (one record per epoch). Checkpoints are written atomically and read with
  ``weights_only=True`` (:mod:`core.training.checkpoint`).
- **Cancel and progress**: ``should_stop`` is polled before every iteration and raises
  :class:`core.training.lifecycle.Cancelled`; ``progress(fraction, message, epoch=, force=)``
  reports the fraction of this model's epochs done.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from core.runs.folder import RunDir
from core.training import distributed as D
from core.training import rng
from core.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from core.training.lifecycle import FIRST_EPOCH, Cancelled
from core.training.optimizers import get_optimizer
from core.training.precision import amp_settings
from core.training.weight_average import WeightAverage


@dataclass
class TrainSettings:
    """The keys of a config's ``train`` section that the loop reads (both halves' tables carry them)."""

    epochs: int
    batch_size: int  # global batch: all ranks, one micro-batch
    seed: int = 0
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 0  # epochs without a better validation loss before stopping; 0 = never
    grad_accum: int = 1  # micro-batches per optimiser step
    grad_clip: float = 0.0  # maximum gradient norm; 0 = no clipping
    max_minutes: float = 0.0  # wall-clock safety cap per model; 0 = none
    lr_decay: float = 1.0  # factor on a validation plateau; 1 = constant learning rate
    lr_decay_patience: int = 3  # epochs without improvement before the factor applies
    weight_average: float = 0.0  # decay of the weight average; 0 = none
    iterations_per_epoch: int = 0  # cap on optimiser iterations per epoch; 0 = every sample once
    amp: str | bool = "false"  # auto | true | false

    @classmethod
    def from_section(cls, train: Mapping[str, Any], **fixed: Any) -> "TrainSettings":
        """The fields of ``train`` (a checked config section; other keys are the half's own), ``fixed`` on top."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in train.items() if k in names and v is not None}
        values.update(fixed)
        return cls(**values)


class TrainingTask:
    """What one model of a run trains on; subclassed by each half (``core.hydro.task``, ``core.rain.task``).

    Attributes the loop reads: ``name`` (the model's name in messages), ``n_train`` (training
    samples), ``record_tags`` (extra fields of every history record), ``validate_before_training``
    (score the untrained model first and keep it as the best so far: a model that starts as a
    reference forecast must beat it to replace it), ``shuffle_seed_offset`` (added to the seed of
    the sample order).
    """

    name: str = "model"
    n_train: int = 0
    record_tags: Mapping[str, Any] = {}
    validate_before_training: bool = False
    shuffle_seed_offset: int = 0

    def build_model(self) -> nn.Module:
        """The untrained network (on the CPU; called after the run's RNG is seeded)."""
        raise NotImplementedError

    def place(self, model: nn.Module, device: torch.device) -> nn.Module:
        """Move ``model`` to ``device`` (and set its memory format)."""
        return model.to(device)

    def train_batch(self, indices: np.ndarray, device: torch.device) -> Any:
        """The training batch of samples ``indices`` (positions in ``0 .. n_train - 1``) on ``device``."""
        raise NotImplementedError

    def forward(self, net: nn.Module, batch: Any) -> Any:
        """The network's output for ``batch`` (runs under autocast when it is on)."""
        raise NotImplementedError

    def loss(self, out: Any, batch: Any) -> torch.Tensor:
        """The batch's mean training loss (a scalar tensor, in float32)."""
        raise NotImplementedError

    def batch_weight(self, batch: Any) -> float:
        """The batch's weight in the epoch's mean training loss (1: every batch counts the same)."""
        return 1.0

    def describe_batch(self, batch: Any) -> str:
        """The data of ``batch`` in words (basins, dates), for the error of a non-finite loss."""
        return ""

    def validate(self, model: nn.Module, autocast: Callable[[], contextlib.AbstractContextManager]) -> dict | None:
        """``{"val_loss": .., other scores}`` over the validation samples, reduced over ranks; None without any."""
        return None

    def checkpoint_meta(self) -> dict[str, Any]:
        """What ``best.pt`` and ``last.pt`` carry besides the weights (normalisation, shapes, config)."""
        return {}


@dataclass
class TrainResult:
    model: str
    epochs_run: int  # epochs in the history, including those before a resume
    best_epoch: int  # 0: the untrained model (validate_before_training) or none
    best_val_loss: float
    stopped_early: bool  # patience ran out before the last epoch
    stopped_by_time: bool  # max_minutes reached
    minutes: float = 0.0  # wall time of this call (a resumed run counts the time since its resume)

    def summary(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss, "epochs_run": self.epochs_run,
                "stopped_early": self.stopped_early, "stopped_by_time": self.stopped_by_time,
                "minutes": round(self.minutes, 2)}


def _capped_under(ckpt: Mapping[str, Any], settings: TrainSettings) -> bool:
    """Whether the time cap ended the checkpoint's run and ``settings`` keep that cap."""
    if not ckpt.get("stopped_by_time"):
        return False
    stored = (ckpt.get("settings") or {}).get("max_minutes")
    try:
        return float(stored or 0) == float(settings.max_minutes or 0)
    except (TypeError, ValueError):
        return False


def _early_stopped(ckpt: Mapping[str, Any], settings: TrainSettings) -> bool:
    if "finished" in ckpt:
        return bool(ckpt["finished"])
    # written before the shared trainer: early stopping was not stored
    return bool(settings.patience) and int(ckpt.get("bad_epochs", 0)) >= settings.patience


@dataclass(frozen=True)
class TrainingState:
    """How far the training of one model folder got, read from its ``checkpoints/last.pt``."""

    epochs_done: int  # epochs the last checkpoint completed (0: no checkpoint)
    epochs: int  # epochs the settings ask for
    early_stopped: bool = False
    time_capped: bool = False  # the time cap ended it, and the settings keep that cap
    problem: str = ""  # why last.pt could not be read ("" when it could, or is absent)

    @property
    def done(self) -> bool:
        """Training has nothing left: all epochs, early stopping, or the time cap ended it."""
        if self.problem:
            return False
        return self.early_stopped or self.time_capped or self.epochs_done >= self.epochs

    def describe(self) -> str:
        """One line for a status message, e.g. ``epoch 15 of 200`` or ``early stopping after epoch 40``."""
        if self.problem:
            return self.problem
        if self.early_stopped:
            return f"early stopping after epoch {self.epochs_done} of {self.epochs}"
        if self.time_capped:
            return f"the time cap after epoch {self.epochs_done} of {self.epochs}"
        return f"epoch {self.epochs_done} of {self.epochs}"


def training_state(run: RunDir, settings: TrainSettings) -> TrainingState:
    """The training state of the model folder ``run`` under ``settings`` (its config's ``train`` keys).

    Decided by the training itself, never by metrics.json: an evaluation of a killed run does not
    make its training finished, and a resume continues whatever is left.
    """
    epochs = int(settings.epochs)
    path = run.checkpoint_dir / "last.pt"
    if not path.exists():
        return TrainingState(0, epochs)
    try:
        ckpt = load_checkpoint(path, required=("epoch",))
    except CheckpointError as exc:
        return TrainingState(0, epochs, problem=str(exc))
    return TrainingState(int(ckpt["epoch"]), epochs, early_stopped=_early_stopped(ckpt, settings),
                         time_capped=_capped_under(ckpt, settings))


def training_done(run: RunDir, settings: TrainSettings) -> bool:
    """Whether the model folder ``run`` has finished training under ``settings`` (see :class:`TrainingState`)."""
    return training_state(run, settings).done


class _Indices:
    """A sized stand-in dataset for ``DistributedSampler`` (it only needs ``len``)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n


def plateau_schedule(settings: TrainSettings, optimizer: torch.optim.Optimizer):
    if float(settings.lr_decay or 1.0) >= 1.0:
        return None
    # counted on the validation loss that early stopping uses: patience should exceed lr_decay_patience
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=float(settings.lr_decay),
                                                      patience=int(settings.lr_decay_patience) - 1, threshold=0.0)


def _batches(order: np.ndarray, per_rank: int, cap: int) -> Iterator[np.ndarray]:
    n_iter = math.ceil(len(order) / per_rank)
    if cap:
        n_iter = min(n_iter, cap)
    for it in range(n_iter):
        yield order[it * per_rank : (it + 1) * per_rank]


def fit(
    task: TrainingTask,
    settings: TrainSettings,
    device: torch.device,
    run: RunDir | None = None,
    *,
    resume: bool = False,
    progress: Callable[..., None] | None = None,
    progress_bar: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train ``task``'s model; checkpoints and history go to ``run`` (the model's folder; None: nowhere).

    ``resume``: continue from ``run``'s ``checkpoints/last.pt`` when it exists (else start fresh,
    which empties the folder's ``history.json``).
    """
    writer = D.is_main() and run is not None
    world = D.world_size()
    if settings.batch_size % world:
        raise ValueError(f"train.batch_size {settings.batch_size} must be divisible by the {world} processes")
    per_rank = settings.batch_size // world
    last_path = run.checkpoint_dir / "last.pt" if run is not None else None
    best_path = run.checkpoint_dir / "best.pt" if run is not None else None
    ckpt = load_checkpoint(last_path, required=("model", "epoch")) if (
        resume and last_path is not None and last_path.exists()) else None

    rng.seed_everything(int(settings.seed))
    model = task.place(task.build_model(), device)
    optimizer = get_optimizer(settings.optimizer)(model.parameters(), lr=float(settings.lr),
                                                  weight_decay=float(settings.weight_decay))
    schedule = plateau_schedule(settings, optimizer)
    average = WeightAverage(model, float(settings.weight_average)) if settings.weight_average else None
    autocast_on, autocast_dtype, use_scaler = amp_settings(device, settings.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_on)

    state: dict[str, Any] = {"epoch": 0, "best_val": math.inf, "best_epoch": 0, "bad_epochs": 0,
                             "history": [], "finished": False}
    if ckpt is not None:
        # with a weight average, "model" holds the average (what evaluation reads), "raw_model" the
        # weights training continues from
        model.load_state_dict(ckpt["raw_model"] if average is not None else ckpt["model"])
        if average is not None:
            average.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        if schedule is not None and ckpt.get("lr_schedule") is not None:
            schedule.load_state_dict(ckpt["lr_schedule"])
        state = {k: ckpt.get(k, state[k]) for k in state}
        state["history"] = list(state["history"])
        state["finished"] = _early_stopped(ckpt, settings)
        rng.restore(ckpt["rng"])
    if writer:
        # history.json may be ahead of the checkpoint after a kill; a fresh start owns the folder's history
        run.write_history(state["history"])

    net: nn.Module = model
    if D.is_distributed():
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = DistributedSampler(_Indices(task.n_train), num_replicas=world, rank=D.rank(), shuffle=True,
                                 seed=int(settings.seed) + task.shuffle_seed_offset)
    meta = task.checkpoint_meta()
    epochs = int(settings.epochs)
    max_seconds = float(settings.max_minutes or 0) * 60
    t_start = time.monotonic()

    def report(fraction: float, message: str, epoch: int, force: bool = False) -> None:
        if progress is not None:
            progress(fraction, message, epoch=epoch, force=force)

    def validation() -> dict | None:
        # the plain module: a DDP forward may broadcast buffers, a collective that would hang when a
        # rank has no validation sample; the task reduces its sums itself
        with average.applied() if average is not None else contextlib.nullcontext():
            return task.validate(model, autocast)

    if task.validate_before_training and state["epoch"] == 0:
        scores = validation()
        if scores is not None and math.isfinite(scores["val_loss"]):
            state["best_val"], state["best_epoch"] = float(scores["val_loss"]), FIRST_EPOCH - 1
            if writer:
                save_checkpoint(best_path, {**meta, "model": model.state_dict(), "epoch": state["best_epoch"],
                                            "val_loss": state["best_val"]})

    # a run the time cap ended is finished for a resume with the same cap; another cap continues it
    stopped_by_time = ckpt is not None and _capped_under(ckpt, settings)
    for epoch in range(state["epoch"] + FIRST_EPOCH, epochs + 1):
        if state["finished"] or stopped_by_time:
            break
        net.train()
        sampler.set_epoch(epoch - FIRST_EPOCH)
        order = np.fromiter(iter(sampler), dtype=np.int64)
        batches = list(_batches(order, per_rank, int(settings.iterations_per_epoch or 0)))
        n_iter = len(batches)
        bar = None
        if progress_bar and writer:
            from tqdm import tqdm

            bar = tqdm(total=n_iter, desc=f"{task.name} epoch {epoch}/{epochs}", leave=False, mininterval=2)
        loss_sum, weight_sum = 0.0, 0.0
        optimizer.zero_grad(set_to_none=True)
        for it, indices in enumerate(batches):
            if should_stop is not None and should_stop():
                raise Cancelled(f"stopped in epoch {epoch} at iteration {it}")
            batch = task.train_batch(indices, device)
            step_now = (it + 1) % int(settings.grad_accum) == 0 or it + 1 == n_iter
            sync = contextlib.nullcontext() if (step_now or net is model) else net.no_sync()
            with sync:
                with autocast():
                    out = task.forward(net, batch)
                loss = task.loss(out, batch)
                if not torch.isfinite(loss):
                    where = task.describe_batch(batch)
                    raise FloatingPointError(f"{task.name}: loss became {float(loss.detach())} in epoch {epoch}, "
                                             f"iteration {it}" + (f" ({where})" if where else ""))
                scaler.scale(loss / int(settings.grad_accum)).backward()
            if step_now:
                if settings.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), float(settings.grad_clip))
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                if average is not None:
                    average.update()
            weight = float(task.batch_weight(batch))
            loss_sum += float(loss.detach()) * weight
            weight_sum += weight
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / max(weight_sum, 1e-12):.4f}", refresh=False)
            report(((epoch - 1) + (it + 1) / n_iter) / epochs,
                   f"{task.name}: epoch {epoch}/{epochs}, iteration {it + 1}/{n_iter}", epoch)
        if bar is not None:
            bar.close()
        loss_sum, weight_sum = D.all_sum([loss_sum, weight_sum])
        train_loss = loss_sum / weight_sum if weight_sum > 0 else float("nan")

        scores = validation()
        val_loss = float(scores["val_loss"]) if scores is not None else float("nan")
        if scores is None:  # nothing to validate on: every epoch is the best so far
            improved = True
            state["best_val"] = train_loss
        else:
            improved = math.isfinite(val_loss) and val_loss < state["best_val"]
            if improved:
                state["best_val"] = val_loss
        if improved:
            state["best_epoch"], state["bad_epochs"] = epoch, 0
        else:
            state["bad_epochs"] += 1
        # only early stopping ends a run for good: a resumed run may be given more epochs
        state["finished"] = bool(settings.patience) and scores is not None and state["bad_epochs"] >= settings.patience
        state["epoch"] = epoch
        record = {**task.record_tags, "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                  **{k: v for k, v in (scores or {}).items() if k != "val_loss"},
                  "best_val_loss": state["best_val"], "lr": optimizer.param_groups[0]["lr"],
                  "seconds": round(time.monotonic() - t_start, 1)}
        if schedule is not None and math.isfinite(val_loss):
            schedule.step(val_loss)
        state["history"].append(record)
        # decided before last.pt is written, so the checkpoint records that the cap ended the run;
        # every rank must leave the loop at the same epoch, so the decision is joint
        over_time = bool(max_seconds) and time.monotonic() - t_start > max_seconds
        stopped_by_time = bool(max_seconds) and D.all_sum([float(over_time)])[0] > 0
        if writer:
            weights = average.averaged_state_dict() if average is not None else model.state_dict()
            payload = {**meta, "model": weights, "epoch": epoch}
            if improved:
                save_checkpoint(best_path, {**payload, "val_loss": val_loss})
            extra = {"raw_model": model.state_dict()} if average is not None else {}
            save_checkpoint(last_path, {**payload, **state, **extra, "optimizer": optimizer.state_dict(),
                                        "scaler": scaler.state_dict(), "rng": rng.capture(),
                                        "lr_schedule": schedule.state_dict() if schedule is not None else None,
                                        "stopped_by_time": stopped_by_time,
                                        "settings": {f.name: getattr(settings, f.name) for f in fields(settings)}})
            run.append_history(record)
        report(epoch / epochs, f"{task.name}: epoch {epoch}/{epochs} train loss {train_loss:.4f} "
                               f"val loss {val_loss:.4f}", epoch, force=True)
        if stopped_by_time:
            report(epoch / epochs, f"{task.name}: stopped after epoch {epoch}: train.max_minutes reached", epoch,
                   force=True)
            break
    D.barrier()
    n_run = len(state["history"])
    return TrainResult(model=task.name, epochs_run=n_run, best_epoch=int(state["best_epoch"]),
                       best_val_loss=float(state["best_val"]),
                       stopped_early=bool(state["finished"]) and n_run < epochs, stopped_by_time=stopped_by_time,
                       minutes=(time.monotonic() - t_start) / 60.0)
