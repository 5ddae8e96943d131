"""AppTest: uploads on the Basins page stay apart, multi-basin uploads offer their basins, spreadsheet CSVs work."""

from __future__ import annotations

import pytest

from tests.app_helpers import assert_clean, errors_of, open_page
from tests.data.test_uploads import CAPE_TOWN, FULDA, LONG_TWO, PLAIN, ROWS  # the same files as the core tests
from ui.frame import DATA_SOURCE_KEY

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDROCAST_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("HYDROCAST_DATA", raising=False)


def upload(at, name, data, errors=True):
    at.file_uploader[0].set_value((name, data, "text/csv")).run()
    assert_clean(at)
    if errors:
        assert not errors_of(at), errors_of(at)
    return at


def catalog(at):
    return at.dataframe[0].value.set_index("basin id")


@pytest.mark.parametrize("second", [CAPE_TOWN, PLAIN.encode()], ids=["cape_town", "no_id_column"])
def test_a_basins_csv_upload_leaves_an_earlier_upload_alone(second):
    # the probe's case: Fulda uploaded as base.csv, then a basins.csv naming basin 'base' in Cape Town
    at = upload(open_page("1_Basins.py"), "base.csv", FULDA)
    fulda = at.session_state[DATA_SOURCE_KEY]
    upload(at, "basins.csv", second, errors=False)  # what matters is the Fulda upload afterwards
    assert at.session_state[DATA_SOURCE_KEY] != fulda
    at.session_state[DATA_SOURCE_KEY] = fulda
    at.run()
    assert_clean(at)
    assert not errors_of(at), errors_of(at)
    row = catalog(at).loc["base"]
    assert (row["outlet lat (°N)"], row["outlet lon (°E)"], row["area (km²)"]) == (50.68, 9.57, 467.0)
    assert at.multiselect[0].options == ["base"]


def test_a_long_format_upload_offers_its_basins():
    at = upload(open_page("1_Basins.py"), "long_two.csv", LONG_TWO)
    assert at.multiselect[0].options == ["north", "south"]
    at.multiselect[0].set_value(["north", "south"]).run()
    assert_clean(at)
    assert not errors_of(at), errors_of(at)
    assert sorted(catalog(at).index) == ["north", "south"]


@pytest.mark.parametrize("name, data", [("bom_table.csv", b"\xef\xbb\xbf" + PLAIN.encode()),
                                        ("utf16_table.csv", PLAIN.encode("utf-16")),
                                        ("semicolon_table.csv", PLAIN.replace(",", ";").encode())])
def test_a_spreadsheet_csv_upload_keeps_the_basin_picker(name, data):
    at = upload(open_page("1_Basins.py"), name, data)
    assert at.multiselect[0].options == [name[:-4]]
    assert at.file_uploader, "the uploader is still on the page"
    assert any(s.value.startswith(f"{name}: 1 basin(s)") for s in at.success)


def test_an_unreadable_value_in_an_upload_is_one_message_and_nothing_saved(tmp_path):
    rows = "\n".join(f'{row},"51,2"' for row in ROWS)
    at = open_page("1_Basins.py")
    at.file_uploader[0].set_value(("comma_lat.csv", ("date,prcp,pet,q_obs,lat\n" + rows + "\n").encode(), "text/csv"))
    at.run()
    assert_clean(at)
    if errors_of(at):  # refused (until the reader reads a decimal comma, then accepted)
        assert len(errors_of(at)) == 1 and "comma_lat.csv" in errors_of(at)[0], errors_of(at)
        assert not list((tmp_path / "runs" / "uploads").glob("*/*"))


def test_files_uploaded_together_are_one_upload_with_their_own_basins_csv():
    at = upload(open_page("1_Basins.py"), "a.csv", FULDA)
    single = at.session_state[DATA_SOURCE_KEY]
    attributes = b"gauge_id,lat,lon,area_km2\na,-33.9,18.4,86.4\nb,47.0,8.0,10.0\n"
    at.file_uploader[0].set_value([("a.csv", CAPE_TOWN.replace(b"base,", b"a,"), "text/csv"),
                                   ("b.csv", PLAIN.encode(), "text/csv"), ("basins.csv", attributes, "text/csv")]).run()
    assert_clean(at)
    assert not errors_of(at), errors_of(at)
    assert any(s.value.startswith("a.csv, b.csv, basins.csv: 2 basin(s)") for s in at.success)
    assert at.multiselect[0].options == ["a", "b"]
    assert not at.file_uploader[0].value, "the uploader is empty for the next upload"
    at.session_state[DATA_SOURCE_KEY] = single
    at.run()
    assert catalog(at).loc["a"]["outlet lat (°N)"] == 50.68  # the earlier single upload 'a' is untouched
