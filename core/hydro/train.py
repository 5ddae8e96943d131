"""Training of dXAJ and its baselines on sliding windows, with early stopping, checkpoints and resume.

``train_model(config, run)`` trains the config's ``model`` into the run directory ``run``:
status.json (progress, epoch), history.json (train_loss, val_loss, val_nse, val_kge per epoch) and
``checkpoints/last.pt`` / ``checkpoints/best.pt``. A checkpoint holds the model, optimizer, epoch,
early-stopping counters, history, RNG states (Python, NumPy, torch, CUDA) and the normalisation
statistics; it is written atomically (whole or absent), loaded with ``weights_only=True``
(:mod:`core.training.checkpoint`), and ``resume=True`` continues from it to the same result as an
uninterrupted run. Epochs are numbered from 1 (:mod:`core.training.lifecycle`).

Distributed (``torchrun``): the model is wrapped in DistributedDataParallel, a DistributedSampler
splits each epoch's windows across ranks (the global batch is ``train.batch_size``), losses and
validation sums are all-reduced, and only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from core.data import load_basins
from core.data.normalize import Normalizer
from core.device import resolve_device
from core.hydro.ensemble import member_loss_inputs
from core.hydro.inputs import HydroInputs, build_inputs, derived_inputs, fit_normalizer, resolve_periods, static_names
from core.hydro.losses import training_loss
from core.hydro.models import build_model  # noqa: F401  (re-exported: old callers import it from here)
from core.hydro.params import ParamRanges
from core.hydro.windows import WindowSampler, WindowSpec, window_table
from core.runs import RunDir
from core.training import distributed as D
from core.training import rng
from core.training.checkpoint import load_checkpoint as _load_checkpoint
from core.training.checkpoint import save_checkpoint
from core.training.lifecycle import FIRST_EPOCH, Cancelled, Progress
from core.training.optimizers import get_optimizer
from core.training.weight_average import WeightAverage


@dataclass
class Prepared:
    """Everything a model needs from the data, shared by training and evaluation."""

    inputs: HydroInputs
    norm: Normalizer
    periods: dict[str, tuple[str, str] | None]
    spec: WindowSpec
    ranges: ParamRanges


def prepare(config: Mapping[str, Any], norm: Normalizer | None = None) -> Prepared:
    """Load the basins, resolve periods, fit (or reuse) the normalisation, build the arrays."""
    data = config["data"]
    ds = load_basins(data["source"], basins=data.get("basins"), pet_method=data.get("pet_method", "auto"),
                     attributes=data.get("attributes"))
    periods = resolve_periods(config, pd.DatetimeIndex(ds["time"].values))
    ds, dynamic = derived_inputs(ds, list(data["dynamic_inputs"]), bool(data.get("log_prcp", False)))
    statics = static_names(ds, data.get("static_inputs"))
    if norm is None:
        norm = fit_normalizer(ds, periods["train"], dynamic, statics)
    else:
        statics = list(norm.static)
    inputs = build_inputs(ds, norm, dynamic, statics, periods["train"])
    w = config["window"]
    spec = WindowSpec(int(w["warmup"]), int(w["rho"]), int(w["horizon"]), int(w["stride"]))
    ranges = ParamRanges.from_dict(config.get("param_ranges"), source="config param_ranges",
                                   preset=config.get("range_preset", "classic"))
    return Prepared(inputs=inputs, norm=norm, periods=periods, spec=spec, ranges=ranges)


def make_optimizer(config: Mapping[str, Any], params) -> torch.optim.Optimizer:
    t = config["train"]
    return get_optimizer(t["optimizer"])(params, t["lr"], t["weight_decay"])


def make_lr_schedule(config: Mapping[str, Any], optimizer: torch.optim.Optimizer):
    """Plateau decay of the learning rate on the validation loss (``train.lr_decay`` < 1), else None.

    Counted on the same validation loss as early stopping, so ``patience`` should exceed
    ``lr_decay_patience`` for the decay to act before training stops."""
    t = config["train"]
    factor = float(t.get("lr_decay", 1.0) or 1.0)
    if factor >= 1.0:
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=factor,
                                                      patience=int(t.get("lr_decay_patience", 3)) - 1,
                                                      threshold=0.0)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def period_table(prepared: Prepared, period: str, stride: int | None = None) -> np.ndarray:
    """Windows whose targets lie inside ``period`` (warmup may reach into the preceding days)."""
    bounds = prepared.periods.get(period)
    if bounds is None:
        return np.zeros((0, 2), dtype=np.int64)
    first, last = prepared.inputs.period_slice(bounds, period)
    spec = prepared.spec
    if stride is not None:
        spec = WindowSpec(spec.warmup, spec.rho, spec.horizon, stride)
    table = window_table(prepared.inputs.y, spec, first=first, last=last)
    return table


class _Indices:
    """A sized stand-in dataset for DistributedSampler (it only needs ``len``)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n


@torch.no_grad()
def validate(model: nn.Module, prepared: Prepared, sampler: WindowSampler, config: Mapping[str, Any],
             device: torch.device) -> tuple[float, float, float]:
    """(val_loss, median per-basin NSE, median per-basin KGE) over the validation windows, all-reduced
    across ranks.

    Validation windows do not overlap (stride = rho + horizon), so each validation day counts once.
    NSE and KGE come from per-basin sums (n, sum obs, sum obs^2, sum squared error, sum sim, sum sim^2,
    sum sim * obs) so ranks can add them.
    """
    model.eval()
    n_basins = len(prepared.inputs.basins)
    sums = torch.zeros(n_basins, 7, dtype=torch.float64)
    loss_fn = training_loss(config["train"])
    loss_sum = torch.zeros(2, dtype=torch.float64)
    idx = np.arange(len(sampler))[D.rank() :: D.world_size()]
    q_std_all = torch.as_tensor(prepared.inputs.q_std)
    bs = int(config["evaluate"]["batch_size"])
    for i in range(0, len(idx), bs):
        batch = sampler.batch(idx[i : i + bs]).to(device)
        q = model(batch.x, batch.z, prepared.spec.warmup, batch.basin)["q"]
        loss = loss_fn(q, batch.y, q_std_all[batch.basin.cpu()].to(device))
        n_obs = torch.isfinite(batch.y).sum().item()
        loss_sum += torch.tensor([float(loss) * n_obs, n_obs], dtype=torch.float64)
        q, y = q.double().cpu(), batch.y.double().cpu()
        ok = torch.isfinite(y)
        y0, q0 = torch.where(ok, y, 0.0), torch.where(ok, q, 0.0)
        parts = torch.stack([ok.sum(0).double(), y0.sum(0), (y0**2).sum(0), ((q0 - y0) ** 2).sum(0),
                             q0.sum(0), (q0**2).sum(0), (q0 * y0).sum(0)], dim=1)  # [B, 7]
        sums.index_add_(0, batch.basin.cpu(), parts)
    sums = D.all_reduce_sum(sums)
    loss_sum = D.all_reduce_sum(loss_sum)
    val_loss = float(loss_sum[0] / loss_sum[1]) if loss_sum[1] > 0 else float("nan")
    nse, kge = _nse_kge_from_sums(sums)
    return val_loss, _finite_median(nse), _finite_median(kge)


def _nse_kge_from_sums(sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-basin NSE and KGE (``[B]`` each, NaN where undefined) from the 7 sums of :func:`validate`."""
    n, so, so2, sse, ss, ss2, sso = sums.unbind(1)
    n1 = n.clamp(min=1)
    var_obs, var_sim = so2 / n1 - (so / n1) ** 2, ss2 / n1 - (ss / n1) ** 2
    cov = sso / n1 - (so / n1) * (ss / n1)
    ok = (n > 1) & (var_obs > 0)
    nan = torch.full_like(n, float("nan"))
    nse = torch.where(ok, 1 - sse / (var_obs * n1).clamp(min=1e-12), nan)
    std_obs, std_sim = var_obs.clamp(min=0).sqrt(), var_sim.clamp(min=0).sqrt()
    ok_kge = ok & (std_sim > 0) & (so != 0)
    r = cov / (std_obs * std_sim).clamp(min=1e-12)
    alpha, beta = std_sim / std_obs.clamp(min=1e-12), ss / torch.where(so != 0, so, torch.ones_like(so))
    kge = torch.where(ok_kge, 1 - torch.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2), nan)
    return nse, kge


def _finite_median(values: torch.Tensor) -> float:
    finite = values[torch.isfinite(values)]
    return float(finite.median()) if finite.numel() else float("nan")


CHECKPOINT_KEYS = ("model", "epoch", "normalization")


def load_checkpoint(path) -> dict:
    """A checkpoint written by :func:`train_model`, loaded safely (:class:`CheckpointError` names the file)."""
    return _load_checkpoint(path, required=CHECKPOINT_KEYS)


def train_model(
    config: Mapping[str, Any],
    run: RunDir,
    resume: bool = False,
    progress_bar: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Train ``config["model"]`` into ``run``; returns ``{"best_epoch", "best_val_loss", "epochs_run"}``.

    SIGTERM/SIGINT raise :class:`core.training.lifecycle.Cancelled` wherever training is; ``should_stop``
    (for tests and embedding) is polled between iterations and raises the same. The last complete
    checkpoint stays valid for ``--resume``.
    """
    tcfg = config["train"]
    # Back-propagating a loss on late steps through hundreds of LSTM steps shrinks gradients into
    # float32 denormals, which x86 CPUs process ~100x slower: flushing them to zero made a dXAJ
    # iteration (365-step LSTM, batch 64) ~10x faster here, with no visible change in the result.
    torch.set_flush_denormal(True)
    if tcfg.get("num_threads"):
        torch.set_num_threads(int(tcfg["num_threads"]))
    device = D.local_device(resolve_device(tcfg["device"]))
    main = D.is_main()
    last_path, best_path = run.checkpoint_dir / "last.pt", run.checkpoint_dir / "best.pt"
    ckpt = load_checkpoint(last_path) if resume and last_path.exists() else None

    norm = Normalizer.from_dict(ckpt["normalization"]) if ckpt else None
    prepared = prepare(config, norm)
    seed = int(tcfg["seed"])
    rng.seed_everything(seed)
    model = build_model(config, prepared).to(device)
    optimizer = make_optimizer(config, model.parameters())
    schedule = make_lr_schedule(config, optimizer)
    average = WeightAverage(model, float(tcfg["weight_average"])) if tcfg.get("weight_average") else None

    train_table = period_table(prepared, "train")
    if len(train_table) == 0:
        raise ValueError(f"no training window: train period {prepared.periods['train']} is shorter than "
                         f"warmup + rho + horizon = {prepared.spec.length} steps or has no observed streamflow")
    inputs = prepared.inputs
    train_sampler = WindowSampler(inputs.x, inputs.z, inputs.y, train_table, prepared.spec)
    valid_table = period_table(prepared, "valid", stride=prepared.spec.target_length)
    valid_sampler = WindowSampler(inputs.x, inputs.z, inputs.y, valid_table, prepared.spec) if len(valid_table) else None

    state = {"epoch": 0, "best_val": math.inf, "best_epoch": 0, "bad_epochs": 0, "history": []}
    if ckpt is not None:
        # with a weight average, "model" holds the average (what evaluation reads), "raw_model" the
        # weights training continues from
        model.load_state_dict(ckpt["raw_model"] if average is not None else ckpt["model"])
        if average is not None:
            average.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if schedule is not None and ckpt.get("lr_schedule") is not None:
            schedule.load_state_dict(ckpt["lr_schedule"])
        state = {k: ckpt[k] for k in state}
        rng.restore(ckpt["rng"])
        if main:
            run.write_history(state["history"])  # history.json may be ahead of the checkpoint after a kill

    net: nn.Module = model
    if D.is_distributed():
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    world = D.world_size()
    if tcfg["batch_size"] % world:
        raise ValueError(f"train.batch_size {tcfg['batch_size']} must be divisible by the {world} processes")
    per_rank = tcfg["batch_size"] // world
    dsampler = DistributedSampler(_Indices(len(train_sampler)), num_replicas=world, rank=D.rank(), shuffle=True, seed=seed)
    loss_fn = training_loss(tcfg)
    q_std_all = torch.as_tensor(inputs.q_std)
    epochs, patience = int(tcfg["epochs"]), int(tcfg.get("patience") or 0)
    max_seconds = float(tcfg.get("max_minutes") or 0) * 60
    t_start = time.monotonic()
    base_payload = {"normalization": prepared.norm.to_dict(), "config": dict(config),
                    "input_names": inputs.input_names, "basins": inputs.basins, "periods": prepared.periods}

    status = Progress(run, every=5.0)  # rank 0 only, throttled
    for epoch in range(state["epoch"] + FIRST_EPOCH, epochs + 1):
        if patience and valid_sampler is not None and state["bad_epochs"] >= patience:
            break
        net.train()
        dsampler.set_epoch(epoch)
        order = np.fromiter(iter(dsampler), dtype=np.int64)
        n_iter = math.ceil(len(order) / per_rank)
        if tcfg.get("iterations_per_epoch"):
            n_iter = min(n_iter, int(tcfg["iterations_per_epoch"]))
        bar = None
        if progress_bar and main:
            from tqdm import tqdm

            bar = tqdm(total=n_iter, desc=f"{config['model']} epoch {epoch}/{epochs}", leave=False, mininterval=2)
        loss_sum, n_batches = 0.0, 0
        for it in range(n_iter):
            if should_stop is not None and should_stop():
                raise Cancelled(f"stopped in epoch {epoch} at iteration {it}")
            batch = train_sampler.batch(order[it * per_rank : (it + 1) * per_rank]).to(device)
            optimizer.zero_grad(set_to_none=True)
            out = net(batch.x, batch.z, prepared.spec.warmup, batch.basin)
            loss = loss_fn(*member_loss_inputs(out, batch.y, q_std_all[batch.basin.cpu()].to(device)))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{config['model']}: loss became {float(loss)} in epoch {epoch}, "
                                         f"iteration {it} (basins {sorted({inputs.basins[int(b)] for b in batch.basin})})")
            loss.backward()
            if tcfg.get("grad_clip"):
                nn.utils.clip_grad_norm_(model.parameters(), float(tcfg["grad_clip"]))
            optimizer.step()
            if average is not None:
                average.update()
            loss_sum += float(loss.detach())
            n_batches += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / n_batches:.4f}", refresh=False)
            status.update(progress=((epoch - 1) + (it + 1) / n_iter) / epochs, epoch=epoch,
                          message=f"{config['model']}: epoch {epoch}/{epochs}, iteration {it + 1}/{n_iter}")
        if bar is not None:
            bar.close()
        train_loss = float(D.all_reduce_sum(torch.tensor([loss_sum, n_batches]))[0]) / max(1, n_batches * world)
        # the plain module: a DDP forward may broadcast buffers (the LSTM baseline's q_scale), a collective
        # that would hang when a rank has no validation window; validate() all-reduces its sums itself
        with average.applied() if average is not None else contextlib.nullcontext():
            val_loss, val_nse, val_kge = (validate(model, prepared, valid_sampler, config, device)
                                          if valid_sampler is not None else (float("nan"),) * 3)
        improved = valid_sampler is None or (math.isfinite(val_loss) and val_loss < state["best_val"])
        if improved:
            state["best_val"] = val_loss if valid_sampler is not None else train_loss
            state["best_epoch"], state["bad_epochs"] = epoch, 0
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_nse": val_nse,
                  "val_kge": val_kge,
                  "seconds": round(time.monotonic() - t_start, 1)}
        if schedule is not None and math.isfinite(val_loss):
            record["lr"] = optimizer.param_groups[0]["lr"]  # the lr this epoch trained with
            schedule.step(val_loss)
        state["history"].append(record)
        if main:
            weights = average.averaged_state_dict() if average is not None else _unwrap(net).state_dict()
            payload = {**base_payload, "model": weights, "epoch": epoch}
            if improved:
                save_checkpoint(best_path, payload)
            extra = {"raw_model": _unwrap(net).state_dict()} if average is not None else {}
            save_checkpoint(last_path, {**payload, **state, **extra, "optimizer": optimizer.state_dict(),
                                        "rng": rng.capture(),
                                        "lr_schedule": schedule.state_dict() if schedule is not None else None})
            run.append_history(record)
            run.update_status(progress=epoch / epochs, epoch=epoch,
                              message=f"{config['model']}: epoch {epoch}/{epochs} train_loss {train_loss:.4f} "
                                      f"val_loss {val_loss:.4f} val_nse {val_nse:.3f}")
        # every rank must leave the loop at the same epoch, so the time cap is decided jointly
        over_time = bool(max_seconds) and time.monotonic() - t_start > max_seconds
        if max_seconds and float(D.all_reduce_sum(torch.tensor([float(over_time)]))[0]) > 0:
            if main:
                run.update_status(message=f"{config['model']}: stopped after epoch {epoch}: train.max_minutes reached")
            break
    return {"best_epoch": state["best_epoch"], "best_val_loss": state["best_val"], "epochs_run": state["epoch"]}
