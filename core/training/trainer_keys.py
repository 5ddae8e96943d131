"""The ``train`` keys the shared trainer reads (:class:`core.training.trainer.TrainSettings`), as
rows for a half's key table: defined once, with each half's defaults.

    KEYS = [..., *trainer_keys(batch_size=64, lr=0.005, grad_clip=1.0, amp="false"), ...]
"""

from __future__ import annotations

from typing import Any

from core.training.config import Key
from core.training.config_types import Bool, Choice, Float, Int, OneOf, Optional
from core.training.optimizers import OPTIMIZERS

AMP_FLAG = OneOf(Bool(), Choice("auto", "true", "false"))
"""A switch that may also be ``auto`` (the trainer decides by device: :mod:`core.training.precision`)."""

DEFAULTS: dict[str, Any] = {
    "epochs": 20, "batch_size": 8, "iterations_per_epoch": None, "grad_accum": 1, "optimizer": OPTIMIZERS.names()[0],
    "lr": 1e-3, "weight_decay": 0.0, "patience": 5, "lr_decay": 1.0, "lr_decay_patience": 3,
    "weight_average": 0.0, "grad_clip": None, "max_minutes": None, "amp": "auto",
}


def trainer_keys(**defaults: Any) -> list[Key]:
    """The trainer's ``train.*`` rows; ``defaults`` overrides :data:`DEFAULTS` for one half."""
    unknown = set(defaults) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"not trainer keys: {sorted(unknown)}; the trainer reads {sorted(DEFAULTS)}")
    d = {**DEFAULTS, **defaults}
    return [
        Key("train.epochs", Int(min=1), d["epochs"], "epochs"),
        Key("train.batch_size", Int(min=1), d["batch_size"], "global batch (all ranks, before accumulation)"),
        Key("train.iterations_per_epoch", Optional(Int(min=1)), d["iterations_per_epoch"],
            "optimiser steps per epoch; null = every training sample once"),
        Key("train.grad_accum", Int(min=1), d["grad_accum"], "micro-batches per optimiser step"),
        Key("train.optimizer", Choice(*OPTIMIZERS.names()), d["optimizer"], "optimiser"),
        Key("train.lr", Float(0, min_open=True), d["lr"], "learning rate"),
        Key("train.weight_decay", Float(0), d["weight_decay"], "weight decay"),
        Key("train.patience", Int(min=0), d["patience"], "epochs without improvement before stopping; 0 = never"),
        Key("train.lr_decay", Float(0, 1, min_open=True), d["lr_decay"],
            "multiply lr by this after lr_decay_patience epochs without a lower validation loss; 1 = off"),
        Key("train.lr_decay_patience", Int(min=1), d["lr_decay_patience"], "epochs without improvement before lr decays"),
        Key("train.weight_average", Float(0, 1, max_open=True), d["weight_average"],
            "decay of the moving average of the weights used for validation and evaluation; 0 = off"),
        Key("train.grad_clip", Optional(Float(0)), d["grad_clip"], "gradient-norm clip; 0 or null = off"),
        Key("train.max_minutes", Optional(Float(0, min_open=True)), d["max_minutes"],
            "wall-clock safety cap per model; stops after the epoch that crosses it (results are decided by epochs)"),
        Key("train.amp", AMP_FLAG, d["amp"], "mixed precision: auto, true or false"),
    ]
