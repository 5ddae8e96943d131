"""Static (PNG) rain-map export with cartopy and the embedded Natural Earth shapefiles.

Cartopy downloads Natural Earth on first use unless ``pre_existing_data_dir`` points at a local
copy; ``data/natural_earth`` is that copy, so export works offline.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np

from core.viz.coastlines import NATURAL_EARTH_DIR
from core.viz.palette import rain_colormap


def use_local_natural_earth() -> None:
    """Point cartopy at the embedded shapefiles (idempotent)."""
    import cartopy

    cartopy.config["pre_existing_data_dir"] = str(NATURAL_EARTH_DIR)


def rain_maps_png(fields: Mapping[str, np.ndarray], lat: Sequence[float], lon: Sequence[float], units: str = "mm",
                  title: str = "", dpi: int = 120) -> bytes:
    """PNG bytes of side-by-side rain maps ``{name: [lat, lon]}`` on one colour scale, Plate Carrée,
    with coastlines and borders."""
    import matplotlib

    matplotlib.use("Agg")
    import cartopy.crs as ccrs
    import cartopy.feature as cfeature
    import matplotlib.pyplot as plt

    use_local_natural_earth()
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    finite = [np.nanmax(v) for v in fields.values() if np.isfinite(v).any()]
    vmax = max(max(finite) if finite else 1.0, 1e-3)
    n = len(fields)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1, 3.6), subplot_kw={"projection": ccrs.PlateCarree()},
                             squeeze=False)
    mesh = None
    for ax, (name, values) in zip(axes[0], fields.items()):
        mesh = ax.pcolormesh(lon, lat, np.asarray(values, dtype=float), cmap=rain_colormap(), vmin=0, vmax=vmax,
                             shading="nearest", transform=ccrs.PlateCarree())
        ax.add_feature(cfeature.NaturalEarthFeature("physical", "coastline", "110m"), edgecolor="black",
                       facecolor="none", linewidth=0.8)
        ax.add_feature(cfeature.NaturalEarthFeature("cultural", "admin_0_boundary_lines_land", "110m"),
                       edgecolor="gray", facecolor="none", linewidth=0.5, linestyle=":")
        ax.set_extent([lon.min(), lon.max(), lat.min(), lat.max()], crs=ccrs.PlateCarree())
        ax.set_title(name)
    fig.colorbar(mesh, ax=axes[0].tolist(), shrink=0.8, label=f"rain ({units})")
    if title:
        fig.suptitle(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
