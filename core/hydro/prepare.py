"""The data of a hydrology run, ready for every model in it: basins loaded, periods resolved,
normalisation fitted on the training period, arrays built, windows specified, parameter ranges set.

:func:`prepare` does it once; :class:`PreparedCache` shares the result between the models of a run
(training and evaluation alike), so a run with two baselines loads and normalises its data once.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from core.data import DataError, DataWarning, load_basins
from core.data.normalize import Normalizer
from core.hydro.inputs import HydroInputs, build_inputs, derived_inputs, fit_normalizer, resolve_periods, static_names
from core.hydro.params import ParamRanges
from core.hydro.snow_setup import resolve_snow
from core.hydro.windows import WindowSpec, window_table


@dataclass
class Prepared:
    """Everything a model needs from the data, shared by training and evaluation."""

    inputs: HydroInputs
    norm: Normalizer
    periods: dict[str, tuple[str, str] | None]
    spec: WindowSpec
    ranges: ParamRanges
    snow: bool = False
    """The snow routine is on (``model_args.snow`` resolved, ``core.hydro.snow_setup``): x carries temperature."""
    data_warnings: list[str] = field(default_factory=list)
    """Quirks of the data kept as given (:class:`core.data.DataWarning`), recorded in the run's metrics."""


def prepare(config: Mapping[str, Any], norm: Normalizer | None = None) -> Prepared:
    """Load the basins, resolve periods, fit (or reuse) the normalisation, build the arrays."""
    data = config["data"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        ds = load_basins(data["source"], basins=data.get("basins"), pet_method=data.get("pet_method", "auto"),
                         attributes=data.get("attributes"))
    noted = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    for w in caught:  # anything else goes on to the usual handlers
        if not issubclass(w.category, DataWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    periods = resolve_periods(config, pd.DatetimeIndex(ds["time"].values))
    check_test_flow(ds, periods.get("test"), str(data["source"]))
    ds, dynamic = derived_inputs(ds, list(data["dynamic_inputs"]), bool(data.get("log_prcp", False)))
    statics = static_names(ds, data.get("static_inputs"))
    if norm is None:
        norm = fit_normalizer(ds, periods["train"], dynamic, statics)
    else:
        statics = list(norm.static)
    snow = resolve_snow((config.get("model_args") or {}).get("snow", False), ds, periods)
    inputs = build_inputs(ds, norm, dynamic, statics, periods["train"], temperature=snow)
    w = config["window"]
    spec = WindowSpec(int(w["warmup"]), int(w["rho"]), int(w["horizon"]), int(w["stride"]))
    ranges = ParamRanges.from_dict(config.get("param_ranges"), source="config param_ranges",
                                   preset=config.get("range_preset", "classic"))
    return Prepared(inputs=inputs, norm=norm, periods=periods, spec=spec, ranges=ranges, snow=snow,
                    data_warnings=noted)


def check_test_flow(ds: xr.Dataset, test: tuple[str, str] | None, source: str) -> None:
    """Raise DataError when a basin's observed flow is 0 on every observed step of the test period.

    NSE and KGE divide by the spread of the observations: such a basin would train and then be
    reported with NaN scores. Checked before training, naming the basin and the period.
    """
    if test is None or "q_obs" not in ds:
        return
    q = ds["q_obs"].sel(time=slice(test[0], test[1]))
    for basin in q["basin"].values:
        values = q.sel(basin=basin).values
        observed = values[np.isfinite(values)]
        if observed.size and not observed.any():
            raise DataError(f"observed streamflow is 0 on all {observed.size} observed steps of the test period "
                            f"{test[0]} .. {test[1]}; NSE would be undefined: choose another test period or basin",
                            file=source, variable="q_obs", basin=str(basin), date=test[0])


class PreparedCache:
    """The data of a run, prepared once and shared by every model whose data sections agree.

    A run's models differ in ``model``, ``model_args`` and ``train``; only ``data``, ``window``,
    ``param_ranges`` and ``range_preset`` (which a model's ``overrides`` may change) shape
    :class:`Prepared`, and ``model_args.snow`` (the temperature channel of x).
    """

    SECTIONS = ("data", "window", "param_ranges", "range_preset")

    def __init__(self) -> None:
        self._items: dict[str, Prepared] = {}

    def get(self, config: Mapping[str, Any]) -> Prepared:
        sections = {k: config.get(k) for k in self.SECTIONS}
        sections["snow"] = (config.get("model_args") or {}).get("snow", False)
        key = json.dumps(sections, sort_keys=True, default=str)
        if key not in self._items:
            self._items[key] = prepare(config)
        return self._items[key]




def period_table(prepared: Prepared, period: str, stride: int | None = None) -> np.ndarray:
    """Windows whose targets lie inside ``period`` (warmup may reach into the preceding days)."""
    bounds = prepared.periods.get(period)
    if bounds is None:
        return np.zeros((0, 2), dtype=np.int64)
    first, last = prepared.inputs.period_slice(bounds, period)
    spec = prepared.spec
    if stride is not None:
        spec = WindowSpec(spec.warmup, spec.rho, spec.horizon, stride)
    table = window_table(prepared.inputs.y, spec, first=first, last=last)
    return table
