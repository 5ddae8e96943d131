"""FMI radar reader on the real composites, and its errors on malformed files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from core.data.errors import DataError
from core.data.radar import load_radar, read_pgm, reflectivity_to_rain_rate

FIRST = "201609281445_fmi.radar.composite.lowest_FIN_SUOMI1.pgm.gz"


@pytest.fixture(scope="module")
def radar_dir(shared_data):
    return shared_data / "radar_fmi_20160928"


def test_reflectivity_to_rain_rate_hand_values():
    # Z = 223 R^1.53: 30 dBZ -> Z = 1000 -> R = (1000/223)^(1/1.53) = 2.6665 mm/h
    assert reflectivity_to_rain_rate(30.0) == pytest.approx((1000 / 223) ** (1 / 1.53))
    assert reflectivity_to_rain_rate(30.0) == pytest.approx(2.6665, abs=1e-3)
    assert np.isnan(reflectivity_to_rain_rate(np.nan))


def test_read_pgm_header_and_pixels(radar_dir):
    pixels, comments = read_pgm(radar_dir / FIRST)
    assert pixels.shape == (1226, 760) and pixels.dtype == np.uint8
    assert comments["obstime"] == "201609281445"
    assert comments["centrallongitude"] == "25" and comments["truelatitude"] == "60"
    assert comments["bottomleft"] == "18.600000 57.930000"
    assert (pixels == 255).any() and (pixels < 255).any()  # no-data border and real echoes


def test_load_radar_real_sequence(radar_dir):
    ds = load_radar(radar_dir)
    assert ds.sizes["time"] == 80
    assert str(ds["time"].values[0])[:16] == "2016-09-28T14:45"
    step = np.diff(ds["time"].values[:40])
    assert (step == np.timedelta64(5, "m")).all()  # first event: 40 frames 5 min apart
    assert ds["rain"].dims == ("time", "lat", "lon") and ds["rain"].attrs["units"] == "mm h-1"
    rain = ds["rain"].values
    assert np.isnan(rain).any() and np.nanmax(rain) > 1.0 and np.nanmin(rain) == 0.0
    assert np.all(np.diff(ds["lat"].values) > 0)


def test_block_mean_equals_hand_computation(radar_dir, tmp_path):
    """One frame copied by hand: four valid pixels of different rates in one grid cell, no data elsewhere.

    The cell must hold their mean (not the max, the sum or the mean over all pixels of the cell), a rate
    below the noise floor counts as a dry pixel (0 mm/h), and a no-data pixel counts not at all.
    """
    from core.data.radar import pixel_lonlat

    pixels, comments = read_pgm(radar_dir / FIRST)
    raw = gzip.open(radar_dir / FIRST, "rb").read()
    header = raw[: len(raw) - pixels.size]
    lon, lat = pixel_lonlat(comments, pixels.shape, radar_dir / FIRST)
    lat_res, lon_res = 0.1, 0.2  # load_radar's default grid, from (59 N, 20 E)
    cell = lambda r, c: (int(np.floor((lat[r, c] - 59.0) / lat_res)), int(np.floor((lon[r, c] - 20.0) / lon_res)))  # noqa: E731
    home = cell(600, 380)
    same = [(r, c) for r in range(596, 605) for c in range(376, 385) if cell(r, c) == home and (r, c) != (600, 380)]
    assert len(same) >= 4, "the 1 km pixels around (600, 380) should share its 10 km cell"
    fake = np.full_like(pixels, 255)
    # pixel value v -> dBZ (v - 64) / 2: 20, 30 and 40 dBZ, and 0 dBZ (0.029 mm/h, below 0.05: dry)
    for (r, c), v in zip([(600, 380), *same[:3]], (104, 124, 144, 64)):
        fake[r, c] = v
    (tmp_path / FIRST).write_bytes(gzip.compress(header + fake.tobytes()))
    ds = load_radar(tmp_path)
    rain = ds["rain"].values[0]
    assert np.isfinite(rain).sum() == 1  # only that cell saw anything
    rates = [(10 ** (dbz / 10) / 223) ** (1 / 1.53) for dbz in (20.0, 30.0, 40.0)] + [0.0]
    assert rain[home] == pytest.approx(np.mean(rates), rel=1e-5)
    assert rain[home] == pytest.approx(3.8171, abs=1e-3)  # (0.5920 + 2.6665 + 12.0099 + 0) / 4


def test_malformed_files_are_named(tmp_path, radar_dir):
    name = "201609281445_fmi.radar.composite.lowest_FIN_SUOMI1.pgm.gz"
    (tmp_path / name).write_bytes(gzip.compress(b"P2\n1 1\n255\n0"))
    with pytest.raises(DataError, match=f"{name}.*not a binary PGM"):
        load_radar(tmp_path)
    raw = gzip.open(radar_dir / FIRST, "rb").read()
    (tmp_path / name).write_bytes(gzip.compress(raw[:5000]))
    with pytest.raises(DataError, match=f"{name} is truncated"):
        load_radar(tmp_path)
    (tmp_path / name).write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=name):
        load_radar(tmp_path)
    with pytest.raises(DataError, match="no FMI composite"):
        load_radar(tmp_path / "..")
    with pytest.raises(DataError, match="does not exist"):
        load_radar(tmp_path / "missing")
    with pytest.raises(DataError, match="no frame between"):
        load_radar(radar_dir, start="2020-01-01")
