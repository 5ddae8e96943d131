"""Training of one ST-RainNet experiment: the rain half's task for the shared trainer.

:func:`train_experiment` trains experiment ``data.name`` (``exp1``, ``exp2``) into its model folder
with :func:`core.training.trainer.fit`, the loop both halves share (epochs, DDP, resume, early
stopping, checkpoints, history, NaN guard, gradient clipping, ``max_minutes``, learning-rate
schedule, mixed precision, gradient accumulation, cancel and progress). This module supplies what
is particular to rain: samples of stacked frames, the masked loss on region 1 (experiment 2 sees
region 2 but is scored on region 1 only), the validation loss, the channels-last memory format,
and what a checkpoint carries to rebuild the network (input channels, model config,
normalisation, channel names, input steps).

A residual model (a guide nowcast plus a learned correction that starts at zero) is scored before
training and kept as the best so far, so training can only replace it by a model that validates
better.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from core.rain.crops import D4, CropSet
from core.rain.experiments import ExperimentData, Split, WindowDataset
from core.rain.losses import get_loss
from core.rain.model import STRainNet, build_model
from core.runs.folder import RunDir
from core.training import distributed as D
from core.training.checkpoint import load_checkpoint as _load_checkpoint
from core.training.precision import flag
from core.training.trainer import TrainingTask, TrainResult, TrainSettings, fit

CHECKPOINT_KEYS = ("model", "epoch", "in_channels", "model_cfg", "normalizer")


def load_checkpoint(path: Path) -> dict:
    """A rain checkpoint, loaded safely (:class:`core.training.checkpoint.CheckpointError` names the file)."""
    return _load_checkpoint(path, required=CHECKPOINT_KEYS)


def load_best_model(run: RunDir, experiment: str, device: torch.device) -> tuple[STRainNet, dict]:
    """The best-validation model of ``experiment`` in the run folder ``run`` and its checkpoint dict."""
    best = run.model_dir(experiment).checkpoint_dir / "best.pt"
    if not best.exists():
        raise FileNotFoundError(f"no trained model for {experiment}: {best} is missing (train the run first)")
    ckpt = load_checkpoint(best)
    model = build_model(ckpt["in_channels"], ckpt["model_cfg"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


class RainTask(TrainingTask):
    """One experiment: samples issued at ``split.train`` frames, validated on ``split.val`` (else train)."""

    def __init__(self, data: ExperimentData, split: Split, steps: int, model_cfg: Mapping[str, Any],
                 train: Mapping[str, Any], batch_size: int):
        self.data, self.steps, self.model_cfg, self.name = data, steps, dict(model_cfg), data.name
        self.record_tags = {"experiment": data.name}
        self.validate_before_training = bool(self.model_cfg.get("residual"))
        self.train_set = WindowDataset(data, split.train, steps, augment=True)  # flips only if data.augment says so
        self.n_train = len(self.train_set)
        rank, world = D.rank(), D.world_size()
        # validation: a plain shard per rank (no padding duplicates), sums reduced across ranks
        ends = split.val if len(split.val) else split.train
        self.valid_set = WindowDataset(data, ends[rank::world], steps)
        self.per_rank_batch = max(1, batch_size // world)
        self.loss_fn, self.alpha = get_loss(str(train["loss"])), float(train["alpha"])
        self.channels_last = train.get("channels_last", "auto")
        self._mask: torch.Tensor | None = None

    def build_model(self) -> nn.Module:
        return build_model(self.data.model_channels, self.model_cfg)

    def place(self, model: nn.Module, device: torch.device) -> nn.Module:
        # channels_last auto is on for CPU (oneDNN convolutions prefer NHWC) and CUDA alike
        model.use_channels_last(flag(self.channels_last) != "false")
        self._mask = torch.from_numpy(self.data.mask).to(device)
        return model.to(device)

    def train_batch(self, indices: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        samples = [self.train_set[int(i)] for i in indices]
        x = torch.stack([s[0] for s in samples]).to(device, non_blocking=True)
        y = torch.stack([s[1] for s in samples]).to(device, non_blocking=True)
        return x, y

    def forward(self, net: nn.Module, batch) -> torch.Tensor:
        return net(batch[0], clip=False)

    def loss(self, out: torch.Tensor, batch) -> torch.Tensor:
        return self.loss_fn(out, batch[1], self._mask, self.alpha)

    def batch_weight(self, batch) -> float:
        return float(len(batch[0]))

    def describe_batch(self, batch) -> str:
        return f"experiment {self.name}, {len(batch[0])} samples"

    @torch.no_grad()
    def validate(self, model: nn.Module, autocast: Callable) -> dict | None:
        model.eval()
        device = next(model.parameters()).device
        total, n = 0.0, 0
        for x, y in DataLoader(self.valid_set, batch_size=self.per_rank_batch, shuffle=False):
            x, y = x.to(device), y.to(device)
            with autocast():
                pred = model(x, clip=False)
            total += float(self.loss_fn(pred, y, self._mask, self.alpha)) * len(x)
            n += len(x)
        total, n = D.all_sum([total, n])
        return {"val_loss": total / n} if n else None

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"experiment": self.name, "in_channels": self.data.model_channels, "model_cfg": self.model_cfg,
                "normalizer": self.data.normalizer.to_dict(), "channels": self.data.channels, "steps": self.steps}


def train_experiment(
    data: ExperimentData,
    split: Split,
    steps: int,
    model_cfg: Mapping[str, Any],
    train: Mapping[str, Any],
    device: torch.device,
    seed: int = 0,
    run: RunDir | None = None,
    **options: Any,
) -> TrainResult:
    """Train experiment ``data.name`` with the config's ``train`` section into ``run``'s folder of it
    (``models/<experiment>/``: checkpoints/best.pt, last.pt, history.json); returns the trainer's summary.

    ``options``: the trainer's (``resume``, ``progress``, ``progress_bar``, ``should_stop``; see
    :func:`core.training.trainer.fit`)."""
    settings = TrainSettings.from_section(train, seed=int(seed))
    task = RainTask(data, split, steps, model_cfg, train, settings.batch_size)
    folder = run.model_dir(data.name) if run is not None else None
    if folder is not None and D.is_main():
        folder.create()
    return fit(task, settings, device, folder, **options)


FLIP_ACROSS_JOIN = (1, True)
"""Transpose + a quarter turn: the rows reversed, so region 2 stays west of region 1 (``augment: flips``)."""


class CropTask(RainTask):
    """One experiment trained on crops of radar events (``data.events``, :mod:`core.rain.crops`).

    Each training batch gets one random symmetry of the square (``augment: dihedral``) or a random
    flip across the region join's axis (``flips``), applied to inputs, targets and the region-1 mask
    alike; validation crops are scored as cut. ``meta`` is the experiment on the test event: it
    carries the normalisation (fitted on the training events) and the channels the checkpoint records.
    """

    def __init__(self, train_set: CropSet, valid_set: CropSet, meta: ExperimentData, model_cfg: Mapping[str, Any],
                 train: Mapping[str, Any], batch_size: int, augment: str):
        self.data, self.steps, self.model_cfg, self.name = meta, train_set.steps, dict(model_cfg), meta.name
        self.record_tags = {"experiment": meta.name}
        self.validate_before_training = bool(self.model_cfg.get("residual"))
        self.crops, self.valid_crops = train_set, (valid_set if len(valid_set) else train_set)
        self.n_train = len(train_set)
        self.per_rank_batch = max(1, batch_size // D.world_size())
        self.loss_fn, self.alpha = get_loss(str(train["loss"])), float(train["alpha"])
        self.channels_last = train.get("channels_last", "auto")
        self.augment = augment
        self._mask = None

    def _op(self) -> tuple[int, bool]:
        if self.augment == "dihedral":
            return D4[int(torch.randint(len(D4), ()))]
        if self.augment == "flips" and bool(torch.rand(()) < 0.5):
            return FLIP_ACROSS_JOIN
        return (0, False)

    def train_batch(self, indices: np.ndarray, device: torch.device):
        x, y, mask = self.crops.batch(indices, self._op())
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True), mask.to(device)

    def loss(self, out: torch.Tensor, batch) -> torch.Tensor:
        return self.loss_fn(out, batch[1], batch[2], self.alpha)

    @torch.no_grad()
    def validate(self, model: nn.Module, autocast: Callable) -> dict | None:
        model.eval()
        device = next(model.parameters()).device
        total, n = 0.0, 0
        order = np.arange(D.rank(), len(self.valid_crops), D.world_size())
        for k in range(0, len(order), self.per_rank_batch):
            x, y, mask = self.valid_crops.batch(order[k : k + self.per_rank_batch])
            x, y, mask = x.to(device), y.to(device), mask.to(device)
            with autocast():
                pred = model(x, clip=False)
            total += float(self.loss_fn(pred, y, mask, self.alpha)) * len(x)
            n += len(x)
        total, n = D.all_sum([total, n])
        return {"val_loss": total / n} if n else None


def train_crops(train_set: CropSet, valid_set: CropSet, meta: ExperimentData, model_cfg: Mapping[str, Any],
                train: Mapping[str, Any], device: torch.device, augment: str = "none", seed: int = 0,
                run: RunDir | None = None, **options: Any) -> TrainResult:
    """Train experiment ``meta.name`` on the crop samples ``train_set``, validated on ``valid_set`` (the
    training crops when empty), into ``run``'s folder of it; as :func:`train_experiment` otherwise."""
    settings = TrainSettings.from_section(train, seed=int(seed))
    task = CropTask(train_set, valid_set, meta, model_cfg, train, settings.batch_size, augment)
    folder = run.model_dir(meta.name) if run is not None else None
    if folder is not None and D.is_main():
        folder.create()
    return fit(task, settings, device, folder, **options)
