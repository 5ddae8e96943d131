"""``python -m core rain train|evaluate``: train the experiments of a config into a run directory.

    python -m core rain train --config configs/rain_quick.yaml --run-dir runs/rain-quick
        [--data PATH] [--train-period START END] [--test-period START END] [--epochs N]
        [--device auto|cpu|cuda] [--resume | --overwrite]
    python -m core rain evaluate --run-dir runs/rain-quick [--device D]
    python -m core rain evaluate --run-dir runs/rain-mch --data FOLDER --test-period START END --out DIR
        [--region1 SOUTH NORTH WEST EAST]

``train`` trains the listed experiments (exp1, exp2) one after the other in the same run directory
(per-experiment checkpoints), then verifies them and persistence on the test period (``metrics.json``,
``predictions.nc``). Progress goes to ``status.json`` and a tqdm bar; SIGTERM marks the run
cancelled; any error marks it failed with the message. ``--resume`` continues from the last
complete checkpoint of each experiment, with the run directory's own ``config.yaml`` (command-line
overrides such as ``--epochs`` still apply), as in the hydrology CLI. Under ``torchrun`` the process
group is set up by :mod:`core.training.distributed` and only rank 0 writes the run directory. The
lifecycle (cancel, failure, status) is :mod:`core.training.lifecycle`, shared with the hydrology
half; config errors name the file and key and exit with code 2 before anything is trained.

One run per folder, as in the hydrology CLI: ``train`` into a folder that already holds a run exits
with code 2 and leaves it alone, unless ``--resume`` or ``--overwrite`` (delete it, then train); a
``--run-dir`` that is a file exits with code 2. ``evaluate`` on a run whose experiments have not
finished training (read from each ``last.pt``) scores them but leaves the state ``failed`` (or
``cancelled``) with how far training got; ``--resume`` continues it. ``evaluate --data`` scores the
run on data it never saw (another radar's folder, on its own grid) into ``--out``
(:mod:`core.rain.transfer`); the run folder is only read.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from core.machine.device import describe_device, resolve_device
from core.machine.heap import keep_freed_memory
from core.rain import pipeline
from core.runs.folder import NotARunFolder, RunDir, RunHeld, check_run_path
from core.training import distributed as D
from core.training import lifecycle
from core.training.config import ConfigError, read_yaml
from core.training.trainer import TrainSettings, training_state


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
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last complete checkpoints")
    again.add_argument("--overwrite", action="store_true", help="delete the run already in --run-dir, then train a new one there")
    t.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    e = sub.add_parser("evaluate", help="re-verify the trained experiments of a run directory, on its own test "
                       "period or (--data) on other data")
    e.add_argument("--run-dir", type=Path, required=True)
    e.add_argument("--device", default=None)
    e.add_argument("--data", help="score the run on this radar folder (or NetCDF/Zarr file) instead, on its own grid; "
                   "needs --test-period and --out; the run folder is only read")
    e.add_argument("--test-period", nargs=2, metavar=("START", "END"), help="with --data: first predicted frames scored")
    e.add_argument("--out", type=Path, help="with --data: folder for metrics.json and predictions.nc")
    e.add_argument("--region1", nargs=4, type=float, metavar=("SOUTH", "NORTH", "WEST", "EAST"),
                   help="with --data: region 1 on the new grid, degrees (default: the run's)")
    return p


def _overrides(args) -> dict:
    over: dict = {}
    if getattr(args, "data", None):
        over["data"] = {"source": args.data}
    split = {key: list(value) for flag, key in (("train_period", "train"), ("test_period", "test"))
             if (value := getattr(args, flag, None))}
    if split:
        over["split"] = split
    train = {}
    if getattr(args, "epochs", None) is not None:
        train["epochs"] = int(args.epochs)
    if getattr(args, "device", None):
        train["device"] = args.device
    if train:
        over["train"] = train
    return over


def _load_config(args) -> dict:
    """The config of this command: ``--config`` (a new run) or the run's own ``config.yaml`` (``--resume``,
    ``evaluate``), with the command line's overrides on top, checked."""
    run = RunDir(args.run_dir)
    use_run = args.command == "evaluate" or (getattr(args, "resume", False) and run.config_path.is_file())
    if not use_run:
        if getattr(args, "config", None) is None:
            raise ConfigError("train needs --config FILE (or --resume on an existing run directory)")
        return pipeline.load_config(args.config, _overrides(args))
    if not run.config_path.is_file():
        raise ConfigError("not found: not a rain run directory (give --config)", where=run.config_path)
    stored = read_yaml(run.config_path)
    if isinstance(stored, dict):
        stored.pop("_config_dir", None)  # written by older versions
    try:
        merged = pipeline.SCHEMA.merge(pipeline.SCHEMA.defaults(), stored if isinstance(stored, dict) else {})
        merged = pipeline.SCHEMA.merge(merged, _overrides(args))
    except ConfigError as exc:
        raise exc.located(run.config_path) from None
    return pipeline.complete_config(merged, run.config_path)


def _device(cfg: dict) -> torch.device:
    return D.local_device(resolve_device(cfg["train"].get("device", "auto")))


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    args = _parser().parse_args(argv)
    if args.command == "evaluate" and (args.data or args.out or args.test_period or args.region1):
        return _evaluate_elsewhere(args)
    try:
        check_run_path(args.run_dir)
        run = RunDir(args.run_dir)
        if args.command == "train":
            run.check_new_run(resume=args.resume, overwrite=args.overwrite)
    except (NotARunFolder, RunHeld) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return lifecycle.EXIT_USAGE
    try:
        cfg = _load_config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # a folder holding a run (a resume refused) keeps that run's state
        if run.path.is_dir() and not run.run_files() and os.environ.get("RANK", "0") == "0":  # one writer
            run.update_status(state="failed", message=f"config error: {exc}")
        return lifecycle.EXIT_USAGE
    previous = run.read_status()
    unfinished: list[str] = []

    def body() -> str:
        D.init_from_env(str(cfg["train"].get("device", "auto")))
        device = _device(cfg)
        lifecycle.start(run, args.command, f"{args.command}: loading data", overwrite=getattr(args, "overwrite", False),
                        kind="rain", device=describe_device(device))
        if args.command == "train" and lifecycle.is_writer():
            run.write_config(cfg)
        prepared = pipeline.prepare(cfg)
        if args.command == "train":
            _train(cfg, prepared, run, device, args, lifecycle.is_writer())
        summary = ""
        if lifecycle.is_writer():
            run.update_status(progress=0.97, message="evaluating on the test period")
            summary = _summary(pipeline.evaluate_run(cfg, prepared, run, device))
            if args.command == "evaluate":
                summary = _check_training(cfg, run, previous, unfinished, summary)
        # the other ranks wait here while rank 0 evaluates, so that no rank tears down its process
        # group under a peer still using it
        D.barrier()
        return summary

    return lifecycle.run_worker(run, body, complete=lambda: not unfinished)


def _evaluate_elsewhere(args) -> int:
    """``evaluate --data FOLDER --test-period S E --out DIR``: the run scored on data it never saw
    (:mod:`core.rain.transfer`). Bad input prints one line naming the folder, date or region and exits
    with code 2; the run folder is never written."""
    from core.data.errors import DataError
    from core.rain.transfer import evaluate_elsewhere
    from core.runs.folder import RunFileDamaged
    from core.training.checkpoint import CheckpointError

    missing = [flag for flag, value in (("--data", args.data), ("--test-period", args.test_period), ("--out", args.out))
               if not value]
    if missing:
        print(f"error: evaluate on other data needs --data FOLDER, --test-period START END and --out DIR "
              f"(missing {', '.join(missing)})", file=sys.stderr)
        return lifecycle.EXIT_USAGE
    run = RunDir(args.run_dir)
    if args.out.resolve() == run.path.resolve():
        print(f"error: --out {args.out} is the run folder itself; scores on other data go to their own folder",
              file=sys.stderr)
        return lifecycle.EXIT_USAGE
    try:
        cfg = _load_config(argparse.Namespace(command="evaluate", run_dir=args.run_dir, device=args.device))
        device = resolve_device(cfg["train"].get("device", "auto"))
        metrics = evaluate_elsewhere(cfg, run, args.data, tuple(args.test_period), args.out, args.region1, device)
    except (ConfigError, DataError, FileNotFoundError, CheckpointError, RunFileDamaged, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return lifecycle.EXIT_USAGE
    print(f"{_summary(metrics)} ({metrics['n_test']} samples of {args.data}; written to {args.out / 'metrics.json'})")
    trained, now = metrics["transfer"]["trained_step_minutes"], metrics["transfer"]["step_minutes"]
    if trained is not None and abs(trained - now) > 1e-6:
        print(f"note: the run trained on {trained:g}-minute steps, these data have {now:g}-minute steps; "
              "its leads are counted in the new steps", file=sys.stderr)
    return lifecycle.EXIT_OK


def _check_training(cfg: dict, run: RunDir, previous: dict, unfinished: list[str], summary: str) -> str:
    """After ``evaluate``: when an experiment has training left, record that instead of ``completed``
    (``unfinished`` gets its entries) and return the summary to print."""
    settings = TrainSettings.from_section(cfg["train"], seed=int(cfg.get("seed", 0)))
    states = {name: training_state(run.model_dir(name), settings) for name in cfg["experiments"]}
    unfinished.extend(f"{name} at {state.describe()}" for name, state in states.items() if not state.done)
    if not unfinished:
        return summary
    done = sum(min(s.epochs_done, s.epochs) for s in states.values())
    lifecycle.mark_unfinished(
        run, previous, f"evaluated {'; '.join(unfinished)}: training unfinished, continue it with "
        f"train --run-dir {run.path} --resume ({summary})",
        progress=done / max(sum(s.epochs for s in states.values()), 1))
    return summary + f" (training unfinished: {'; '.join(unfinished)}; continue it with --resume)"


def _train(cfg: dict, prepared: pipeline.Prepared, run: RunDir, device: torch.device, args, writer: bool) -> None:
    status = lifecycle.Progress(run, every=2.0)  # rank 0 only, throttled

    def progress(fraction: float, message: str, epoch: int, force: bool = False) -> None:
        status.update(force=force, progress=round(0.95 * fraction, 4), message=message, epoch=epoch)

    summaries = pipeline.train_all(cfg, prepared, run, device, resume=args.resume, progress=progress,
                                   progress_bar=not args.no_progress and writer)
    if writer:
        run.update_status(training=summaries)


def _summary(metrics: dict) -> str:
    thresholds = metrics["thresholds"]
    key = pipeline.E.threshold_key(thresholds[min(1, len(thresholds) - 1)])
    parts = [f"{name} CSI@{key} {m['csi'][key]:.3f} RMSE {m['rmse']:.3f}" for name, m in metrics["test"].items()]
    return "done: " + "; ".join(parts)
