"""Uploads in folders of their own, multi-basin files usable by id, and basin CSVs as spreadsheets save them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from core.data import DataError, list_basins, load_basins, validate_upload
from core.data.basin_table import read_attributes
from core.data.uploads import list_uploads, save_upload, save_upload_set, upload_file_name

ROWS = [f"2001-01-{d:02d},{d % 3}.0,1.5,0.{d}" for d in range(1, 29)]
PLAIN = "date,prcp,pet,q_obs\n" + "\n".join(ROWS) + "\n"
FULDA = ("date,prcp,pet,q_obs,lat,lon,area_km2\n"
         + "\n".join(f"{row},50.68,9.57,467.0" for row in ROWS) + "\n").encode()
# the probe's basins.csv: a valid upload of its own that used to become every other upload's attributes
CAPE_TOWN = ("gauge_id,date,prcp,pet,q_obs,lat,lon,area_km2\n"
             + "\n".join(f"base,{row},-33.9,18.4,1.0" for row in ROWS) + "\n").encode()
NO_ID = PLAIN.encode()  # a basins.csv with no id column at all
LONG_TWO = ("date,basin,prcp,pet,q_obs\n"
            + "\n".join(f"2001-01-{d:02d},{b},{d % 4}.0,1.0,0.{d}" for b in ("north", "south") for d in range(1, 29))
            + "\n").encode()


def _two_basin_netcdf(path):
    time = pd.date_range("2001-01-01", periods=28)
    rng = np.random.default_rng(3)
    ds = xr.Dataset({v: (("basin", "time"), rng.uniform(0.1, 3.0, (2, 28))) for v in ("prcp", "pet", "q_obs")},
                    coords={"basin": ["x1", "x2"], "time": time})
    ds.to_netcdf(path)
    return path


# ---------------------------------------------------------------------------------------------- one folder per upload

def test_each_upload_gets_its_own_folder(tmp_path):
    root = tmp_path / "uploads"
    fulda = save_upload(root, "upload_fulda.csv", FULDA)
    base = save_upload(root, "basins.csv", CAPE_TOWN)
    assert fulda.parent.parent == root and base.parent.parent == root and fulda.parent != base.parent
    assert fulda.name == "upload_fulda.csv" and fulda.parent.name.startswith("upload_fulda-")
    assert sorted(p.name for p in root.iterdir()) == sorted([fulda.parent.name, base.parent.name])  # no temp left


def test_a_basins_csv_upload_does_not_rewrite_another_upload(tmp_path):
    # the probe's case: Fulda uploaded as base.csv, then a basins.csv naming basin 'base' in Cape Town
    root = tmp_path / "uploads"
    fulda = save_upload(root, "base.csv", FULDA)
    base = save_upload(root, "basins.csv", CAPE_TOWN)
    ds = load_basins(fulda)
    assert float(ds["lat"].values[0]) == pytest.approx(50.68)
    assert float(ds["lon"].values[0]) == pytest.approx(9.57)
    assert float(ds["area_km2"].values[0]) == pytest.approx(467.0)
    # the basins.csv upload is a source of its own, with its own basin
    assert list_basins(base) == ["base"]
    assert float(load_basins(base)["lat"].values[0]) == pytest.approx(-33.9)


def test_a_basins_csv_without_id_column_breaks_no_other_upload(tmp_path):
    root = tmp_path / "uploads"
    fulda = save_upload(root, "upload_fulda.csv", FULDA)
    save_upload(root, "basins.csv", NO_ID)
    assert load_basins(fulda).sizes == {"basin": 1, "time": 28}


def test_the_same_file_twice_is_one_upload_and_an_edit_is_another(tmp_path):
    root = tmp_path / "uploads"
    first = save_upload(root, "upload_fulda.csv", FULDA)
    assert save_upload(root, "upload_fulda.csv", FULDA) == first
    edited = save_upload(root, "upload_fulda.csv", FULDA.replace(b"467.0", b"470.0"))
    assert edited != first
    labels = [u.label for u in list_uploads(root)]
    assert len(labels) == 2 and all(label.startswith("upload: upload_fulda.csv (") for label in labels)


def test_list_uploads_labels_new_and_earlier_uploads(tmp_path):
    root = tmp_path / "uploads"
    root.mkdir()
    (root / "old_one.csv").write_bytes(PLAIN.encode())  # saved directly here by earlier versions
    (root / ".incoming-abc").mkdir()  # an interrupted save is never listed
    (root / ".incoming-abc" / "half.csv").write_bytes(b"date,pr")
    new = save_upload(root, "upload_fulda.csv", FULDA)
    uploads = {u.label: u for u in list_uploads(root)}
    assert set(uploads) == {"upload: old_one.csv", "upload: upload_fulda.csv"}
    assert uploads["upload: upload_fulda.csv"].source == new
    assert uploads["upload: old_one.csv"].folder is None
    assert list_uploads(tmp_path / "missing") == []


@pytest.mark.parametrize("name, saved", [("../../x.csv", "x.csv"), ("/abs/x.csv", "x.csv"), ("..\\..\\x.csv", "x.csv"),
                                         ("my data (2).CSV", "my_data_2.csv"), ("basins.csv", "basins.csv")])
def test_upload_file_names_stay_inside_their_folder(tmp_path, name, saved):
    assert upload_file_name(name) == saved
    path = save_upload(tmp_path / "uploads", name, FULDA)
    assert path.name == saved and path.parent.parent == tmp_path / "uploads"


@pytest.mark.parametrize("name", ["x.txt", "..", "", "\x00.csv", "....csv"])
def test_unusable_upload_names_are_refused_by_name(tmp_path, name):
    with pytest.raises(DataError):
        save_upload(tmp_path / "uploads", name, FULDA)
    assert not any((tmp_path / "uploads").glob("*/*"))


# ---------------------------------------------------------------------------------------------- multi-basin uploads

def test_long_format_upload_offers_and_loads_its_basins(tmp_path):
    assert validate_upload(LONG_TWO, "long_two.csv").sizes["basin"] == 2
    path = save_upload(tmp_path / "uploads", "long_two.csv", LONG_TWO)
    assert list_basins(path) == ["north", "south"]
    one = load_basins(path, basins=["south"])
    assert list(one["basin"].values) == ["south"]
    assert one["prcp"].sel(basin="south").values[:4].tolist() == [1.0, 2.0, 3.0, 0.0]
    both = load_basins(path, basins=["north", "south"])
    assert both.sizes == {"basin": 2, "time": 28}


def test_two_basin_netcdf_upload_offers_and_loads_its_basins(tmp_path):
    data = _two_basin_netcdf(tmp_path / "two.nc").read_bytes()
    assert validate_upload(data, "two_basins.nc").sizes["basin"] == 2
    path = save_upload(tmp_path / "uploads", "two_basins.nc", data)
    assert list_basins(path) == ["x1", "x2"]
    assert list(load_basins(path, basins=["x2"])["basin"].values) == ["x2"]


# ---------------------------------------------------------------------------------------------- encodings

def _loaded(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return validate_upload(data, name), load_basins(path)


@pytest.mark.parametrize("name, data", [
    ("bom.csv", b"\xef\xbb\xbf" + PLAIN.encode()),
    ("utf16.csv", PLAIN.encode("utf-16")),
    ("utf16_no_bom.csv", PLAIN.encode("utf-16-le")),
    ("semicolon.csv", PLAIN.replace(",", ";").encode()),
    ("semicolon_decimal_comma.csv", PLAIN.replace(",", ";").replace(".", ",").encode()),
    ("semicolon_bom.csv", b"\xef\xbb\xbf" + PLAIN.replace(",", ";").encode()),
])
def test_spreadsheet_csv_variants_read_like_plain_utf8(tmp_path, name, data):
    plain = load_basins(_write(tmp_path, "plain.csv", PLAIN.encode()))
    checked, ds = _loaded(tmp_path, name, data)
    assert checked.sizes == {"basin": 1, "time": 28}
    assert list_basins(tmp_path / name) == [name[:-4]]
    for var in ("prcp", "pet", "q_obs"):
        np.testing.assert_allclose(ds[var].values, plain[var].values)


def _write(folder, name, data):
    path = folder / name
    path.write_bytes(data)
    return path


def test_a_bom_basins_csv_and_series_in_a_folder(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    _write(folder, "a.csv", b"\xef\xbb\xbf" + PLAIN.encode())
    # as a German spreadsheet saves it: UTF-16, ';' between fields, decimal commas
    _write(folder, "basins.csv", "gauge_id;name;lat;lon;area_km2\na;Fulda, upper;51,2;9,5;12,5\n".encode("utf-16"))
    assert read_attributes(folder / "basins.csv") == {"a": {"name": "Fulda, upper", "lat": 51.2, "lon": 9.5,
                                                            "area_km2": 12.5}}
    assert list_basins(folder) == ["a"]
    ds = load_basins(folder)
    assert ds.sizes == {"basin": 1, "time": 28} and float(ds["lat"].values[0]) == pytest.approx(51.2)


@pytest.mark.parametrize("data, expected", [
    ("date,prcp,q_obs,name\n2001-01-01,1,1,Müller\n".encode("latin-1"), "not a UTF-8 text CSV: byte 0xfc"),
    (b"a,b\n1,2\n", "no date column in the header (columns found: 'a', 'b')"),
    (b"\x00\x01\x02\x03binary\x00\x00", "not a text CSV"),
])
def test_unreadable_csv_is_refused_naming_file_found_and_expected(tmp_path, data, expected):
    path = _write(tmp_path, "odd.csv", data)
    with pytest.raises(DataError) as info:
        load_basins(path)
    assert expected in str(info.value) and "odd.csv" in str(info.value)
    assert "not a basin data source" not in str(info.value)


def test_an_upload_the_readers_cannot_name_is_still_one_refusal():
    # '51,2' in a comma-separated table: whatever the reader makes of it, the upload ends in a DataError
    rows = "\n".join(f'{row},"51,2"' for row in ROWS)
    try:
        checked = validate_upload(("date,prcp,pet,q_obs,lat\n" + rows + "\n").encode(), "comma_lat.csv")
    except DataError as exc:
        assert "comma_lat.csv" in str(exc)
    else:
        assert checked.sizes["basin"] == 1


def test_a_long_format_csv_in_a_folder_offers_its_basins(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    _write(folder, "long_two.csv", LONG_TWO)
    _write(folder, "solo.csv", PLAIN.encode())
    _write(folder, "basins.csv", b"gauge_id,lat,lon\nsouth,47.5,8.5\nsolo,46.0,7.0\n")
    assert list_basins(folder) == ["north", "south", "solo"]
    ds = load_basins(folder, basins=["south", "solo"])
    assert list(ds["basin"].values) == ["south", "solo"]
    assert ds["lat"].values.tolist() == [47.5, 46.0]
    assert load_basins(folder).sizes["basin"] == 3


def test_two_files_holding_one_basin_id_are_refused_by_name(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    _write(folder, "long_two.csv", LONG_TWO)
    _write(folder, "north.csv", PLAIN.encode())
    with pytest.raises(DataError, match=r"basin 'north' is in two series files \(long_two.csv, north.csv\)"):
        list_basins(folder)


# ---------------------------------------------------------------------------------------------- upload sets

DISCHARGE = ("date,prcp,pet,q_obs_m3s\n" + "\n".join(f"2001-01-{d:02d},{d % 3}.0,1.5,{d}.0" for d in range(1, 29))
             + "\n").encode()


def test_a_set_with_its_basins_csv_describes_itself_only(tmp_path):
    root = tmp_path / "uploads"
    fulda = save_upload(root, "a.csv", FULDA)
    attributes = b"gauge_id,lat,lon,area_km2\na,-33.9,18.4,86.4\nb,47.0,8.0,10.0\n"
    source, ds = save_upload_set(root, [("a.csv", DISCHARGE), ("b.csv", PLAIN.encode()), ("basins.csv", attributes)])
    assert source.is_dir() and source.parent == root and sorted(p.name for p in source.iterdir()) == ["a.csv", "b.csv", "basins.csv"]
    assert list(ds["basin"].values) == ["a", "b"]
    # 1 m3/s over a day on 86.4 km2 is 1 mm: the set's own area converted its discharge
    assert float(load_basins(source, basins=["a"])["q_obs"].values[0, 0]) == pytest.approx(1.0)
    assert float(load_basins(fulda)["lat"].values[0]) == pytest.approx(50.68)  # the other upload 'a' is untouched
    labels = {u.label: u.source for u in list_uploads(root)}
    assert labels == {"upload: a.csv": fulda, "upload: a.csv, b.csv, basins.csv": source}


def test_a_set_of_one_series_and_its_basins_csv_is_that_file(tmp_path):
    source, ds = save_upload_set(tmp_path / "uploads", [("basins.csv", b"gauge_id,lat,lon,area_km2\na,47.0,8.0,86.4\n"),
                                                        ("a.csv", DISCHARGE)])
    assert source.name == "a.csv" and (source.parent / "basins.csv").is_file()
    assert float(ds["lat"].values[0]) == 47.0
    assert [u.label for u in list_uploads(tmp_path / "uploads")] == ["upload: a.csv"]


@pytest.mark.parametrize("files, expected", [
    ([("a.csv", DISCHARGE), ("b.csv", PLAIN.encode())], r"needs a positive basin area 'area_km2' \[file=a.csv"),
    ([("a.csv", PLAIN.encode()), ("basins.csv", b"lat,lon\n1,2\n")], r"basins.csv needs an id column .*\[file=basins.csv"),
    ([("a.csv", PLAIN.encode()), ("A.CSV", PLAIN.encode())], r"both saved as 'A.csv'"),
    ([("a.csv", PLAIN.encode()), ("b.csv", b"x,y\n1,2\n")], r"no date column .*\[file=b.csv"),
    ([("a.csv", PLAIN.encode()), ("b.csv", b" \n")], r"file is empty \[file=b.csv\]"),
])
def test_a_bad_set_is_refused_naming_the_file_and_saves_nothing(tmp_path, files, expected):
    with pytest.raises(DataError, match=expected) as info:
        save_upload_set(tmp_path / "uploads", files)
    assert ".incoming" not in str(info.value)
    assert not list((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else True
