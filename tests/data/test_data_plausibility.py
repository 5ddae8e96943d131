"""Bad dates and impossible forcing values: a DataError naming file, variable (column), basin, date or row."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import DataError, DataWarning, validate_upload


def csv(rows: list[str], header: str = "date,prcp,pet,q_obs") -> bytes:
    return (header + "\n" + "\n".join(rows) + "\n").encode()


def days(template: str, n: int = 28, special: dict[int, str] | None = None) -> list[str]:
    """Rows for 2001-01-01 .. 2001-01-n from ``template`` (``{d}`` = day); ``special`` replaces a whole row."""
    return [(special or {}).get(d, template.format(d=d)) for d in range(1, n + 1)]


@pytest.mark.parametrize("rows, row, words", [
    (days("2001-01-{d:02d}T00:00:00+01:00,1,1,0.5", special={2: "2001-01-02T00:00:00+02:00,1,1,0.5"}), 2,
     "mixed UTC offsets"),
    (days("2001-01-{d:02d}T00:00:00,1,1,0.5", special={3: "2001-01-03T00:00:00+01:00,1,1,0.5"}), 3,
     "mixed with dates without one"),
    (days("2001-01-{d:02d}T06:00Z,1,1,0.5", special={4: "2001-01-04T06:00-05:00,1,1,0.5"}), 4, "mixed UTC offsets"),
    (days("2001-01-{d:02d},1,1,0.5", special={28: "31/02/2001,1,1,0.5"}), 28, "not a date"),
    (days("2001-01-{d:02d},1,1,0.5", special={27: "99999-01-01,1,1,0.5"}), 27, "not a date"),
    (days("2001-01-{d:02d},1,1,0.5", special={5: "yesterday,1,1,0.5"}), 5, "not a date"),
])
def test_every_bad_date_is_a_data_error_naming_file_column_and_row(rows, row, words):
    with pytest.raises(DataError) as err:
        validate_upload(csv(rows), "basin_a.csv")
    message = str(err.value)
    assert words in message and f"data row {row}" in message and "column 'date'" in message, message
    assert err.value.file == "basin_a.csv" and err.value.basin == "basin_a"


def test_one_utc_offset_throughout_is_converted_to_utc():
    ds = validate_upload(csv(days("2001-01-{d:02d}T01:00:00+01:00,1,1,0.5")), "basin_a.csv")
    assert str(ds.time.values[0])[:19] == "2001-01-01T00:00:00"


METEO = "date,prcp,tmin,tmax,srad,vp,dayl,q_obs"
GOOD = "2001-01-{d:02d},1.5,-2,4,120,700,9.5,0.5"


@pytest.mark.parametrize("bad_row, variable, words", [
    ("2001-01-05,1e300,-2,4,120,700,9.5,0.5", "prcp", "impossible prcp 1e+300"),
    ("2001-01-05,inf,-2,4,120,700,9.5,0.5", "prcp", "infinite"),
    ("2001-01-05,1.5,-2,1e300,120,700,9.5,0.5", "tmax", "impossible tmax"),
    ("2001-01-05,1.5,-200,4,120,700,9.5,0.5", "tmin", "impossible tmin"),
    ("2001-01-05,1.5,-2,4,1e300,700,9.5,0.5", "srad", "impossible srad"),
    ("2001-01-05,1.5,-2,4,120,-3,9.5,0.5", "vp", "impossible vp"),
    ("2001-01-05,1.5,-2,4,120,700,30,0.5", "dayl", "impossible dayl 30 h"),
])
def test_impossible_forcing_is_refused_naming_file_variable_basin_and_date(bad_row, variable, words):
    ok = validate_upload(csv(days(GOOD), METEO), "basin_b.csv", lat=50.0)
    assert ok.sizes["time"] == 28  # the same file without the bad row is accepted
    with pytest.raises(DataError) as err:
        validate_upload(csv(days(GOOD, special={5: bad_row}), METEO), "basin_b.csv", lat=50.0)
    e = err.value
    assert words in str(e), str(e)
    assert (e.file, e.variable, e.basin, e.date) == ("basin_b.csv", variable, "basin_b", "2001-01-05")


def test_heavy_but_possible_values_are_accepted():
    # 1000 mm in a day (Cherrapunji-class), -60 degC, 22 h polar day; tmin 1 degC above tmax as in Daymet
    rows = days(GOOD, special={3: "2001-01-03,1000,-60,-50,10,5,22,0.5", 4: "2001-01-04,1,3.2,2.2,100,600,9,0.5"})
    ds = validate_upload(csv(rows, METEO), "basin_c.csv", lat=70.0)
    assert float(ds["prcp"].max()) == 1000.0


def test_tmin_above_tmax_on_a_few_days_is_kept_with_a_warning_naming_basin_and_date():
    # Daymet in cold basins: tmin several degrees above tmax on some days (up to 14.7 degC in CAMELS-US)
    rows = days(GOOD, special={5: "2001-01-05,1.5,9,-5,120,700,9.5,0.5", 9: "2001-01-09,1.5,2,-3,120,700,9.5,0.5"})
    with pytest.warns(DataWarning) as caught:
        ds = validate_upload(csv(rows, METEO), "basin_b.csv", lat=50.0)
    message = str(caught[0].message)
    assert "basin_b" in message and "2 step(s)" in message and "first 2001-01-05" in message and "14.0 degC" in message, message
    assert float(ds["tmin"].sel(time="2001-01-05").squeeze()) == 9.0  # kept as given, not repaired
    assert np.isfinite(ds["pet"].values).all()


def test_tmin_above_tmax_on_most_days_is_refused_as_swapped_columns():
    swapped = "date,prcp,tmax,tmin,srad,vp,dayl,q_obs"  # the header names the columns the wrong way round
    with pytest.raises(DataError) as err:
        validate_upload(csv(days(GOOD), swapped), "basin_b.csv", lat=50.0)
    e = err.value
    assert "columns swapped" in str(e) and "100%" in str(e), str(e)
    assert (e.file, e.variable, e.basin, e.date) == ("basin_b.csv", "tmin", "basin_b", "2001-01-01")
