"""Paired comparison of two hydro results basin by basin (core.hydro.paired; docs/hydro_predict.md).

    python scripts/paired_scores.py A B [--scores nse kge pbias]
    python scripts/paired_scores.py --spread RUN1 RUN2 ... [--scores nse kge]

A and B are ``FILE[:MODEL]``: a k-fold's ``kfold.json``, a run's or a prediction's ``metrics.json``, or
a run or k-fold folder (its ``metrics.json`` / ``kfold.json``); MODEL defaults to ``dpl`` (else the
document's first model). E.g. dXAJ against the LSTM of the same k-fold::

    python scripts/paired_scores.py runs/kfold3/kfold.json:dpl runs/kfold3/kfold.json:lstm

prints, per score and per group of the A document (e.g. snow-poor / snowy), the basins compared, both
medians, the median of the per-basin differences (positive: A better), how many basins each side
wins and the Wilcoxon signed-rank p. ``--spread`` prints the mean and standard deviation of each
score's median over runs that differ only by their seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the repository's core


def _load(spec: str) -> tuple[dict[str, Any], str]:
    """``FILE[:MODEL]`` -> (document, model; "" for the default)."""
    path, _, model = spec.rpartition(":") if ":" in spec and not Path(spec).exists() else (spec, "", "")
    file = Path(path)
    if file.is_dir():
        file = next((file / n for n in ("kfold.json", "metrics.json") if (file / n).is_file()), file / "metrics.json")
    if not file.is_file():
        raise ValueError(f"{spec}: no scores file at {file}")
    try:
        document = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not a JSON scores file ({exc})") from exc
    return document, model


def _pick(document: dict[str, Any], model: str, spec: str) -> tuple[str, dict]:
    from core.hydro.model_scores import per_basin_scores

    models = per_basin_scores(document)
    if not models:
        raise ValueError(f"{spec}: no per-basin scores in it")
    name = model or ("dpl" if "dpl" in models else next(iter(models)))
    if name not in models:
        raise ValueError(f"{spec}: no model {name!r} (it has {', '.join(models)})")
    return name, models[name]


def main(argv: list[str] | None = None) -> int:
    from core.hydro.model_scores import basin_groups, median_scores
    from core.hydro.paired import paired_difference, seed_spread

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="A and B as FILE[:MODEL]")
    parser.add_argument("--scores", nargs="+", default=["nse", "kge", "pbias"], help="scores to compare")
    parser.add_argument("--spread", nargs="+", metavar="RUN", help="mean +- sd of the medians over these runs (seeds)")
    args = parser.parse_args(argv)
    try:
        if args.spread:
            picked = [_pick(*_load(spec), spec) for spec in args.spread]
            print("| score | runs | mean | sd | medians |\n|---|---|---|---|---|")
            for score in args.scores:
                medians = [median_scores(pb, [score])[score] for _, pb in picked]
                spread = seed_spread(medians)
                print(f"| {score} | {spread['n_seeds']} | {spread['mean']:.3f} | {spread['sd']:.3f} | "
                      + " / ".join(f"{m:.3f}" for m in medians) + " |")
            return 0
        if len(args.runs) != 2:
            parser.error("give two results A and B (or --spread RUN ...)")
        spec_a, spec_b = args.runs
        doc_a, model_a = _load(spec_a)
        name_a, a = _pick(doc_a, model_a, spec_a)
        name_b, b = _pick(*_load(spec_b), spec_b)
        print(f"A = {spec_a} ({name_a}), B = {spec_b} ({name_b}); differences A - B "
              "(PBIAS: |B| - |A|), positive = A better\n")
        print("| score | basins | n | median A | median B | median difference | A better | B better | Wilcoxon p |")
        print("|---|---|---|---|---|---|---|---|---|")
        subsets = {"all": None, **basin_groups(doc_a, name_a)}
        for score in args.scores:
            for label, basins in subsets.items():
                r = paired_difference(a, b, score, basins)
                print(f"| {score} | {label} | {r['n']} | {r['median_a']:.3f} | {r['median_b']:.3f} | "
                      f"{r['median_difference']:+.3f} | {r['a_better']} | {r['b_better']} | {r['wilcoxon_p']:.2g} |")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
