"""Basin data layer: one ``xarray.Dataset`` with dims ``(basin, time)`` whatever the source.

``load_basins(source, basins=None, start=None, end=None, pet_method="auto")`` reads the embedded
``"demo"`` catchments, a CAMELS-US folder, a basin-table folder or a single basin file
(DESIGN.md sections 3 and 7). Every data problem raises :class:`DataError`.
The gridded-weather readers live in their own modules of this package and are imported from there.
"""

from .basins import load_basins
from .errors import DataError
from .sources import available_sources, list_basins

__all__ = ["DataError", "available_sources", "list_basins", "load_basins", "validate_upload"]


def validate_upload(*args, **kwargs):  # noqa: D103 - documented in basin_table.validate_upload
    from .basin_table import validate_upload as _validate_upload

    return _validate_upload(*args, **kwargs)


validate_upload.__doc__ = "See :func:`core.data.basin_table.validate_upload`."
