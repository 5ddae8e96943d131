"""``python -m core hydro train|evaluate``: train dXAJ (and baselines) into a run directory, evaluate it.

    python -m core hydro train --config configs/hydro_quick.yaml --run-dir runs/hydro-quick
        [--data PATH] [--train-period START END] [--test-period START END] [--epochs N]
        [--device auto|cpu|cuda] [--model dpl|static_xaj|lstm] [--baselines static_xaj,lstm|none]
        [--resume | --overwrite]
    python -m core hydro evaluate --run-dir runs/hydro-quick
    python -m core hydro predict --run-dir runs/hydro-quick --data FOLDER --period START END --out DIR
        [--basins ID,ID] [--device auto|cpu|cuda] [--stride K]

Also runs unchanged under ``torchrun --nproc_per_node=N -m core hydro train ...`` (rank 0 writes).
The run directory gets config.yaml, status.json, history.json, checkpoints/, metrics.json and
predictions.nc; each baseline gets the same layout in its model folder ``models/<name>/`` and its test scores
also appear in the top-level metrics.json under its name. SIGTERM marks the run ``cancelled``,
an exception marks it ``failed`` with the message (:mod:`core.training.lifecycle`, shared with rain).
Config errors (unknown or duplicate keys, bad types or ranges, overlapping periods) name the file
and the key and exit with code 2 before anything is trained.

One run per folder (docs/design.md, 8. Run folders): ``train`` into a folder that already holds a
run exits with code 2 and leaves it alone, unless ``--resume`` (continue it) or ``--overwrite``
(delete it, then train); a ``--run-dir`` that is a file exits with code 2. Whether a model's
training is finished is read from its ``last.pt`` (:func:`core.training.trainer.training_state`):
``--resume`` trains every model that has epochs left, and ``evaluate`` on an unfinished run scores
what exists but leaves the state ``failed`` (or ``cancelled``) with how far training got.

``predict`` applies a trained run to basins it never saw (:mod:`core.hydro.predict`): from their
forcing and attributes only, it writes ``DIR/predictions.nc`` and, when the source has observed
flow, ``DIR/metrics.json``; it leaves the run folder untouched. Bad data exit with code 2 and a
message naming file, variable, basin and date.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from core.hydro.model_scores import model_test_blocks
from core.hydro.models import model_names
from core.hydro.config import (DEFAULTS, ConfigError, deep_merge, for_model, load_config, override_every_model,
                               validate)
from core.machine.device import flush_denormals_for_all_threads
from core.machine.heap import keep_freed_memory
from core.runs.folder import NotARunFolder, RunDir, RunHeld, check_run_path
from core.training import distributed as D
from core.training import lifecycle
from core.training.config import read_yaml
from core.training.trainer import TrainingState, TrainSettings, training_state


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core hydro", description="dXAJ training and evaluation")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train the configured model (and baselines), then evaluate")
    train.add_argument("--config", help="YAML config file (see configs/hydro_quick.yaml)")
    train.add_argument("--run-dir", required=True, help="run directory to create or resume")
    train.add_argument("--data", help="data source: 'demo', a CAMELS-US or basin-table folder")
    train.add_argument("--train-period", nargs=2, metavar=("START", "END"))
    train.add_argument("--test-period", nargs=2, metavar=("START", "END"))
    train.add_argument("--epochs", type=int)
    train.add_argument("--device", help="auto (default), cpu or cuda[:N]")
    train.add_argument("--model", choices=model_names(), help="override config key 'model'")
    train.add_argument("--baselines", help="comma-separated baselines to run, or 'none'")
    train.add_argument("--max-minutes", type=float, help="override train.max_minutes (wall-clock cap per model)")
    train.add_argument("--eval-stride", type=int, help="override evaluate.stride (test windows every N days)")
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --run-dir from checkpoints/last.pt")
    again.add_argument("--overwrite", action="store_true",
                       help="delete the run already in --run-dir, then train a new one there")
    train.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    ev = sub.add_parser("evaluate", help="(re)evaluate a trained run directory")
    ev.add_argument("--run-dir", required=True)
    ev.add_argument("--device", help="auto (default), cpu or cuda[:N]")
    ev.add_argument("--eval-stride", type=int, help="override evaluate.stride (test windows every N days)")
    pr = sub.add_parser("predict", help="predict basins the run never saw (ungauged) from forcing and attributes")
    pr.add_argument("--run-dir", required=True, help="a trained hydro run directory")
    pr.add_argument("--data", required=True, help="data source: a CAMELS-US or basin-table folder, a basin file")
    pr.add_argument("--period", nargs=2, required=True, metavar=("START", "END"), help="days to predict (inclusive)")
    pr.add_argument("--out", required=True, help="folder for predictions.nc (and metrics.json)")
    pr.add_argument("--basins", help="comma-separated basin ids of the source (default: all)")
    pr.add_argument("--device", default="cpu", help="cpu (default), auto or cuda[:N]")
    pr.add_argument("--stride", type=int, help="a window every k days predicting its last k, 1 .. rho + horizon "
                    "(default rho + horizon: each window predicts its whole target part; the run's "
                    "evaluate.stride reproduces hydro evaluate, at several times the cost)")
    return parser


def cmd_predict(args: argparse.Namespace) -> int:
    """Ungauged prediction: exit 0 with the files written, 2 on bad input (message, no traceback)."""
    import warnings

    from core.data import DataError
    from core.hydro.predict import predict_run, write_prediction
    from core.runs.folder import RunFileDamaged
    from core.training.checkpoint import CheckpointError

    basins = [b.strip() for b in args.basins.split(",") if b.strip()] if args.basins else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices of unpredicted days
            prediction = predict_run(args.run_dir, args.data, tuple(args.period), basins=basins, device=args.device,
                                     stride=args.stride)
        written = write_prediction(prediction, args.out)
    except (DataError, ConfigError, CheckpointError, RunFileDamaged, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return lifecycle.EXIT_USAGE
    for note in prediction.notes:
        print(f"note: {note}", file=sys.stderr)
    if prediction.metrics is not None:
        m = prediction.metrics
        parts = [f"{name} NSE {block['median']['nse']:.3f}" for name, block in model_test_blocks(m).items()]
        print("median: " + ", ".join(parts))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {"data": {}, "train": {}, "evaluate": {}}
    if getattr(args, "eval_stride", None) is not None:
        over["evaluate"]["stride"] = args.eval_stride
    if getattr(args, "data", None):
        over["data"]["source"] = args.data
    if getattr(args, "train_period", None):
        over["data"]["train_period"] = list(args.train_period)
    if getattr(args, "test_period", None):
        over["data"]["test_period"] = list(args.test_period)
    if getattr(args, "max_minutes", None) is not None:
        over["train"]["max_minutes"] = args.max_minutes
    if getattr(args, "epochs", None) is not None:
        over["train"]["epochs"] = args.epochs
    if getattr(args, "device", None):
        over["train"]["device"] = args.device
    if getattr(args, "model", None):
        over["model"] = args.model
    if getattr(args, "baselines", None) is not None:
        names = [] if args.baselines.strip().lower() in ("", "none") else args.baselines.split(",")
        over["baselines"] = [n.strip() for n in names]
    return over


def _command_line_wins(config: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The command line's data/train/evaluate values over every model's ``overrides`` too: a
    ``--max-minutes 60`` must not be undone by a baseline's own ``max_minutes: 4.5`` in the file."""
    over = {k: v for k, v in _overrides(args).items() if k in ("data", "train", "evaluate") and v}
    return override_every_model(config, over)


def _run_config(run: RunDir, args: argparse.Namespace) -> dict[str, Any]:
    """The run's stored config (defaults filled in) with this command line's overrides on top, checked."""
    if not run.config_path.is_file():
        raise ConfigError("not found: not a hydro run directory", where=run.config_path)
    stored = read_yaml(run.config_path)
    try:
        merged = deep_merge(deep_merge(DEFAULTS, stored if isinstance(stored, dict) else {}), _overrides(args))
        return _command_line_wins(validate(merged), args)
    except ConfigError as exc:
        raise exc.located(run.config_path) from None


def _training_state(config: dict, run: RunDir) -> TrainingState:
    return training_state(run, TrainSettings.from_section(config["train"], seed=int(config["train"]["seed"])))


def _train_one(config: dict, run: RunDir, args: argparse.Namespace, data: "PreparedCache",
               progress, write_config: bool) -> dict:
    """Train and evaluate one model into its folder ``run``; on resume a model whose training is finished
    and evaluated is kept."""
    from core.hydro.evaluate import evaluate_model
    from core.hydro.train import train_model

    if D.is_main():  # only rank 0 touches the run directory, even to create folders
        run.create()
    done = run.read_metrics()
    # metrics.json alone says nothing of the training: an evaluate after a kill writes it too
    if args.resume and done.get("test") and done.get("model") == config["model"] and _training_state(config, run).done:
        return done
    if D.is_main() and write_config:  # a model folder of its own: it records its own state too
        run.write_config(config)
        run.update_status(state="running", progress=0.0, message=f"training {config['model']}", pid=os.getpid())
    prepared = data.get(config)
    if D.is_main() and write_config:
        for note in prepared.data_warnings:  # in the job's log; metrics.json keeps them too
            print(f"data warning: {note}", file=sys.stderr)
    summary = train_model(config, run, resume=args.resume, progress_bar=not args.no_progress,
                          prepared=prepared, progress=progress)
    result: dict = {}
    if D.is_main():
        progress(1.0, f"evaluating {config['model']} on the test period", epoch=summary["epochs_run"], force=True)
        result = evaluate_model(config, run, args.device, prepared=prepared)
        result["training"] = summary
        if prepared.data_warnings:
            result["data_warnings"] = list(prepared.data_warnings)
        run.write_metrics(result)
        if write_config:
            med = result["test"]["median"]
            run.update_status(state="completed", progress=1.0,
                              message=f"{config['model']}: median test NSE {med['nse']:.3f}, KGE {med['kge']:.3f}")
    D.barrier()
    return result


def _load_train_config(args: argparse.Namespace, run: RunDir) -> dict[str, Any]:
    if args.resume and run.config_path.exists():
        # the run's own config, not the file's current one; command-line overrides (e.g. more epochs) still apply
        return _run_config(run, args)
    if not args.config:
        raise ConfigError("give --config FILE (or --resume on an existing run directory)")
    return _command_line_wins(load_config(args.config, _overrides(args)), args)


def cmd_train(args: argparse.Namespace) -> int:
    run = RunDir(args.run_dir)
    try:
        run.check_new_run(resume=args.resume, overwrite=args.overwrite)
    except RunHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        return lifecycle.EXIT_USAGE
    try:
        config = _load_train_config(args, run)
    except ConfigError as exc:
        return _config_failure(run, exc)

    def body() -> str:
        from core.hydro.prepare import PreparedCache

        D.init_from_env(config["train"]["device"])
        lifecycle.start(run, "train", f"training {config['model']}", overwrite=args.overwrite, kind="hydro")
        if D.is_main():
            run.write_config(config)
        names = [config["model"]] + list(config.get("baselines") or [])
        status = lifecycle.Progress(run, every=5.0)  # rank 0 only, throttled
        data = PreparedCache()  # loaded once, shared by every model of the run
        top: dict = {}
        for i, name in enumerate(names):
            def progress(fraction: float, message: str, epoch: int, force: bool = False, i: int = i) -> None:
                status.update(force=force, progress=round(0.99 * (i + fraction) / len(names), 4),
                              message=message, epoch=epoch, model=names[i])

            folder = run if i == 0 else run.model_dir(name)
            result = _train_one(for_model(config, name), folder, args, data, progress, write_config=i > 0)
            if not D.is_main():
                continue
            if i == 0:
                top = result
            else:
                top[name] = {"test": result["test"]}
            run.write_metrics(top)
        if not D.is_main():
            return ""
        parts = [f"{config['model']} NSE {top['test']['median']['nse']:.3f}"] + [
            f"{n} NSE {top[n]['test']['median']['nse']:.3f}" for n in names[1:]]
        return f"{run.path}: median test " + ", ".join(parts)

    return lifecycle.run_worker(run, body)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.hydro.evaluate import evaluate_model

    run = RunDir(args.run_dir)
    try:
        config = _run_config(run, args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return lifecycle.EXIT_USAGE

    previous = run.read_status()
    unfinished: list[str] = []

    def body() -> str:
        from core.hydro.prepare import PreparedCache

        lifecycle.start(run, "evaluate", "evaluating on the test period", kind="hydro")
        data = PreparedCache()  # loaded once, shared by every model of the run
        main_config = for_model(config, config["model"])
        states = {config["model"]: _training_state(main_config, run)}
        top = evaluate_model(main_config, run, args.device, prepared=data.get(main_config))
        for name in config.get("baselines") or []:
            sub = run.model_dir(name)
            sub_config = for_model(config, name)
            states[name] = _training_state(sub_config, sub)
            if (sub.checkpoint_dir / "best.pt").exists() or (sub.checkpoint_dir / "last.pt").exists():
                result = evaluate_model(sub_config, sub, args.device, prepared=data.get(sub_config))
                sub.write_metrics(result)
                top[name] = {"test": result["test"]}
        run.write_metrics(top)
        summary = f"{run.metrics_path}: median test NSE {top['test']['median']['nse']:.3f}"
        unfinished.extend(f"{name} at {state.describe()}" for name, state in states.items() if not state.done)
        if unfinished:
            done = sum(min(s.epochs_done, s.epochs) for s in states.values())
            lifecycle.mark_unfinished(
                run, previous, f"evaluated {'; '.join(unfinished)}: training unfinished, continue it with "
                f"train --run-dir {run.path} --resume ({summary})",
                progress=done / max(sum(s.epochs for s in states.values()), 1))
            summary += f" (training unfinished: {'; '.join(unfinished)}; continue it with --resume)"
        return summary

    return lifecycle.run_worker(run, body, complete=lambda: not unfinished)


def _config_failure(run: RunDir, exc: ConfigError) -> int:
    """A config that cannot work: nothing is trained; a run directory that exists records why, unless it
    holds a run (a resume or an overwrite refused): that run's state stays its own."""
    print(f"error: {exc}", file=sys.stderr)
    if run.path.is_dir() and not run.run_files() and os.environ.get("RANK", "0") == "0":  # one writer
        run.update_status(state="failed", message=f"config error: {exc}")
    return lifecycle.EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    flush_denormals_for_all_threads()
    keep_freed_memory()
    args = _parser().parse_args(argv)
    if args.command == "predict":  # reads a run, writes elsewhere: no run-folder checks
        return cmd_predict(args)
    try:
        check_run_path(args.run_dir)
    except NotARunFolder as exc:
        print(f"error: {exc}", file=sys.stderr)
        return lifecycle.EXIT_USAGE
    return cmd_train(args) if args.command == "train" else cmd_evaluate(args)


if __name__ == "__main__":
    sys.exit(main())
