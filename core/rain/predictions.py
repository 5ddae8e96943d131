"""A rain run's ``predictions.nc`` read back as maps: the truth and every system at one lead.

The file's layout (``truth``, ``<system>`` or ``<system>_by_lead`` on ``(lead, issue_time, lat, lon)``)
is the rain half's own (docs/design.md, 8.5 predictions.nc); pages and the demo read maps through
:func:`rain_fields` and never index the file themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from core.rain.baselines import METHODS
from core.rain.config import EXPERIMENTS


@dataclass
class RainFields:
    """The rain maps of one lead of a rain run's predictions: ``truth`` and each system's
    ``[time, lat, lon]`` at the valid times ``times``."""

    truth: np.ndarray
    systems: dict[str, np.ndarray]
    times: pd.DatetimeIndex
    lat: np.ndarray
    lon: np.ndarray
    units: str | None


def rain_systems() -> list[str]:
    """Everything a rain run can predict, in table order: the experiments, then the baselines."""
    return [*EXPERIMENTS, *METHODS.names()]


def has_leads(ds: xr.Dataset) -> bool:
    """Whether rain predictions hold several lead times (runs from before lead times hold one)."""
    return "lead" in ds.dims


def rain_fields(ds: xr.Dataset, lead_minutes: float | str | None = None) -> RainFields:
    """The maps of rain predictions ``ds`` (:func:`open_predictions` with kind ``rain``) at the lead
    ``lead_minutes`` (``*_by_lead`` variables); a run without leads gives its one lead.

    Raises ``ValueError`` naming the lead when the file has no such lead.
    """
    lat, lon = ds["lat"].values, ds["lon"].values
    units = ds["truth"].attrs.get("units")
    names = rain_systems()
    if has_leads(ds) and lead_minutes is not None:
        stored = [f"{float(v):g}" for v in ds["lead"].values]
        wanted = f"{float(lead_minutes):g}"
        if wanted not in stored:
            raise ValueError(f"lead {wanted} min is not in the predictions (leads: {', '.join(stored)})")
        li = stored.index(wanted)
        systems = {n: ds[f"{n}_by_lead"].values[li] for n in names if f"{n}_by_lead" in ds}
        return RainFields(ds["truth_by_lead"].values[li], systems, pd.DatetimeIndex(ds["valid_time"].values[li]),
                          lat, lon, units)
    systems = {n: ds[n].values for n in names if n in ds}
    return RainFields(ds["truth"].values, systems, pd.DatetimeIndex(ds["time"].values), lat, lon, units)
