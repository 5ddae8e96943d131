"""The strict config loader of both kinds (defect 8 and the CLI part of defect 5 of issue 11).

Every bad config fails before anything is trained, with a message that names the file and the key
path; duplicate YAML keys, unknown keys, wrong types and out-of-range values are refused; train,
validation and test periods must not overlap; relative data paths resolve the same way in both halves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from core.hydro import cli as hydro_cli
from core.hydro.config import load_config as load_hydro
from core.rain import cli as rain_cli
from core.rain.pipeline import load_config as load_rain
from core.runs.folder import RunDir
from core.training.config import ConfigError, Float, Int, Key, Schema, read_yaml
from core.hydro.config import SCHEMA as HYDRO
from core.rain.pipeline import SCHEMA as RAIN
from tests import training_launch as L


@pytest.fixture()
def configs(tmp_path) -> dict[str, Path]:
    hydro = L.write_hydro_config(tmp_path / "hydro.yaml", epochs=1, iterations=1)
    rain = L.write_rain_config(tmp_path / "rain.yaml", L.write_rain_data(tmp_path / "rain.nc", n_time=40), epochs=1)
    return {"hydro": hydro, "rain": rain}


def _edit(path: Path, name: str, change) -> Path:
    """A copy of the YAML config ``path`` with ``change(config)`` applied, written as ``name``."""
    config = yaml.safe_load(path.read_text())
    change(config)
    out = path.with_name(name)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


LOADERS = {"hydro": load_hydro, "rain": load_rain}


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,section,key,value,message", [
    ("hydro", "train", "iterations_per_epoch", -5, "train.iterations_per_epoch: expected an integer >= 1 or null, got -5"),
    ("hydro", "train", "patience", -1, "train.patience: expected an integer >= 0, got -1"),
    ("hydro", "evaluate", "batch_size", 0, "evaluate.batch_size: expected an integer >= 1, got 0"),
    ("hydro", "train", "lr", "fast", "train.lr: expected a number > 0, got 'fast'"),
    ("hydro", "window", "rho", 2.5, "window.rho: expected an integer >= 1, got 2.5"),
    ("hydro", "train", "epochs", True, "train.epochs: expected an integer >= 1, got True"),
    ("rain", "train", "lr", "fast", "train.lr: expected a number > 0, got 'fast'"),
    ("rain", "train", "patience", -1, "train.patience: expected an integer >= 0, got -1"),
    ("rain", "evaluate", "batch_size", 0, "evaluate.batch_size: expected an integer >= 1, got 0"),
    ("rain", "model", "hidden_channels", [4, "x"], "model.hidden_channels: item 1: expected an integer >= 1, got 'x'"),
    ("rain", "train", "amp", "maybe", "train.amp: expected true or false or one of 'auto', 'true', 'false', got 'maybe'"),
])
def test_bad_values_name_file_and_key(configs, kind, section, key, value, message):
    bad = _edit(configs[kind], "bad.yaml", lambda c: c.setdefault(section, {}).__setitem__(key, value))
    with pytest.raises(ConfigError) as err:
        LOADERS[kind](bad)
    assert str(err.value) == f"{bad}: {message}"


def test_cross_key_ranges():
    hydro = {"data": {"train_period": ["2000-01-01", "2000-12-31"], "test_period": ["2001-01-01", "2001-12-31"]},
             "window": {"rho": 20, "horizon": 1}, "evaluate": {"stride": 22}}
    with pytest.raises(ConfigError, match="evaluate.stride: expected at most window.rho \\+ window.horizon = 21"):
        HYDRO.complete(hydro)
    with pytest.raises(ConfigError, match="model.kernel_size: expected an odd kernel size"):
        RAIN.complete({"regions": {"region1": {"lat": [0, 1], "lon": [0, 1]}}, "model": {"kernel_size": 4}})


def test_a_section_that_is_not_a_mapping(configs):
    bad = _edit(configs["rain"], "bad.yaml", lambda c: c.__setitem__("train", 5))
    with pytest.raises(ConfigError, match=r"bad.yaml: train: expected a mapping \(keys .*lr.*\), got 5"):
        load_rain(bad)


@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_unknown_keys_are_refused(configs, kind):
    bad = _edit(configs[kind], "bad.yaml", lambda c: c["train"].__setitem__("learning_rate", 0.1))
    with pytest.raises(ConfigError, match=r"bad.yaml: train.learning_rate: unknown key 'learning_rate'; known keys under train: .*lr"):
        LOADERS[kind](bad)
    bad = _edit(configs[kind], "bad2.yaml", lambda c: c.__setitem__("trian", {}))
    with pytest.raises(ConfigError, match="bad2.yaml: trian: unknown key"):
        LOADERS[kind](bad)


def test_hydro_overrides_are_checked_like_the_rest(configs):
    bad = _edit(configs["hydro"], "bad.yaml", lambda c: c.__setitem__("overrides", {"lstm": {"train": {"lr": -1}}}))
    with pytest.raises(ConfigError, match="bad.yaml: overrides.lstm.train.lr: expected a number > 0, got -1"):
        load_hydro(bad)
    bad = _edit(configs["hydro"], "bad2.yaml", lambda c: c.__setitem__("overrides", {"lstm": {"trian": {}}}))
    with pytest.raises(ConfigError, match="overrides.lstm.trian: unknown key"):
        load_hydro(bad)


def test_numbers_in_exponent_notation_are_numbers(configs):
    # YAML 1.1 reads 1e-3 (no dot) as text: the loader accepts numeric text for number keys
    good = _edit(configs["rain"], "good.yaml", lambda c: c["train"].__setitem__("lr", "1e-3"))
    assert load_rain(good)["train"]["lr"] == 0.001


# --- YAML ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_duplicate_yaml_keys_are_refused(configs, kind):
    text = configs[kind].read_text()
    dup = configs[kind].with_name("dup.yaml")
    dup.write_text(text + ("seed: 1\n" if kind == "rain" else "model: lstm\n"))  # both are given earlier
    line = len(dup.read_text().splitlines())
    with pytest.raises(ConfigError, match=rf"dup.yaml: line {line}: duplicate key '(seed|model)' \(first given on line \d+\)"):
        LOADERS[kind](dup)


@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_yaml_syntax_error_names_the_file(configs, kind):
    broken = configs[kind].with_name("broken.yaml")
    broken.write_text("train: {epochs: 2\nmodel: [\n")
    with pytest.raises(ConfigError, match=rf"{broken}: not valid YAML: .*line"):
        LOADERS[kind](broken)
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        read_yaml(broken.with_name("missing.yaml"))


# --- through the CLIs: refused before training ------------------------------------------------------


CLIS = {"hydro": hydro_cli.main, "rain": rain_cli.main}


@pytest.mark.parametrize("kind", ["hydro", "rain"])
def test_cli_refuses_a_bad_config_before_training(configs, kind, tmp_path, capsys):
    bad = _edit(configs[kind], "bad.yaml", lambda c: c.setdefault("evaluate", {}).__setitem__("batch_size", 0))
    run_dir = tmp_path / "run"
    run_dir.mkdir()  # as the dashboard creates it before starting the worker
    code = CLIS[kind](["train", "--config", str(bad), "--run-dir", str(run_dir), "--no-progress"])
    assert code == 2
    assert f"{bad}: evaluate.batch_size: expected an integer >= 1, got 0" in capsys.readouterr().err
    status = RunDir(run_dir).read_status()
    assert status["state"] == "failed" and "evaluate.batch_size" in status["message"]
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "history.json").exists()


@pytest.mark.parametrize("kind,argv,message", [
    ("hydro", ["--test-period", "1980-06-01", "1981-06-30"],
     "data.test_period (1980-06-01 .. 1981-06-30): overlaps data.train_period (1979-01-01 .. 1980-12-31)"),
    ("rain", ["--train-period", "2020-01-01", "2020-01-15", "--test-period", "2020-01-10", "2020-01-20"],
     "split.test (2020-01-10 .. 2020-01-20): overlaps split.train (2020-01-01 .. 2020-01-15)"),
])
def test_cli_refuses_overlapping_periods(configs, kind, argv, message, tmp_path, capsys):
    code = CLIS[kind](["train", "--config", str(configs[kind]), "--run-dir", str(tmp_path / "run"), "--no-progress", *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_overlap_of_valid_and_test_and_touching_periods():
    base = {"data": {"train_period": ["2000-01-01", "2000-12-31"], "valid_period": ["2001-01-01", "2001-03-31"],
                     "test_period": ["2001-03-31", "2001-12-31"]}}
    with pytest.raises(ConfigError, match="data.test_period .*overlaps data.valid_period .*shared from 2001-03-31 to 2001-03-31"):
        HYDRO.complete(base)
    base["data"]["test_period"] = ["2001-04-01", "2001-12-31"]
    assert HYDRO.complete(base)["data"]["test_period"] == ["2001-04-01", "2001-12-31"]  # touching is fine
    rain = {"regions": {"region1": {"lat": [0, 1], "lon": [0, 1]}},
            "split": {"train": ["2020-01-01", "2020-01-10"], "val": ["2020-01-10T12:00", "2020-01-12"],
                      "test": ["2020-01-13", "2020-01-20"]}}
    with pytest.raises(ConfigError, match="split.val .*overlaps split.train"):
        RAIN.complete(rain)


# --- relative data paths ------------------------------------------------------------------------------


def test_relative_data_paths_resolve_against_the_working_directory_in_both_halves(configs, tmp_path, monkeypatch):
    data = tmp_path / "data" / "world.nc"
    data.parent.mkdir()
    data.write_bytes(b"x")
    elsewhere = tmp_path / "configs"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    for kind in ("hydro", "rain"):
        cfg = _edit(configs[kind], f"{kind}.yaml", lambda c: c["data"].__setitem__("source", "data/world.nc"))
        moved = elsewhere / cfg.name
        cfg.rename(moved)
        assert LOADERS[kind](moved)["data"]["source"] == str(data)  # stored absolute for --resume/evaluate
    assert load_hydro(None, json.loads(json.dumps({"data": {"source": "demo", "train_period": ["1979-01-01", "1979-12-31"],
                                                             "test_period": ["1980-01-01", "1980-12-31"]}})))["data"]["source"] == "demo"


# --- the table is easy to extend ----------------------------------------------------------------------


def test_a_new_key_is_one_row():
    schema = Schema("demo", [Key("train.epochs", Int(min=1), 3, "epochs"),
                             Key("train.spinup_days", Int(min=0), 365, "days run before the loss counts"),
                             Key("model.n_components", Int(min=1), 2, "mixture components"),
                             Key("train.lr", Float(0, min_open=True), 0.01, "learning rate")])
    assert schema.complete({"train": {"spinup_days": 30}}) == {
        "train": {"epochs": 3, "spinup_days": 30, "lr": 0.01}, "model": {"n_components": 2}}
    with pytest.raises(ConfigError, match="x.yaml: train.spinup_days: expected an integer >= 0, got -1"):
        schema.complete({"train": {"spinup_days": -1}}, "x.yaml")
    assert "train.spinup_days" in schema.help_table()


def test_the_shipped_configs_load():
    repo = Path(__file__).resolve().parents[2]
    for path in sorted((repo / "configs").glob("*.yaml")):
        loader = load_rain if path.name.startswith("rain") else load_hydro
        assert loader(path)["kind"] in ("hydro", "rain"), path
