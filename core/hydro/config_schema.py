"""The keys of a hydrology (dXAJ) run config: one row per key, ``Key(path, type, default, help)``.

To add a key, add a row here (and use it in ``core.hydro``); the loader then accepts it, checks its
type and range and fills its default. Cross-key checks are at the bottom. The allowed names of
models, losses, optimizers and PET methods come from their registries, so a new entry there is a
new allowed value here.
"""

from __future__ import annotations

from core.data.pet import PET_METHODS
from core.hydro.losses import LOSSES
from core.hydro.models import MAIN_MODEL, baseline_names, model_names
from core.hydro.params import XAJ_PARAMS as XAJ_NAMES
from core.training.optimizers import OPTIMIZERS
from core.training.trainer_keys import trainer_keys
from core.training.config import (
    Bool, Choice, ConfigError, DataPath, Device, Float, FreeMapping, Int, Key, ListOf, OneOf, Optional,
    Period, Schema, Str, check_periods_disjoint,
)

MODELS = tuple(model_names())
BASELINES = tuple(baseline_names())

KEYS = [
    Key("kind", Choice("hydro"), "hydro", "kind of run"),
    Key("name", Optional(Str()), None, "label of the run"),
    Key("model", Choice(*MODELS), MAIN_MODEL, " | ".join(MODELS)),
    Key("baselines", ListOf(Choice(*BASELINES)), [], "extra models trained and evaluated in the same run"),
    Key("overrides", FreeMapping(), {}, "per-model config changes, e.g. {static_xaj: {train: {lr: 0.05}}}"),
    Key("data.source", DataPath(), "demo", "demo, a CAMELS-US or basin-table folder/file, or a source name"),
    Key("data.basins", Optional(OneOf(Str(), ListOf(OneOf(Str(), Int()), min_len=1))), None, "basin ids; null = all"),
    Key("data.train_period", Optional(Period()), None, "[start, end] (required)"),
    Key("data.valid_period", Optional(Period()), None, "[start, end]; null = the last valid_fraction of train"),
    Key("data.valid_fraction", Float(0, 1, max_open=True), 0.2, "share of the training period held out; 0 = no early stopping"),
    Key("data.test_period", Optional(Period()), None, "[start, end] (required)"),
    Key("data.dynamic_inputs", ListOf(Str(), min_len=1), ["prcp", "pet"], "forcing variables the LSTM reads"),
    Key("data.static_inputs", Optional(OneOf(Choice("all", "none"), ListOf(Str()))), "all", "all, none or a list"),
    Key("data.attributes", Optional(DataPath()), None,
        "a camels_attributes_v2.0 folder joined onto the source's basins; null = the source's own"),
    Key("data.pet_method", Choice(*PET_METHODS), "auto", "core.data.pet method"),
    Key("window.warmup", Int(min=0), 365, "warmup steps before the targets"),
    Key("window.rho", Int(min=1), 365, "target steps per window"),
    Key("window.horizon", Int(min=1), 1, "steps ahead"),
    Key("window.stride", Int(min=1), 1, "steps between training windows"),
    Key("model_args.hidden", Int(min=1), 64, "LSTM hidden size"),
    Key("model_args.dropout", Float(0, 1, max_open=True), 0.0, "dropout"),
    Key("model_args.strategy", Choice("last", "mean_time", "mean_basin"), "last", "how LSTM outputs become parameters"),
    Key("model_args.lstm_steps", Optional(Int(min=1)), None, "the parameter LSTM reads the window's last N steps"),
    Key("model_args.bptt_steps", Optional(Int(min=1)), None, "truncated back-propagation through N LSTM steps"),
    Key("xaj.uh_length", Int(min=1), 15, "unit-hydrograph length (steps)"),
    Key("xaj.backend", Choice("auto", "reference", "fused"), "auto", "XAJ implementation"),
    Key("param_ranges", Optional(FreeMapping()), None, "{name: [lower, upper]}; omitted names keep the defaults"),
    *trainer_keys(epochs=20, batch_size=64, optimizer=OPTIMIZERS.names()[0], lr=0.005, weight_decay=0.0,
                  patience=5, grad_clip=1.0, amp="false"),  # float32 physics: no autocast unless asked
    Key("train.loss", Choice(*LOSSES.names()), "rmse", "training loss"),
    Key("train.kge_weight", Float(0), 1.0, "weight of the 1 - KGE term of loss nse_kge"),
    Key("train.volume_weight", Float(0), 0.5, "weight of the |beta - 1| (relative volume error) term of loss nse_volume"),
    Key("train.seed", Int(min=0), 42, "random seed"),
    Key("train.device", Device(), "auto", "auto, cpu or cuda[:N]"),
    Key("train.num_threads", Optional(Int(min=1)), None, "torch threads"),
    Key("evaluate.batch_size", Int(min=1), 512, "windows per forward pass"),
    Key("evaluate.stride", Int(min=1), 1, "a test window every k days, predicting its last k days"),
    # --- issue 12 (dXAJ recipe) keys ---
    Key("range_preset", Choice("classic", "camels_us"), "classic",
        "parameter range table (core.hydro.params.PRESETS); param_ranges edits single names on top"),
    Key("data.log_prcp", Bool(), False, "LSTM inputs read log(1 + P) instead of P; the physics reads P"),
    Key("model_args.dynamic_params", ListOf(Choice(*XAJ_NAMES)), [], "XAJ parameters given at every step (dXAJ)"),
    Key("model_args.n_components", Int(min=1), 1, "parallel XAJ per basin, averaged after routing (dXAJ)"),
    Key("model_args.ensemble", Int(min=1), 1, "models from consecutive seeds, averaged (dXAJ, LSTM)"),
    Key("xaj.warmup_routing", Bool(), False, "unit hydrograph starts with the warmup's inflow history"),
    Key("xaj.reservoir_equilibrium", Bool(), False,
        "interflow and groundwater reservoirs start in periodic steady state over the warmup"),
    Key("model_args.snow", Choice("auto", True, False), False,
        "HBV snow routine before XAJ (dXAJ, static XAJ); auto = on when temperatures go below 3.5 degC"),
    Key("xaj.step_hours", Float(0, min_open=True), 24.0, "step length; != 24 converts KI, KG, CI, CG, THETA"),
]


def _periods_required(config: dict) -> None:
    for key in ("train_period", "test_period"):
        if not config["data"].get(key):
            raise ConfigError("missing: give [start, end] dates", f"data.{key}")


def _overrides_name_models(config: dict) -> None:
    for name, value in (config.get("overrides") or {}).items():
        if name not in MODELS:
            raise ConfigError(f"unknown model {name!r}; choose from {', '.join(MODELS)}", f"overrides.{name}")
        if not isinstance(value, dict):
            raise ConfigError(f"expected a mapping of config changes, got {value!r}", f"overrides.{name}")


def _eval_stride_fits_the_window(config: dict) -> None:
    limit = config["window"]["rho"] + config["window"]["horizon"]
    if config["evaluate"]["stride"] > limit:
        raise ConfigError(f"expected at most window.rho + window.horizon = {limit} (a window predicts that many "
                          f"days), got {config['evaluate']['stride']}", "evaluate.stride")


SCHEMA = Schema("hydro", KEYS, checks=[
    _periods_required,
    _eval_stride_fits_the_window,
    _overrides_name_models,
    check_periods_disjoint(["data.train_period", "data.valid_period", "data.test_period"]),
])
