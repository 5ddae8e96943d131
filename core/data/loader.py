"""``load_basins``: the one entry point of the basin data layer; the source readers are the
registry :data:`core.data.sources.SOURCE_KINDS`.

It sits above the readers (``embedded``, ``camels_us``, ``basin_table``) and ``sources``, which all
build on :mod:`core.data.basins` (records, assembly, dates); keeping the dispatcher in its own
module is what keeps the package free of import cycles.
"""

from __future__ import annotations

from os import PathLike
from typing import Any, Iterable

import xarray as xr

from .basins import assemble
from .camels_us import join_attributes
from .sources import get_source_kind, resolve_source


def load_basins(
    source: str | PathLike = "demo",
    basins: Iterable[str] | str | None = None,
    start: Any = None,
    end: Any = None,
    pet_method: str = "auto",
    attributes: str | PathLike | None = None,
) -> xr.Dataset:
    """Load basins from any supported source into the basin dataset (docs/design.md, 3. Data model and 7. Contracts).

    Parameters
    ----------
    source : ``"demo"`` (real observed catchments shipped inside the spotpy package), a CAMELS-US
        folder (original layout), a basin-table folder (``<id>.csv`` / ``<id>.nc`` per basin plus an
        optional ``basins.csv``), a single basin CSV/NetCDF file, or the name of a source listed by
        :func:`core.data.sources.available_sources`.
    basins : basin ids to load (strings such as ``"01022500"``); all when None (for ``"demo"``:
        the default demo catchment, since the two demo records do not overlap in time).
    start, end : period (inclusive, anything ``pandas.Timestamp`` reads); default: the span all
        selected basins cover.
    pet_method : one of :data:`core.data.pet.PET_METHODS`.
    attributes : a ``camels_attributes_v2.0`` folder whose attributes join each basin's own
        (``core.data.camels_us.join_attributes``); None: the source's attributes only.

    Returns
    -------
    ``xarray.Dataset`` with dims ``(basin, time)``: ``prcp``, ``pet``, ``q_obs`` (mm per step;
    q_obs NaN where not observed), the source's meteorology, coords ``name``, ``area_km2``, ``lat``,
    ``lon``, numeric static attributes as ``(basin,)`` variables; ``attrs`` ``units`` (dict),
    ``source``, ``pet_method``, ``time_step``, ``time_step_seconds``.

    Raises
    ------
    DataError
        for any problem with the data, naming the file, variable, basin and date.
    """
    kind, location = resolve_source(source)
    records, attrs = get_source_kind(kind).load(location, basins)
    if attributes is not None:
        join_attributes(records, attributes)
    return assemble(records, "demo" if kind == "demo" else str(location), start=start, end=end,
                    pet_method=pet_method, attrs=attrs)
