"""Gzip-compressed basin tables (``<id>.csv.gz``, as CAMELS-US regional data is shipped): a folder of
them, an upload of one, and a damaged one, each read like the plain CSV or refused by name."""

from __future__ import annotations

import gzip

import pytest

from core.data import DataError, list_basins, load_basins, validate_upload
from core.data.basin_table import series_stem, series_suffix
from core.data.uploads import list_uploads, save_upload, save_upload_set

ROWS = [f"2001-01-{d:02d},{d % 3}.5,1.5,0.{d}" for d in range(1, 29)]
TABLE = ("date,prcp,pet,q_obs\n" + "\n".join(ROWS) + "\n").encode()
ATTRS = b"gauge_id,lat,lon,area_km2\n01013500,47.2,-68.6,2252.7\n02013000,38.5,-79.9,350.0\n"


@pytest.mark.parametrize("name, suffix, stem", [
    ("01013500.csv.gz", ".csv.gz", "01013500"), ("A.CSV.GZ", ".csv.gz", "A"), ("b.csv", ".csv", "b"),
    ("c.nc", ".nc", "c"), ("d.gz", ".gz", "d"), ("noext", "", "noext"),
])
def test_series_file_type_and_basin_id(name, suffix, stem):
    assert (series_suffix(name), series_stem(name)) == (suffix, stem)


def test_a_folder_of_gzip_tables_reads_like_plain_csv(tmp_path):
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    for folder in (plain, packed):
        folder.mkdir()
        (folder / "basins.csv").write_bytes(ATTRS)
    for basin in ("01013500", "02013000"):
        (plain / f"{basin}.csv").write_bytes(TABLE)
        (packed / f"{basin}.csv.gz").write_bytes(gzip.compress(TABLE))
    assert list_basins(packed) == ["01013500", "02013000"]
    expected, got = load_basins(plain), load_basins(packed)
    assert got["basin"].values.tolist() == ["01013500", "02013000"]
    assert float(got["lat"].sel(basin="02013000")) == 38.5  # basins.csv joined by the id without .csv.gz
    for name in ("prcp", "pet", "q_obs"):
        assert (got[name].values == expected[name].values).all(), name


def test_a_gzip_upload_is_read_saved_and_listed_under_its_basin_id(tmp_path):
    packed = gzip.compress(TABLE)
    ds = validate_upload(packed, "01013500.csv.gz")
    assert ds["basin"].values.tolist() == ["01013500"] and float(ds["prcp"].isel(time=0).squeeze()) == 1.5
    saved = save_upload(tmp_path / "uploads", "01013500.csv.gz", packed)
    assert saved.name == "01013500.csv.gz" and saved.parent.name.startswith("01013500-")
    assert [u.source for u in list_uploads(tmp_path / "uploads")] == [saved]
    source, dataset = save_upload_set(tmp_path / "sets", [("02013000.csv.gz", packed), ("basins.csv", ATTRS)])
    assert source.name == "02013000.csv.gz" and float(dataset["lat"].squeeze()) == 38.5


def test_a_damaged_gzip_table_is_refused_naming_the_file(tmp_path):
    cut = gzip.compress(TABLE * 200)[:300]
    with pytest.raises(DataError, match=r"damaged gzip file.*file=.*01013500.csv.gz"):
        validate_upload(cut, "01013500.csv.gz")
    folder = tmp_path / "table"
    folder.mkdir()
    (folder / "01013500.csv.gz").write_bytes(cut)
    with pytest.raises(DataError, match=r"damaged gzip file.*01013500.csv.gz"):
        load_basins(folder)
