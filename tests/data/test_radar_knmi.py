"""The KNMI composite format of :mod:`core.data.radar` on a small synthetic file in KNMI's HDF5 layout.

pySTEPS' KNMI example data (``RAD_NL25_RAP_5min_*.h5``, 765 x 700 px at 1 km) give the polar
stereographic projection with the ellipsoid in kilometres (``+a=6378.137 +b=6356.752``) and the
corners in kilometres; pyproj refuses such an ellipsoid next to WGS84 ("Source and target ellipsoid
do not belong to the same celestial body"). The file written here has the same projection string,
pixel size and offsets (a 40 x 30 px corner of the real grid), so the reader must place it over the
Netherlands.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data.radar import load_radar, projection_in_metres

KNMI_PROJ = "+proj=stere +lat_0=90 +lon_0=0.0 +lat_ts=60.0 +a=6378.137 +b=6356.752 +x_0=0 +y_0=0"
ROW_OFFSET_KM = 3649.98  # the real composite's top edge lies 3650 km south of the pole, in the projection
PIXEL_KM = (1.0000035, -1.0000048)  # x, y; y negative: the first row is the northern edge


def write_knmi(path, rain_mm: np.ndarray, rows_below_top: int = 300, cols_from_left: int = 250) -> None:
    """A KNMI-style 5-minute accumulation (hundredths of mm, 65535 = no data) of ``rain_mm`` [rows, cols]."""
    h5py = pytest.importorskip("h5py")
    rows, cols = rain_mm.shape
    with h5py.File(path, "w") as f:
        f.create_group("image1").create_dataset(
            "image_data", data=np.where(np.isfinite(rain_mm), np.round(rain_mm * 100), 65535).astype(np.uint16))
        geo = f.create_group("geographic")
        geo.attrs["geo_column_offset"] = np.array([cols_from_left * PIXEL_KM[0]], dtype=np.float32)
        geo.attrs["geo_row_offset"] = np.array([ROW_OFFSET_KM + rows_below_top], dtype=np.float32)
        geo.attrs["geo_pixel_size_x"] = np.array([PIXEL_KM[0]], dtype=np.float32)
        geo.attrs["geo_pixel_size_y"] = np.array([PIXEL_KM[1]], dtype=np.float32)
        geo.attrs["geo_number_columns"] = np.array([cols], dtype=np.int32)
        geo.attrs["geo_number_rows"] = np.array([rows], dtype=np.int32)
        geo.attrs["geo_dim_pixel"] = np.bytes_("KM,KM")
        geo.create_group("map_projection").attrs["projection_proj4_params"] = np.bytes_(KNMI_PROJ)


def test_km_ellipsoid_becomes_metres():
    proj, scale = projection_in_metres(KNMI_PROJ, "km")
    assert "+a=6378137" in proj and "+b=6356752" in proj and scale == 1000.0
    # metre-based strings (MeteoSwiss, FMI, BOM) are left as they are
    fmi = "+proj=stere +lon_0=25E +lat_0=90N +lat_ts=60 +a=6371288 +x_0=380886.310 +y_0=3395677.920 +no_defs"
    assert projection_in_metres(fmi, "m") == (fmi, 1.0)


def test_knmi_composite_loads_over_the_netherlands(tmp_path):
    rng = np.random.default_rng(0)
    for minute in (0, 5, 10):
        rain = rng.gamma(0.5, 0.4, size=(40, 30))  # mm per 5 min
        rain[0, 0] = np.nan  # no data stays unobserved
        write_knmi(tmp_path / f"RAD_NL25_RAP_5min_20100826{minute // 60:02d}{minute % 60:02d}.h5", rain)
    ds = load_radar(tmp_path, resolution_deg=(0.1, 0.1))
    assert ds.attrs["radar_format"] == "knmi_hdf5" and ds.sizes["time"] == 3
    lat, lon = ds["lat"].values, ds["lon"].values
    # 300 km below the top edge of the Dutch composite (55.97 N at 0 E .. 3.3 E), 250 km east of its west edge
    assert 52.0 < lat.min() < lat.max() < 54.0, (lat.min(), lat.max())
    assert 3.0 < lon.min() < lon.max() < 6.5, (lon.min(), lon.max())
    rate = ds["rain"].values
    assert np.nanmax(rate) > 1.0  # mm per 5 min x 12 = mm/h
    assert np.isfinite(rate).any() and float(np.nanmean(rate)) == pytest.approx(12 * 0.2, rel=0.35)
