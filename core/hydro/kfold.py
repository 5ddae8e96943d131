"""k-fold ungauged evaluation: train on k - 1 folds of the basins, predict the held-out fold, pool.

Every basin of a regional config is held out exactly once: its score comes from a model that never
saw its streamflow (nor its forcing), which is what a user gets in an ungauged basin. The folds are
stratified by a basin attribute (``evaluate.group_by``, e.g. snow fraction: snow-poor and snowy
basins spread evenly over the folds) and drawn with a fixed seed. Each fold is an ordinary run
folder (``fold_<i>/run``, trained by ``python -m core hydro train`` with ``data.basins`` set to its
training basins) and an ordinary prediction folder (``fold_<i>/predicted``, by
:func:`core.hydro.predict.predict_run` over the config's test period). A fold whose run already
completed is reused, so an interrupted k-fold continues where it stopped; so is its held-out
prediction while ``fold_<i>/predicted/request.json`` (the run's finish time, the held-out basins, the
period and the stride) still matches, so a pooling call costs seconds, not a prediction per fold.

Choosing between variants on the test period would tune on it. ``period`` scores the held-out basins
over another span instead (e.g. the training period: the basins are still unseen, the test period
stays untouched) into ``fold_<i>/predicted_<start>_<end>`` and ``kfold_<start>_<end>.json`` / ``.md``;
the test period's files are left as they are.

Outputs in the k-fold folder: ``kfold.json`` (folds, pooled per-basin scores, median per model and
per group) and ``kfold.md`` (the same medians as a markdown table). Run it with
``scripts/kfold_ungauged.py`` (docs/hydro_predict.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from core.atomic_io import atomic_write_bytes, atomic_write_json, atomic_write_yaml, read_json
from core.data import load_basins
from core.hydro.evaluate import SCORE_KEYS
from core.hydro.groups import group_labels, group_summary
from core.hydro.model_scores import median_scores, model_test_blocks
from core.hydro.predict import NOT_TRANSFERABLE, predict_run, write_prediction

TABLE_SCORES = ("nse", "kge", "pbias")


def stratified_folds(labels: Mapping[str, str], k: int, seed: int = 0) -> list[list[str]]:
    """Split basin ids into ``k`` folds, each group (``labels``: basin -> group) spread evenly.

    Within each group the ids are shuffled with ``seed`` and dealt round-robin, the deal continuing
    from group to group so fold sizes differ by at most one. Folds come back sorted.
    """
    if k < 2:
        raise ValueError(f"k-fold needs at least 2 folds, got {k}")
    if len(labels) < k:
        raise ValueError(f"{len(labels)} basins cannot fill {k} folds")
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(k)]
    position = 0
    for group in sorted(set(labels.values())):
        members = sorted(b for b, g in labels.items() if g == group)
        for basin in rng.permutation(members):
            folds[position % k].append(str(basin))
            position += 1
    return [sorted(f) for f in folds]


def run_kfold(config: Mapping[str, Any], out_dir: str | Path, k: int = 5, seed: int = 0,
              train: Callable[[Path, Path], None] | None = None, log: Callable[[str], None] = print,
              only: Iterable[int] | None = None, period: tuple[str, str] | None = None) -> dict[str, Any]:
    """Run the k folds of ``config`` (a resolved hydro config) into ``out_dir``; returns the summary.

    ``train(config_path, run_dir)`` trains one fold (default: ``python -m core hydro train`` in
    process). Basins: ``data.basins`` of the config or every basin of its source; stratified by
    ``evaluate.group_by`` / ``group_edges`` when set. ``only``: fold numbers (1 .. k) to train here,
    the others are pooled only where their run already completed (so several processes or machines
    can share the folds; a last call without ``only`` pools them all). The summary's ``missing_folds``
    names the folds not pooled. ``period`` (start, end): score the held-out basins over these dates
    rather than the config's test period (for decisions between variants; separate output files).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data, evaluation = config["data"], config["evaluate"]
    source = str(data["source"])
    ds = load_basins(source, basins=data.get("basins"), pet_method=data.get("pet_method", "auto"))
    ids = [str(b) for b in ds["basin"].values]
    group_by, edges = evaluation.get("group_by"), evaluation.get("group_edges") or []
    values = (dict(zip(ids, np.asarray(ds[group_by].values, dtype=float).tolist())) if group_by and group_by in ds
              else {b: float("nan") for b in ids})
    labels = group_labels(values, group_by, edges) if group_by else {b: "all basins" for b in ids}
    folds = stratified_folds(labels, k, seed)
    chosen = set(range(1, k + 1)) if only is None else {int(i) for i in only}
    if not chosen or not chosen <= set(range(1, k + 1)):
        raise ValueError(f"fold numbers must lie in 1 .. {k}, got {sorted(chosen)}")
    missing: list[int] = []
    train = train or _train_in_process
    test = tuple(str(d) for d in data["test_period"])
    scored = tuple(str(d) for d in period) if period else test
    if len(scored) != 2:
        raise ValueError(f"a k-fold period needs a start and an end date, got {list(scored)}")
    suffix = "" if scored == test else f"_{scored[0]}_{scored[1]}"
    per_model: dict[str, dict[str, dict[str, float]]] = {}
    notes: list[str] = []
    # a model calibrated per training basin has nothing to say about a held-out one: not trained at all
    dropped = [b for b in (config.get("baselines") or []) if b in NOT_TRANSFERABLE]
    notes += [f"{name} not trained: {NOT_TRANSFERABLE[name]}" for name in dropped]
    # train first, pool after: a fold that another process completes while this one trains is pooled
    # too (looked at before this process trained, the last process to finish would leave it out)
    for i, held_out in enumerate(folds):
        fold = out / f"fold_{i + 1}"
        fold_config = json.loads(json.dumps(config, default=str))
        fold_config["data"]["basins"] = sorted(set(ids) - set(held_out))
        fold_config["baselines"] = [b for b in (config.get("baselines") or []) if b not in dropped]
        fold_config["name"] = f"{config.get('name') or 'hydro'}-fold{i + 1}of{k}"
        fold.mkdir(parents=True, exist_ok=True)
        atomic_write_yaml(fold / "config.yaml", fold_config)
        if i + 1 not in chosen:
            continue
        if _completed(fold / "run"):
            log(f"fold {i + 1}/{k}: run {fold / 'run'} already completed, reused")
        else:
            log(f"fold {i + 1}/{k}: training on {len(fold_config['data']['basins'])} basins")
            train(fold / "config.yaml", fold / "run")
    for i, held_out in enumerate(folds):
        fold = out / f"fold_{i + 1}"
        run = fold / "run"
        if not _completed(run):
            log(f"fold {i + 1}/{k}: not trained here and not completed yet: left out of the pooled scores")
            missing.append(i + 1)
            continue
        if i + 1 not in chosen:
            log(f"fold {i + 1}/{k}: run {run} completed elsewhere, pooled")
        # the run's evaluate.stride: held-out basins scored exactly as a gauged run scores its own
        stride = int(evaluation.get("stride") or 1)
        request = {"run_finished": (read_json(run / "status.json", {}) or {}).get("finished"),
                   "basins": sorted(held_out), "period": list(scored), "stride": stride}
        predicted = fold / f"predicted{suffix}"
        made = _current_prediction(predicted, request)
        if made is not None:
            log(f"fold {i + 1}/{k}: held-out prediction of this run already made, reused")
            metrics, prediction_notes = made
        else:
            log(f"fold {i + 1}/{k}: predicting {len(held_out)} held-out basins over {scored[0]} .. {scored[1]}")
            prediction = predict_run(run, source, scored, basins=held_out, stride=stride)
            write_prediction(prediction, predicted)
            metrics, prediction_notes = prediction.metrics or {}, list(prediction.notes)
            # last: written only beside a whole prediction
            atomic_write_json(predicted / "request.json", {"request": request, "notes": prediction_notes})
        notes += [f"fold {i + 1}: {n}" for n in prediction_notes]
        for name, block in model_test_blocks(metrics).items():
            per_model.setdefault(name, {}).update(block["per_basin"])
    summary: dict[str, Any] = {
        "kind": "kfold_ungauged", "k": k, "seed": seed, "source": source, "test_period": list(test),
        "period": list(scored), "period_is_test": scored == test,
        "stratified_by": {"attribute": group_by, "edges": list(edges)} if group_by else None,
        "folds": folds, "missing_folds": missing, "notes": notes,
        "models": {name: {"n_basins": len(pb), "median": median_scores(pb, SCORE_KEYS),
                          **({"groups": group_summary(pb, values, group_by, edges)["groups"]} if group_by else {})}
                   for name, pb in per_model.items()},
        "per_basin": per_model,
    }
    atomic_write_json(out / f"kfold{suffix}.json", summary)
    atomic_write_bytes(out / f"kfold{suffix}.md", markdown_table(summary).encode("utf-8"))
    return summary


def _completed(run: Path) -> bool:
    """Whether the fold run in ``run`` finished training (its status file says completed)."""
    return (read_json(run / "status.json", {}) or {}).get("state") == "completed"


def _current_prediction(predicted: Path, request: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """The held-out ``metrics.json`` in ``predicted`` and its notes when it was made for ``request``, else None."""
    made = read_json(predicted / "request.json", None) or {}
    metrics = read_json(predicted / "metrics.json", None)
    if metrics is None or made.get("request") != dict(request):
        return None
    return metrics, list(made.get("notes") or [])


def markdown_table(summary: Mapping[str, Any]) -> str:
    """Median held-out scores per model (all basins, then each group) as a markdown table."""
    head = ["model", "basins", "n"] + [s.upper() if s != "pbias" else "PBIAS %" for s in TABLE_SCORES]
    period = summary.get("period") or summary["test_period"]
    which = "test period" if summary.get("period_is_test", True) else "period (not the test period)"
    lines = [f"k-fold ungauged ({summary['k']} folds, seed {summary['seed']}), {which} "
             f"{period[0]} .. {period[1]}: median over held-out basins"
             + (f" (folds {', '.join(map(str, summary['missing_folds']))} not yet pooled)"
                if summary.get("missing_folds") else ""), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, block in summary["models"].items():
        rows = [("all", block["n_basins"], block["median"])]
        rows += [(label, g["n_basins"], g["median"]) for label, g in (block.get("groups") or {}).items()]
        for label, n, med in rows:
            cells = [name, label, str(n)] + [_fmt(med.get(s), s) for s in TABLE_SCORES]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: Any, score: str) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:+.1f}" if score == "pbias" else f"{value:.3f}"


def _train_in_process(config_path: Path, run_dir: Path) -> None:
    from core.hydro import cli

    resume = ["--resume"] if (run_dir / "config.yaml").exists() else []
    code = cli.main(["train", "--config", str(config_path), "--run-dir", str(run_dir), "--no-progress", *resume])
    if code != 0:
        raise RuntimeError(f"training {run_dir} failed (exit code {code}); see {run_dir / 'log.txt'}")

