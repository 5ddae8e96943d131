"""Training of one ST-RainNet experiment: AdamW, gradient accumulation, mixed precision, checkpoints, DDP.

- Mixed precision: CUDA float16 autocast with a ``GradScaler``; CPU bfloat16 autocast, on by default
  (``amp: auto``) where the processor runs bf16 natively (checked once by a tiny try-run).
- Checkpoints: after every epoch ``checkpoints/<exp>_last.pt`` (model, optimiser, scaler, epoch, RNG
  states, normalisation, early-stopping state and this experiment's history) and, when the
  validation loss improved, ``<exp>_best.pt``, through :mod:`core.training.checkpoint`: written
  atomically (whole or absent, so ``resume=True`` restarts from the last complete epoch) and loaded
  with ``weights_only=True``. Epochs are numbered from 1 (:mod:`core.training.lifecycle`).
- Distributed: when ``torch.distributed`` is initialised (``torchrun``), the model is wrapped in
  ``DistributedDataParallel``, a ``DistributedSampler`` splits training samples across ranks (the
  global batch ``train.batch_size`` is divided between ranks, so a run gives the same updates on any
  number of processes), losses are summed across ranks and only rank 0 writes the run directory.
  Without DDP the same sampler is used with one replica, so the sample order is identical.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader, DistributedSampler

from core.rain.experiments import ExperimentData, Split, WindowDataset
from core.rain.losses import get_loss
from core.rain.model import STRainNet, build_model
from core.runs import RunDir
from core.training import distributed as D
from core.training import rng
from core.training.checkpoint import load_checkpoint as _load_checkpoint
from core.training.checkpoint import save_checkpoint
from core.training.lifecycle import FIRST_EPOCH


@dataclass
class TrainConfig:
    """The ``train`` section of a rain config (defaults in brackets are the seed's advice)."""

    epochs: int = 20
    batch_size: int = 8  # global batch (all ranks, before accumulation)
    grad_accum: int = 1  # micro-batches per optimiser step
    lr: float = 1e-3
    weight_decay: float = 1e-2
    loss: str = "weighted_mse"
    alpha: float = 1.0  # weighted-MSE weight of heavy rain (normalised units)
    amp: str | bool = "auto"  # auto | true | false
    channels_last: str | bool = "auto"
    patience: int = 5  # epochs without validation improvement before stopping; 0 = never stop early
    device: str = "auto"
    optimizer: str = "adamw"  # core.training.optimizers name; the shared trainer builds it

    @classmethod
    def from_config(cls, cfg: dict | None) -> "TrainConfig":
        """The typed view of a ``train`` section already checked by :mod:`core.rain.config`
        (unknown keys still raise, for callers that pass a hand-made dict)."""
        cfg = dict(cfg or {})
        names = {f.name for f in fields(cls)}
        unknown = set(cfg) - names
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} in config section 'train'; allowed: {sorted(names)}")
        return cls(**cfg)


# --- precision and distribution ----------------------------------------------------------------


def _cpu_has_amx_bf16() -> bool:
    """True when the processor has AMX tiles with bfloat16 (Intel Sapphire Rapids and later)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        pass
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags.split()


@functools.lru_cache(maxsize=1)
def cpu_bf16_fast() -> bool:
    """True when bfloat16 autocast trains ST-RainNet faster than float32 on this CPU.

    That takes AMX: measured with ``bench/rain_speed.py``, bf16 ran 2.8-2.9x the float32 throughput
    on an AMX processor but only 0.7-0.8x on an AVX-512 one without AMX, where oneDNN emulates much
    of the bf16 work. A try-run confirms the bf16 convolution works at all.
    """
    if not _cpu_has_amx_bf16():
        return False
    try:
        conv = torch.nn.Conv2d(2, 2, 3)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = conv(torch.ones(1, 2, 5, 5))
        return out.dtype == torch.bfloat16 and bool(torch.isfinite(out.float()).all())
    except RuntimeError:
        return False


def _flag(value) -> str:
    return str(value).lower()


def amp_settings(device: torch.device, amp) -> tuple[bool, torch.dtype, bool]:
    """``(enabled, dtype, use_grad_scaler)`` of autocast for ``device`` and the config value ``amp``."""
    flag = _flag(amp)
    if device.type == "cuda":
        return flag != "false", torch.float16, flag != "false"
    if flag == "true":
        return True, torch.bfloat16, False
    return flag == "auto" and cpu_bf16_fast(), torch.bfloat16, False


def use_channels_last(device: torch.device, value) -> bool:
    """channels_last ``auto`` is on for CPU (oneDNN convolutions prefer NHWC) and CUDA alike."""
    return _flag(value) != "false"


def dist_info() -> tuple[bool, int, int]:
    """``(distributed, rank, world_size)``."""
    return D.is_distributed(), D.rank(), D.world_size()


# --- checkpoints ---------------------------------------------------------------------------------


def checkpoint_paths(checkpoint_dir: Path, experiment: str) -> tuple[Path, Path]:
    """``(last, best)`` checkpoint files of ``experiment``."""
    return checkpoint_dir / f"{experiment}_last.pt", checkpoint_dir / f"{experiment}_best.pt"


CHECKPOINT_KEYS = ("model", "epoch", "in_channels", "model_cfg", "normalizer")


def load_checkpoint(path: Path) -> dict:
    """A rain checkpoint, loaded safely (:class:`core.training.checkpoint.CheckpointError` names the file)."""
    return _load_checkpoint(path, required=CHECKPOINT_KEYS)


def load_best_model(checkpoint_dir: Path, experiment: str, device: torch.device) -> tuple[STRainNet, dict]:
    """The best-validation model of ``experiment`` and its checkpoint dict (normalisation, config)."""
    _, best = checkpoint_paths(Path(checkpoint_dir), experiment)
    if not best.exists():
        raise FileNotFoundError(f"no trained model for {experiment}: {best} is missing (train the run first)")
    ckpt = load_checkpoint(best)
    model = build_model(ckpt["in_channels"], ckpt["model_cfg"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


# --- the loop ------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    experiment: str
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    final_state: dict  # model weights after the last epoch (CPU tensors)


def train_experiment(
    data: ExperimentData,
    split: Split,
    steps: int,
    model_cfg: dict,
    tcfg: TrainConfig,
    device: torch.device,
    seed: int = 0,
    run: RunDir | None = None,
    resume: bool = False,
    on_batch: Callable[[int, int, int], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train experiment ``data.name`` and leave ``<exp>_best.pt`` / ``<exp>_last.pt`` in ``run``'s checkpoints.

    ``on_batch(epoch, batch, n_batches)`` and ``on_epoch(record)`` report progress (all ranks call
    them; the caller decides who prints). Returns the early-stopping summary.
    """
    is_dist, rank, world = dist_info()
    writer = rank == 0
    if tcfg.batch_size % world:
        raise ValueError(f"config train.batch_size={tcfg.batch_size} must be divisible by the {world} processes")
    per_rank_batch = tcfg.batch_size // world
    exp = data.name
    ckpt_dir = run.checkpoint_dir if run is not None else None
    last_path, best_path = checkpoint_paths(ckpt_dir, exp) if ckpt_dir is not None else (None, None)

    rng.seed_everything(seed)
    in_channels = data.model_channels  # stacked channels (+ guide nowcast, issue 13)
    model = build_model(in_channels, model_cfg)
    channels_last = use_channels_last(device, tcfg.channels_last)
    model.use_channels_last(channels_last)
    model.to(device)
    autocast_on, autocast_dtype, use_scaler = amp_settings(device, tcfg.amp)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    loss_fn = get_loss(tcfg.loss)
    mask = torch.from_numpy(data.mask).to(device)

    start_epoch, best_val, best_epoch, bad_epochs, history, finished = FIRST_EPOCH, float("inf"), 0, 0, [], False
    if resume and last_path is not None and last_path.exists():
        ckpt = load_checkpoint(last_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        rng.restore(ckpt["rng"])
        start_epoch = ckpt["epoch"] + 1
        best_val, best_epoch, bad_epochs = ckpt["best_val"], ckpt["best_epoch"], ckpt["bad_epochs"]
        history, finished = list(ckpt["history"]), bool(ckpt["finished"])
        if writer and run is not None:
            # drop records of epochs after the checkpoint (a run killed between history and checkpoint)
            others = [r for r in run.read_history() if r.get("experiment") != exp]
            run.write_history(others + history)
    elif writer and run is not None:
        # a fresh start replaces whatever an earlier run of this experiment left in history.json
        run.write_history([r for r in run.read_history() if r.get("experiment") != exp])

    net = torch.nn.parallel.DistributedDataParallel(model) if is_dist else model
    train_ds = WindowDataset(data, split.train, steps, augment=True)  # flips only if data.augment says so
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False)
    loader = DataLoader(train_ds, batch_size=per_rank_batch, sampler=sampler, num_workers=0)
    # validation: a plain shard per rank (no padding duplicates), sums reduced across ranks
    val_ds = WindowDataset(data, split.val[rank::world] if len(split.val) else split.train[rank::world], steps)

    def to_device(x: torch.Tensor) -> torch.Tensor:
        x = x.to(device, non_blocking=True)
        return x

    def autocast():
        return torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_on)

    if model.residual and start_epoch == FIRST_EPOCH:
        # the untrained residual model is its guide (zero head): it is the model to beat, so training
        # can only replace it by one that scores better on validation (never worse than the guide)
        val_sum, val_n = _validate(net, val_ds, per_rank_batch, device, autocast, loss_fn, mask, tcfg.alpha)
        val_sum, val_n = D.all_sum([val_sum, val_n])
        if val_n:
            best_val, best_epoch = val_sum / val_n, FIRST_EPOCH - 1
            if writer and ckpt_dir is not None:
                save_checkpoint(best_path, {
                    "experiment": exp, "in_channels": in_channels, "model_cfg": dict(model_cfg),
                    "normalizer": data.normalizer.to_dict(), "channels": data.channels, "steps": steps,
                    "epoch": best_epoch, "model": model.state_dict(), "val_loss": best_val,
                })

    for epoch in range(start_epoch, tcfg.epochs + 1):
        if finished:
            break
        sampler.set_epoch(epoch - FIRST_EPOCH)  # the shuffle of the first epoch uses seed + 0, as before
        net.train()
        loss_sum, n_sum = 0.0, 0
        n_batches = len(loader)
        optimizer.zero_grad(set_to_none=True)
        for b, (x, y) in enumerate(loader):
            x, y = to_device(x), to_device(y)
            step_now = (b + 1) % tcfg.grad_accum == 0 or b + 1 == n_batches
            sync = contextlib.nullcontext() if (step_now or not is_dist) else net.no_sync()
            with sync:
                with autocast():
                    pred = net(x, clip=False)
                loss = loss_fn(pred, y, mask, tcfg.alpha)
                scaler.scale(loss / tcfg.grad_accum).backward()
            if step_now:
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
            loss_sum += float(loss.detach()) * len(x)
            n_sum += len(x)
            if on_batch is not None:
                on_batch(epoch, b + 1, n_batches)
        val_sum, val_n = _validate(net, val_ds, per_rank_batch, device, autocast, loss_fn, mask, tcfg.alpha)
        loss_sum, n_sum, val_sum, val_n = D.all_sum([loss_sum, n_sum, val_sum, val_n])
        train_loss = loss_sum / max(n_sum, 1)
        val_loss = val_sum / val_n if val_n else train_loss
        improved = val_loss < best_val
        if improved:
            best_val, best_epoch, bad_epochs = val_loss, epoch, 0
        else:
            bad_epochs += 1
        # only early stopping ends a run for good: a resumed run may be given more epochs
        finished = tcfg.patience > 0 and bad_epochs >= tcfg.patience
        record = {
            "experiment": exp,
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "best_val_loss": best_val,
            "lr": optimizer.param_groups[0]["lr"],
        }
        history.append(record)
        if writer and ckpt_dir is not None:
            base = {
                "experiment": exp,
                "in_channels": in_channels,
                "model_cfg": dict(model_cfg),
                "normalizer": data.normalizer.to_dict(),
                "channels": data.channels,
                "steps": steps,
                "epoch": epoch,
            }
            if improved:
                save_checkpoint(best_path, {**base, "model": model.state_dict(), "val_loss": val_loss})
            save_checkpoint(
                last_path,
                {
                    **base,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": rng.capture(),
                    "best_val": best_val,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "history": history,
                    "finished": finished,
                    "train_config": asdict(tcfg),
                    "seed": seed,
                },
            )
            if run is not None:
                run.append_history(record)
        if on_epoch is not None:
            on_epoch(record)
    D.barrier()
    return TrainResult(
        experiment=exp,
        epochs_run=len(history),
        best_epoch=best_epoch,
        best_val_loss=best_val,
        stopped_early=finished and len(history) < tcfg.epochs,
        final_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    )


@torch.no_grad()
def _validate(net, dataset, batch_size, device, autocast, loss_fn, mask, alpha) -> tuple[float, int]:
    """Sum of per-sample mean losses and the sample count over ``dataset`` (this rank's shard)."""
    net.eval()
    total, n = 0.0, 0
    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        x, y = x.to(device), y.to(device)
        with autocast():
            pred = net(x, clip=False)
        total += float(loss_fn(pred, y, mask, alpha)) * len(x)
        n += len(x)
    return total, n
