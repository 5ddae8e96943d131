"""The 15 Xinanjiang parameters: order, units, meaning, default ranges and user-editable ranges.

The order is the column order of every parameter tensor ``[..., 15]`` in ``core.hydro``
(docs/design.md, 4.7 Parameters and ranges). A network produces normalised values ``p`` in [0, 1];
``ParamRanges.denormalise`` maps them to physical units with ``lower + p (upper - lower)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd
import torch


@dataclass(frozen=True)
class ParamSpec:
    """One XAJ parameter.

    default_lower/default_upper: the default calibration range (docs/design.md, 4.7 Parameters and ranges).
    limit_lower/limit_upper: what the physics accepts at all; a user range must lie inside.
    lower_open/upper_open: the limit itself is excluded (e.g. LM > 0 because EL divides by LM; CG < 1).
    """

    name: str
    unit: str
    meaning: str
    default_lower: float
    default_upper: float
    limit_lower: float
    limit_upper: float
    lower_open: bool = False
    upper_open: bool = False

    def limit_text(self) -> str:
        """The physical limit as an interval, e.g. ``[0, 1)``."""
        left = "(" if self.lower_open else "["
        right = ")" if self.upper_open else "]"
        return f"{left}{_fmt(self.limit_lower)}, {_fmt(self.limit_upper)}{right}"

    def inside_limits(self, value: float) -> bool:
        """Whether ``value`` lies inside the physical limits."""
        if not math.isfinite(value):
            return False
        above = value > self.limit_lower if self.lower_open else value >= self.limit_lower
        below = value < self.limit_upper if self.upper_open else value <= self.limit_upper
        return above and below


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:g}"


_INF = math.inf

PARAM_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("K", "-", "ratio of potential evapotranspiration to the PET input", 0.1, 1.0, 0.0, _INF),
    ParamSpec("B", "-", "exponent of the tension water capacity curve", 0.1, 0.4, 0.0, _INF),
    ParamSpec("IM", "-", "impervious fraction of the basin area", 0.01, 0.1, 0.0, 1.0),
    ParamSpec("UM", "mm", "tension water capacity of the upper layer", 0.0, 20.0, 0.0, _INF),
    ParamSpec("LM", "mm", "tension water capacity of the lower layer", 60.0, 90.0, 0.0, _INF, lower_open=True),
    ParamSpec("DM", "mm", "tension water capacity of the deep layer", 60.0, 120.0, 0.0, _INF),
    ParamSpec("C", "-", "deep-layer evapotranspiration coefficient", 0.0, 0.2, 0.0, 1.0),
    ParamSpec("SM", "mm", "areal mean free water storage capacity", 1.0, 100.0, 0.0, _INF, lower_open=True),
    ParamSpec("EX", "-", "exponent of the free water capacity curve", 1.0, 1.5, 0.0, _INF),
    ParamSpec("KI", "1/step", "outflow coefficient of free water to interflow", 0.0, 0.7, 0.0, 1.0),
    ParamSpec("KG", "1/step", "outflow coefficient of free water to groundwater", 0.0, 0.7, 0.0, 1.0),
    ParamSpec("A", "-", "shape of the gamma unit hydrograph (used as max(A, 0) + 0.1)", 0.0, 2.9, 0.0, _INF),
    ParamSpec("THETA", "steps", "scale of the gamma unit hydrograph (used as max(THETA, 0) + 0.5)", 0.0, 6.5,
              0.0, _INF),
    ParamSpec("CI", "-", "recession constant of the interflow reservoir", 0.0, 0.9, 0.0, 1.0, upper_open=True),
    ParamSpec("CG", "-", "recession constant of the groundwater reservoir", 0.98, 0.998, 0.0, 1.0,
              upper_open=True),
)

XAJ_PARAMS: tuple[str, ...] = tuple(spec.name for spec in PARAM_SPECS)
"""The 15 parameter names in tensor column order."""

DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    spec.name: (spec.default_lower, spec.default_upper) for spec in PARAM_SPECS
}
"""Default (lower, upper) range of each parameter, physical units."""

CAMELS_US_RANGES: dict[str, tuple[float, float]] = {
    "K": (0.2, 1.5), "B": (0.01, 1.0), "IM": (0.0, 0.1), "UM": (5.0, 100.0), "LM": (20.0, 300.0),
    "DM": (10.0, 600.0), "C": (0.0, 0.9), "SM": (1.0, 200.0), "EX": (0.1, 2.0), "KI": (0.0, 0.7),
    "KG": (0.0, 0.7), "A": (0.0, 2.9), "THETA": (0.0, 6.5), "CI": (0.0, 0.95), "CG": (0.95, 0.999),
}
"""The ``camels_us`` preset: wider storage and evaporation ranges for the CAMELS-US basins.

Chosen from the literature and from the learned trajectories of the classic ranges (issue 12: UM, LM,
DM in the top 5 % of their ranges in 76-80 % of the steps, C in 96 %, IM and EX at their lower bounds),
not by tuning on test scores:

- Tension water ``WM = UM + LM + DM`` up to 1000 mm, the upper field-capacity bound of δHBV on the 671
  CAMELS basins (Feng, Liu, Lawson & Shen 2022, WRR 58, e2022WR032404, table of parameter ranges:
  FC 50-1000 mm); the classic table stops at 230 mm. UM 5-100, LM 20-300, DM 10-600 mm keep the layer
  order of Zhao (1992, J. Hydrol. 135, 371-381: upper layer smallest).
- C (deep-layer evaporation) up to 0.9 and EX down to 0.1: inside MARRMoT's XAJ ranges (Knoben et
  al. 2019, GMD 12, 2463-2480, model m_28: c 0.01-0.99, ex 0-10, b 0-10, total storage 1-2000 mm),
  because C and EX sat at the classic bounds. B 0.01-1.0 (MARRMoT 0-10). A first version stopped C
  at 0.5 and B at 0.1; with dynamic K and B, C still sat in the top 5 % of that range in 52 % of the
  test steps and B at its lower bound in 32 %, so both were widened (docs/hydro.md, "CAMELS recipe").
- K (ratio of the model's potential evaporation to the PET input) 0.2-1.5: the Priestley-Taylor PET
  from Daymet is 2-30 % below CAMELS' own ``pet_mean`` (docs/hydro.md), so the ratio must exceed 1.
- IM 0-0.1: IM sat at its lower bound 0.01; most CAMELS basins are rural.
- SM up to 200 mm, CI up to 0.95, CG 0.95-0.999 (slower and faster baseflow than the humid
  Chinese basins of the classic table; MARRMoT allows 0-1 for both).
"""

PRESETS: dict[str, dict[str, tuple[float, float]]] = {"classic": dict(DEFAULT_RANGES), "camels_us": CAMELS_US_RANGES}
"""Named range tables: ``classic`` (docs/design.md, 4.7 Parameters and ranges; humid Chinese
catchments) and ``camels_us``."""

LITERATURE_RANGES: dict[str, tuple[float, float]] = {
    "K": (0.1, 1.6), "B": (0.0, 10.0), "IM": (0.0, 0.5), "UM": (0.0, 150.0), "LM": (10.0, 600.0),
    "DM": (0.0, 1000.0), "C": (0.0, 0.99), "SM": (1.0, 400.0), "EX": (0.0, 10.0), "KI": (0.0, 1.0),
    "KG": (0.0, 1.0), "A": (0.0, 10.0), "THETA": (0.0, 20.0), "CI": (0.0, 0.999), "CG": (0.5, 0.9999),
}
"""What published XAJ applications use at the widest (MARRMoT m_28, Knoben et al. 2019; Zhao 1992;
δHBV storage up to 1000 mm, Feng et al. 2022): a range beyond these is allowed but draws a warning
(``literature_warnings``), because the physics accepts it while no study supports it."""


def preset_ranges(name: str) -> dict[str, tuple[float, float]]:
    """The ``{name: (lower, upper)}`` table of a preset; raises naming the known presets."""
    if name not in PRESETS:
        raise ValueError(f"unknown range preset {name!r}; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def literature_warnings(ranges: "ParamRanges") -> list[str]:
    """One message per bound outside ``LITERATURE_RANGES`` (empty when all are inside)."""
    out = []
    for name in XAJ_PARAMS:
        lo, hi = ranges[name]
        lit_lo, lit_hi = LITERATURE_RANGES[name]
        if lo < lit_lo or hi > lit_hi:
            out.append(f"{name} range ({lo:g}, {hi:g}) goes beyond what the literature uses "
                       f"({lit_lo:g}, {lit_hi:g}); allowed, but check it is what you mean")
    return out


PARAM_INDEX: dict[str, int] = {name: i for i, name in enumerate(XAJ_PARAMS)}
"""Column of each parameter in a ``[..., 15]`` tensor."""

_SPEC_BY_NAME = {spec.name: spec for spec in PARAM_SPECS}


class ParamRanges:
    """A validated set of (lower, upper) ranges for the 15 parameters, in physical units.

    Each range must satisfy ``lower < upper`` and lie inside the parameter's physical limits.
    Errors name the parameter at fault. Instances are immutable; ``with_range`` returns a copy.
    """

    def __init__(self, ranges: Mapping[str, tuple[float, float]] | None = None, *, source: str = "ranges",
                 preset: str = "classic"):
        """Build from ``{name: (lower, upper)}``; names left out keep the range of ``preset``.

        ``source`` names where the ranges came from (a config file, a table) in error messages.
        """
        merged = preset_ranges(preset)
        for name, bounds in (ranges or {}).items():
            if name not in _SPEC_BY_NAME:
                raise ValueError(f"{source}: unknown XAJ parameter {name!r}; known: {', '.join(XAJ_PARAMS)}")
            merged[name] = _as_pair(name, bounds, source)
        for name in XAJ_PARAMS:
            _check_range(_SPEC_BY_NAME[name], *merged[name], source=source)
        self._ranges = {name: merged[name] for name in XAJ_PARAMS}

    # --- access -----------------------------------------------------------------------------
    def __getitem__(self, name: str) -> tuple[float, float]:
        if name not in self._ranges:
            raise KeyError(f"unknown XAJ parameter {name!r}; known: {', '.join(XAJ_PARAMS)}")
        return self._ranges[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamRanges) and self._ranges == other._ranges

    def __repr__(self) -> str:
        changed = {n: r for n, r in self._ranges.items() if r != DEFAULT_RANGES[n]}
        return f"ParamRanges({changed or 'defaults'})"

    @property
    def lower(self) -> tuple[float, ...]:
        """Lower bounds in parameter order."""
        return tuple(self._ranges[n][0] for n in XAJ_PARAMS)

    @property
    def upper(self) -> tuple[float, ...]:
        """Upper bounds in parameter order."""
        return tuple(self._ranges[n][1] for n in XAJ_PARAMS)

    def with_range(self, name: str, lower: float, upper: float) -> "ParamRanges":
        """A copy with the range of ``name`` replaced (validated)."""
        return ParamRanges({**self._ranges, name: (lower, upper)})

    # --- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, list[float]]:
        """``{name: [lower, upper]}`` with plain floats, in parameter order (for YAML/JSON run configs)."""
        return {n: [float(lo), float(hi)] for n, (lo, hi) in self._ranges.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: str = "param_ranges",
                  preset: str = "classic") -> "ParamRanges":
        """Inverse of ``to_dict``. Accepts ``[lower, upper]`` or ``{"lower": .., "upper": ..}`` per name;
        names left out keep the ranges of ``preset``; ``None`` gives the preset."""
        if data is None:
            return cls(source=source, preset=preset)
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a mapping of parameter name to [lower, upper], "
                             f"got {type(data).__name__}")
        return cls(dict(data), source=source, preset=preset)

    @classmethod
    def from_preset(cls, name: str) -> "ParamRanges":
        """The ranges of a named preset (``PRESETS``)."""
        return cls(source=f"range preset {name!r}", preset=name)

    @classmethod
    def defaults(cls) -> "ParamRanges":
        """The default ranges of docs/design.md, 4.7 Parameters and ranges."""
        return cls()

    # --- table view for the dashboard --------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: name, unit, meaning, lower, upper, default lower, default upper, limits."""
        rows = []
        for spec in PARAM_SPECS:
            lo, hi = self._ranges[spec.name]
            rows.append({
                "name": spec.name, "unit": spec.unit, "meaning": spec.meaning,
                "lower": lo, "upper": hi,
                "default lower": spec.default_lower, "default upper": spec.default_upper,
                "physical limits": spec.limit_text(),
            })
        return pd.DataFrame(rows)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, source: str = "parameter table") -> "ParamRanges":
        """Read an edited ``to_frame`` table back (columns ``name``, ``lower``, ``upper``)."""
        missing = {"name", "lower", "upper"} - set(frame.columns)
        if missing:
            raise ValueError(f"{source}: missing column(s) {', '.join(sorted(missing))}")
        ranges = {}
        for _, row in frame.iterrows():
            ranges[str(row["name"])] = (row["lower"], row["upper"])
        return cls(ranges, source=source)

    # --- tensors ------------------------------------------------------------------------------
    def bounds_tensors(self, dtype: torch.dtype = torch.float32,
                       device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lower, upper)`` as ``[15]`` tensors."""
        lower = torch.tensor(self.lower, dtype=dtype, device=device)
        upper = torch.tensor(self.upper, dtype=dtype, device=device)
        return lower, upper

    def denormalise(self, p01: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
        """Map normalised parameters ``p01 [..., 15]`` (in [0, 1]) to physical units ``[..., 15]``.

        ``lower + p (upper - lower)``; differentiable in ``p01``; values outside [0, 1] are not clipped.
        ``columns`` (parameter indices ``[k]``): ``p01 [..., k]`` holds just those parameters.
        """
        width = len(XAJ_PARAMS) if columns is None else len(columns)
        if p01.shape[-1] != width:
            raise ValueError(f"denormalise: last dimension of p01 must be {width}, "
                             f"got shape {tuple(p01.shape)}")
        lower, upper = self.bounds_tensors(p01.dtype, p01.device)
        if columns is not None:
            lower, upper = lower[columns], upper[columns]
        return lower + p01 * (upper - lower)

    def normalise(self, physical: torch.Tensor) -> torch.Tensor:
        """Inverse of ``denormalise``: physical ``[..., 15]`` -> normalised ``[..., 15]``."""
        lower, upper = self.bounds_tensors(physical.dtype, physical.device)
        return (physical - lower) / (upper - lower)


def denormalise(p01: torch.Tensor, ranges: ParamRanges | None = None) -> torch.Tensor:
    """Normalised ``p01 [..., 15]`` -> physical ``[..., 15]`` with ``ranges`` (default ranges when None)."""
    return (ranges or ParamRanges()).denormalise(p01)


def _as_pair(name: str, bounds: Any, source: str) -> tuple[float, float]:
    if isinstance(bounds, Mapping):
        if "lower" not in bounds or "upper" not in bounds:
            raise ValueError(f"{source}: range of {name} needs 'lower' and 'upper', got {dict(bounds)}")
        bounds = (bounds["lower"], bounds["upper"])
    try:
        lower, upper = bounds
        return float(lower), float(upper)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: range of {name} must be two numbers [lower, upper], got {bounds!r}") from None


def _check_range(spec: ParamSpec, lower: float, upper: float, *, source: str) -> None:
    if not (math.isfinite(lower) and math.isfinite(upper)):
        raise ValueError(f"{source}: range of {spec.name} must be finite, got ({lower}, {upper})")
    if not lower < upper:
        raise ValueError(f"{source}: range of {spec.name} needs lower < upper, got ({lower:g}, {upper:g})")
    for label, value in (("lower", lower), ("upper", upper)):
        if not spec.inside_limits(value):
            raise ValueError(
                f"{source}: {label} bound {value:g} of {spec.name} ({spec.meaning}) is outside its physical "
                f"limits {spec.limit_text()} {spec.unit}"
            )
