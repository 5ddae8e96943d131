"""k-fold ungauged evaluation (core.hydro.kfold, scripts/kfold_ungauged.py) on a tiny setting."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import yaml

from core.hydro.kfold import markdown_table, stratified_folds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from basin_folders import tiny_config, write_basin_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_folds_are_stratified_disjoint_and_reproducible():
    labels = {f"p{i}": "snow-poor" for i in range(7)} | {f"s{i}": "snowy" for i in range(4)}
    folds = stratified_folds(labels, 2, seed=0)
    assert sorted(sum(folds, [])) == sorted(labels)  # every basin held out exactly once
    assert [len(f) for f in folds] in ([6, 5], [5, 6])
    for fold in folds:  # each group spread over both folds
        assert sum(b.startswith("s") for b in fold) == 2
    assert stratified_folds(labels, 2, seed=0) == folds
    assert stratified_folds(labels, 2, seed=1) != folds
    with pytest.raises(ValueError, match="cannot fill"):
        stratified_folds({"a": "x"}, 2)


def test_a_fold_completed_by_another_process_while_this_one_trained_is_pooled(tmp_path, monkeypatch):
    """``--only`` processes side by side: the last one to finish pools every completed fold, also those
    that completed while it trained (fake training and prediction: only the bookkeeping is under test)."""
    from types import SimpleNamespace

    import core.hydro.kfold as kfold

    source = write_basin_folder(tmp_path / "basins", ["A001", "A002", "A003", "A004"], end="2000-12-31")
    config = {"name": "race", "baselines": ["lstm"], "evaluate": {"stride": 1},
              "data": {"source": str(source), "test_period": ["2000-07-01", "2000-12-31"]}}
    out = tmp_path / "kfold"

    def complete(run: Path) -> None:
        run.mkdir(parents=True, exist_ok=True)
        (run / "status.json").write_text(json.dumps({"state": "completed", "finished": "2026-01-01T00:00:00"}))

    def train_fold_2(config_path: Path, run: Path) -> None:
        assert run == out / "fold_2" / "run"
        complete(out / "fold_1" / "run")  # another process (--only 1) finishes fold 1 meanwhile
        complete(run)

    def predict(run, source, period, basins, stride):
        scores = {b: {"nse": 0.5, "kge": 0.5, "pbias": 0.0} for b in basins}
        return SimpleNamespace(metrics={"model": "dpl", "test": {"per_basin": scores}}, notes=[])

    def write(prediction, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps(prediction.metrics))

    monkeypatch.setattr(kfold, "predict_run", predict)
    monkeypatch.setattr(kfold, "write_prediction", write)
    summary = kfold.run_kfold(config, out, k=2, train=train_fold_2, only=[2], log=lambda message: None)
    assert summary["missing_folds"] == []
    assert sorted(summary["per_basin"]["dpl"]) == ["A001", "A002", "A003", "A004"]


@pytest.mark.slow
def test_kfold_script_trains_predicts_held_out_folds_and_pools(tmp_path, capsys):
    """2 folds of 4 basins, 1 epoch: every basin scored once by a model that never saw it."""
    sys.path.insert(0, str(REPO / "scripts"))
    import kfold_ungauged

    source = write_basin_folder(tmp_path / "basins", ["A001", "A002", "A003", "A004"], snowy={"A003", "A004"})
    config = tiny_config(source, evaluate={"batch_size": 256, "stride": 10, "group_by": "frac_snow",
                                           "group_edges": [0.12]},
                         overrides={"lstm": {"train": {"max_minutes": 3}}})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "kfold"
    # fold 2 alone first (as a second process would): fold 1 is neither trained nor pooled
    assert kfold_ungauged.main(["--config", str(tmp_path / "c.yaml"), "--out", str(out), "--folds", "2",
                                "--epochs", "1", "--only", "2", "--max-minutes", "7"]) == 0
    fold_config = yaml.safe_load((out / "fold_2" / "run" / "config.yaml").read_text())
    assert fold_config["train"]["max_minutes"] == 7  # the command line's cap, for every model
    assert fold_config["overrides"]["lstm"]["train"]["max_minutes"] == 7
    partial = json.loads((out / "kfold.json").read_text())
    assert partial["missing_folds"] == [1] and not (out / "fold_1" / "run").exists()
    assert sorted(partial["per_basin"]["dpl"]) == partial["folds"][1]
    assert "folds 1 not yet pooled" in (out / "kfold.md").read_text()
    assert kfold_ungauged.main(["--config", str(tmp_path / "c.yaml"), "--out", str(out), "--folds", "2",
                                "--epochs", "1"]) == 0
    summary = json.loads((out / "kfold.json").read_text())
    folds = summary["folds"]
    assert sorted(sum(folds, [])) == ["A001", "A002", "A003", "A004"]
    for i, held_out in enumerate(folds):
        trained_on = yaml.safe_load((out / f"fold_{i + 1}" / "run" / "config.yaml").read_text())["data"]["basins"]
        assert not set(trained_on) & set(held_out)  # the held-out basins were never trained on
        assert {"A003", "A004"} & set(held_out) and {"A001", "A002"} & set(held_out)  # stratified
        metrics = json.loads((out / f"fold_{i + 1}" / "predicted" / "metrics.json").read_text())
        assert set(metrics["test"]["per_basin"]) == set(held_out)
    for name in ("dpl", "lstm"):
        pooled = summary["per_basin"][name]
        assert sorted(pooled) == ["A001", "A002", "A003", "A004"]
        assert math.isfinite(summary["models"][name]["median"]["nse"])
        assert summary["models"][name]["groups"]["frac_snow >= 0.12"]["n_basins"] == 2
    assert "static_xaj" not in summary["models"]  # calibrated per basin: nothing to say about a new one
    assert not (out / "fold_1" / "run" / "models" / "static_xaj").exists()  # so not trained either (saves k x its cost)
    assert (out / "fold_1" / "run" / "models" / "lstm").is_dir()
    assert any("static_xaj not trained" in n for n in summary["notes"])
    table = (out / "kfold.md").read_text()
    assert "| dpl | all | 4 |" in table and "frac_snow >= 0.12" in table
    assert table == markdown_table(summary)
    # a second call reuses the completed fold runs
    capsys.readouterr()
    assert kfold_ungauged.main(["--config", str(tmp_path / "c.yaml"), "--out", str(out), "--folds", "2",
                                "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already completed, reused") == 2
    # ... and their held-out predictions, unless what they were made for changed
    assert printed.count("held-out prediction of this run already made, reused") == 2
    request = out / "fold_1" / "predicted" / "request.json"
    request.write_text(request.read_text().replace('"stride": 10', '"stride": 3'))
    assert kfold_ungauged.main(["--config", str(tmp_path / "c.yaml"), "--out", str(out), "--folds", "2",
                                "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("held-out prediction of this run already made, reused") == 1
    assert "fold 1/2: predicting" in printed
    again = json.loads((out / "kfold.json").read_text())
    assert again["per_basin"] == summary["per_basin"] and again["notes"] == summary["notes"]
    assert summary["missing_folds"] == []
    # held-out basins over the training period (choosing variants without the test period): own files,
    # the test period's left as they were, and a prediction that differs from the test period's
    before = {f: f.read_bytes() for f in out.rglob("*") if f.is_file() and "predicted" in f.parent.name}
    assert kfold_ungauged.main(["--config", str(tmp_path / "c.yaml"), "--out", str(out), "--folds", "2",
                                "--epochs", "1", "--period", "2000-03-01", "2001-06-30"]) == 0
    assert all(f.read_bytes() == data for f, data in before.items())
    assert json.loads((out / "kfold.json").read_text())["per_basin"] == summary["per_basin"]
    valid = json.loads((out / "kfold_2000-03-01_2001-06-30.json").read_text())
    assert valid["period"] == ["2000-03-01", "2001-06-30"] and valid["period_is_test"] is False
    assert summary["period_is_test"] is True
    assert sorted(valid["per_basin"]["dpl"]) == ["A001", "A002", "A003", "A004"]
    assert valid["per_basin"]["dpl"] != summary["per_basin"]["dpl"]
    for i in (1, 2):
        request = json.loads((out / f"fold_{i}" / "predicted_2000-03-01_2001-06-30" / "request.json").read_text())
        assert request["request"]["period"] == ["2000-03-01", "2001-06-30"]
    assert "period (not the test period) 2000-03-01 .. 2001-06-30" in (out / "kfold_2000-03-01_2001-06-30.md").read_text()
