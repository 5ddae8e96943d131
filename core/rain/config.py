"""The keys of a rain (ST-RainNet) run config: one row per key, ``Key(path, type, default, help)``.

To add a key, add a row here (and use it in ``core.rain``); the loader then accepts it, checks its
type and range and fills its default. Cross-key checks are at the bottom. Loss, optimizer and
baseline names come from their registries. ``core.rain.pipeline`` loads configs with :data:`SCHEMA`.
"""

from __future__ import annotations

from core.rain.baselines import METHODS as BASELINES
from core.rain.losses import LOSSES
from core.training.trainer_keys import AMP_FLAG, trainer_keys
from core.training.config import (
    Bool, Choice, ConfigError, DataPath, Device, Float, FreeMapping, Int, Key, ListOf, OneOf, Optional,
    Period, Schema, Str, check_periods_disjoint,
)

SIDES = ("west", "east", "south", "north", "auto")
EXPERIMENTS = ("exp1", "exp2")  # experiment 1: region 1 alone; experiment 2: with the upstream region 2
GUIDES = tuple(n for n in BASELINES.names() if n != "persistence")
"""Baselines that can guide the net (persistence adds nothing the net does not already see)."""
AUGMENTS = ("none", "flips", "dihedral")
EVENT_ROLES = ("train", "val", "test")
EVENT_KEYS = ("folder", "start", "end", "role")

KEYS = [
    Key("kind", Choice("rain"), "rain", "kind of run"),
    Key("name", Optional(Str()), None, "label of the run"),
    Key("description", Optional(Str()), None, "free text"),
    Key("seed", Int(min=0), 0, "random seed"),
    Key("data.source", DataPath(), "demo", "demo, a NetCDF/Zarr file or a radar folder"),
    Key("data.demo", FreeMapping(), {}, "arguments of core.data.weather_demo.load_demo_weather"),
    Key("data.radar", FreeMapping(), {}, "arguments of core.data.radar.load_radar"),
    Key("data.variables", OneOf(Choice("auto"), ListOf(Str(), min_len=1)), "auto", "atmospheric variables to stack"),
    Key("data.levels", OneOf(Choice("auto"), ListOf(Float(), min_len=1)), "auto", "pressure levels to stack"),
    Key("data.coarsen", Int(min=1), 1, "block-average the grid by this factor"),
    Key("data.steps", Int(min=1), 6, "input frames per sample"),
    # --- issue 30 (training across radars, core.rain.events): events of several radar folders ---
    Key("data.events", ListOf(FreeMapping()), [],
        "radar events {folder (under data.source), start, end, role: train|val|test}; one test event"),
    Key("data.crop", Int(min=4), 24, "with data.events: region-1 crop side (cells) of the training samples"),
    Key("data.crops_per_issue", Int(min=1), 4, "with data.events: random crops per training issue time"),
    Key("regions.region1", Optional(FreeMapping()), None, "{lat: [south, north], lon: [west, east]} (required)"),
    Key("regions.region2", Optional(FreeMapping()), None, "default: region1's size on the upstream side"),
    Key("regions.upstream_side", Choice(*SIDES), "west", "where region 2 lies; auto = from the rain motion"),
    Key("split.train", Optional(Period()), None, "[start, end] of predicted frames"),
    Key("split.val", Optional(Period()), None, "[start, end]; default: the last val_fraction of train"),
    Key("split.test", Optional(Period()), None, "[start, end]"),
    Key("split.train_fraction", Optional(Float(0, 1, min_open=True, max_open=True)), None, "without periods: share of samples (default 0.7)"),
    Key("split.val_fraction", Optional(Float(0, 1, max_open=True)), None, "share held out for validation (default 0.15)"),
    Key("experiments", OneOf(ListOf(Choice(*EXPERIMENTS), min_len=1), Choice(*EXPERIMENTS)), list(EXPERIMENTS), " and/or ".join(EXPERIMENTS)),
    Key("model.hidden_channels", ListOf(Int(min=1), min_len=1), [32, 64], "channels per level (last = bottleneck)"),
    Key("model.kernel_size", Int(min=1), 3, "ConvLSTM kernel size"),
    *trainer_keys(epochs=20, batch_size=8, grad_accum=1, lr=1e-3, weight_decay=1e-2, patience=5, amp="auto"),
    Key("train.loss", Choice(*LOSSES.names()), LOSSES.names()[0], "training loss"),
    Key("train.alpha", Float(0), 1.0, "weighted-MSE weight of heavy rain"),
    Key("train.channels_last", AMP_FLAG, "auto", "NHWC memory format: auto, true or false"),
    Key("train.device", Device(), "auto", "auto, cpu or cuda[:N]"),
    Key("evaluate.thresholds", Optional(ListOf(Float(0, min_open=True), min_len=1)), None, "rain thresholds; null = defaults of the source"),
    Key("evaluate.fss_scales", ListOf(Int(min=1), min_len=1), [1, 3, 5], "FSS window sizes (pixels)"),
    Key("evaluate.n_boot", Int(min=1), 1000, "bootstrap resamples"),
    Key("evaluate.batch_size", Int(min=1), 8, "samples per forward pass"),
    # --- issue 13 (rain helper): lead times, baselines, extrapolation guide (core.rain.experiments.NowcastConfig) ---
    Key("nowcast.leads", ListOf(Int(min=1), min_len=1), [1], "forecast steps scored; the net predicts 1..max at once"),
    Key("nowcast.main_lead", Optional(Int(min=1)), None, "lead of metrics.json 'test'; null = the first lead"),
    Key("nowcast.baselines", Optional(ListOf(Choice(*BASELINES.names()))), None,
        "baselines scored beside the experiments; null = all of them"),
    Key("nowcast.guide", Choice("none", *GUIDES), "none",
        "give the net a baseline nowcast as input and learn a correction to it (residual)"),
    Key("nowcast.augment", Choice(*AUGMENTS), "none",
        "random flips of training samples; dihedral (data.events): flips and 90-degree rotations"),
]


def _experiments_as_list(config: dict) -> None:
    exps = config["experiments"]
    config["experiments"] = list(dict.fromkeys([exps] if isinstance(exps, str) else exps))


def _split_periods_complete(config: dict) -> None:
    split = config["split"]
    if (split.get("train") is None) != (split.get("test") is None):
        raise ConfigError("give both train: [start, end] and test: [start, end] (or neither, for fractions)", "split")
    if split.get("val") is not None and split.get("train") is None:
        raise ConfigError("a val period needs train and test periods too", "split.val")
    tf, vf = split.get("train_fraction"), split.get("val_fraction")
    if split.get("train") is None and (tf if tf is not None else 0.7) + (vf if vf is not None else 0.15) >= 1:
        raise ConfigError(f"train_fraction + val_fraction must leave a test part, got {tf} + {vf}", "split")


def _region1_required(config: dict) -> None:
    if not config["regions"].get("region1"):
        raise ConfigError("missing: give {lat: [south, north], lon: [west, east]}", "regions.region1")


def _thresholds_increasing(config: dict) -> None:
    values = config["evaluate"]["thresholds"]
    if values and any(b <= a for a, b in zip(values, values[1:])):
        raise ConfigError(f"expected strictly increasing thresholds, got {values}", "evaluate.thresholds")


def _main_lead_in_leads(config: dict) -> None:
    main, leads = config["nowcast"]["main_lead"], config["nowcast"]["leads"]
    if main is not None and main not in leads:
        raise ConfigError(f"expected one of nowcast.leads {leads}, got {main}", "nowcast.main_lead")


def _events_complete(config: dict) -> None:
    """With ``data.events``: known keys, a folder each, roles that leave a test event and training."""
    events = config["data"]["events"]
    if not events:
        if config["nowcast"]["augment"] == "dihedral":
            raise ConfigError("dihedral augmentation needs data.events (random crops; a fixed region join "
                              "cannot rotate)", "nowcast.augment")
        return
    roles = []
    for i, event in enumerate(events):
        where = f"data.events[{i}]"
        unknown = sorted(set(event) - set(EVENT_KEYS))
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; known: {', '.join(EVENT_KEYS)}", where)
        if not isinstance(event.get("folder"), str) or not event["folder"]:
            raise ConfigError("missing: folder (a radar folder under data.source)", where)
        role = event.get("role", "train")
        if role not in EVENT_ROLES:
            raise ConfigError(f"role must be one of {', '.join(EVENT_ROLES)}, got {role!r}", where)
        roles.append(role)
    if roles.count("test") != 1 or "train" not in roles:
        raise ConfigError(f"give one event with role: test and at least one with role: train, got roles {roles}",
                          "data.events")
    if any(config["split"].get(k) is not None for k in ("train", "val", "test")):
        raise ConfigError("with data.events the events' roles split the data: leave split.train/val/test unset",
                          "split")


def _kernel_odd(config: dict) -> None:
    if config["model"]["kernel_size"] % 2 == 0:
        raise ConfigError(f"expected an odd kernel size (the output keeps the grid), got {config['model']['kernel_size']}",
                          "model.kernel_size")


SCHEMA = Schema("rain", KEYS, checks=[
    _experiments_as_list,
    _kernel_odd,
    _region1_required,
    _thresholds_increasing,
    _main_lead_in_leads,
    _split_periods_complete,
    _events_complete,
    check_periods_disjoint(["split.train", "split.val", "split.test"]),
])


def nowcast_section(raw: dict | None) -> dict:
    """The ``nowcast`` section ``raw`` over this table's defaults, checked (also main_lead in leads)."""
    section = SCHEMA.complete_section("nowcast", raw)
    _main_lead_in_leads({"nowcast": section})
    return section
