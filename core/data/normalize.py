"""The one normalisation of both models, fitted on the training period only and stored with every run.

Each variable (a basin-dataset variable for dXAJ, a stacked channel for ST-RainNet) has a ``mean``
and a ``std``; it is scaled either as a z-score ``(x - mean) / std`` or, for the variables listed in
``log1p`` (rain), as ``log1p(max(x, 0)) / std`` with ``std`` the RMS of ``log1p`` over the training
frames, so zero rain stays exactly zero and the inverse is ``expm1(z std)``. Statistics are
NaN-aware; a zero spread is replaced by 1 so a constant input maps to 0. :meth:`Normalizer.to_dict`
holds plain numbers, strings and lists only (safe in a ``weights_only`` checkpoint and in YAML).

Typical use::

    norm = Normalizer.fit(parts["train"], ["prcp", "pet"], statics=["aridity"])     # dXAJ
    norm = Normalizer.fit_stack(stack, train_frames, channels)                       # ST-RainNet
    norm = Normalizer.from_dict(norm.to_dict())
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataError


@dataclass
class Normalizer:
    """Per-variable scaling. ``stats``: ``{name: {"mean", "std"}}`` (insertion order = channel order);
    ``period``: the (start, end) dates fitted on (provenance); ``static``: names of static attributes;
    ``log1p``: names scaled as ``log1p(max(x, 0)) / std``."""

    stats: dict[str, dict[str, float]]
    period: tuple[str, str] | None = None
    static: list[str] = field(default_factory=list)
    log1p: list[str] = field(default_factory=list)

    # --- fitting -------------------------------------------------------------------------------
    @classmethod
    def fit(cls, train: xr.Dataset, variables: Iterable[str], statics: Iterable[str] = ()) -> "Normalizer":
        """z-scores of the dynamic ``variables`` and ``statics`` over the training-period dataset ``train``."""
        stats: dict[str, dict[str, float]] = {}
        static_list = list(statics)
        for name in list(variables) + static_list:
            if name not in train:
                raise DataError(f"cannot normalise {name!r}: not in the dataset", file=train.attrs.get("source"), variable=name)
            values = np.asarray(train[name].values, dtype=float)
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                raise DataError(f"cannot normalise {name!r}: no finite value in the training period",
                                file=train.attrs.get("source"), variable=name)
            mean, std = float(finite.mean()), float(finite.std())
            stats[name] = {"mean": mean, "std": std if std > 0 else 1.0}
        time = train.time.values
        period = (str(pd.Timestamp(time[0]).date()), str(pd.Timestamp(time[-1]).date())) if len(time) else None
        return cls(stats=stats, period=period, static=static_list)

    @classmethod
    def fit_stack(cls, stack: np.ndarray, frames: np.ndarray, channels: Sequence[str] | None = None) -> "Normalizer":
        """Fit on ``stack[frames]`` (``[time, C, y, x]``, rain last): z-score per atmospheric channel,
        ``log1p`` RMS scale for rain. ``channels``: the C names (default ``channel0 .. rain``)."""
        if len(frames) == 0:
            raise ValueError("cannot fit the normalisation: the training period holds no frames")
        n = stack.shape[1]
        names = list(channels) if channels is not None else [f"channel{i}" for i in range(n - 1)] + ["rain"]
        if len(names) != n:
            raise ValueError(f"{len(names)} channel names for a stack of {n} channels")
        train = stack[np.asarray(frames)]
        atmos = train[:, :-1].astype(np.float64)
        mean = np.nanmean(atmos, axis=(0, 2, 3)) if atmos.shape[1] else np.zeros(0)
        std = np.nanstd(atmos, axis=(0, 2, 3)) if atmos.shape[1] else np.zeros(0)
        # constant channels (e.g. a level never reached) would divide by zero
        std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        logr = np.log1p(np.clip(train[:, -1].astype(np.float64), 0, None))
        scale = float(np.sqrt(np.nanmean(logr**2))) if np.isfinite(logr).any() else 1.0
        if not np.isfinite(scale) or scale < 1e-6:
            scale = 1.0
        stats = {name: {"mean": float(m), "std": float(s)} for name, m, s in zip(names[:-1], mean, std)}
        stats[names[-1]] = {"mean": 0.0, "std": scale}
        return cls(stats=stats, log1p=[names[-1]])

    # --- storage -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML/checkpoint-safe form."""
        return {
            "method": "zscore",
            "period": list(self.period) if self.period else None,
            "static": list(self.static),
            "log1p": list(self.log1p),
            "stats": {k: {"mean": float(v["mean"]), "std": float(v["std"])} for k, v in self.stats.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Normalizer":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping) or data.get("method", "zscore") != "zscore":
            raise DataError(f"unknown normalisation {data!r:.200}")
        try:
            stats = {str(k): {"mean": float(v["mean"]), "std": float(v["std"])} for k, v in data["stats"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"malformed normalisation statistics ({exc})") from exc
        period = tuple(data["period"]) if data.get("period") else None
        return cls(stats=stats, period=period, static=list(data.get("static") or []), log1p=list(data.get("log1p") or []))

    # --- scaling -------------------------------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        return list(self.stats)

    def _get(self, name: str) -> tuple[float, float]:
        if name not in self.stats:
            raise DataError(f"no normalisation statistics for {name!r} (fitted: {', '.join(self.stats)})", variable=name)
        return self.stats[name]["mean"], self.stats[name]["std"]

    def apply(self, values: Any, name: str) -> Any:
        """Scale an array / DataArray of variable ``name``; NaN stays NaN."""
        mean, std = self._get(name)
        if name in self.log1p:
            return np.log1p(np.clip(values, 0, None)) / std
        return (values - mean) / std

    def invert(self, values: Any, name: str) -> Any:
        """Undo :meth:`apply` (numpy, xarray or a torch tensor)."""
        mean, std = self._get(name)
        if name in self.log1p:
            if hasattr(values, "expm1"):  # torch tensor
                return (values * std).expm1()
            return np.expm1(np.asarray(values, dtype=np.float64) * std)
        return values * std + mean

    def transform(self, ds: xr.Dataset) -> xr.Dataset:
        """Copy of ``ds`` with every fitted variable scaled (other variables unchanged)."""
        out = ds.copy()
        for name in self.stats:
            if name in out:
                out[name] = self.apply(out[name], name)
                original = ds[name].attrs
                out[name].attrs = {**original, "units": "1", "normalised": "zscore", "original_units": original.get("units", "")}
        return out

    def inverse_transform(self, ds: xr.Dataset) -> xr.Dataset:
        """Inverse of :meth:`transform`."""
        out = ds.copy()
        for name in self.stats:
            if name in out:
                out[name] = self.invert(out[name], name)
                attrs = {k: v for k, v in ds[name].attrs.items() if k not in ("normalised", "original_units")}
                attrs["units"] = ds[name].attrs.get("original_units", attrs.get("units", ""))
                out[name].attrs = attrs
        return out

    def transform_stack(self, stack: np.ndarray) -> np.ndarray:
        """Normalised float32 copy of ``stack`` ``[time, C, y, x]`` in the fitted channel order."""
        names = self.channels
        if stack.shape[1] != len(names):
            raise ValueError(f"normalisation was fitted on {len(names)} channels, data has {stack.shape[1]}")
        out = np.empty_like(stack, dtype=np.float32)
        zs = [i for i, n in enumerate(names) if n not in self.log1p]
        if zs:
            mean = np.asarray([self.stats[names[i]]["mean"] for i in zs], dtype=np.float32)[None, :, None, None]
            std = np.asarray([self.stats[names[i]]["std"] for i in zs], dtype=np.float32)[None, :, None, None]
            out[:, zs] = (stack[:, zs] - mean) / std
        for i, n in enumerate(names):
            if n in self.log1p:
                out[:, i] = (np.log1p(np.clip(stack[:, i], 0, None)) / self.stats[n]["std"]).astype(np.float32)
        return out

    # --- rain (the last, log-scaled channel of a stack) ----------------------------------------
    @property
    def rain_name(self) -> str:
        if not self.log1p:
            raise DataError("this normalisation has no log-scaled rain channel")
        return self.log1p[-1]

    @property
    def rain_scale(self) -> float:
        return self.stats[self.rain_name]["std"]

    def rain_forward(self, rain_mm: np.ndarray) -> np.ndarray:
        """mm -> normalised rain, ``log1p(max(mm, 0)) / s``."""
        return np.asarray(self.apply(rain_mm, self.rain_name), dtype=np.float32)

    def rain_inverse(self, rain_norm: Any) -> Any:
        """Normalised rain -> mm, ``expm1(y s)`` (numpy array or torch tensor)."""
        return self.invert(rain_norm, self.rain_name)
