"""k-fold ungauged evaluation of a hydro config (core.hydro.kfold; docs/hydro_predict.md).

    python scripts/kfold_ungauged.py --config configs/hydro_camels_regional.yaml --out runs/kfold-regional
        [--folds 5] [--seed 0] [--epochs N] [--max-minutes M] [--basins ID,ID,...] [--only 1,3]
        [--period START END]

Splits the config's basins into k folds stratified by ``evaluate.group_by`` (the regional config:
snow fraction below / above 0.12), trains the config on k - 1 folds (``OUT/fold_<i>/run``), predicts
the held-out fold (``OUT/fold_<i>/predicted``) and pools the held-out scores into ``OUT/kfold.json``
and ``OUT/kfold.md``. A fold whose run completed is reused: run the same command again to continue.
Each fold trains the config without the models that cannot predict a new basin (static_xaj).
``--period START END`` scores the held-out basins over other dates (e.g. the training period, to choose
between variants without touching the test period): ``OUT/kfold_START_END.json`` / ``.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the repository's core


def main(argv: list[str] | None = None) -> int:
    from core.data import DataError
    from core.hydro.config import ConfigError, load_config, override_every_model
    from core.hydro.kfold import markdown_table, run_kfold

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="hydro config YAML (e.g. configs/hydro_camels_regional.yaml)")
    parser.add_argument("--out", required=True, help="folder for the fold runs, kfold.json and kfold.md")
    parser.add_argument("--folds", type=int, default=5, help="k (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold split (default 0)")
    parser.add_argument("--epochs", type=int, help="override train.epochs of every model (short trials)")
    parser.add_argument("--max-minutes", type=float, help="override every model's train.max_minutes (a safety cap; "
                        "folds run side by side train slower than the config's caps assume)")
    parser.add_argument("--only", help="comma-separated fold numbers to train here (default all); other folds "
                        "are pooled where completed: run folds in parallel processes, then once without --only")
    parser.add_argument("--basins", help="comma-separated basin ids (default: the config's, else all of its source)")
    parser.add_argument("--period", nargs=2, metavar=("START", "END"),
                        help="score the held-out basins over these dates instead of the test period "
                        "(choosing between variants without the test period); own output files")
    args = parser.parse_args(argv)
    train = {k: v for k, v in (("epochs", args.epochs), ("max_minutes", args.max_minutes)) if v is not None}
    command_line: dict = {"train": train} if train else {}
    overrides = dict(command_line)
    if args.basins:
        overrides["data"] = {"basins": [b.strip() for b in args.basins.split(",") if b.strip()]}
    try:
        # per-model overrides name their own epochs and caps: the command line wins over them too
        config = override_every_model(load_config(args.config, overrides), command_line)
        only = [int(i) for i in args.only.split(",") if i.strip()] if args.only else None
        summary = run_kfold(config, args.out, k=args.folds, seed=args.seed, only=only,
                            period=tuple(args.period) if args.period else None)
    except (ConfigError, DataError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(summary))
    return 0 if summary["models"] else 1


if __name__ == "__main__":
    sys.exit(main())
