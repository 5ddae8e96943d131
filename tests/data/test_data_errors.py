"""Every data error path raises DataError whose message names the file, variable, basin and date.

Each test corrupts a copy of two real years of a CAMELS-US basin table (01484100, 400 days).
"""

from __future__ import annotations

import shutil

import pytest

from core.data import DataError, load_basins

BASIN = "01484100"


@pytest.fixture
def folder(shared_data, tmp_path):
    source = shared_data / "camels_us_daily"
    out = tmp_path / "table"
    out.mkdir()
    lines = (source / f"{BASIN}.csv").read_text().splitlines()[:401]
    (out / f"{BASIN}.csv").write_text("\n".join(lines) + "\n")
    shutil.copy(source / "basins.csv", out / "basins.csv")
    return out


def _edit(folder, row_date, column, value):
    """Set ``column`` of the row dated ``row_date`` (file text, so any value can be written)."""
    path = folder / f"{BASIN}.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    for i, line in enumerate(lines):
        if line.startswith(row_date):
            cells = line.split(",")
            cells[header.index(column)] = value
            lines[i] = ",".join(cells)
            break
    else:
        raise AssertionError(row_date)
    path.write_text("\n".join(lines) + "\n")
    return path


def _message(folder, **kwargs):
    with pytest.raises(DataError) as err:
        load_basins(folder, **kwargs)
    return str(err.value), err.value


def test_clean_copy_loads(folder):
    assert load_basins(folder).sizes["time"] == 400


def test_missing_required_variable(folder):
    path = folder / f"{BASIN}.csv"
    text = path.read_text().replace("prcp_mm", "rain_gauge_x", 1)
    path.write_text(text)
    msg, err = _message(folder)
    assert "required variable 'prcp' is missing" in msg and "rain_gauge_x" in msg
    assert err.file.endswith(f"{BASIN}.csv") and err.basin == BASIN and err.variable == "prcp"


def test_non_numeric_value(folder):
    _edit(folder, "1981-02-03", "tmax_c", "12.5C")
    msg, err = _message(folder)
    assert "non-numeric value '12.5C'" in msg and "tmax" in msg
    assert err.date == "1981-02-03" and err.basin == BASIN and f"{BASIN}.csv" in msg
    # a decimal comma splits the row into one cell too many: the line number is named
    _edit(folder, "1981-02-03", "tmax_c", "12,5")
    msg, _ = _message(folder)
    assert "not a well-formed CSV table" in msg and "line 127" in msg and f"{BASIN}.csv" in msg


def test_negative_precipitation(folder):
    _edit(folder, "1980-12-24", "prcp_mm", "-3.2")
    msg, err = _message(folder)
    assert "negative precipitation -3.2 mm" in msg
    assert (err.variable, err.basin, err.date) == ("prcp", BASIN, "1980-12-24") and f"{BASIN}.csv" in msg


def test_missing_value_code_in_precipitation(folder):
    _edit(folder, "1980-12-25", "prcp_mm", "-999")
    msg, _ = _message(folder)
    assert "missing-value code" in msg and "date=1980-12-25" in msg


def test_nan_forcing_inside_period(folder):
    _edit(folder, "1981-05-17", "tmin_c", "")
    msg, err = _message(folder)
    assert "forcing variable 'tmin' is missing" in msg
    assert (err.variable, err.basin, err.date) == ("tmin", BASIN, "1981-05-17") and f"{BASIN}.csv" in msg
    # outside the requested period the gap does not matter
    assert load_basins(folder, end="1981-05-16").sizes["time"] > 200


def test_missing_streamflow_is_allowed(folder):
    _edit(folder, "1981-05-17", "q_obs_mm", "")
    _edit(folder, "1981-05-18", "q_obs_mm", "-999")
    ds = load_basins(folder)
    q = ds["q_obs"].isel(basin=0)
    assert q.sel(time="1981-05-17").isnull().item() and q.sel(time="1981-05-18").isnull().item()


def test_unknown_basin(folder):
    msg, err = _message(folder, basins=["01484100", "99999999"])
    assert "unknown basin id '99999999'" in msg and "available: 01484100" in msg and err.basin == "99999999"
    msg, _ = _message(folder, basins=[1484100])
    assert "unknown basin id '1484100'" in msg and "did you mean '01484100'" in msg


def test_period_outside_data(folder):
    msg, err = _message(folder, start="1979-01-01")
    assert "requested start 1979-01-01" in msg and "before the first record 1980-10-01" in msg
    assert err.basin == BASIN and err.date == "1979-01-01" and f"{BASIN}.csv" in msg
    msg, err = _message(folder, start="1981-01-01", end="2020-12-31")
    assert "after the last record 1981-11-04" in msg and err.date == "2020-12-31"
    msg, _ = _message(folder, start="1981-03-01", end="1981-02-01")
    assert "after its end" in msg
    msg, _ = _message(folder, start="not a date")
    assert "cannot read start 'not a date'" in msg


def test_streamflow_in_m3s_given_as_mm(folder):
    path = folder / f"{BASIN}.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    q = header.index("q_obs_mm")
    for i in range(1, len(lines)):
        cells = lines[i].split(",")
        # what the file would hold if m3/s had been written into the mm column (area 9 km2)
        cells[q] = f"{float(cells[q]) * 9e6 / 1000 / 86400 * 1000:.4f}"
        lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    # 1 mm/day over 9 km2 is 0.104 m3/s: make it a 90 km2 basin's cubic metres instead
    text = path.read_text().splitlines()
    for i in range(1, len(text)):
        cells = text[i].split(",")
        cells[q] = f"{float(cells[q]) * 100:.4f}"
        text[i] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    msg, err = _message(folder)
    assert "implausible streamflow units" in msg and "times the mean precipitation" in msg and "m3/s" in msg
    assert err.variable == "q_obs" and err.basin == BASIN and f"{BASIN}.csv" in msg and err.date == "1980-10-01"


def test_negative_streamflow(folder):
    _edit(folder, "1981-01-05", "q_obs_mm", "-0.4")
    msg, err = _message(folder)
    assert "negative observed streamflow -0.4" in msg and (err.variable, err.date) == ("q_obs", "1981-01-05")


def test_bad_dates(folder):
    path = folder / f"{BASIN}.csv"
    lines = path.read_text().splitlines()
    good = lines[:]
    lines[10] = "1980-13-40" + lines[10][10:]
    path.write_text("\n".join(lines) + "\n")
    msg, err = _message(folder)
    assert "cannot read '1980-13-40' on data row 10 as a date" in msg and err.variable == "date"
    lines = good[:]
    lines[10] = lines[9]  # 1980-10-09 twice
    path.write_text("\n".join(lines) + "\n")
    msg, err = _message(folder)
    assert "duplicated date" in msg and err.date == "1980-10-09"
    lines = good[:]
    lines[10] = "1980-10-10 06:00" + lines[10][10:]
    path.write_text("\n".join(lines) + "\n")
    msg, err = _message(folder)
    assert "irregular time step" in msg and err.date == "1980-10-10T06:00:00"


def test_pet_needs_latitude(folder):
    (folder / "basins.csv").unlink()
    msg, err = _message(folder)
    assert "needs the basin latitude" in msg and err.variable == "lat" and err.basin == BASIN


def test_discharge_without_area(folder):
    path = folder / f"{BASIN}.csv"
    path.write_text(path.read_text().replace("q_obs_mm", "q_obs_m3s", 1))
    (folder / "basins.csv").write_text("gauge_id,lat\n01484100,38.9\n")
    msg, err = _message(folder)
    assert "'q_obs_m3s' is discharge" in msg and err.variable == "area_km2" and err.basin == BASIN


def test_duplicate_variable_columns(folder):
    path = folder / f"{BASIN}.csv"
    path.write_text(path.read_text().replace("tmean_c", "precipitation", 1))
    msg, err = _message(folder)
    assert "columns 'prcp_mm' and 'precipitation' both give variable 'prcp'" in msg and err.basin == BASIN


def test_not_a_source(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"not a basin data source.*file=.*"):
        load_basins(tmp_path)
    with pytest.raises(DataError, match=r"data source '/no/such/folder' not found.*HYDROCAST_DATA"):
        load_basins("/no/such/folder")
