"""``python -m core rain train|evaluate``: train the experiments of a config into a run directory.

    python -m core rain train --config configs/rain_quick.yaml --run-dir runs/rain-quick
        [--data PATH] [--train-period START END] [--test-period START END] [--epochs N]
        [--device auto|cpu|cuda] [--resume]
    python -m core rain evaluate --run-dir runs/rain-quick [--device D]

``train`` trains the listed experiments (exp1, exp2) one after the other in the same run directory
(per-experiment checkpoints), then verifies them and persistence on the test period (``metrics.json``,
``predictions.nc``). Progress goes to ``status.json`` and a tqdm bar; SIGTERM marks the run
cancelled; any error marks it failed with the message. ``--resume`` continues from the last
complete checkpoint of each experiment (the run directory's ``config.yaml`` is used when
``--config`` is omitted). Under ``torchrun`` the process group is set up here (gloo on CPU, nccl
on CUDA) and only rank 0 writes the run directory.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
import yaml

from core.device import describe_device, resolve_device
from core.heap import keep_freed_memory
from core.rain import pipeline
from core.runs import RunDir, now_iso


class RunCancelled(Exception):
    """Raised from the SIGTERM handler so the run can record ``cancelled`` and exit cleanly."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core rain", description="ST-RainNet experiments 1 and 2")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the experiments of a config and evaluate them")
    t.add_argument("--config", type=Path, help="YAML config (default with --resume: the run dir's config.yaml)")
    t.add_argument("--run-dir", type=Path, required=True)
    t.add_argument("--data", help="override data.source (\"demo\", a NetCDF/Zarr file or a radar folder)")
    t.add_argument("--train-period", nargs=2, metavar=("START", "END"))
    t.add_argument("--test-period", nargs=2, metavar=("START", "END"))
    t.add_argument("--epochs", type=int)
    t.add_argument("--device", help="auto, cpu or cuda[:N] (overrides train.device)")
    t.add_argument("--resume", action="store_true", help="continue from the last complete checkpoints")
    t.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    e = sub.add_parser("evaluate", help="re-verify the trained experiments of a run directory")
    e.add_argument("--run-dir", type=Path, required=True)
    e.add_argument("--device", default=None)
    return p


def _load_config(args) -> tuple[dict, Path | None]:
    run = RunDir(args.run_dir)
    if getattr(args, "config", None) is not None:
        if not args.config.exists():
            raise FileNotFoundError(f"config file {args.config} not found")
        try:
            raw = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"config file {args.config} is not valid YAML: {exc}") from None
        config_dir = args.config.resolve().parent
    elif getattr(args, "resume", False) or args.command == "evaluate":
        raw = run.read_config()
        if not raw:
            raise FileNotFoundError(f"{run.config_path} not found: give --config")
        config_dir = Path(raw.pop("_config_dir")) if raw.get("_config_dir") else None
        raw.pop("kind", None)
    else:
        raise ValueError("train needs --config FILE (or --resume on an existing run directory)")
    raw = dict(raw)
    raw.pop("_config_dir", None)
    if getattr(args, "data", None):
        raw.setdefault("data", {})
        raw["data"] = {**raw["data"], "source": args.data}
    for flag, key in (("train_period", "train"), ("test_period", "test")):
        value = getattr(args, flag, None)
        if value:
            split = dict(raw.get("split") or {})
            split[key] = list(value)
            raw["split"] = split
    if getattr(args, "epochs", None) is not None:
        raw["train"] = {**(raw.get("train") or {}), "epochs": int(args.epochs)}
    if getattr(args, "device", None):
        raw["train"] = {**(raw.get("train") or {}), "device": args.device}
    try:
        cfg = pipeline.complete_config(raw)
    except ValueError as exc:
        where = getattr(args, "config", None) or run.config_path
        raise ValueError(f"{where}: {exc}") from None
    return cfg, config_dir


def _init_distributed(device_name: str) -> bool:
    """Join the torchrun process group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def _device(cfg: dict) -> torch.device:
    device = resolve_device(cfg["train"].get("device", "auto"))
    if device.type == "cuda" and dist.is_initialized() and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _on_sigterm(signum, frame):
    raise RunCancelled(f"received signal {signum}")


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    args = _parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    run = RunDir(args.run_dir)
    writer = True
    started_dist = False
    try:
        cfg, config_dir = _load_config(args)
        started_dist = _init_distributed(str(cfg["train"].get("device", "auto")))
        writer = pipeline.is_writer()
        device = _device(cfg)
        if writer:
            run.create()
            if args.command == "train":
                run.write_config({"kind": "rain", **cfg, "_config_dir": str(config_dir) if config_dir else None})
            run.update_status(
                state="running", progress=0.0, message=f"{args.command}: loading data",
                pid=os.getpid(), device=describe_device(device), command=args.command, finished=None,
            )
        prepared = pipeline.prepare(cfg, config_dir)
        if args.command == "train":
            _train(cfg, prepared, run, device, args, writer)
        if writer:
            run.update_status(state="running", progress=0.97, message="evaluating on the test period")
            metrics = pipeline.evaluate_run(cfg, prepared, run, device)
            run.update_status(state="completed", progress=1.0, message=_summary(metrics), finished=now_iso())
            print(_summary(metrics))
        if started_dist:
            # the other ranks wait here while rank 0 evaluates, so that no rank tears down its process
            # group under a peer still using it (a rank once aborted on exit: "terminate called")
            dist.barrier()
        return 0
    except (RunCancelled, KeyboardInterrupt) as exc:
        if writer and run.path.exists():
            run.update_status(state="cancelled", message=f"cancelled ({exc})", finished=now_iso())
        print(f"run {run.path} cancelled", file=sys.stderr)
        return 143
    except Exception as exc:  # every failure lands in status.json for the dashboard
        message = f"{type(exc).__name__}: {exc}"
        if writer and run.path.exists():
            run.update_status(state="failed", message=message, finished=now_iso())
        traceback.print_exc()
        print(f"error: {message}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        if started_dist and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg: dict, prepared: pipeline.Prepared, run: RunDir, device: torch.device, args, writer: bool) -> None:
    from tqdm import tqdm

    experiments = cfg["experiments"]
    epochs = int(cfg["train"].get("epochs", pipeline.TrainConfig.epochs))
    bar = tqdm(total=len(experiments) * epochs, unit="epoch", disable=args.no_progress or not writer, file=sys.stderr)
    last_write = [0.0]

    def on_batch(name: str, epoch: int, batch: int, n_batches: int) -> None:
        if not writer or time.monotonic() - last_write[0] < 2.0:
            return
        last_write[0] = time.monotonic()
        done = experiments.index(name) * epochs + epoch + batch / max(n_batches, 1)
        run.update_status(
            progress=round(0.95 * done / (len(experiments) * epochs), 4),
            message=f"{name}: epoch {epoch + 1}/{epochs}, batch {batch}/{n_batches}",
            experiment=name, epoch=epoch,
        )

    def on_epoch(name: str, record: dict) -> None:
        bar.n = experiments.index(name) * epochs + record["epoch"] + 1
        bar.set_postfix_str(f"{name} train {record['train_loss']:.4f} val {record['val_loss']:.4f}")
        bar.refresh()
        if writer:
            done = experiments.index(name) * epochs + record["epoch"] + 1
            run.update_status(
                progress=round(0.95 * done / (len(experiments) * epochs), 4),
                message=f"{name}: epoch {record['epoch'] + 1}/{epochs} train loss {record['train_loss']:.4f} val loss {record['val_loss']:.4f}",
                experiment=name, epoch=record["epoch"],
            )

    try:
        summaries = pipeline.train_all(cfg, prepared, run, device, resume=args.resume, on_batch=on_batch, on_epoch=on_epoch)
    finally:
        bar.close()
    if writer:
        run.update_status(training=summaries)


def _summary(metrics: dict) -> str:
    thresholds = metrics["thresholds"]
    key = pipeline.E.threshold_key(thresholds[min(1, len(thresholds) - 1)])
    parts = [f"{name} CSI@{key} {m['csi'][key]:.3f} RMSE {m['rmse']:.3f}" for name, m in metrics["test"].items()]
    return "done: " + "; ".join(parts)
