"""Registries name the kind and the valid names when asked for an unknown one; the key tables, the
pages' option lists and the presets come from them; the form -> config builders name the bad key;
a run's further models live in ``models/<name>/`` and legacy ``baselines/<name>/`` still reads."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.training.config import ConfigError
from core.registry import Registry, UnknownName


def test_registry_lists_valid_names_in_registration_order():
    reg: Registry[int] = Registry("widget")
    reg.register("b", 2)

    @reg.register("a")
    def a() -> int:
        return 1

    assert reg.names() == ["b", "a"]
    assert reg.get("a") is a
    with pytest.raises(UnknownName, match=r"unknown widget 'c'; choose one of: b, a") as caught:
        reg.get("c")
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a", 3)


@pytest.mark.parametrize("getter, kind, names", [
    ("core.hydro.models:get_model", "hydro model", ["dpl", "static_xaj", "lstm"]),
    ("core.training.optimizers:get_optimizer", "optimizer", ["adamw", "adadelta"]),
    ("core.hydro.losses:get_loss", "loss", ["nse", "nse_kge", "nse_volume", "rmse", "mse"]),
    ("core.rain.losses:get_loss", "loss", ["weighted_mse", "log_cosh", "weighted_mae", "mse_soft_csi", "mse_fss"]),
    ("core.rain.baselines:get_method", "rain baseline", ["persistence", "extrapolation", "sprog", "anvil", "steps_mean"]),
    ("core.data.sources:get_source_kind", "basin data source kind", ["demo", "camels_us", "basin_table", "basin_file"]),
])
def test_unknown_names_list_the_valid_ones(getter, kind, names):
    import importlib

    module, name = getter.split(":")
    get = getattr(importlib.import_module(module), name)
    with pytest.raises(ValueError) as caught:
        get("nope")
    assert str(caught.value) == f"unknown {kind} 'nope'; choose one of: {', '.join(names)}"


def test_key_tables_take_their_choices_from_the_registries():
    from core.hydro.config import SCHEMA as HYDRO
    from core.hydro.losses import LOSSES
    from core.hydro.models import MODELS
    from core.rain.baselines import METHODS
    from core.rain.pipeline import SCHEMA as RAIN
    from core.training.optimizers import OPTIMIZERS

    assert list(HYDRO.key("model").type.choices) == MODELS.names()
    assert list(HYDRO.key("train.loss").type.choices) == LOSSES.names()
    assert list(HYDRO.key("train.optimizer").type.choices) == OPTIMIZERS.names()
    assert list(RAIN.key("train.optimizer").type.choices) == OPTIMIZERS.names()
    assert RAIN.defaults()["train"]["optimizer"] == "adamw"
    assert list(RAIN.key("nowcast.baselines").type.inner.item.choices) == METHODS.names()


def test_optimizer_is_built_with_the_configs_rate_and_decay():
    import torch

    from core.training.optimizers import get_optimizer

    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = get_optimizer("adadelta")(params, lr=0.5, weight_decay=0.1)
    assert isinstance(opt, torch.optim.Adadelta) and opt.defaults["lr"] == 0.5 and opt.defaults["weight_decay"] == 0.1


# --- presets and form -> config builders ------------------------------------------------------------


def test_standard_presets_are_the_example_configs():
    from core.hydro.config import load_config
    from core.hydro.run_config import BASE_CONFIG, preset_config
    from core.rain.pipeline import load_config as load_rain
    from core.rain.run_config import BASE_CONFIG as RAIN_BASE
    from core.rain.run_config import preset_config as rain_preset

    assert preset_config("standard") == load_config(BASE_CONFIG)
    assert rain_preset("standard") == load_rain(RAIN_BASE)


def test_demo_trains_the_quick_preset():
    from core.demo import hydro_demo_config
    from core.hydro.run_config import preset_config

    assert hydro_demo_config() == preset_config("quick")


def _hydro_form(**change):
    form = dict(source="demo", basins=["fulda_grebenau"], train_period=(dt.date(1979, 1, 1), dt.date(1985, 12, 31)),
                test_period=(dt.date(1986, 1, 1), dt.date(1988, 12, 31)), warmup=60, rho=60.0, batch_size=16,
                epochs=2, iterations=3, hidden=8, loss="nse", strategy="last", baselines=["lstm"])
    form.update(change)
    return form


def test_hydro_form_gives_a_checked_config():
    from core.hydro.run_config import hydro_config_from_form

    config = hydro_config_from_form("quick", **_hydro_form())
    assert config["window"]["rho"] == 60 and config["train"]["epochs"] == 2 and config["train"]["patience"] == 2
    assert config["baselines"] == ["lstm"] and config["data"]["test_period"] == ["1986-01-01", "1988-12-31"]


@pytest.mark.parametrize("change, key", [
    ({"rho": 0}, "window.rho"),
    ({"loss": "mae"}, "train.loss"),
    ({"baselines": ["dpl2"]}, "baselines"),
    ({"test_period": (dt.date(1985, 1, 1), None)}, "data.test_period"),
    ({"test_period": (dt.date(1985, 1, 1), dt.date(1988, 12, 31))}, "data.test_period"),
])
def test_hydro_form_names_the_bad_key(change, key):
    from core.hydro.run_config import hydro_config_from_form

    with pytest.raises(ConfigError) as caught:
        hydro_config_from_form("quick", **_hydro_form(**change))
    assert caught.value.path.startswith(key), str(caught.value)


def _rain_form(**change):
    form = dict(source="demo", region1={"lat": [28, 44], "lon": [104, 120]}, upstream_side="west", epochs=2,
                batch_size=4, lr=0.001, loss="weighted_mse", hidden_channels="8, 16")
    form.update(change)
    return form


def test_rain_form_gives_a_checked_config():
    from core.rain.run_config import rain_config_from_form

    config = rain_config_from_form("quick", **_rain_form(experiments="exp2"))
    assert config["experiments"] == ["exp2"] and config["model"]["hidden_channels"] == [8, 16]
    assert config["evaluate"]["n_boot"] == 200


@pytest.mark.parametrize("change, key", [
    ({"loss": "mse"}, "train.loss"),
    ({"hidden_channels": "8, x"}, "model.hidden_channels"),
    ({"epochs": 0}, "train.epochs"),
    ({"periods": {"train": ("2001-01-04", "2001-05-01"), "val": ("2001-05-01", "2001-05-20"),
                  "test": ("2001-05-21", "2001-06-30")}}, "split.val"),
])
def test_rain_form_names_the_bad_key(change, key):
    from core.rain.run_config import rain_config_from_form

    with pytest.raises(ConfigError) as caught:
        rain_config_from_form("quick", **_rain_form(**change))
    assert caught.value.path.startswith(key), str(caught.value)


# --- several models in one run ------------------------------------------------------------------------


def test_model_dir_new_layout_and_legacy_fallback(tmp_path):
    from core.runs import RunDir

    run = RunDir(tmp_path / "hydro-run").create()
    assert run.model_dir("lstm").path == run.path / "models" / "lstm"  # nothing yet: the new layout
    legacy = RunDir(run.path / "baselines" / "static_xaj").create()
    legacy.write_metrics({"test": {"median": {"nse": 0.5}}})
    assert run.model_dir("static_xaj").path == legacy.path
    assert run.model_dir("static_xaj").read_metrics()["test"]["median"]["nse"] == 0.5
    current = run.model_dir("lstm").create()
    (current.path / "metrics.json").write_text(json.dumps({"model": "lstm"}))
    assert run.model_names() == ["lstm", "static_xaj"]
    # once models/<name>/ exists it wins over a legacy folder of the same name
    RunDir(run.path / "baselines" / "lstm").create()
    assert run.model_dir("lstm").path == run.path / "models" / "lstm"
    with pytest.raises(ValueError):
        run.model_dir("../other-run")


def test_pages_and_ui_read_no_yaml_and_no_run_layout():
    """Pages lay out: configs are read and built in core, run folders are reached through RunDir."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "pages").glob("*.py")) + sorted((root / "ui").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import yaml|from yaml)", text, re.M), f"{path.name} imports yaml"
        assert not re.search(r"""baselines/|/ *["']baselines["']""", text), f"{path.name} knows the run folder layout"
        assert "_by_lead" not in text, f"{path.name} knows the predictions.nc layout"


def test_nowcast_section_comes_from_the_key_table():
    from core.rain.experiments import NowcastConfig
    from core.rain.pipeline import SCHEMA

    nc = NowcastConfig.from_config(None)
    assert nc.leads == SCHEMA.defaults()["nowcast"]["leads"] and nc.baselines == ["persistence", "extrapolation", "sprog", "anvil", "steps_mean"]
    assert NowcastConfig.from_config({"leads": [3, 1], "baselines": ["sprog"]}).baselines == ["persistence", "sprog"]
    with pytest.raises(ConfigError, match="nowcast.guide"):
        NowcastConfig.from_config({"guide": "persistence"})
    with pytest.raises(ConfigError, match="nowcast.main_lead"):
        NowcastConfig.from_config({"leads": [1, 3], "main_lead": 2})
