"""Basin data layer: one ``xarray.Dataset`` with dims ``(basin, time)`` whatever the source.

``load_basins(source, basins=None, start=None, end=None, pet_method="auto")`` reads the embedded
``"demo"`` catchments, a CAMELS-US folder, a basin-table folder or a single basin file
(docs/design.md, 3. Data model and 7. Contracts). Every data problem raises :class:`DataError`. Only numpy, pandas and
xarray are imported here; pyet is imported when PET is computed. The gridded-weather readers live
in their own modules of this package and are imported from there.
"""

from .basin_table import validate_upload
from .loader import load_basins
from .errors import DataError, DataWarning
from .sources import DataSource, available_sources, list_basins
from .splits import Normalizer, split_periods

__all__ = [
    "DataError",
    "DataWarning",
    "DataSource",
    "Normalizer",
    "available_sources",
    "list_basins",
    "load_basins",
    "split_periods",
    "validate_upload",
]
