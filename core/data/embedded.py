"""The ``"demo"`` source: real observed daily catchment series shipped inside the spotpy package.

No download at run time: the files come with ``pip install spotpy`` (a project dependency).

``fulda_grebenau``
    Fulda at Grebenau (Hesse, Germany), 2976.41 km2, 1979-01-01 .. 1988-12-31, from
    ``spotpy/examples/cmf_data/fulda_climate.csv``: ``date`` (dd.mm.yyyy), ``tmax``, ``tmin``,
    ``tmean`` (degC), ``Prec`` (mm/day), ``Q`` (m3/s). No PET in the file: Hargreaves from
    temperature and latitude. The latitude/longitude are those of the Grebenau gauge near
    Guxhagen (approximate, 51.20 N 9.47 E); they only enter the extraterrestrial radiation.
``hymod_example``
    The catchment of spotpy's HYMOD tutorial, 1.783 km2, 2012-01-01 .. 2016-12-31, from
    ``spotpy/examples/hymod_python/hymod_input.csv`` (';'-separated): ``Date``,
    ``rainfall[mm]``, ``TURC [mm d-1]`` (Turc PET, used as given), ``Discharge[ls-1]`` (l/s,
    ``nan`` where not observed). Its location is not documented, so ``lat``/``lon`` are NaN.

The two records do not overlap in time, so ``load_basins("demo")`` returns the default
catchment (:data:`DEFAULT_DEMO_BASINS`); ask for ``basins=["hymod_example"]`` for the other.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import validation
from .basins import BasinRecord, select_ids
from .errors import DataError

DEMO_BASINS: dict[str, dict[str, Any]] = {
    "fulda_grebenau": {
        "file": ("examples", "cmf_data", "fulda_climate.csv"),
        "name": "Fulda at Grebenau (spotpy example data)",
        "area_km2": 2976.41,
        "lat": 51.20,
        "lon": 9.47,
    },
    "hymod_example": {
        "file": ("examples", "hymod_python", "hymod_input.csv"),
        "name": "HYMOD tutorial catchment (spotpy example data)",
        "area_km2": 1.783,
        "lat": float("nan"),
        "lon": float("nan"),
    },
}
DEFAULT_DEMO_BASINS = ("fulda_grebenau",)
_SECONDS_PER_DAY = 86400.0


def demo_file(basin: str) -> Path:
    """Path of a demo basin's file inside the installed spotpy package.

    Located with ``importlib.util.find_spec`` rather than ``importlib.resources.files``: the latter
    imports ``spotpy`` (and scipy with it, ~0.5 s) only to find a data file.
    """
    spec = importlib.util.find_spec("spotpy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the demo data ship with the 'spotpy' package, which is not installed: pip install spotpy", file="spotpy")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*DEMO_BASINS[basin]["file"])
    if not path.is_file():
        raise DataError("demo file missing from the installed spotpy package (reinstall spotpy)", file=path, basin=basin)
    return path


def load_demo_records(basins: Iterable[str] | str | None = None) -> tuple[list[BasinRecord], dict[str, Any]]:
    """Records of the requested demo catchments (the default catchment when ``basins`` is None)."""
    ids = list(DEFAULT_DEMO_BASINS) if basins is None else select_ids(DEMO_BASINS, basins, "demo")
    records = []
    for basin in ids:
        frame, path = _read_cached(basin)
        meta = DEMO_BASINS[basin]
        statics = {k: meta[k] for k in ("name", "area_km2", "lat", "lon")}
        records.append(BasinRecord(basin=basin, frame=frame.copy(), file=str(path), step=pd.Timedelta(days=1), statics=statics))
    return records, {
        "source_kind": "demo",
        "citation": "spotpy example data (Houska et al. 2015, PLoS ONE 10(12): e0145180)",
    }


@lru_cache(maxsize=None)
def _read_cached(basin: str) -> tuple[pd.DataFrame, Path]:
    path = demo_file(basin)
    frame = _read_fulda(path) if basin == "fulda_grebenau" else _read_hymod(path)
    frame, _ = validation.regularise_time(frame, str(path), basin)
    validation.check_precipitation(frame, str(path), basin)
    validation.check_streamflow(frame, str(path), basin, "mm/day")
    return frame, path


def _discharge_to_mm(q_m3s: pd.Series, area_km2: float) -> pd.Series:
    """Daily mean discharge (m3/s) -> runoff depth over the basin (mm/day)."""
    return q_m3s * _SECONDS_PER_DAY / (area_km2 * 1e6) * 1000.0


def _read_fulda(path: Path) -> pd.DataFrame:
    # first data line is a units row ("#,°C,...")
    table = pd.read_csv(path, skiprows=[1], encoding="utf-8")
    table.columns = [c.strip().lower() for c in table.columns]
    index = pd.DatetimeIndex(pd.to_datetime(table["date"], format="%d.%m.%Y"), name="time")
    frame = pd.DataFrame(
        {
            "prcp": table["prec"].to_numpy(dtype=float),
            "tmin": table["tmin"].to_numpy(dtype=float),
            "tmax": table["tmax"].to_numpy(dtype=float),
            "tmean": table["tmean"].to_numpy(dtype=float),
            "q_obs": _discharge_to_mm(table["q"].astype(float), DEMO_BASINS["fulda_grebenau"]["area_km2"]).to_numpy(),
        },
        index=index,
    )
    return frame


def _read_hymod(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, sep=";", encoding="utf-8")
    table.columns = [c.strip() for c in table.columns]
    index = pd.DatetimeIndex(pd.to_datetime(table["Date"], format="%d.%m.%Y"), name="time")
    q_ls = pd.to_numeric(table["Discharge[ls-1]"], errors="coerce")
    frame = pd.DataFrame(
        {
            "prcp": table["rainfall[mm]"].to_numpy(dtype=float),
            "pet": table["TURC [mm d-1]"].to_numpy(dtype=float),
            "q_obs": _discharge_to_mm(q_ls / 1000.0, DEMO_BASINS["hymod_example"]["area_km2"]).to_numpy(),
        },
        index=index,
    )
    return frame
