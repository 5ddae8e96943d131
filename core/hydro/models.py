"""The hydrology models by config name (``model``, ``baselines``, ``overrides``).

Every entry of :data:`MODELS` is ``build(config, prepared) -> nn.Module``: ``config`` the completed
run config (:mod:`core.hydro.config`), ``prepared`` the data of :func:`core.hydro.train.prepare`
(input names, normalisation, parameter ranges). ``get_model(name)`` returns the builder;
:func:`build_model` adds the seed ensemble (``model_args.ensemble``).

- ``dpl``: dXAJ, a parameter LSTM feeding the differentiable XAJ (:class:`core.hydro.dpl.DPLModel`).
- ``static_xaj``: XAJ with one trained parameter set per basin (a baseline).
- ``lstm``: an LSTM predicting streamflow directly (a baseline).

The first entry is the main model; the others are the baselines a run can train beside it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import nn

from core.hydro.baselines import LSTMBaseline, StaticXAJ
from core.hydro.dpl import DPLModel
from core.hydro.ensemble import Ensemble
from core.registry import Registry
from core.hydro.prepare import Prepared

Builder = Callable[[Mapping[str, Any], "Prepared"], nn.Module]
MODELS: Registry[Builder] = Registry("hydro model")
MAIN_MODEL = "dpl"
NO_ENSEMBLE = frozenset({"static_xaj"})
"""Models fitted per basin without randomness worth averaging: ``model_args.ensemble`` does not apply."""


def _xaj_args(config: Mapping[str, Any]) -> dict[str, Any]:
    xaj = config["xaj"]
    return {"uh_length": int(xaj["uh_length"]), "backend": xaj["backend"],
            "warmup_routing": bool(xaj.get("warmup_routing", False)),
            "step_hours": float(xaj.get("step_hours", 24.0)),
            "reservoir_equilibrium": bool(xaj.get("reservoir_equilibrium", False))}


@MODELS.register("dpl")
def _dpl(config: Mapping[str, Any], prepared: "Prepared") -> nn.Module:
    margs = config["model_args"]
    return DPLModel(len(prepared.inputs.input_names), prepared.ranges, hidden=int(margs["hidden"]),
                    dropout=float(margs["dropout"]), strategy=margs["strategy"], lstm_steps=margs.get("lstm_steps"),
                    bptt_steps=margs.get("bptt_steps"), dynamic_params=margs.get("dynamic_params"),
                    n_components=int(margs.get("n_components", 1)), snow=prepared.snow, **_xaj_args(config))


@MODELS.register("static_xaj")
def _static_xaj(config: Mapping[str, Any], prepared: "Prepared") -> nn.Module:
    return StaticXAJ(len(prepared.inputs.basins), prepared.ranges, snow=prepared.snow, **_xaj_args(config))


@MODELS.register("lstm")
def _lstm(config: Mapping[str, Any], prepared: "Prepared") -> nn.Module:
    margs = config["model_args"]
    return LSTMBaseline(len(prepared.inputs.input_names), hidden=int(margs["hidden"]), dropout=float(margs["dropout"]),
                        q_scale=prepared.norm.stats["q_obs"]["std"])


def model_names() -> list[str]:
    """Every model name, the main model first (the choices of config key ``model``)."""
    return MODELS.names()


def baseline_names() -> list[str]:
    """The models a run can train beside its main one (config key ``baselines``)."""
    return [n for n in MODELS.names() if n != MAIN_MODEL]


def get_model(name: str) -> Builder:
    """The builder ``build(config, prepared)`` of the model called ``name`` (one of :data:`MODELS`)."""
    return MODELS.get(name)


def build_model(config: Mapping[str, Any], prepared: "Prepared") -> nn.Module:
    """The network of ``config["model"]`` sized for the prepared inputs (``model_args.ensemble``
    n > 1: n of them from consecutive seeds, averaged)."""
    build = get_model(config["model"])
    n = int(config["model_args"].get("ensemble", 1) or 1)
    if n > 1 and config["model"] not in NO_ENSEMBLE:
        seed = int(config["train"]["seed"])
        return Ensemble([_seeded(seed + i, lambda: build(config, prepared)) for i in range(n)])
    return build(config, prepared)


def _seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    # each member's initial weights depend only on its own seed, not on what was drawn before
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return make()
