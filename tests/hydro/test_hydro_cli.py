"""End to end on the embedded demo catchment: CLI train + evaluate, run format, resume, cancel, failure."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from core.hydro import cli
from core.hydro.config import load_config
from core.hydro.params import XAJ_PARAMS
from core.hydro.train import load_checkpoint, train_model
from core.runs.folder import RunDir
from core.training.lifecycle import Cancelled
from core.training.trainer import TrainSettings, plateau_schedule

TINY = {
    "name": "tiny",
    "model": "dpl",
    "data": {
        "source": "demo",
        "train_period": ["1984-01-01", "1985-12-31"],
        "valid_fraction": 0.25,
        "test_period": ["1986-01-01", "1986-02-28"],
        "dynamic_inputs": ["prcp", "pet"],
    },
    "window": {"warmup": 20, "rho": 20, "horizon": 1},
    "model_args": {"hidden": 8},
    "xaj": {"backend": "reference"},
    "train": {"epochs": 2, "batch_size": 8, "iterations_per_epoch": 3, "lr": 0.01, "loss": "nse", "seed": 3,
              "device": "cpu"},
    "evaluate": {"batch_size": 64},
}


def _write_config(tmp_path, **changes) -> str:
    config = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        config[key] = value
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _check_metrics(block: dict, basins: list[str]) -> None:
    assert set(block["test"]["median"]) >= {"nse", "kge"}
    assert set(block["test"]["per_basin"]) == set(basins)
    for scores in block["test"]["per_basin"].values():
        assert {"nse", "kge", "rmse", "pbias", "peak_error", "kge_r", "kge_alpha", "kge_beta"} <= set(scores)
        assert math.isfinite(scores["nse"]) and scores["rmse"] >= 0


def test_a_run_prepares_its_data_once_for_all_models(tmp_path, monkeypatch):
    """Issue 29: a run with two baselines loaded and normalised its data 6 times; now once for
    training and evaluating all three models (a model whose overrides change the data gets its own)."""
    import core.hydro.evaluate as evaluate
    import core.hydro.prepare as prep

    calls = []
    real = prep.prepare

    def counting(config, norm=None):
        calls.append(config["model"])
        return real(config, norm)

    monkeypatch.setattr(prep, "prepare", counting)
    monkeypatch.setattr(evaluate, "prepare", counting)
    tiny = {**TINY["train"], "epochs": 1, "iterations_per_epoch": 1}
    config = _write_config(tmp_path, baselines=["static_xaj", "lstm"], train=tiny,
                           overrides={"lstm": {"data": {"dynamic_inputs": ["prcp"]}}})
    assert cli.main(["train", "--config", config, "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 0
    assert calls == ["dpl", "lstm"]
    calls.clear()
    assert cli.main(["evaluate", "--run-dir", str(tmp_path / "run")]) == 0
    assert calls == ["dpl", "lstm"]


@pytest.mark.slow
def test_cli_train_and_evaluate_with_baselines(tmp_path):
    run_dir = tmp_path / "run"
    config = _write_config(tmp_path, baselines=["static_xaj", "lstm"],
                           overrides={"lstm": {"train": {"optimizer": "adadelta", "lr": 1.0}}})
    assert cli.main(["train", "--config", config, "--run-dir", str(run_dir), "--no-progress"]) == 0
    run = RunDir(run_dir)
    assert run.read_status()["state"] == "completed"
    assert run.read_config()["baselines"] == ["static_xaj", "lstm"]
    history = run.read_history()
    assert [r["epoch"] for r in history] == [1, 2]
    assert all({"train_loss", "val_loss", "val_nse", "val_kge"} <= set(r) for r in history)
    assert (run.checkpoint_dir / "last.pt").exists() and (run.checkpoint_dir / "best.pt").exists()

    metrics = json.loads(run.metrics_path.read_text())
    _check_metrics(metrics, ["fulda_grebenau"])
    for name in ("static_xaj", "lstm"):
        _check_metrics(metrics[name], ["fulda_grebenau"])
        sub = run.model_dir(name)
        assert sub.path == run.path / "models" / name  # one layout for every further model of a run
        assert sub.read_status()["state"] == "completed" and sub.predictions_path.exists()
        assert sub.read_config()["model"] == name
    assert run.model_dir("lstm").read_config()["train"]["optimizer"] == "adadelta"
    with xr.open_dataset(run.model_dir("static_xaj").predictions_path) as ds:
        assert np.ptp(ds["params"].values, axis=1).max() == 0  # one parameter set per basin

    with xr.open_dataset(run.predictions_path) as ds:
        assert ds.sizes["time"] == 59 and list(ds["param"].values) == list(XAJ_PARAMS)
        assert {"q_obs", "q_sim", "prcp", "params", "param_lower", "param_upper"} <= set(ds.variables)
        assert np.all(np.isfinite(ds["q_sim"].values))
        params = ds["params"].values[0]  # [time, 15], one set per window end date
        assert np.all(params >= ds["param_lower"].values - 1e-5) and np.all(params <= ds["param_upper"].values + 1e-5)
        assert np.ptp(params, axis=0).max() > 0  # a trajectory, not a constant
        assert json.loads(ds.attrs["param_ranges"])["CG"] == [0.98, 0.998]
        # the reported NSE is the NSE of the saved series
        q_sim, q_obs = ds["q_sim"].values[0], ds["q_obs"].values[0]
    expected = 1 - np.sum((q_sim - q_obs) ** 2) / np.sum((q_obs - q_obs.mean()) ** 2)
    assert math.isclose(metrics["test"]["per_basin"]["fulda_grebenau"]["nse"], expected, rel_tol=1e-4)

    # evaluate again from the checkpoints: same scores
    run.metrics_path.unlink()
    assert cli.main(["evaluate", "--run-dir", str(run_dir)]) == 0
    again = json.loads(run.metrics_path.read_text())
    assert math.isclose(again["test"]["median"]["nse"], metrics["test"]["median"]["nse"], rel_tol=1e-6)
    assert math.isclose(again["lstm"]["test"]["median"]["nse"], metrics["lstm"]["test"]["median"]["nse"], rel_tol=1e-6)


def test_lr_decays_after_plateau_of_the_validation_loss():
    config = load_config(None, {**TINY, "train": {**TINY["train"], "lr_decay": 0.5, "lr_decay_patience": 2}})
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    schedule = plateau_schedule(TrainSettings.from_section(config["train"]), optimizer)
    lrs = []
    for val_loss in (1.0, 0.9, 0.95, 0.9, 0.9, 0.95, 0.8):  # bad epochs: 0.95, 0.9 (not lower), then 0.9, 0.95
        schedule.step(val_loss)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert plateau_schedule(TrainSettings.from_section(load_config(None, TINY)["train"]), optimizer) is None  # lr_decay 1 = off


@pytest.mark.slow
@pytest.mark.parametrize("decay, average", [(1.0, 0.0), (0.5, 0.0), (1.0, 0.9)])
def test_resume_equals_uninterrupted(tmp_path, decay, average):
    config = load_config(None, {**TINY, "train": {**TINY["train"], "epochs": 3, "lr_decay": decay,
                                                  "lr_decay_patience": 1, "weight_average": average}})
    straight = RunDir(tmp_path / "straight").create()
    train_model(config, straight, progress_bar=False)

    broken = RunDir(tmp_path / "broken").create()
    calls = {"n": 0}

    def stop_in_third_epoch() -> bool:
        calls["n"] += 1
        return calls["n"] > 2 * 3 + 1  # after two full epochs and one iteration of the third

    with pytest.raises(Cancelled):
        train_model(config, broken, progress_bar=False, should_stop=stop_in_third_epoch)
    assert load_checkpoint(broken.checkpoint_dir / "last.pt")["epoch"] == 2
    train_model(config, broken, resume=True, progress_bar=False)

    a = load_checkpoint(straight.checkpoint_dir / "last.pt")
    b = load_checkpoint(broken.checkpoint_dir / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["lr_schedule"] == b["lr_schedule"]
    assert ("raw_model" in a) == (average > 0)
    for key in a.get("raw_model", {}):
        assert torch.equal(a["raw_model"][key], b["raw_model"][key]), key
        if key.endswith("weight"):  # the kept weights are the average, not the last step's
            assert not torch.equal(a["raw_model"][key], a["model"][key]), key
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(straight.read_history()) == strip(broken.read_history())


def test_cancel_and_failure_states(tmp_path, monkeypatch):
    import os
    import signal

    from core.hydro import windows

    config = _write_config(tmp_path)
    # a real SIGTERM to this process in the middle of training: the shared handler raises Cancelled,
    # which no ``except Exception`` in the trainer may swallow
    original = windows.WindowSampler.batch

    def batch_then_sigterm(self, idx):
        os.kill(os.getpid(), signal.SIGTERM)
        return original(self, idx)

    monkeypatch.setattr(windows.WindowSampler, "batch", batch_then_sigterm)
    assert cli.main(["train", "--config", config, "--run-dir", str(tmp_path / "c"), "--no-progress"]) == 143
    status = RunDir(tmp_path / "c").read_status()
    assert status["state"] == "cancelled" and "SIGTERM" in status["message"]
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed afterwards

    code = cli.main(["train", "--config", config, "--run-dir", str(tmp_path / "f"), "--no-progress",
                     "--test-period", "2001-01-01", "2001-12-31"])
    assert code == 1
    status = RunDir(tmp_path / "f").read_status()
    assert status["state"] == "failed" and "2001" in status["message"]


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="rhoo.*window"):
        load_config(None, {**TINY, "window": {"rhoo": 3}})
    with pytest.raises(ValueError, match="model: expected one of .*got 'gr4j'"):
        load_config(None, {**TINY, "model": "gr4j"})


def test_evaluate_stride_blocks(tmp_path):
    run_dir = tmp_path / "run"
    config = _write_config(tmp_path)
    assert cli.main(["train", "--config", config, "--run-dir", str(run_dir), "--no-progress"]) == 0
    assert cli.main(["evaluate", "--run-dir", str(run_dir), "--eval-stride", "10"]) == 0
    with xr.open_dataset(RunDir(run_dir).predictions_path) as ds:
        assert ds.attrs["window_stride"] == 10
        q_sim, params = ds["q_sim"].values[0], ds["params"].values[0]
    assert np.all(np.isfinite(q_sim)) and np.all(np.isfinite(params))
    # windows end on the last test day and every 10 days before it: parameters change only there
    n = len(q_sim)
    changes = {i for i in range(1, n) if not np.array_equal(params[i], params[i - 1])}
    assert changes and changes <= {n - 10 * k for k in range(1, n // 10 + 1)}
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--run-dir", str(run_dir), "--eval-stride", "x"])


def test_config_pet_method_reaches_the_loader():
    from core.data.errors import DataError
    from core.hydro.prepare import prepare

    # the config loader refuses an unknown method up front, naming the key
    with pytest.raises(ValueError, match="data.pet_method: .*'thornthwaite'"):
        load_config(None, {**TINY, "data": {**TINY["data"], "pet_method": "thornthwaite"}})
    # and the value given reaches the data loader (bypassing the config check, the loader names it)
    config = load_config(None, TINY)
    config["data"]["pet_method"] = "thornthwaite"
    with pytest.raises(DataError, match="thornthwaite"):
        prepare(config)
    assert load_config(None, TINY)["data"]["pet_method"] == "auto"


def _killed_in_epoch(monkeypatch, epoch: int, iterations: int = 3):
    """Make training raise Cancelled (as a kill would stop it) in the first iteration of ``epoch``."""
    from core.hydro.train import HydroTask

    original, calls = HydroTask.train_batch, {"n": 0}

    def batch(self, indices, device):
        calls["n"] += 1
        if calls["n"] > (epoch - 1) * iterations:
            raise Cancelled("test kill")
        return original(self, indices, device)

    monkeypatch.setattr(HydroTask, "train_batch", batch)


def test_evaluate_of_a_killed_run_leaves_it_unfinished_and_resume_trains_the_rest(tmp_path, monkeypatch):
    """Issue 33.3: evaluate on a run killed in epoch 2 of 3 marked it completed, and train --resume then
    returned at once with one epoch of history because metrics.json had test scores."""
    run_dir = tmp_path / "run"
    config = _write_config(tmp_path, train={**TINY["train"], "epochs": 3})
    train = ["train", "--config", config, "--run-dir", str(run_dir), "--no-progress", "--baselines", "none"]
    _killed_in_epoch(monkeypatch, 2)
    assert cli.main(train) == 143
    monkeypatch.undo()
    run = RunDir(run_dir)
    assert load_checkpoint(run.checkpoint_dir / "last.pt")["epoch"] == 1

    assert cli.main(["evaluate", "--run-dir", str(run_dir)]) == 0
    status = run.read_status()
    assert status["state"] == "cancelled", status  # its state before the evaluation, never completed
    assert "epoch 1 of 3" in status["message"] and "--resume" in status["message"]
    assert run.read_metrics()["test"]["median"]["nse"] is not None  # what exists is scored

    assert cli.main(["train", "--run-dir", str(run_dir), "--resume", "--no-progress"]) == 0
    assert [r["epoch"] for r in run.read_history()] == [1, 2, 3]
    assert load_checkpoint(run.checkpoint_dir / "last.pt")["epoch"] == 3
    assert run.read_status()["state"] == "completed"
    # a finished run evaluates to completed, and resuming it trains nothing more
    assert cli.main(["evaluate", "--run-dir", str(run_dir)]) == 0
    assert run.read_status()["state"] == "completed"
    assert cli.main(["train", "--run-dir", str(run_dir), "--resume", "--no-progress"]) == 0
    assert [r["epoch"] for r in run.read_history()] == [1, 2, 3]


def test_train_into_a_folder_holding_a_run_is_refused_and_overwrite_starts_one_history(tmp_path, capsys):
    """Issue 33.4: training twice into one folder mixed two runs (history [1..n, 1], replaced metrics)."""
    run_dir = tmp_path / "run"
    tiny = {**TINY["train"], "epochs": 1, "iterations_per_epoch": 1}
    config = _write_config(tmp_path, train=tiny, baselines=["static_xaj"])
    assert cli.main(["train", "--config", config, "--run-dir", str(run_dir), "--no-progress"]) == 0
    run = RunDir(run_dir)
    before = {p.name: p.read_bytes() for p in (run.metrics_path, run.history_path, run.status_path)}
    capsys.readouterr()

    again = ["train", "--config", config, "--run-dir", str(run_dir), "--no-progress", "--baselines", "none"]
    assert cli.main(again) == 2
    err = capsys.readouterr().err
    assert str(run.path) in err and "--resume" in err and "--overwrite" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (run.metrics_path, run.history_path, run.status_path)} == before

    config2 = _write_config(tmp_path, train={**tiny, "epochs": 2})
    assert cli.main(["train", "--config", config2, "--run-dir", str(run_dir), "--no-progress", "--baselines", "none",
                     "--overwrite"]) == 0
    assert [r["epoch"] for r in run.read_history()] == [1, 2]
    assert run.read_status()["state"] == "completed"
    assert run.model_names() == []  # the old run's baseline went with it
    assert "static_xaj" not in run.read_metrics() and run.read_config()["baselines"] == []
    assert not list(run.path.glob(".overwritten-*"))
    with pytest.raises(SystemExit):  # continue or start again, not both
        cli.main(["train", "--run-dir", str(run_dir), "--resume", "--overwrite"])


def test_a_folder_with_only_a_users_metrics_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text('{"mine": 1}')
    assert cli.main(["train", "--config", _write_config(tmp_path), "--run-dir", str(run_dir), "--no-progress"]) == 2
    assert "metrics.json" in capsys.readouterr().err
    assert (run_dir / "metrics.json").read_text() == '{"mine": 1}' and not (run_dir / "status.json").exists()


def test_run_dir_naming_a_file_is_a_named_error(tmp_path, capsys):
    import core.__main__ as entry

    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    config = _write_config(tmp_path)
    for argv in (["train", "--config", config, "--run-dir", str(afile)], ["evaluate", "--run-dir", str(afile)],
                 ["train", "--config", config, "--run-dir", str(afile / "sub")]):
        assert cli.main(argv) == 2
        assert entry.main(["hydro", *argv]) == 2
        err = capsys.readouterr().err
        assert "notes.txt" in err and ("is a file" in err or "under the file" in err)
        assert "Traceback" not in err
    assert afile.read_text() == "x"


def test_data_warnings_reach_the_prepared_data_and_the_runs_metrics(tmp_path, monkeypatch):
    """A quirk kept as given (tmin above tmax on cold days) is not lost in a background job's log."""
    import warnings as _warnings

    from core.data import DataWarning
    from core.hydro import prepare as P

    real_load = P.load_basins

    def load_with_quirk(*args, **kwargs):
        _warnings.warn(DataWarning("demo.csv: basin fulda: tmin above tmax by more than 3 degC on 2 step(s)"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(P, "load_basins", load_with_quirk)
    config = load_config(None, TINY)
    assert P.prepare(config).data_warnings == ["demo.csv: basin fulda: tmin above tmax by more than 3 degC on 2 step(s)"]
    run_dir = tmp_path / "run"
    assert cli.main(["train", "--config", _write_config(tmp_path, train={**TINY["train"], "epochs": 1}),
                     "--run-dir", str(run_dir), "--baselines", "none", "--no-progress"]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data_warnings"] == ["demo.csv: basin fulda: tmin above tmax by more than 3 degC on 2 step(s)"]


def test_command_line_values_win_over_a_models_own_overrides(tmp_path):
    """``--max-minutes 60`` once stopped the LSTM baseline at its file cap of 4.5 minutes (after 2 epochs)."""
    from core.hydro.config import for_model

    path = _write_config(tmp_path, baselines=["lstm"],
                         overrides={"lstm": {"train": {"max_minutes": 4.5, "lr": 0.002}}})
    args = cli._parser().parse_args(["train", "--config", path, "--run-dir", str(tmp_path / "r"),
                                          "--max-minutes", "60", "--epochs", "5"])
    config = cli._load_train_config(args, RunDir(tmp_path / "r"))
    lstm = for_model(config, "lstm")["train"]
    assert (lstm["max_minutes"], lstm["epochs"], lstm["lr"]) == (60.0, 5, 0.002)  # the model's own lr stays
    assert for_model(config, "dpl")["train"]["max_minutes"] == 60.0
