"""Build the embedded coastline and border assets from Natural Earth 110m (run once; outputs are committed).

Source: the npm package ``world-atlas`` (ISC licence; Natural Earth data, public domain), file
``countries-110m.json`` (TopoJSON). Get it without installing anything global::

    cd /tmp && npm pack world-atlas && tar xzf world-atlas-*.tgz
    python scripts/build_coastlines.py /tmp/package/countries-110m.json

Outputs (under ``data/``):

- ``coastlines_110m.npz``: ``coast_lon``, ``coast_lat``, ``border_lon``, ``border_lat`` float32
  arrays in degrees, each line separated by NaN (plotly draws NaN as a gap).
- ``natural_earth/shapefiles/natural_earth/physical/ne_110m_coastline.shp`` and
  ``.../cultural/ne_110m_admin_0_boundary_lines_land.shp`` (+ .shx/.dbf), laid out for
  ``cartopy.config["pre_existing_data_dir"] = "data/natural_earth"`` so cartopy never downloads.

An arc used by exactly one country polygon is coastline (land meets sea); an arc shared by two
different countries is a land border. This is how TopoJSON meshes split them, and it reproduces
Natural Earth's coastline and boundary-line layers at this scale.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def decode_arcs(topology: dict) -> list[np.ndarray]:
    """Absolute lon/lat coordinates ``[n, 2]`` of every arc of a quantised TopoJSON topology."""
    scale = np.asarray(topology["transform"]["scale"], dtype=float)
    translate = np.asarray(topology["transform"]["translate"], dtype=float)
    # quantised arcs are delta-encoded integer positions
    return [np.cumsum(np.asarray(arc, dtype=float), axis=0) * scale + translate for arc in topology["arcs"]]


def _rings(geometry: dict) -> list[list[int]]:
    if geometry["type"] == "Polygon":
        return list(geometry["arcs"])
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["arcs"] for ring in polygon]
    return []


def split_arcs(topology: dict, object_name: str = "countries") -> tuple[list[int], list[int]]:
    """Indices of coastline arcs (one owner) and border arcs (two different owners)."""
    owners: dict[int, set[int]] = defaultdict(set)
    for gi, geometry in enumerate(topology["objects"][object_name]["geometries"]):
        for ring in _rings(geometry):
            for ref in ring:
                owners[ref if ref >= 0 else ~ref].add(gi)
    coast = sorted(i for i, o in owners.items() if len(o) == 1)
    border = sorted(i for i, o in owners.items() if len(o) >= 2)
    return coast, border


def _unwrap_dateline(line: np.ndarray) -> list[np.ndarray]:
    """Split a line where it jumps across the antimeridian (a horizontal streak on a lon/lat plot)."""
    jumps = np.where(np.abs(np.diff(line[:, 0])) > 180)[0]
    return [part for part in np.split(line, jumps + 1) if len(part) >= 2]


def nan_joined(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate lines into lon and lat arrays with a NaN between lines."""
    lon, lat = [], []
    for line in lines:
        lon.extend(line[:, 0].tolist() + [np.nan])
        lat.extend(line[:, 1].tolist() + [np.nan])
    return np.asarray(lon, dtype=np.float32), np.asarray(lat, dtype=np.float32)


def write_shapefile(path: Path, lines: list[np.ndarray], featurecla: str) -> None:
    """A polyline shapefile (.shp/.shx/.dbf) with one record per line."""
    import shapefile  # pyshp

    path.parent.mkdir(parents=True, exist_ok=True)
    with shapefile.Writer(str(path.with_suffix("")), shapeType=shapefile.POLYLINE) as writer:
        writer.field("featurecla", "C", size=40)
        writer.field("scalerank", "N", size=4)
        for line in lines:
            writer.line([[(round(float(x), 5), round(float(y), 5)) for x, y in line]])
            writer.record(featurecla, 0)
    # WGS84, so GIS tools (and cartopy's reader) know the coordinates are lon/lat
    path.with_suffix(".prj").write_text(
        'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
        'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
    )


def build(source: Path, out_dir: Path) -> dict[str, int]:
    topology = json.loads(source.read_text(encoding="utf-8"))
    arcs = decode_arcs(topology)
    coast_idx, border_idx = split_arcs(topology)
    coast = [part for i in coast_idx for part in _unwrap_dateline(arcs[i])]
    border = [part for i in border_idx for part in _unwrap_dateline(arcs[i])]
    coast_lon, coast_lat = nan_joined(coast)
    border_lon, border_lat = nan_joined(border)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / "coastlines_110m.npz", coast_lon=coast_lon, coast_lat=coast_lat,
                        border_lon=border_lon, border_lat=border_lat)
    ne = out_dir / "natural_earth" / "shapefiles" / "natural_earth"
    write_shapefile(ne / "physical" / "ne_110m_coastline.shp", coast, "Coastline")
    write_shapefile(ne / "cultural" / "ne_110m_admin_0_boundary_lines_land.shp", border,
                    "International boundary (verify)")
    (out_dir / "natural_earth" / "SOURCE.txt").write_text(
        "Natural Earth 110m (public domain, naturalearthdata.com), decoded from the npm package\n"
        "world-atlas (ISC, countries-110m.json) by scripts/build_coastlines.py.\n"
    )
    return {"coast_lines": len(coast), "border_lines": len(border)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path, help="world-atlas countries-110m.json")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data")
    args = parser.parse_args()
    print(build(args.topojson, args.out))


if __name__ == "__main__":
    main()
