"""Whether a run uses the snow routine (config key ``model_args.snow``) and its temperature input.

``snow: true`` / ``false`` force the routine on or off. ``snow: auto`` turns it on when the daily
mean air temperature of some basin, on some day of the run's periods (train, valid, test), goes
below ``snow_params.snowfall_ceiling()`` (3.5 degC: the upper end of the TT range plus half the
rain/snow partition interval), i.e. when some parameter set inside the ranges would make snow
there; a dataset without temperature leaves it off. The decision is for the whole run (one model
for all its basins); a basin that never sees snow simply passes P through the empty pack.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from core.hydro.snow_params import snowfall_ceiling


def air_temperature(ds: xr.Dataset) -> xr.DataArray | None:
    """Daily mean air temperature ``(basin, time)`` degC: ``tmean``, else ``(tmin + tmax) / 2``, else None."""
    if "tmean" in ds:
        return ds["tmean"]
    if "tmin" in ds and "tmax" in ds:
        return (ds["tmin"] + ds["tmax"]) / 2.0
    return None


def coldest_in_periods(ds: xr.Dataset, periods: Mapping[str, Any]) -> float | None:
    """The lowest daily mean temperature (degC) over the run's periods and basins (None: no temperature)."""
    temp = air_temperature(ds)
    if temp is None:
        return None
    time = pd.DatetimeIndex(ds["time"].values)
    used = np.zeros(len(time), dtype=bool)
    for bounds in periods.values():
        if bounds is not None:
            used |= np.asarray((time >= pd.Timestamp(bounds[0])) & (time <= pd.Timestamp(bounds[1])))
    values = temp.transpose("basin", "time").values[:, used]
    finite = values[np.isfinite(values)]
    return float(finite.min()) if finite.size else None


def resolve_snow(setting: Any, ds: xr.Dataset, periods: Mapping[str, Any]) -> bool:
    """``model_args.snow`` (True, False or "auto") -> whether this run's models use the snow routine.

    Raises naming the dataset when ``True`` is asked of data without a temperature.
    """
    if setting is True:
        if air_temperature(ds) is None:
            raise ValueError(f"config key 'model_args.snow' is true but dataset {ds.attrs.get('source')} has no "
                             "temperature (tmean, or tmin and tmax): add it or set snow: false")
        return True
    if setting == "auto":
        coldest = coldest_in_periods(ds, periods)
        return coldest is not None and coldest < snowfall_ceiling()
    return False
