"""Model inputs from a basin dataset: physics forcing x, normalised LSTM inputs z, targets y.

Arrays cover the whole record basin-major (``[basin, time, ...]``) so windows of any period can
take their warmup from the days before that period. Normalisation statistics are fitted on the
training period only (``core.data.splits.Normalizer``) and stored with the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from core.data.camels_us import STREAMFLOW_SIGNATURES
from core.data.splits import Normalizer, parse_period
from core.hydro.snow_setup import air_temperature


@dataclass
class HydroInputs:
    """x ``[basin, time, 2]`` P and PET (mm/step), with the snow routine ``[basin, time, 3]`` P, PET and
    the daily mean air temperature (degC); z ``[basin, time, F]``; y ``[basin, time]`` q_obs (mm/step).

    q_std ``[basin]``: each basin's streamflow standard deviation over the training period (mm/step).
    """

    basins: list[str]
    time: pd.DatetimeIndex
    x: np.ndarray
    z: np.ndarray
    y: np.ndarray
    input_names: list[str]
    q_std: np.ndarray

    def index(self, date: Any, what: str) -> int:
        """Index of ``date`` on the time axis; raises naming ``what`` when it is not in the record."""
        ts = pd.Timestamp(date)
        pos = self.time.get_indexer([ts])[0]
        if pos < 0:
            raise ValueError(f"{what} date {ts.date()} is not in the data ({self.time[0].date()} .. {self.time[-1].date()})")
        return int(pos)

    def period_slice(self, period: Sequence[Any], what: str) -> tuple[int, int]:
        """Inclusive ``(first, last)`` time indices of ``period``."""
        start, end = parse_period(period, what)
        first = int(self.time.searchsorted(start, side="left"))
        last = int(self.time.searchsorted(end, side="right")) - 1
        if last < first:
            raise ValueError(f"{what} period {start.date()} .. {end.date()} holds no time step of the data")
        return first, last


def static_names(ds: xr.Dataset, wanted: str | Sequence[str] | None) -> list[str]:
    """Static attributes to feed the LSTM, or the names given. ``"all"``: the numeric ``(basin,)``
    variables known for every basin of ``ds`` (an attribute missing for one basin would stop training),
    except the streamflow signatures (``core.data.camels_us.STREAMFLOW_SIGNATURES``: they summarise
    the observed flow of the test years)."""
    if wanted in (None, "none", []):
        return []
    if wanted == "all":
        names = ds.attrs.get("static_variables")
        if names is None:
            names = [v for v in ds.data_vars if ds[v].dims == ("basin",)]
        return [n for n in names if n in ds and np.issubdtype(ds[n].dtype, np.number)
                and n not in STREAMFLOW_SIGNATURES and bool(np.isfinite(ds[n].values).all())]
    missing = [n for n in wanted if n not in ds]
    if missing:
        raise ValueError(f"config data.static_inputs names {missing} not in the dataset {ds.attrs.get('source')}")
    return list(wanted)


def derived_inputs(ds: xr.Dataset, dynamic: Sequence[str], log_prcp: bool = False) -> tuple[xr.Dataset, list[str]]:
    """Add derived LSTM inputs and return ``(ds, dynamic names)``.

    ``log_prcp``: ``prcp`` is replaced in the LSTM inputs by ``prcp_log`` = log(1 + P), which is then
    z-scored like every input: daily rainfall is heavily skewed, and its z-score is dominated by a few
    storms. The physics always receives P itself (``x``).
    """
    dynamic = list(dynamic)
    if log_prcp and "prcp" in dynamic:
        prcp = ds["prcp"]
        ds = ds.assign(prcp_log=np.log1p(prcp.clip(min=0.0)).assign_attrs(units="log(1 + mm/step)"))
        dynamic[dynamic.index("prcp")] = "prcp_log"
    return ds, dynamic


def fit_normalizer(ds: xr.Dataset, train_period: Sequence[Any], dynamic: Sequence[str], statics: Sequence[str]) -> Normalizer:
    """Statistics of the dynamic inputs and statics over the training period only."""
    start, end = parse_period(train_period, "train")
    train = ds.sel(time=slice(start, end))
    norm = Normalizer.fit(train, list(dynamic), statics=list(statics))
    # streamflow scale for the plain LSTM baseline, from training data too
    norm.stats["q_obs"] = Normalizer.fit(train, ["q_obs"]).stats["q_obs"]
    return norm


def build_inputs(ds: xr.Dataset, norm: Normalizer, dynamic: Sequence[str], statics: Sequence[str],
                 train_period: Sequence[Any], temperature: bool = False) -> HydroInputs:
    """Arrays for the whole record of ``ds`` scaled with ``norm``.

    ``temperature``: x gets a third channel, the daily mean air temperature (degC) the snow routine
    reads (``snow_setup.air_temperature``). Missing forcing is an error (the physics cannot run
    through it); missing q_obs is allowed.
    """
    for name in ("prcp", "pet", "q_obs"):
        if name not in ds:
            raise ValueError(f"dataset {ds.attrs.get('source')} has no variable {name!r}")
    ds = ds.transpose("basin", "time", ...)
    channels, channel_names = [ds["prcp"].values, ds["pet"].values], ["prcp", "pet"]
    if temperature:
        temp = air_temperature(ds)
        if temp is None:
            raise ValueError(f"dataset {ds.attrs.get('source')} has no temperature (tmean, or tmin and tmax) "
                             "for the snow routine")
        channels.append(temp.transpose("basin", "time").values)
        channel_names.append("tmean")
    x = np.stack(channels, axis=-1).astype(np.float32)
    z_parts = []
    for name in dynamic:
        values = np.asarray(norm.apply(ds[name].values.astype(np.float64), name))
        z_parts.append(values)
    n_time = ds.sizes["time"]
    for name in statics:
        values = np.asarray(norm.apply(ds[name].values.astype(np.float64), name))
        z_parts.append(np.repeat(values[:, None], n_time, axis=1))
    z = np.stack(z_parts, axis=-1).astype(np.float32) if z_parts else np.zeros(x.shape[:2] + (0,), np.float32)
    basins = [str(b) for b in ds["basin"].values]
    times = pd.DatetimeIndex(ds["time"].values)
    for arr, names in ((x, channel_names), (z, list(dynamic) + list(statics))):
        bad = ~np.isfinite(arr)
        if bad.any():
            b, t, f = (int(i[0]) for i in np.nonzero(bad))
            raise ValueError(
                f"input {names[f]!r} of basin {basins[b]} is missing (NaN) on {times[t].date()}: "
                "fill or drop the gap before training"
            )
    y = ds["q_obs"].values.astype(np.float32)
    start, end = parse_period(train_period, "train")
    in_train = np.asarray((times >= start) & (times <= end))
    with np.errstate(invalid="ignore"):
        q_std = np.nanstd(np.where(in_train[None, :], y, np.nan), axis=1)
    q_std = np.where(np.isfinite(q_std) & (q_std > 0), q_std, 1.0).astype(np.float32)
    return HydroInputs(basins=basins, time=times, x=x, z=z, y=y,
                       input_names=list(dynamic) + list(statics), q_std=q_std)


def resolve_periods(config: Mapping[str, Any], time: pd.DatetimeIndex) -> dict[str, tuple[str, str] | None]:
    """Train, valid and test periods as ISO date pairs; valid carved off the end of train if not given."""
    data = config["data"]
    train = parse_period(data["train_period"], "train")
    test = parse_period(data["test_period"], "test")
    if data.get("valid_period"):
        valid = parse_period(data["valid_period"], "valid")
    elif float(data.get("valid_fraction") or 0) > 0:
        days = time[(time >= train[0]) & (time <= train[1])]
        if len(days) < 10:
            raise ValueError(f"train period {train[0].date()} .. {train[1].date()} holds only {len(days)} steps")
        cut = int(len(days) * (1 - float(data["valid_fraction"])))
        valid = (days[cut], days[-1])
        train = (days[0], days[cut - 1])
    else:
        valid = None
    iso = lambda p: (str(p[0].date()), str(p[1].date())) if p is not None else None  # noqa: E731
    return {"train": iso(train), "valid": iso(valid), "test": iso(test)}
